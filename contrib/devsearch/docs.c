/*
 * docs.c — single-document APIs (devsearch).
 *
 * Owns: request-parameter parsing for one document write (version,
 * version_type, if_seq_no, if_primary_term, op_type, routing, refresh,
 * require_alias) and the realtime GET family.  The write itself is shared
 * with _bulk through docwrite.c.  Invariants: GET reads the live view
 * (realtime) unless realtime=false; HEAD answers carry no body.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docs.h"
#include "faults.h"
#include "sourcefilter.h"

Index *
resolve_single_index(Store *st, const char *name, EsError *err)
{
	Index	   *ix = store_find_index(st, name);
	Index	   *found = NULL;
	JsonBuf		names;
	int			n = 0,
				i;

	if (ix)
		return ix;
	jb_init(&names);
	for (i = 0; i < st->nindexes; i++)
		if (index_find_alias(st->indexes[i], name))
		{
			if (n)
				jb_cstr(&names, ", ");
			jb_cstr(&names, st->indexes[i]->name);
			found = st->indexes[i];
			n++;
		}
	if (n == 0)
		es_error_index_not_found_expr(err, name);
	else if (n > 1)
	{
		es_error_illegal_argument(err,
								  "alias [%s] has more than one index associated with it [%s], can't execute a single index op",
								  name, names.data);
		found = NULL;
	}
	jb_free(&names);
	return found;
}

static bool
param_long(const Request *req, const char *name, int64_t *out, EsError *err)
{
	const char *v = req_param(req, name);
	char	   *e;
	long long	n;

	if (v == NULL)
		return true;
	errno = 0;
	n = strtoll(v, &e, 10);
	if (*v == '\0' || *e != '\0' || errno)
	{
		es_error_illegal_argument(err, "Failed to parse long parameter [%s] with value [%s]",
								  name, v);
		return false;
	}
	*out = n;
	return true;
}

/* fill the versioning fields of op from the query string */
static bool
parse_write_params(const Request *req, WriteOp *op, EsError *err)
{
	const char *vt = req_param(req, "version_type");
	const char *ra = req_param(req, "require_alias");

	if (!param_long(req, "version", &op->version, err) ||
		!param_long(req, "if_seq_no", &op->if_seq_no, err) ||
		!param_long(req, "if_primary_term", &op->if_primary_term, err))
		return false;
	if (vt && version_type_parse(vt, &op->vtype) < 0)
	{
		es_error_illegal_argument(err, "No version type match [%s]", vt);
		return false;
	}
	if (op->if_seq_no < 0 && op->if_seq_no != SEQ_NO_UNASSIGNED)
	{
		es_error_illegal_argument(err, "sequence numbers must be non negative. got [%lld].",
								  (long long) op->if_seq_no);
		return false;
	}
	op->routing = req_param(req, "routing");
	op->require_alias = ra && (ra[0] == '\0' || strcmp(ra, "true") == 0);
	return true;
}

static bool
validate_or_respond(const WriteOp *op, Response *resp)
{
	JsonBuf		msgs;
	int			nerr = 0;
	EsError		e;

	jb_init(&msgs);
	write_validate(op, &msgs, &nerr);
	if (nerr)
	{
		es_error_set(&e, 400, "action_request_validation_exception",
					 "Validation Failed: %s", msgs.data);
		jb_free(&msgs);
		es_error_respond(resp, &e);
		return false;
	}
	jb_free(&msgs);
	return true;
}

static void
finish_write(Server *srv, Response *resp, const WriteOp *op, RefreshPolicy refresh)
{
	WriteResult res;

	write_execute(srv, op, now_mono_ms(), &res);
	stats_doc_op(srv->stats, (int) op->op, res.err.status == 0);
	if (res.err.status)
	{
		write_result_free(&res);
		es_error_respond(resp, &res.err);
		return;
	}
	if (refresh != REFRESH_NONE && res.ix)
		index_refresh_shard(res.ix, res.shard);
	jb_reset(&resp->body);
	write_result_json(&resp->body, srv, &res, refresh == REFRESH_IMMEDIATE, false);
	write_result_free(&res);
	if (res.status == 201)
	{
		char		loc[1024];

		snprintf(loc, sizeof(loc), "/%s/_doc/%.*s", res.index_name,
				 (int) (res.id_len > 900 ? 900 : res.id_len), res.id);
		response_add_header(resp, "Location", loc);
	}
	response_json(resp, res.status);
}

/*
 * The start every single-document write shares: the operation, its query
 * parameters and the refresh policy.  False when the answer (an error) is
 * already in resp.
 */
static bool
write_begin(const Request *req, Response *resp, WriteOp *op, OpType kind,
			const char *index, const char *id, RefreshPolicy *refresh)
{
	EsError		e;

	write_op_init(op);
	op->op = kind;
	op->index = index;
	op->id = id;
	op->id_len = id ? strlen(id) : 0;
	if (refresh_policy_parse(req_param(req, "refresh"), refresh, &e) < 0 ||
		!parse_write_params(req, op, &e))
	{
		es_error_respond(resp, &e);
		return false;
	}
	return true;
}

