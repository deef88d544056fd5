/*
 * docs.h — single-document APIs (devsearch): index, create, update, delete,
 * get, exists, _source.  All called by the router with Server.lock held.
 */
#ifndef DEVSEARCH_DOCS_H
#define DEVSEARCH_DOCS_H

#include "devsearch.h"
#include "docwrite.h"
#include "store.h"

/* PUT|POST /{index}/_doc[/{id}], /{index}/_create/{id}; id NULL = auto */
void		docs_write(Server *srv, const Request *req, Response *resp,
					   const char *index, const char *id, bool create_endpoint);
/* POST /{index}/_update/{id} */
void		docs_update(Server *srv, const Request *req, Response *resp,
						const char *index, const char *id);
/* DELETE /{index}/_doc/{id} */
void		docs_delete(Server *srv, const Request *req, Response *resp,
						const char *index, const char *id);
/* GET|HEAD /{index}/_doc/{id} and /{index}/_source/{id} */
void		docs_get(Server *srv, const Request *req, Response *resp,
					 const char *index, const char *id, bool source_only);

/* POST|GET /_mget, /{index}/_mget (mget.c) */
void		docs_mget(Server *srv, const Request *req, Response *resp, const char *index);
/* the fields of a found document up to "found":true, without the closing
 * brace (GET and _mget share it) */
void		docs_write_found_head(JsonBuf *jb, const Index *ix, const Doc *d,
								  int64_t version, int64_t seq_no);

/* resolve a name for a single-index read (index or single-index alias);
 * NULL with err set otherwise */
Index	   *resolve_single_index(Store *st, const char *name, EsError *err);

#endif
