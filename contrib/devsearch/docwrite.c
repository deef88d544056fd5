/*
 * docwrite.c — validation and execution of one document write (devsearch).
 *
 * Owns the implementation of docwrite.h.  The versioning rules follow
 * VersionType/InternalEngine of Elasticsearch 8 / OpenSearch 2:
 *   internal      never conflicts (except create over a live doc); new
 *                 version cur+1, or 1 when there is neither doc nor tombstone
 *   external      conflict when a doc or live tombstone has cur >= v
 *   external_gte  conflict when cur > v
 *   if_seq_no     conflict unless the live doc has that seq_no and term 1
 * A conflict consumes no seq_no.  Deleting a missing doc records a tombstone
 * and answers not_found (404) with a seq_no.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docwrite.h"
#include "jsonscan.h"
#include "mapping.h"
#include "sourcefilter.h"

void
write_op_init(WriteOp *op)
{
	memset(op, 0, sizeof(*op));
	op->version = VERSION_MATCH_ANY;
	op->vtype = VT_INTERNAL;
	op->if_seq_no = SEQ_NO_UNASSIGNED;
	op->if_primary_term = 0;
}

const char *
op_type_name(OpType op)
{
	switch (op)
	{
		case OP_INDEX:
			return "index";
		case OP_CREATE:
			return "create";
		case OP_DELETE:
			return "delete";
		case OP_UPDATE:
			return "update";
	}
	return "index";
}

const char *
version_type_enum_name(VersionType vt)
{
	switch (vt)
	{
		case VT_INTERNAL:
			return "INTERNAL";
		case VT_EXTERNAL:
			return "EXTERNAL";
		case VT_EXTERNAL_GTE:
			return "EXTERNAL_GTE";
	}
	return "INTERNAL";
}

int
version_type_parse(const char *s, VersionType *out)
{
	if (strcmp(s, "internal") == 0)
		*out = VT_INTERNAL;
	else if (strcmp(s, "external") == 0 || strcmp(s, "external_gt") == 0)
		*out = VT_EXTERNAL;
	else if (strcmp(s, "external_gte") == 0)
		*out = VT_EXTERNAL_GTE;
	else
		return -1;
	return 0;
}

static void
add_msg(JsonBuf *msgs, int *nerr, const char *fmt, const char *a, long long n)
{
	(*nerr)++;
	jb_printf(msgs, "%d: ", *nerr);
	if (a)
		jb_printf(msgs, fmt, a);
	else
		jb_printf(msgs, fmt, n);
	jb_char(msgs, ';');
}

void
write_validate(const WriteOp *op, JsonBuf *msgs, int *nerr)
{
	bool		version_ok;

	/* DocWriteRequest.validateSeqNoBasedCASParams */
	if (op->vtype == VT_INTERNAL)
		version_ok = op->version > 0 || op->version == VERSION_MATCH_ANY || op->version == -4;
	else
		version_ok = op->version >= 0;
	if (!version_ok)
	{
		(*nerr)++;
		jb_printf(msgs, "%d: illegal version value [%lld] for version type [%s];", *nerr,
				  (long long) op->version, version_type_enum_name(op->vtype));
	}
	if (op->vtype == VT_INTERNAL && op->version != VERSION_MATCH_ANY && op->version != -4)
		add_msg(msgs, nerr, "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead", NULL, 0);
	if (op->if_seq_no != SEQ_NO_UNASSIGNED &&
		(op->vtype != VT_INTERNAL || op->version != VERSION_MATCH_ANY))
		add_msg(msgs, nerr, "compare and write operations can not use versioning", NULL, 0);
	if (op->if_primary_term == 0 && op->if_seq_no != SEQ_NO_UNASSIGNED)
		add_msg(msgs, nerr, "ifSeqNo is set, but primary term is [0]", NULL, 0);
	if (op->if_primary_term != 0 && op->if_seq_no == SEQ_NO_UNASSIGNED)
		add_msg(msgs, nerr, "ifSeqNo is unassigned, but primary term is [%lld]", NULL,
				(long long) op->if_primary_term);

	if (op->op == OP_CREATE)
	{
		if (op->vtype != VT_INTERNAL)
			add_msg(msgs, nerr, "create operations only support internal versioning. use index instead", NULL, 0);
		if (op->if_seq_no != SEQ_NO_UNASSIGNED)
			add_msg(msgs, nerr, "create operations do not support compare and set. use index instead", NULL, 0);
	}
	if ((op->op == OP_INDEX || op->op == OP_CREATE) && op->id == NULL &&
		op->vtype != VT_INTERNAL)
		add_msg(msgs, nerr, "an id must be provided if version type or value are set", NULL, 0);
	if ((op->op == OP_DELETE || op->op == OP_UPDATE) && op->id == NULL)
		add_msg(msgs, nerr, "id is missing", NULL, 0);
	if (op->index == NULL)
		add_msg(msgs, nerr, "index is missing", NULL, 0);
	if (op->id && op->id_len > MAX_ID_BYTES)
	{
		(*nerr)++;
		jb_printf(msgs, "%d: id [%.*s] is too long, must be no longer than 512 bytes but was: %zu;",
				  *nerr, (int) op->id_len, op->id, op->id_len);
	}
}

