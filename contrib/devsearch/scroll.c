/*
 * scroll.c — the scroll API (devsearch): _search?scroll=T, then
 * GET|POST /_search/scroll and DELETE /_search/scroll.
 *
 * Owns: the scroll contexts of the server (Server.scrolls): the request of
 * the first page (parameters and body), its index expression, the _doc key
 * of the last document returned, the keep-alive and the indexes it pins.
 *
 * Invariants:
 *  - pages follow index order (sort [_doc]); each page continues after the
 *    last key returned, so a document present for the whole scroll is
 *    returned exactly once, whatever is written meanwhile; documents added
 *    while it runs come at the end (Elasticsearch would not show them:
 *    its scroll reads a point-in-time reader; documented in README.md);
 *  - a pinned index is never compacted (its _doc keys stay stable) until
 *    the scroll is cleared or expires; expired contexts are dropped on the
 *    next scroll call;
 *  - an unknown or expired scroll id answers 404
 *    search_context_missing_exception, as Elasticsearch does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "search.h"

#define MAX_SCROLLS 500

typedef struct Pin
{
	char	   *name;
	char		uuid[23];
} Pin;

typedef struct ScrollCtx
{
	struct ScrollCtx *next;
	char		id[64];
	char	   *targets;		/* NULL = all */
	Request		req;			/* parameters and body of the first page */
	int64_t		last_key;		/* _doc key of the last hit returned, -1 none */
	int64_t		keep_ms;
	int64_t		expires_ms;
	Pin		   *pins;
	int			npins;
} ScrollCtx;

static void
pin(Server *srv, ScrollCtx *c, bool on)
{
	for (int i = 0; i < c->npins; i++)
	{
		Index	   *ix = store_find_index(srv->store, c->pins[i].name);

		if (ix && strcmp(ix->uuid, c->pins[i].uuid) == 0)
			ix->scroll_pins += on ? 1 : -1;
	}
}

static void
ctx_free(Server *srv, ScrollCtx *c)
{
	pin(srv, c, false);
	for (int i = 0; i < c->npins; i++)
		free(c->pins[i].name);
	free(c->pins);
	free(c->targets);
	request_free(&c->req);
	free(c);
}

static void
expire(Server *srv, int64_t now)
{
	ScrollCtx **p = (ScrollCtx **) &srv->scrolls;

	while (*p)
	{
		ScrollCtx  *c = *p;

		if (c->expires_ms <= now)
		{
			*p = c->next;
			ctx_free(srv, c);
		}
		else
			p = &c->next;
	}
}

static int
count_scrolls(Server *srv)
{
	int			n = 0;

	for (ScrollCtx *c = srv->scrolls; c; c = c->next)
		n++;
	return n;
}

/* insert "_scroll_id":id at the front of the response object */
static void
put_scroll_id(Response *resp, const char *id)
{
	JsonBuf		out;

	jb_init(&out);
	jb_cstr(&out, "{\"_scroll_id\":");
	jb_qcstr(&out, id);
	if (resp->body.len > 2)
		jb_char(&out, ',');
	jb_raw(&out, resp->body.data + 1, resp->body.len - 1);
	jb_free(&resp->body);
	resp->body = out;
}

void
scroll_open(Server *srv, const char *targets, const Request *req, const IndexList *l,
			int64_t last_key, Response *resp)
{
	int64_t		now = now_mono_ms();
	ScrollCtx  *c;
	EsError		e;

	expire(srv, now);
	if (count_scrolls(srv) >= MAX_SCROLLS)
	{
		es_error_illegal_argument(&e, "Trying to create too many scroll contexts. Must be less than or equal to: [%d]. "
								  "This limit can be set by changing the [search.max_open_scroll_context] setting.",
								  MAX_SCROLLS);
		es_error_respond(resp, &e);
		return;
	}
	c = calloc(1, sizeof(ScrollCtx));
	if (c == NULL)
		abort();
	parse_time_value(req_param(req, "scroll"), &c->keep_ms);
	c->expires_ms = now + c->keep_ms;
	c->last_key = last_key;
	c->targets = targets ? strdup(targets) : NULL;
	request_init(&c->req);
	c->req.method = HTTP_POST;
	c->req.params = calloc((size_t) req->nparams + 1, sizeof(KeyValue));
	if (c->req.params == NULL)
		abort();
	for (int i = 0; i < req->nparams; i++)
	{
		c->req.params[i].name = strdup(req->params[i].name);
		c->req.params[i].value = strdup(req->params[i].value);
	}
	c->req.nparams = req->nparams;
	if (req->body)
		request_set_body(&c->req, req->body, req->body_len);
	c->pins = calloc((size_t) l->n + 1, sizeof(Pin));
	if (c->pins == NULL)
		abort();
	for (int i = 0; i < l->n; i++)
	{
		c->pins[i].name = strdup(l->v[i]->name);
		memcpy(c->pins[i].uuid, l->v[i]->uuid, sizeof(c->pins[i].uuid));
	}
	c->npins = l->n;
	pin(srv, c, true);
	srv->scroll_seq++;
	{
		char		rnd[23];

		random_uuid(rnd);
		snprintf(c->id, sizeof(c->id), "ds%" PRIu64 "_%s", srv->scroll_seq, rnd);
	}
	c->next = srv->scrolls;
	srv->scrolls = c;
	put_scroll_id(resp, c->id);
}

