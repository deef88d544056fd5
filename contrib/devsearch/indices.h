/*
 * indices.h — index-level and cluster-level APIs (devsearch): create, delete,
 * exists, get, _refresh, _settings, _mapping, _cat/indices, _cluster/health,
 * GET /.  Aliases live in aliases.c.  All called with Server.lock held.
 */
#ifndef DEVSEARCH_INDICES_H
#define DEVSEARCH_INDICES_H

#include "devsearch.h"
#include "store.h"

void		indices_root(Server *srv, const Request *req, Response *resp);
void		indices_create(Server *srv, const Request *req, Response *resp, const char *name);
void		indices_delete(Server *srv, const Request *req, Response *resp, const char *expr);
void		indices_exists(Server *srv, const Request *req, Response *resp, const char *expr);
void		indices_get(Server *srv, const Request *req, Response *resp, const char *expr);
void		indices_refresh(Server *srv, const Request *req, Response *resp, const char *expr);
void		indices_get_settings(Server *srv, const Request *req, Response *resp,
								 const char *expr, const char *names);
void		indices_put_settings(Server *srv, const Request *req, Response *resp, const char *expr);
void		indices_get_mapping(Server *srv, const Request *req, Response *resp, const char *expr);
/* PUT /<index>/_mapping (mapping_put.c) */
void		indices_put_mapping(Server *srv, const Request *req, Response *resp, const char *expr);
void		indices_cat(Server *srv, const Request *req, Response *resp, const char *expr);
void		cluster_health(Server *srv, const Request *req, Response *resp);

/* aliases.c */
void		aliases_update(Server *srv, const Request *req, Response *resp);
void		aliases_put(Server *srv, const Request *req, Response *resp,
						const char *index_expr, const char *name);
void		aliases_delete(Server *srv, const Request *req, Response *resp,
						   const char *index_expr, const char *names);
/* GET|HEAD [/{index}]/_alias[/{name}] */
void		aliases_get(Server *srv, const Request *req, Response *resp,
						const char *index_expr, const char *names);
/* add or replace alias name on ix with attributes as in an "add" action
 * (filter, routing, index_routing, search_routing, is_write_index,
 * is_hidden); attrs may be NULL */
void		aliases_add_to_index(Index *ix, const char *name, json_t *attrs);
/* write one index's aliases object {"a":{...},...} */
void		aliases_write_index(JsonBuf *jb, const Index *ix, const char *names);

/* parse a JSON request body; NULL body -> NULL with no error; returns -1
 * and responds 400 on malformed JSON (shared helper) */
int			parse_json_body(Server *srv, const Request *req, Response *resp, json_t **out);

#endif