int
source_validate(const Server *srv, const char *src, size_t len, EsError *err)
{
	JScanError je;
	const char *p = jscan_skip_ws(src, src + len);

	if (p == src + len)
	{
		if (srv->cfg.flavor == FLAVOR_ELASTICSEARCH)
			es_error_set(err, 400, "document_parsing_exception",
						 "[1:1] failed to parse: document is empty");
		else
			es_error_set(err, 400, "mapper_parsing_exception",
						 "failed to parse, document is empty");
		return -1;
	}
	if (jscan_validate(src, len, JSCAN_MAX_DEPTH, &je) < 0)
	{
		if (srv->cfg.flavor == FLAVOR_ELASTICSEARCH)
		{
			es_error_set(err, 400, "document_parsing_exception",
						 "[%d:%d] failed to parse: %s", je.line, je.col, je.msg);
			es_error_cause(err, "x_content_parse_exception", "[%d:%d] %s",
						   je.line, je.col, je.msg);
		}
		else
		{
			es_error_set(err, 400, "mapper_parsing_exception", "failed to parse");
			es_error_cause(err, "json_parse_exception", "%s at [line: %d, column: %d]",
						   je.msg, je.line, je.col);
		}
		return -1;
	}
	if (*p != '{')
	{
		if (srv->cfg.flavor == FLAVOR_ELASTICSEARCH)
			es_error_set(err, 400, "document_parsing_exception",
						 "[1:1] failed to parse: Malformed content, must start with an object");
		else
		{
			es_error_set(err, 400, "mapper_parsing_exception", "failed to parse");
			es_error_cause(err, "not_x_content_exception",
						   "Malformed content, must start with an object");
		}
		return -1;
	}
	return 0;
}

static void
conflict(WriteResult *res, Index *ix, const char *fmt_tail, const WriteOp *op,
		 const char *id, size_t id_len, int64_t a, int64_t b)
{
	char		tail[300];

	snprintf(tail, sizeof(tail), fmt_tail, (long long) a, (long long) b);
	es_error_set(&res->err, 409, "version_conflict_engine_exception",
				 "[%.*s]: version conflict, %s", (int) (id_len > 512 ? 512 : id_len), id, tail);
	es_error_meta(&res->err, "index_uuid", ix->uuid);
	es_error_meta(&res->err, "shard", "0");
	es_error_meta(&res->err, "index", ix->name);
	(void) op;
}

/* CAS check; true if it passes */
static bool
check_cas(WriteResult *res, Index *ix, const WriteOp *op, Doc *cur)
{
	if (op->if_seq_no == SEQ_NO_UNASSIGNED)
		return true;
	if (cur == NULL || cur->live == NULL)
	{
		char		tail[200];

		snprintf(tail, sizeof(tail),
				 "required seqNo [%lld], primary term [%lld]. but no document was found",
				 (long long) op->if_seq_no, (long long) op->if_primary_term);
		conflict(res, ix, "%s", op, res->id, res->id_len, 0, 0);
		/* re-set the reason with the right tail */
		snprintf(res->err.reason, sizeof(res->err.reason), "[%.*s]: version conflict, %s",
				 (int) (res->id_len > 512 ? 512 : res->id_len), res->id, tail);
		return false;
	}
	if (cur->seq_no != op->if_seq_no || op->if_primary_term != 1)
	{
		char		tail[200];

		snprintf(tail, sizeof(tail),
				 "required seqNo [%lld], primary term [%lld]. current document has seqNo [%lld] and primary term [1]",
				 (long long) op->if_seq_no, (long long) op->if_primary_term,
				 (long long) cur->seq_no);
		conflict(res, ix, "%s", op, res->id, res->id_len, 0, 0);
		snprintf(res->err.reason, sizeof(res->err.reason), "[%.*s]: version conflict, %s",
				 (int) (res->id_len > 512 ? 512 : res->id_len), res->id, tail);
		return false;
	}
	return true;
}

