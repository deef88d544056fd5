/*
 * router.c — server state and the transport-independent dispatcher
 * (devsearch).
 *
 * Owns: server_create/destroy, server_dispatch (content negotiation, the
 * route table, faults, dev endpoints, stats).  Invariants: Server.lock is
 * held for the whole handling of a request and for nothing else; every
 * response carries a JSON body (except HEAD) and, in the elasticsearch
 * flavor, X-Elastic-Product: Elasticsearch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bulk.h"
#include "docs.h"
#include "faults.h"
#include "indices.h"
#include "search.h"
#include "reqlog.h"
#include "store.h"

Server *
server_create(const ServerConfig *cfg)
{
	Server	   *srv = calloc(1, sizeof(Server));

	if (srv == NULL)
		abort();
	srv->cfg = *cfg;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->faults_changed, NULL);
	srv->store = store_create(cfg->gc_deletes_ms);
	srv->faults = faults_create(cfg->seed);
	srv->stats = stats_create();
	srv->request_log_fd = cfg->request_log ? reqlog_open(cfg->request_log) : -1;
	return srv;
}

void
server_destroy(Server *srv)
{
	scroll_clear_all(srv);
	store_destroy(srv->store);
	faults_destroy(srv->faults);
	stats_destroy(srv->stats);
	if (srv->request_log_fd >= 0)
		close(srv->request_log_fd);
	pthread_cond_destroy(&srv->faults_changed);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* ---- content negotiation ---- */

typedef enum MediaKind
{
	MEDIA_NONE,
	MEDIA_JSON,
	MEDIA_NDJSON,
	MEDIA_VND_JSON,
	MEDIA_VND_NDJSON,
	MEDIA_BAD,
	MEDIA_BAD_VERSION
} MediaKind;

static MediaKind
media_kind(const char *ct, int *compat)
{
	char		base[128];
	size_t		n;
	const char *semi;
	const char *cw;

	*compat = 0;
	if (ct == NULL)
		return MEDIA_NONE;
	while (*ct == ' ')
		ct++;
	semi = strchr(ct, ';');
	n = semi ? (size_t) (semi - ct) : strlen(ct);
	while (n > 0 && ct[n - 1] == ' ')
		n--;
	if (n >= sizeof(base))
		return MEDIA_BAD;
	memcpy(base, ct, n);
	base[n] = '\0';
	if (strcasecmp(base, "application/json") == 0)
		return MEDIA_JSON;
	if (strcasecmp(base, "application/x-ndjson") == 0)
		return MEDIA_NDJSON;
	if (strcasecmp(base, "application/vnd.elasticsearch+json") == 0 ||
		strcasecmp(base, "application/vnd.elasticsearch+x-ndjson") == 0)
	{
		cw = semi ? strstr(semi, "compatible-with=") : NULL;
		if (cw == NULL)
			return MEDIA_BAD;
		*compat = atoi(cw + 16);
		if (*compat != 7 && *compat != 8)
			return MEDIA_BAD_VERSION;
		return strcasestr(base, "x-ndjson") ? MEDIA_VND_NDJSON : MEDIA_VND_JSON;
	}
	return MEDIA_BAD;
}

static void
respond_method_not_allowed(const Request *req, Response *resp, const char *allowed)
{
	char		msg[1200];

	snprintf(msg, sizeof(msg), "Incorrect HTTP method for uri [%.900s] and method [%s], allowed: [%s]",
			 req->path, req->method_name ? req->method_name : "?", allowed);
	es_respond_simple_error(resp, 405, msg);
}

static void
respond_no_handler(const Request *req, Response *resp)
{
	char		msg[1200];

	snprintf(msg, sizeof(msg), "no handler found for uri [%.900s] and method [%s]",
			 req->path, req->method_name ? req->method_name : "?");
	es_respond_simple_error(resp, 400, msg);
}

#define IS(i, s) (req->nseg > (i) && strcmp(req->seg[(i)], (s)) == 0)

