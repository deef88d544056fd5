/*
 * search.c — _search, _count and _delete_by_query (devsearch).
 *
 * Owns: search_handle().  Placeholder until the query module lands: every
 * call answers a full error envelope (500) so clients see a well-formed error.
 */
#include "search.h"

void
search_handle(Server *srv, SearchKind kind, const char *targets,
			  const Request *req, Response *resp)
{
	(void) srv;
	(void) kind;
	(void) targets;
	(void) req;
	es_respond_error(resp, 500, "exception", "search is not implemented yet");
}