/* external version check; true if it passes */
static bool
check_external(WriteResult *res, Index *ix, const WriteOp *op, Doc *cur)
{
	if (op->vtype == VT_INTERNAL || cur == NULL)
		return true;
	if (op->vtype == VT_EXTERNAL && cur->version >= op->version)
	{
		conflict(res, ix, "current version [%lld] is higher or equal to the one provided [%lld]",
				 op, res->id, res->id_len, cur->version, op->version);
		return false;
	}
	if (op->vtype == VT_EXTERNAL_GTE && cur->version > op->version)
	{
		conflict(res, ix, "current version [%lld] is higher than the one provided [%lld]",
				 op, res->id, res->id_len, cur->version, op->version);
		return false;
	}
	return true;
}

/* recursive merge of src into dst (XContentHelper.update); true if changed */
static bool
merge_objects(json_t *dst, json_t *src)
{
	const char *k;
	json_t	   *v;
	bool		changed = false;

	json_object_foreach(src, k, v)
	{
		json_t	   *old = json_object_get(dst, k);

		if (old && json_is_object(old) && json_is_object(v))
		{
			if (merge_objects(old, v))
				changed = true;
			continue;
		}
		if (old == NULL || !json_equal(old, v))
		{
			json_object_set(dst, k, v);
			changed = true;
		}
	}
	return changed;
}

static Blob *
blob_from_json(json_t *obj)
{
	char	   *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
	Blob	   *b;

	if (s == NULL)
		abort();
	b = blob_new(s, strlen(s));
	free(s);
	return b;
}

/* remember the routing value and shard a document was written with */
static void
doc_set_routing(Doc *d, const char *routing, int shard)
{
	if (d->routing == NULL && routing == NULL)
	{
		d->shard = (uint16_t) shard;
		return;
	}
	if (d->routing && routing && strcmp(d->routing, routing) == 0)
		return;
	free(d->routing);
	d->routing = routing ? strdup(routing) : NULL;
	d->shard = (uint16_t) shard;
}

/*
 * The "get" of an update response (UpdateHelper.extractGetResult): only when
 * a _source fetch was asked for and not disabled.
 */
static void
update_get_result(const WriteOp *op, json_t *body, Doc *d, WriteResult *res)
{
	SourceFilter sf;
	json_t	   *spec = NULL;
	bool		borrowed = false;
	JsonBuf		jb;

	if (op->fetch_spec)
	{
		spec = json_loadb(op->fetch_spec, op->fetch_spec_len, JSON_DECODE_ANY, NULL);
		if (spec == NULL)
			return;
		source_filter_from_json(&sf, spec);
	}
	else if (json_object_get(body, "_source"))
		source_filter_from_json(&sf, json_object_get(body, "_source"));
	else if (op->fetch_default)
	{
		sf = *op->fetch_default;	/* lists stay owned by the caller */
		borrowed = true;
	}
	else
		return;
	if (sf.fetch && d->live)
	{
		jb_init(&jb);
		jb_cstr(&jb, "{\"_seq_no\":");
		jb_i64(&jb, d->seq_no);
		jb_cstr(&jb, ",\"_primary_term\":1");
		if (d->routing)
		{
			jb_cstr(&jb, ",\"_routing\":");
			jb_qcstr(&jb, d->routing);
		}
		jb_cstr(&jb, ",\"found\":true,\"_source\":");
		source_filter_write(&jb, &sf, d->live->data, d->live->len);
		jb_char(&jb, '}');
		res->get_json = jb.data;
	}
	if (!borrowed)
		source_filter_free(&sf);
	json_decref(spec);
}