/* returns the stats name of the route */
static const char *
route(Server *srv, const Request *req, Response *resp)
{
	HttpMethod m = req->method;
	int			n = req->nseg;
	char	  **s = req->seg;
	bool		get = m == HTTP_GET || m == HTTP_HEAD;

	if (n == 0)
	{
		if (!get)
		{
			respond_method_not_allowed(req, resp, "HEAD, GET");
			return "root";
		}
		indices_root(srv, req, resp);
		return "root";
	}
	/* dev endpoints */
	if (IS(0, "_dev"))
	{
		if (n == 2 && IS(1, "faults"))
		{
			if (m == HTTP_GET)
				faults_handle_get(srv, resp);
			else if (m == HTTP_POST || m == HTTP_PUT)
				faults_handle_post(srv, req, resp);
			else if (m == HTTP_DELETE)
			{
				faults_clear(srv);
				faults_handle_get(srv, resp);
			}
			else
				respond_method_not_allowed(req, resp, "GET, POST, PUT, DELETE");
			return "dev";
		}
		if (n == 2 && IS(1, "reset") && m == HTTP_POST)
		{
			scroll_clear_all(srv);
			store_clear(srv->store);
			faults_clear(srv);
			stats_reset(srv->stats);
			jb_reset(&resp->body);
			jb_cstr(&resp->body, "{\"acknowledged\":true}");
			response_json(resp, 200);
			return "dev";
		}
		if (n == 2 && IS(1, "stats") && m == HTTP_GET)
		{
			stats_write(srv->stats, resp);
			return "dev";
		}
		respond_no_handler(req, resp);
		return "dev";
	}
	/* bulk */
	if ((n == 1 && IS(0, "_bulk")) || (n == 2 && IS(1, "_bulk")))
	{
		if (m != HTTP_POST && m != HTTP_PUT)
		{
			respond_method_not_allowed(req, resp, "POST, PUT");
			return "bulk";
		}
		bulk_handle(srv, n == 2 ? s[0] : NULL, req, resp);
		return "bulk";
	}
	/* scroll pages and clear-scroll */
	if ((n == 2 || n == 3) && IS(0, "_search") && IS(1, "scroll"))
	{
		if (m != HTTP_GET && m != HTTP_POST && m != HTTP_DELETE)
			respond_method_not_allowed(req, resp, "GET, POST, DELETE");
		else
			scroll_handle(srv, req, resp);
		return "scroll";
	}
	/* search family */
	if ((n == 1 || n == 2) && (IS(n - 1, "_search") || IS(n - 1, "_count")))
	{
		bool		count = IS(n - 1, "_count");

		if (m != HTTP_GET && m != HTTP_POST)
		{
			respond_method_not_allowed(req, resp, "GET, POST");
			return count ? "count" : "search";
		}
		search_handle(srv, count ? SEARCH_COUNT : SEARCH_SEARCH, n == 2 ? s[0] : NULL, req, resp);
		return count ? "count" : "search";
	}
	if (n == 2 && IS(1, "_delete_by_query"))
	{
		if (m != HTTP_POST)
		{
			respond_method_not_allowed(req, resp, "POST");
			return "delete_by_query";
		}
		search_handle(srv, SEARCH_DELETE_BY_QUERY, s[0], req, resp);
		return "delete_by_query";
	}
	/* refresh */
	if ((n == 1 && IS(0, "_refresh")) || (n == 2 && IS(1, "_refresh")))
	{
		if (m != HTTP_POST && m != HTTP_GET)
			respond_method_not_allowed(req, resp, "POST, GET");
		else
			indices_refresh(srv, req, resp, n == 2 ? s[0] : NULL);
		return "refresh";
	}
	/* aliases */
	if (n == 1 && IS(0, "_aliases") && m == HTTP_POST)
	{
		aliases_update(srv, req, resp);
		return "aliases";
	}
	if ((n == 1 && (IS(0, "_alias") || IS(0, "_aliases"))) ||
		(n == 2 && (IS(0, "_alias") || IS(0, "_aliases"))))
	{
		if (get)
			aliases_get(srv, req, resp, NULL, n == 2 ? s[1] : NULL);
		else if ((m == HTTP_PUT && (n == 2 || IS(0, "_alias"))) || (n == 2 && m == HTTP_POST))
			aliases_put(srv, req, resp, NULL, n == 2 ? s[1] : NULL);
		else
			respond_method_not_allowed(req, resp, n == 2 ? "GET, HEAD, PUT, POST" :
									   IS(0, "_alias") ? "GET, HEAD, PUT" : "GET, HEAD, POST");
		return "aliases";
	}
	if ((n == 2 || n == 3) && (IS(1, "_alias") || IS(1, "_aliases")))
	{
		if (get)
			aliases_get(srv, req, resp, s[0], n == 3 ? s[2] : NULL);
		else if ((n == 3 && (m == HTTP_PUT || m == HTTP_POST)) || (n == 2 && m == HTTP_PUT))
			aliases_put(srv, req, resp, s[0], n == 3 ? s[2] : NULL);
		else if (n == 3 && m == HTTP_DELETE)
			aliases_delete(srv, req, resp, s[0], s[2]);
		else
			respond_method_not_allowed(req, resp, "GET, HEAD, PUT, POST, DELETE");
		return "aliases";
	}
	/* cat / cluster */
	if (n >= 2 && IS(0, "_cat") && IS(1, "indices") && n <= 3)
	{
		if (!get)
			respond_method_not_allowed(req, resp, "GET");
		else
			indices_cat(srv, req, resp, n == 3 ? s[2] : NULL);
		return "cat";
	}
	if (n >= 2 && n <= 3 && IS(0, "_cluster") && IS(1, "health"))
	{
		cluster_health(srv, req, resp);
		return "cluster";
	}
	/* settings / mapping */
	if ((n >= 1 && n <= 3) && (IS(0, "_settings") || IS(1, "_settings")))
	{
		const char *expr = IS(0, "_settings") ? NULL : s[0];
		const char *names = IS(0, "_settings") ? (n >= 2 ? s[1] : NULL) : (n == 3 ? s[2] : NULL);

		if (get)
			indices_get_settings(srv, req, resp, expr, names);
		else if (m == HTTP_PUT && names == NULL)
			indices_put_settings(srv, req, resp, expr);
		else
			respond_method_not_allowed(req, resp, "GET, PUT");
		return "settings";
	}
	if ((n == 1 && IS(0, "_mapping")) || (n == 2 && IS(1, "_mapping")))
	{
		if (get)
			indices_get_mapping(srv, req, resp, n == 2 ? s[0] : NULL);
		else if ((m == HTTP_PUT || m == HTTP_POST) && n == 2)
			indices_put_mapping(srv, req, resp, s[0]);
		else
			respond_method_not_allowed(req, resp, n == 2 ? "GET, PUT, POST" : "GET");
		return "mapping";
	}
	/* multi-get: one hash lookup per id */
	if ((n == 1 && IS(0, "_mget")) || (n == 2 && IS(1, "_mget")))
	{
		if (m != HTTP_GET && m != HTTP_POST)
			respond_method_not_allowed(req, resp, "GET, POST");
		else
			docs_mget(srv, req, resp, n == 2 ? s[0] : NULL);
		return "mget";
	}
	/* documents */
	if (n == 2 && IS(1, "_doc"))
	{
		if (m == HTTP_POST)
			docs_write(srv, req, resp, s[0], NULL, false);
		else
			respond_method_not_allowed(req, resp, "POST");
		return "doc";
	}
	if (n == 3 && IS(1, "_doc"))
	{
		if (m == HTTP_PUT || m == HTTP_POST)
			docs_write(srv, req, resp, s[0], s[2], false);
		else if (get)
		{
			docs_get(srv, req, resp, s[0], s[2], false);
			stats_doc_op(srv->stats, STATS_OP_GET, resp->status == 200);
		}
		else if (m == HTTP_DELETE)
			docs_delete(srv, req, resp, s[0], s[2]);
		else
			respond_method_not_allowed(req, resp, "GET, HEAD, PUT, POST, DELETE");
		return "doc";
	}
	if (n == 3 && IS(1, "_create"))
	{
		if (m == HTTP_PUT || m == HTTP_POST)
			docs_write(srv, req, resp, s[0], s[2], true);
		else
			respond_method_not_allowed(req, resp, "PUT, POST");
		return "doc";
	}
	if (n == 3 && IS(1, "_update"))
	{
		if (m == HTTP_POST)
			docs_update(srv, req, resp, s[0], s[2]);
		else
			respond_method_not_allowed(req, resp, "POST");
		return "doc";
	}
	if (n == 3 && IS(1, "_source"))
	{
		if (get)
		{
			docs_get(srv, req, resp, s[0], s[2], true);
			stats_doc_op(srv->stats, STATS_OP_GET, resp->status == 200);
		}
		else
			respond_method_not_allowed(req, resp, "GET, HEAD");
		return "doc";
	}
	/* index level */
	if (n == 1)
	{
		switch (m)
		{
			case HTTP_PUT:
				indices_create(srv, req, resp, s[0]);
				break;
			case HTTP_DELETE:
				indices_delete(srv, req, resp, s[0]);
				break;
			case HTTP_HEAD:
				indices_exists(srv, req, resp, s[0]);
				break;
			case HTTP_GET:
				indices_get(srv, req, resp, s[0]);
				break;
			default:
				respond_method_not_allowed(req, resp, "GET, HEAD, PUT, DELETE");
		}
		return "index";
	}
	respond_no_handler(req, resp);
	return "other";
}