static ScrollCtx *
find(Server *srv, const char *id)
{
	for (ScrollCtx *c = srv->scrolls; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static void
missing(Response *resp, const char *id)
{
	EsError		e;

	es_error_set(&e, 404, "search_context_missing_exception",
				 "No search context found for id [%s]", id ? id : "");
	es_error_respond(resp, &e);
}

/* DELETE: {"scroll_id": "x" | ["x", ...] | "_all"} or /_search/scroll/{ids} */
static void
clear(Server *srv, json_t *ids, Response *resp)
{
	int			freed = 0;
	size_t		i;
	json_t	   *v;

	if (json_is_string(ids) && strcmp(json_string_value(ids), "_all") == 0)
	{
		freed = count_scrolls(srv);
		scroll_clear_all(srv);
	}
	else
	{
		if (json_is_string(ids))
		{
			json_t	   *a = json_array();

			json_array_append(a, ids);
			ids = a;
		}
		else
			json_incref(ids);
		json_array_foreach(ids, i, v)
		{
			ScrollCtx **p = (ScrollCtx **) &srv->scrolls;

			while (json_is_string(v) && *p)
			{
				if (strcmp((*p)->id, json_string_value(v)) == 0)
				{
					ScrollCtx  *c = *p;

					*p = c->next;
					ctx_free(srv, c);
					freed++;
					break;
				}
				p = &(*p)->next;
			}
		}
		json_decref(ids);
	}
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"succeeded\":true,\"num_freed\":");
	jb_i64(&resp->body, freed);
	jb_char(&resp->body, '}');
	response_json(resp, 200);
}

void
scroll_handle(Server *srv, const Request *req, Response *resp)
{
	json_t	   *body = NULL;
	json_t	   *ids;
	const char *id = NULL;
	const char *keep = req_param(req, "scroll");
	int64_t		now = now_mono_ms();
	ScrollCtx  *c;
	EsError		e;

	expire(srv, now);
	if (req->body_len > 0)
	{
		body = json_loadb(req->body, req->body_len, 0, NULL);
		if (!json_is_object(body))
		{
			json_decref(body);
			es_error_set(&e, 400, "parse_exception", "request body is not a JSON object");
			es_error_respond(resp, &e);
			return;
		}
	}
	ids = json_object_get(body, "scroll_id");
	if (req->nseg == 3)
		id = req->seg[2];
	else if (req_param(req, "scroll_id"))
		id = req_param(req, "scroll_id");
	if (req->method == HTTP_DELETE)
	{
		json_t	   *a = id ? json_string(id) : json_incref(ids);

		if (a == NULL)
		{
			es_error_set(&e, 400, "action_request_validation_exception",
						 "Validation Failed: 1: no scroll ids specified;");
			es_error_respond(resp, &e);
		}
		else
			clear(srv, a, resp);
		json_decref(a);
		json_decref(body);
		return;
	}
	if (!id && json_is_string(ids))
		id = json_string_value(ids);
	if (json_is_string(json_object_get(body, "scroll")))
		keep = json_string_value(json_object_get(body, "scroll"));
	if (!id)
	{
		es_error_set(&e, 400, "action_request_validation_exception",
					 "Validation Failed: 1: scrollId is missing;");
		es_error_respond(resp, &e);
		json_decref(body);
		return;
	}
	c = find(srv, id);
	if (c == NULL)
	{
		missing(resp, id);
		json_decref(body);
		return;
	}
	if (keep && (parse_time_value(keep, &c->keep_ms) < 0 || c->keep_ms <= 0))
	{
		es_error_illegal_argument(&e, "failed to parse setting [scroll] with value [%s] as a time value", keep);
		es_error_respond(resp, &e);
		json_decref(body);
		return;
	}
	c->expires_ms = now + c->keep_ms;
	search_scroll_page(srv, c->targets, &c->req, &c->last_key, resp);
	if (resp->status == 200)
		put_scroll_id(resp, c->id);
	json_decref(body);
}

void
scroll_clear_all(Server *srv)
{
	while (srv->scrolls)
	{
		ScrollCtx  *c = srv->scrolls;

		srv->scrolls = c->next;
		ctx_free(srv, c);
	}
}