void
write_result_free(WriteResult *res)
{
	free(res->get_json);
	res->get_json = NULL;
}

static void
execute_update(Server *srv, const WriteOp *op, const char *routing, Index *ix, Doc *cur,
			   int64_t now_ms, WriteResult *res)
{
	json_error_t jerr;
	json_t	   *body = json_loadb(op->source ? op->source : "", op->source_len,
								  JSON_REJECT_DUPLICATES, &jerr);
	json_t	   *doc,
			   *upsert;
	bool		as_upsert;

	(void) now_ms;
	if (body == NULL || !json_is_object(body))
	{
		es_error_set(&res->err, 400, "x_content_parse_exception",
					 "[1:1] failed to parse update request: %s", body ? "not an object" : jerr.text);
		json_decref(body);
		return;
	}
	doc = json_object_get(body, "doc");
	upsert = json_object_get(body, "upsert");
	as_upsert = json_is_true(json_object_get(body, "doc_as_upsert"));
	if (json_object_get(body, "script"))
	{
		es_error_illegal_argument(&res->err, "scripted updates are not supported by the development server");
		json_decref(body);
		return;
	}
	if (doc && !json_is_object(doc))
	{
		es_error_set(&res->err, 400, "x_content_parse_exception",
					 "[1:8] [UpdateRequest] doc doesn't support values of type: VALUE_STRING");
		json_decref(body);
		return;
	}
	if (!check_cas(res, ix, op, cur))
	{
		json_decref(body);
		return;
	}
	if (cur == NULL || cur->live == NULL)
	{
		json_t	   *src = as_upsert ? doc : upsert;

		if (src == NULL || !json_is_object(src))
		{
			es_error_set(&res->err, 404, "document_missing_exception",
						 "[%.*s]: document missing", (int) res->id_len, res->id);
			es_error_meta(&res->err, "index_uuid", ix->uuid);
			es_error_meta(&res->err, "shard", "0");
			es_error_meta(&res->err, "index", ix->name);
			json_decref(body);
			return;
		}
		{
			Doc		   *slot = index_upsert_slot(ix, res->id, res->id_len);

			/* a record on another shard counts as absent: version 1 */
			index_doc_set_live(ix, slot, blob_from_json(src),
							   slot->shard == res->shard ? slot->version + 1 : 1);
			cur = slot;
		}
		doc_set_routing(cur, routing, res->shard);
		res->result = "created";
		res->status = 201;
	}
	else
	{
		json_t	   *old = json_loadb(cur->live->data, cur->live->len, 0, &jerr);

		if (old == NULL || !json_is_object(old))
			old = json_object();
		if (doc == NULL)
		{
			es_error_set(&res->err, 400, "action_request_validation_exception",
						 "Validation Failed: 1: script or doc is missing;");
			json_decref(old);
			json_decref(body);
			return;
		}
		if (!merge_objects(old, doc) &&
			!json_is_false(json_object_get(body, "detect_noop")))
		{
			res->noop = true;
			res->result = "noop";
			res->status = 200;
			res->version = cur->version;
			res->seq_no = cur->seq_no;
			update_get_result(op, body, cur, res);
			json_decref(old);
			json_decref(body);
			return;
		}
		index_doc_set_live(ix, cur, blob_from_json(old), cur->version + 1);
		json_decref(old);
		res->result = "updated";
		res->status = 200;
	}
	res->version = cur->version;
	res->seq_no = cur->seq_no;
	update_get_result(op, body, cur, res);
	json_decref(body);
	(void) srv;
}

