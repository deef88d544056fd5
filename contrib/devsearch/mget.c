/*
 * mget.c — the multi-get API (devsearch): GET|POST /_mget and /{index}/_mget.
 *
 * Owns: the body forms {"docs":[{"_index","_id","routing","_source"}]} and
 * {"ids":[...]} (index from the path), the request parameters _source,
 * _source_includes, _source_excludes, realtime, refresh and routing, and the
 * response {"docs":[...]} in request order.  Invariants: every id is one hash
 * lookup (index_current), never a scan; a document is found only in the
 * shard its routing maps to (as GET); a missing index is an item error, not
 * a request error (as Elasticsearch answers); the whole body is validated
 * before anything is looked up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "docs.h"
#include "sourcefilter.h"

static void
write_missing(JsonBuf *jb, const char *index, const char *id, size_t id_len)
{
	jb_cstr(jb, "{\"_index\":");
	jb_qcstr(jb, index);
	jb_cstr(jb, ",\"_id\":");
	jb_str(jb, id, id_len);
	jb_cstr(jb, ",\"found\":false}");
}

static void
write_item_error(JsonBuf *jb, const char *index, const char *id, size_t id_len,
				 const EsError *e)
{
	jb_cstr(jb, "{\"_index\":");
	jb_qcstr(jb, index);
	jb_cstr(jb, ",\"_id\":");
	jb_str(jb, id, id_len);
	jb_cstr(jb, ",\"error\":");
	es_error_write_object(jb, e);
	jb_char(jb, '}');
}

/* one requested document: index name, id, routing and its own _source */
static void
mget_one(Server *srv, JsonBuf *jb, const char *index, const char *id, size_t id_len,
		 const char *routing_given, const SourceFilter *sf, bool realtime, int64_t now)
{
	EsError		e;
	Index	   *ix = resolve_single_index(srv->store, index, &e);
	const char *routing;
	Doc		   *d;
	Blob	   *src;

	if (ix == NULL)
	{
		write_item_error(jb, index, id, id_len, &e);
		return;
	}
	es_error_clear(&e);
	if (index_resolve_routing(ix, index, routing_given, id, id_len, &routing, &e) < 0)
	{
		write_item_error(jb, ix->name, id, id_len, &e);
		return;
	}
	d = index_current(ix, id, id_len, now);
	if (d && d->shard != index_shard_for(ix, routing, id, id_len))
		d = NULL;
	src = d ? (realtime ? d->live : d->vis) : NULL;
	if (src == NULL)
	{
		write_missing(jb, ix->name, id, id_len);
		return;
	}
	docs_write_found_head(jb, ix, d, realtime ? d->version : d->vis_version,
						  realtime ? d->seq_no : d->vis_seq_no);
	if (sf->fetch && !json_is_false(json_object_get(json_object_get(ix->mappings, "_source"),
													"enabled")))
	{
		jb_cstr(jb, ",\"_source\":");
		source_filter_write(jb, sf, src->data, src->len);
	}
	jb_char(jb, '}');
}

static bool
fail(Response *resp, EsError *e)
{
	es_error_respond(resp, e);
	return false;
}

