/*
 * search.h — the search module interface (devsearch).
 *
 * search_handle() is implemented in search.c (owned by engineer A2) and is
 * called by the router (router.c) with Server.lock held for:
 *   GET|POST /_search, /{targets}/_search          kind SEARCH_SEARCH
 *   GET|POST /_count,  /{targets}/_count           kind SEARCH_COUNT
 *   POST /{targets}/_delete_by_query               kind SEARCH_DELETE_BY_QUERY
 * targets is the percent-decoded index expression (NULL = all indexes).
 * The router has already checked the Content-Type of a body; req->body is the
 * decoded body (may be empty).  The handler fills resp (status, body) using
 * response_json()/es_error_respond().  Use store_resolve() for targets,
 * index_maybe_refresh() before reading, index_foreach_visible() to read and
 * index_delete_doc() to delete.
 */
#ifndef DEVSEARCH_SEARCH_H
#define DEVSEARCH_SEARCH_H

#include "devsearch.h"
#include "store.h"

typedef enum SearchKind
{
	SEARCH_SEARCH,
	SEARCH_COUNT,
	SEARCH_DELETE_BY_QUERY
} SearchKind;

void		search_handle(Server *srv, SearchKind kind, const char *targets,
						  const Request *req, Response *resp);

/* scroll.c: after a first page of GET|POST /{targets}/_search?scroll=T,
 * remember the request and put "_scroll_id" into resp */
void		scroll_open(Server *srv, const char *targets, const Request *req,
						const IndexList *l, int64_t last_key, Response *resp);
/* GET|POST|DELETE /_search/scroll[/{id}] */
void		scroll_handle(Server *srv, const Request *req, Response *resp);
/* forget every scroll (and unpin its indexes) */
void		scroll_clear_all(Server *srv);
/* a scroll page: see search.c */
void		search_scroll_page(Server *srv, const char *targets, const Request *req,
							   int64_t *last_key, Response *resp);

#endif