void
write_execute(Server *srv, const WriteOp *op, int64_t now_ms, WriteResult *res)
{
	Store	   *st = srv->store;
	Index	   *ix;
	Doc		   *cur;
	const char *routing;
	EsError		err;

	memset(res, 0, sizeof(*res));
	es_error_clear(&res->err);
	res->index_name = op->index;
	res->seq_no = -1;
	/* an id is generated only once the target resolved: a real cluster
	 * answers "_id": null for an item that failed before (no such index,
	 * require_alias, no write index) */
	if (op->id)
	{
		res->id = op->id;
		res->id_len = op->id_len;
	}

	if (op->id && op->id_len == 0)
	{
		es_error_illegal_argument(&res->err, "if _id is specified it must not be empty");
		return;
	}

	/* resolve the target: index, or alias -> write index */
	ix = store_write_index(st, op->index, &err);
	if (ix == NULL)
	{
		bool		may_create;

		if (err.status != 404)
		{
			res->err = err;
			return;
		}
		if (op->require_alias)
		{
			es_error_set(&res->err, 404, "index_not_found_exception",
						 "no such index [%s] and [require_alias] request flag is [true] and [%s] is not an alias",
						 op->index, op->index);
			es_error_meta(&res->err, "index_uuid", "_na_");
			es_error_meta(&res->err, "index", op->index);
			return;
		}
		may_create = op->op == OP_INDEX || op->op == OP_CREATE ||
			(op->op == OP_DELETE && op->vtype != VT_INTERNAL) ||
			(op->op == OP_UPDATE);
		if (op->op == OP_UPDATE)
		{
			/* update auto-creates only when it could upsert; simplest
			 * faithful rule: create, then document_missing if no upsert */
			may_create = true;
		}
		if (may_create && srv->cfg.no_auto_create)
		{
			es_error_set(&res->err, 404, "index_not_found_exception",
						 "no such index [%s] and [action.auto_create_index] is [false]", op->index);
			es_error_meta(&res->err, "index_uuid", "_na_");
			es_error_meta(&res->err, "index", op->index);
			return;
		}
		if (!may_create)
		{
			res->err = err;
			/* a delete resolves its one index as a single-index operation */
			if (op->op == OP_DELETE)
				es_error_index_not_found_expr(&res->err, op->index);
			return;
		}
		ix = store_create_index(st, op->index, NULL, NULL, &err);
		if (ix == NULL)
		{
			res->err = err;
			return;
		}
	}
	else if (op->require_alias && strcmp(ix->name, op->index) == 0)
	{
		es_error_set(&res->err, 404, "index_not_found_exception",
					 "no such index [%s] and [require_alias] request flag is [true] and [%s] is not an alias",
					 op->index, op->index);
		es_error_meta(&res->err, "index_uuid", "_na_");
		es_error_meta(&res->err, "index", op->index);
		return;
	}
	res->ix = ix;
	res->index_name = ix->name;
	if (op->id == NULL)
	{
		random_uuid(res->auto_id);
		res->auto_id[20] = '\0';
		res->id = res->auto_id;
		res->id_len = 20;
	}

	cur = index_current(ix, res->id, res->id_len, now_ms);
	if (index_resolve_routing(ix, op->index, op->routing, res->id, res->id_len,
							  &routing, &res->err) < 0)
		return;
	res->shard = index_shard_for(ix, routing, res->id, res->id_len);
	/* the mapping parses the document before any version check (mapping.h) */
	if ((op->op == OP_INDEX || op->op == OP_CREATE) &&
		mapping_check_source(srv, ix, res->id, res->id_len, op->source,
							 op->source_len, &res->err) < 0)
		return;
	if (cur && cur->shard != res->shard)
	{
		/*
		 * Routed to another shard than the document: that shard does not
		 * have it.  A real cluster would even keep two documents with this
		 * id; we keep one record (documented deviation), so a delete must
		 * not touch it.
		 */
		if (op->op == OP_DELETE)
		{
			if (!check_cas(res, ix, op, NULL))
				return;
			res->version = op->vtype == VT_INTERNAL ? 1 : op->version;
			res->seq_no = ix->next_seq_no++;
			res->result = "not_found";
			res->status = 404;
			return;
		}
		cur = NULL;
	}

	if (op->op == OP_UPDATE)
	{
		execute_update(srv, op, routing, ix, cur, now_ms, res);
		return;
	}
	if (!check_cas(res, ix, op, cur))
		return;
	if (!check_external(res, ix, op, cur))
		return;

	if (op->op == OP_DELETE)
	{
		int64_t		v;
		bool		was_live = cur && cur->live;

		if (op->vtype == VT_INTERNAL)
			v = cur ? cur->version + 1 : 1;
		else
			v = op->version;
		if (cur == NULL)
		{
			cur = index_upsert_slot(ix, res->id, res->id_len);
			doc_set_routing(cur, routing, res->shard);
		}
		index_doc_set_deleted(ix, cur, v, now_ms);
		res->version = v;
		res->seq_no = cur->seq_no;
		res->result = was_live ? "deleted" : "not_found";
		res->status = was_live ? 200 : 404;
		return;
	}

	/* index / create */
	if (op->op == OP_CREATE && cur && cur->live)
	{
		char		tail[100];

		snprintf(tail, sizeof(tail), "document already exists (current version [%lld])",
				 (long long) cur->version);
		conflict(res, ix, "%s", op, res->id, res->id_len, 0, 0);
		snprintf(res->err.reason, sizeof(res->err.reason), "[%.*s]: version conflict, %s",
				 (int) (res->id_len > 512 ? 512 : res->id_len), res->id, tail);
		return;
	}
	{
		int64_t		v;
		bool		was_live = cur && cur->live;
		Doc		   *d = cur;

		if (op->vtype == VT_INTERNAL)
			v = cur ? cur->version + 1 : 1;
		else
			v = op->version;
		if (d == NULL)
			d = index_upsert_slot(ix, res->id, res->id_len);
		index_doc_set_live(ix, d, blob_new(op->source, op->source_len), v);
		doc_set_routing(d, routing, res->shard);
		res->version = v;
		res->seq_no = d->seq_no;
		res->result = was_live ? "updated" : "created";
		res->status = was_live ? 200 : 201;
	}
}