void
server_dispatch(Server *srv, const Request *req, Response *resp)
{
	const char *ct = req_header(req, "Content-Type");
	const char *accept = req_header(req, "Accept");
	int			compat = 0,
				acompat = 0;
	MediaKind	mk = media_kind(ct, &compat);
	MediaKind	ak = media_kind(accept, &acompat);
	const char *name = "other";

	pthread_mutex_lock(&srv->lock);
	reqlog_write(srv, req);
	if (srv->cfg.flavor == FLAVOR_ELASTICSEARCH)
		response_add_header(resp, "X-Elastic-Product", "Elasticsearch");
	resp->head = req->method == HTTP_HEAD;
	resp->error_trace = req_param_bool(req, "error_trace", false) == 1;

	if (req->body_len > 0 && mk == MEDIA_NONE)
	{
		es_respond_simple_error(resp, 406, "Content-Type header is missing");
		goto done;
	}
	if (req->body_len > 0 && mk == MEDIA_BAD)
	{
		char		msg[300];

		snprintf(msg, sizeof(msg), "Content-Type header [%.200s] is not supported", ct);
		es_respond_simple_error(resp, 406, msg);
		goto done;
	}
	if (mk == MEDIA_BAD_VERSION || ak == MEDIA_BAD_VERSION)
	{
		es_respond_error(resp, 400, "media_type_header_exception",
						 "Invalid media-type value on headers [%s]",
						 mk == MEDIA_BAD_VERSION ? "Content-Type" : "Accept");
		goto done;
	}
	/* answer in the vendor media type when one was used */
	if (ak == MEDIA_VND_JSON || ak == MEDIA_VND_NDJSON || mk == MEDIA_VND_JSON ||
		mk == MEDIA_VND_NDJSON)
		snprintf(resp->content_type, sizeof(resp->content_type),
				 "application/vnd.elasticsearch+json;compatible-with=%d",
				 (ak == MEDIA_VND_JSON || ak == MEDIA_VND_NDJSON) ? acompat : compat);

	if (!(req->nseg > 0 && strcmp(req->seg[0], "_dev") == 0) &&
		faults_on_request(srv, req, resp))
	{
		name = "fault";
		goto done;
	}
	name = route(srv, req, resp);
done:
	stats_count(srv->stats, name, resp->status, 0);
	pthread_mutex_unlock(&srv->lock);
}