/* check the body: every item names an id and (without a path index) an index */
static bool
validate(json_t *body, const char *index, Response *resp)
{
	EsError		e;
	json_t	   *docs = json_object_get(body, "docs");
	json_t	   *ids = json_object_get(body, "ids");
	size_t		i;
	json_t	   *v;

	es_error_clear(&e);
	if (!json_is_object(body) || (docs == NULL && ids == NULL))
	{
		es_error_set(&e, 400, "action_request_validation_exception",
					 "Validation Failed: 1: no documents to get;");
		return fail(resp, &e);
	}
	if (ids && (!json_is_array(ids) || index == NULL))
	{
		es_error_illegal_argument(&e, index ? "ids must be an array of strings" :
								  "ids are only allowed with an index in the path");
		return fail(resp, &e);
	}
	json_array_foreach(ids, i, v)
		if (!json_is_string(v))
	{
		es_error_illegal_argument(&e, "ids must be an array of strings");
		return fail(resp, &e);
	}
	if (docs && !json_is_array(docs))
	{
		es_error_set(&e, 400, "parsing_exception", "docs must be an array");
		return fail(resp, &e);
	}
	json_array_foreach(docs, i, v)
	{
		json_t	   *ixn = json_object_get(v, "_index");

		if (!json_is_object(v) || !json_is_string(json_object_get(v, "_id")) ||
			(ixn && !json_is_string(ixn)))
		{
			es_error_set(&e, 400, "action_request_validation_exception",
						 "Validation Failed: 1: id is missing for doc %zu;", i);
			return fail(resp, &e);
		}
		if (!ixn && index == NULL)
		{
			es_error_set(&e, 400, "action_request_validation_exception",
						 "Validation Failed: 1: index is missing for doc %zu;", i);
			return fail(resp, &e);
		}
	}
	if ((json_array_size(docs) + json_array_size(ids)) == 0)
	{
		es_error_set(&e, 400, "action_request_validation_exception",
					 "Validation Failed: 1: no documents to get;");
		return fail(resp, &e);
	}
	return true;
}

void
docs_mget(Server *srv, const Request *req, Response *resp, const char *index)
{
	json_t	   *body = NULL;
	json_error_t jerr;
	EsError		e;
	int			realtime = req_param_bool(req, "realtime", true);
	int			refresh = req_param_bool(req, "refresh", false);
	const char *routing = req_param(req, "routing");
	SourceFilter sf;
	JsonBuf    *jb = &resp->body;
	int64_t		now = now_mono_ms();
	size_t		i;
	json_t	   *v;
	bool		first = true;

	es_error_clear(&e);
	if (realtime < 0 || refresh < 0)
	{
		es_error_illegal_argument(&e, "Failed to parse value [%s] as only [true] or [false] are allowed.",
								  realtime < 0 ? req_param(req, "realtime") : req_param(req, "refresh"));
		es_error_respond(resp, &e);
		return;
	}
	if (req->body_len > 0)
		body = json_loadb(req->body, req->body_len, 0, &jerr);
	if (body == NULL && req->body_len > 0)
	{
		es_error_set(&e, 400, "parse_exception", "Failed to parse the request body: %s", jerr.text);
		es_error_respond(resp, &e);
		return;
	}
	if (!validate(body, index, resp))
	{
		json_decref(body);
		return;
	}
	if (refresh)
	{
		/* refresh every index named, as Elasticsearch refreshes the shards */
		for (i = 0; i < (size_t) srv->store->nindexes; i++)
			index_refresh(srv->store->indexes[i]);
	}
	source_filter_from_request(&sf, req);
	jb_reset(jb);
	jb_cstr(jb, "{\"docs\":[");
	json_array_foreach(json_object_get(body, "ids"), i, v)
	{
		if (!first)
			jb_char(jb, ',');
		first = false;
		mget_one(srv, jb, index, json_string_value(v), json_string_length(v), routing,
				 &sf, realtime, now);
	}
	json_array_foreach(json_object_get(body, "docs"), i, v)
	{
		json_t	   *idv = json_object_get(v, "_id");
		json_t	   *ixv = json_object_get(v, "_index");
		json_t	   *rv = json_object_get(v, "routing");
		json_t	   *srcv = json_object_get(v, "_source");
		SourceFilter own;
		char		rbuf[64];
		const char *r = routing;

		if (json_is_string(rv))
			r = json_string_value(rv);
		else if (json_is_integer(rv))
		{
			snprintf(rbuf, sizeof(rbuf), "%lld", (long long) json_integer_value(rv));
			r = rbuf;
		}
		if (!first)
			jb_char(jb, ',');
		first = false;
		if (srcv)
			source_filter_from_json(&own, srcv);
		mget_one(srv, jb, ixv ? json_string_value(ixv) : index, json_string_value(idv),
				 json_string_length(idv), r, srcv ? &own : &sf, realtime, now);
		if (srcv)
			source_filter_free(&own);
	}
	jb_cstr(jb, "]}");
	source_filter_free(&sf);
	json_decref(body);
	response_json(resp, 200);
}