void
write_result_json(JsonBuf *jb, const Server *srv, const WriteResult *res,
				  bool forced_refresh, bool with_status)
{
	(void) srv;
	jb_cstr(jb, "{\"_index\":");
	jb_qcstr(jb, res->index_name ? res->index_name : "");
	jb_cstr(jb, ",\"_id\":");
	if (res->id)
		jb_str(jb, res->id, res->id_len);
	else
		jb_cstr(jb, "null");
	if (res->err.status)
	{
		if (with_status)
		{
			jb_cstr(jb, ",\"status\":");
			jb_i64(jb, res->err.status);
		}
		jb_cstr(jb, ",\"error\":");
		es_error_write_object_trace(jb, &res->err, res->error_trace);
		jb_char(jb, '}');
		return;
	}
	jb_cstr(jb, ",\"_version\":");
	jb_i64(jb, res->version);
	jb_cstr(jb, ",\"result\":\"");
	jb_cstr(jb, res->result);
	/* a noop _update answers no shard copies; in a _bulk every item gets
	 * the shard-level answer of its bulk shard request (TransportShardBulkAction) */
	if (res->noop && !with_status)
		jb_cstr(jb, "\",\"_shards\":{\"total\":0,\"successful\":0,\"failed\":0}");
	else
	{
		jb_cstr(jb, "\",\"_shards\":{\"total\":");
		jb_i64(jb, 1 + (res->ix ? res->ix->number_of_replicas : 1));
		jb_cstr(jb, ",\"successful\":1,\"failed\":0}");
	}
	if (res->seq_no >= 0)
	{
		jb_cstr(jb, ",\"_seq_no\":");
		jb_i64(jb, res->seq_no);
		jb_cstr(jb, ",\"_primary_term\":1");
	}
	if (forced_refresh)
		jb_cstr(jb, ",\"forced_refresh\":true");
	if (res->get_json)
	{
		jb_cstr(jb, ",\"get\":");
		jb_cstr(jb, res->get_json);
	}
	if (with_status)
	{
		jb_cstr(jb, ",\"status\":");
		jb_i64(jb, res->status);
	}
	jb_char(jb, '}');
}

int
refresh_policy_parse(const char *v, RefreshPolicy *out, EsError *err)
{
	if (v == NULL || strcmp(v, "false") == 0)
		*out = REFRESH_NONE;
	else if (v[0] == '\0' || strcmp(v, "true") == 0)
		*out = REFRESH_IMMEDIATE;
	else if (strcmp(v, "wait_for") == 0)
		*out = REFRESH_WAIT_FOR;
	else
	{
		es_error_illegal_argument(err, "Unknown value for refresh: [%s].", v);
		return -1;
	}
	return 0;
}