void
docs_write(Server *srv, const Request *req, Response *resp,
		   const char *index, const char *id, bool create_endpoint)
{
	WriteOp		op;
	EsError		e;
	RefreshPolicy refresh;
	const char *ot = req_param(req, "op_type");

	if (!write_begin(req, resp, &op, create_endpoint ? OP_CREATE : OP_INDEX, index, id, &refresh))
		return;
	if (ot)
	{
		if (strcmp(ot, "create") == 0)
			op.op = OP_CREATE;
		else if (strcmp(ot, "index") == 0)
		{
			if (create_endpoint)
				op.op = OP_CREATE;
		}
		else
		{
			es_error_illegal_argument(&e, "opType must be 'create' or 'index', found: [%s]", ot);
			es_error_respond(resp, &e);
			return;
		}
	}
	if (req->body == NULL || req->body_len == 0)
	{
		es_error_set(&e, 400, "action_request_validation_exception",
					 "Validation Failed: 1: source is missing;2: content type is missing;");
		es_error_respond(resp, &e);
		return;
	}
	op.source = req->body;
	op.source_len = req->body_len;
	if (!validate_or_respond(&op, resp))
		return;
	if (source_validate(srv, op.source, op.source_len, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	finish_write(srv, resp, &op, refresh);
}

void
docs_update(Server *srv, const Request *req, Response *resp,
			const char *index, const char *id)
{
	WriteOp		op;
	EsError		e;
	RefreshPolicy refresh;
	SourceFilter sf;

	if (!write_begin(req, resp, &op, OP_UPDATE, index, id, &refresh))
		return;
	if (op.version != VERSION_MATCH_ANY || op.vtype != VT_INTERNAL)
	{
		es_error_set(&e, 400, "action_request_validation_exception",
					 "Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;");
		es_error_respond(resp, &e);
		return;
	}
	if (req->body == NULL || req->body_len == 0)
	{
		es_error_parse(&e, "request body is required");
		es_error_respond(resp, &e);
		return;
	}
	op.source = req->body;
	op.source_len = req->body_len;
	if (req_param(req, "_source") || req_param(req, "_source_includes") ||
		req_param(req, "_source_excludes"))
	{
		source_filter_from_request(&sf, req);
		op.fetch_default = &sf;
	}
	finish_write(srv, resp, &op, refresh);
	if (op.fetch_default)
		source_filter_free(&sf);
}

void
docs_delete(Server *srv, const Request *req, Response *resp,
			const char *index, const char *id)
{
	WriteOp		op;
	RefreshPolicy refresh;

	if (!write_begin(req, resp, &op, OP_DELETE, index, id, &refresh) ||
		!validate_or_respond(&op, resp))
		return;
	finish_write(srv, resp, &op, refresh);
}

static void
write_not_found(Response *resp, const char *index, const char *id)
{
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"_index\":");
	jb_qcstr(&resp->body, index);
	jb_cstr(&resp->body, ",\"_id\":");
	jb_qcstr(&resp->body, id);
	jb_cstr(&resp->body, ",\"found\":false}");
	response_json(resp, 404);
}

/* is name one of the comma-separated items of list? */
static bool
list_has(const char *list, const char *name)
{
	size_t		n = strlen(name);
	const char *p = list;

	while (p && *p)
	{
		const char *c = strchr(p, ',');
		size_t		l = c ? (size_t) (c - p) : strlen(p);

		if (l == n && memcmp(p, name, n) == 0)
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

/* {"_index":..,"_id":..,"_version":..,"_seq_no":..,"_primary_term":1,
 * ["_routing":..,]"found":true  (no closing brace: _source may follow) */
void
docs_write_found_head(JsonBuf *jb, const Index *ix, const Doc *d, int64_t version,
					  int64_t seq_no)
{
	jb_cstr(jb, "{\"_index\":");
	jb_qcstr(jb, ix->name);
	jb_cstr(jb, ",\"_id\":");
	jb_str(jb, d->id, d->id_len);
	jb_cstr(jb, ",\"_version\":");
	jb_i64(jb, version);
	jb_cstr(jb, ",\"_seq_no\":");
	jb_i64(jb, seq_no);
	jb_cstr(jb, ",\"_primary_term\":1");
	if (d->routing)
	{
		jb_cstr(jb, ",\"_routing\":");
		jb_qcstr(jb, d->routing);
	}
	jb_cstr(jb, ",\"found\":true");
}

void
docs_get(Server *srv, const Request *req, Response *resp,
		 const char *index, const char *id, bool source_only)
{
	EsError		e;
	Index	   *ix = resolve_single_index(srv->store, index, &e);
	int64_t		now = now_mono_ms();
	Doc		   *d;
	int			realtime = req_param_bool(req, "realtime", true);
	int			refresh = req_param_bool(req, "refresh", false);
	Blob	   *src;
	int64_t		version,
				seq_no;
	SourceFilter sf;
	int64_t		want_version = VERSION_MATCH_ANY;
	const char *vt = req_param(req, "version_type");
	VersionType vtype = VT_INTERNAL;
	const char *routing;

	resp->head = req->method == HTTP_HEAD;
	if (ix == NULL)
	{
		es_error_respond(resp, &e);
		return;
	}
	if (realtime < 0 || refresh < 0)
	{
		es_error_illegal_argument(&e, "Failed to parse value [%s] as only [true] or [false] are allowed.",
								  realtime < 0 ? req_param(req, "realtime") : req_param(req, "refresh"));
		es_error_respond(resp, &e);
		return;
	}
	es_error_clear(&e);
	if (!param_long(req, "version", &want_version, &e) ||
		(vt && version_type_parse(vt, &vtype) < 0))
	{
		if (e.status == 0)
			es_error_illegal_argument(&e, "No version type match [%s]", vt);
		es_error_respond(resp, &e);
		return;
	}
	if (refresh)
		index_refresh(ix);
	else
		index_maybe_refresh(ix, now);
	if (index_resolve_routing(ix, index, req_param(req, "routing"), id, strlen(id),
							  &routing, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	d = index_current(ix, id, strlen(id), now);
	if (d && d->shard != index_shard_for(ix, routing, id, strlen(id)))
		d = NULL;				/* routed to a shard that does not hold it */
	if (d && realtime)
	{
		src = d->live;
		version = d->version;
		seq_no = d->seq_no;
	}
	else if (d)
	{
		src = d->vis;
		version = d->vis_version;
		seq_no = d->vis_seq_no;
	}
	else
	{
		src = NULL;
		version = seq_no = 0;
	}
	if (src == NULL)
	{
		if (source_only)
		{
			es_error_set(&e, 404, "resource_not_found_exception",
						 "Document not found [%s]/[%s]", ix->name, id);
			es_error_respond(resp, &e);
		}
		else
			write_not_found(resp, ix->name, id);
		return;
	}
	if (want_version != VERSION_MATCH_ANY && want_version != version)
	{
		es_error_set(&e, 409, "version_conflict_engine_exception",
					 "[%s]: version conflict, current version [%lld] is different than the one provided [%lld]",
					 id, (long long) version, (long long) want_version);
		es_error_meta(&e, "index_uuid", ix->uuid);
		es_error_meta(&e, "shard", "0");
		es_error_meta(&e, "index", ix->name);
		es_error_respond(resp, &e);
		return;
	}
	source_filter_from_request(&sf, req);
	{
		/* stored_fields without _source: no _source unless asked for */
		const char *sfl = req_param(req, "stored_fields");
		json_t	   *sm = json_object_get(ix->mappings, "_source");

		if (sfl && !list_has(sfl, "_source") && !req_param(req, "_source") &&
			!req_param(req, "_source_includes") && !req_param(req, "_source_excludes"))
			sf.fetch = false;
		/* "_source": {"enabled": false} in the mapping: nothing stored */
		if (json_is_false(json_object_get(sm, "enabled")))
		{
			if (source_only)
			{
				source_filter_free(&sf);
				es_error_set(&e, 404, "resource_not_found_exception",
							 "Source not found [%s]/[%s]", ix->name, id);
				es_error_respond(resp, &e);
				return;
			}
			sf.fetch = false;
		}
	}
	jb_reset(&resp->body);
	if (source_only)
	{
		if (!sf.fetch)
			sf.fetch = true;
		source_filter_write(&resp->body, &sf, src->data, src->len);
		source_filter_free(&sf);
		response_json(resp, 200);
		return;
	}
	docs_write_found_head(&resp->body, ix, d, version, seq_no);
	if (sf.fetch)
	{
		jb_cstr(&resp->body, ",\"_source\":");
		source_filter_write(&resp->body, &sf, src->data, src->len);
	}
	/* stored_fields: top-level mapped fields with store:true */
	{
		const char *sfl = req_param(req, "stored_fields");
		json_t	   *props = json_object_get(ix->mappings, "properties");

		if (sfl && props)
		{
			json_t	   *doc = json_loadb(src->data, src->len, 0, NULL);
			bool		any = false;
			char	   *list = strdup(sfl),
					   *tok,
					   *save = NULL;

			for (tok = strtok_r(list, ",", &save); tok && doc; tok = strtok_r(NULL, ",", &save))
			{
				json_t	   *m = json_object_get(props, tok);
				json_t	   *v = json_object_get(doc, tok);

				if (!m || !json_is_true(json_object_get(m, "store")) || !v)
					continue;
				jb_cstr(&resp->body, any ? "," : ",\"fields\":{");
				any = true;
				jb_key(&resp->body, tok);
				if (json_is_array(v))
					jb_json(&resp->body, v);
				else
				{
					jb_char(&resp->body, '[');
					jb_json(&resp->body, v);
					jb_char(&resp->body, ']');
				}
			}
			if (any)
				jb_char(&resp->body, '}');
			free(list);
			json_decref(doc);
		}
	}
	jb_char(&resp->body, '}');
	source_filter_free(&sf);
	response_json(resp, 200);
}
