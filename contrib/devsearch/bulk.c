/*
 * bulk.c — the _bulk endpoint (devsearch).
 *
 * Owns: NDJSON framing, the hand-written action/metadata line parser, the
 * whole-request errors of BulkRequestParser/BulkRequest.validate, and the
 * per-item execution and response writer.
 *
 * Invariants: parse everything, then validate everything, then execute items
 * in order; a whole-request error executes nothing.  Source lines are not
 * copied until stored (they point into the request body); decoded strings of
 * action lines live in a per-request arena that is freed at the end.  The
 * response is written directly, items in request order, HTTP 200 whatever
 * happens to individual items.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "docwrite.h"
#include "faults.h"
#include "jsonscan.h"
#include "sourcefilter.h"

/* ---- string arena (chunks never move) ---- */

typedef struct ArenaChunk
{
	struct ArenaChunk *next;
	size_t		used;
	size_t		cap;
	char		data[];
} ArenaChunk;

typedef struct Arena
{
	ArenaChunk *head;
} Arena;

static char *
arena_strndup(Arena *a, const char *s, size_t n)
{
	ArenaChunk *c = a->head;
	char	   *d;

	if (c == NULL || c->used + n + 1 > c->cap)
	{
		size_t		cap = n + 1 > 65536 ? n + 1 : 65536;

		c = malloc(sizeof(ArenaChunk) + cap);
		if (c == NULL)
			abort();
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	d = c->data + c->used;
	memcpy(d, s, n);
	d[n] = '\0';
	c->used += n + 1;
	return d;
}

static void
arena_free(Arena *a)
{
	while (a->head)
	{
		ArenaChunk *n = a->head->next;

		free(a->head);
		a->head = n;
	}
}

/* items ahead of the current one whose id lookups are prefetched */
#define PREFETCH_AHEAD 12

/* ---- parsing ---- */

typedef struct BulkCtx
{
	Server	   *srv;
	Arena		arena;
	JsonBuf		tmp;			/* decoding scratch */
	WriteOp    *ops;
	int			nops;
	int			cap;
	const char *default_index;
	const char *default_routing;
	const char *default_pipeline;
	bool		default_require_alias;
	SourceFilter fetch_default;	/* ?_source=... for update items */
	bool		has_fetch_default;
	EsError		err;
} BulkCtx;

static const char *
token_name(const char *p, const char *end)
{
	if (p >= end)
		return "null";
	switch (*p)
	{
		case '{':
			return "START_OBJECT";
		case '}':
			return "END_OBJECT";
		case '[':
			return "START_ARRAY";
		case ']':
			return "END_ARRAY";
		case '"':
			return "VALUE_STRING";
		case 't':
			return "VALUE_TRUE";
		case 'f':
			return "VALUE_FALSE";
		case 'n':
			return "VALUE_NULL";
		default:
			if (*p == '-' || (*p >= '0' && *p <= '9'))
			{
				const char *q = p + 1;

				while (q < end && *q >= '0' && *q <= '9')
					q++;
				if (q < end && (*q == '.' || *q == 'e' || *q == 'E'))
					return "VALUE_NUMBER_FLOAT";
				return "VALUE_NUMBER_INT";
			}
			return "?";
	}
}

static void
json_syntax_error(BulkCtx *c, int line, const char *msg)
{
	if (c->srv->cfg.flavor == FLAVOR_ELASTICSEARCH)
		es_error_set(&c->err, 400, "x_content_parse_exception", "[%d:1] %s", line, msg);
	else
		es_error_set(&c->err, 400, "json_parse_exception", "%s", msg);
}

static void
malformed(BulkCtx *c, int line, const char *what, const char *p, const char *end)
{
	es_error_illegal_argument(&c->err, "Malformed action/metadata line [%d], %s but found [%s]",
							  line, what, token_name(p, end));
}

/* parse a scalar value; kinds: 's' string (decoded), 'n' number, 'b' bool,
 * 'z' null.  Returns end pointer or NULL (error set). */
static const char *
parse_scalar(BulkCtx *c, int line, const char *key, const char *p, const char *end,
			 char *kind, const char **sval, size_t *slen, int64_t *nval, bool *bval)
{
	if (*p == '"')
	{
		const char *q;

		jb_reset(&c->tmp);
		q = jscan_string(p, end, &c->tmp);
		if (q == NULL)
		{
			json_syntax_error(c, line, "Invalid string value in action/metadata line");
			return NULL;
		}
		*kind = 's';
		*sval = arena_strndup(&c->arena, c->tmp.data ? c->tmp.data : "", c->tmp.len);
		*slen = c->tmp.len;
		return q;
	}
	if (*p == '-' || (*p >= '0' && *p <= '9'))
	{
		const char *q = jscan_skip_value(p, end, 1);
		char		buf[64];
		char	   *e;
		size_t		n;
		long long	v;

		if (q == NULL)
		{
			json_syntax_error(c, line, "Invalid numeric value in action/metadata line");
			return NULL;
		}
		n = (size_t) (q - p);
		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		memcpy(buf, p, n);
		buf[n] = '\0';
		errno = 0;
		v = strtoll(buf, &e, 10);
		if (errno == ERANGE)
		{
			es_error_illegal_argument(&c->err,
									  "Numeric value (%s) out of range of long for field [%s] in action/metadata line [%d]",
									  buf, key, line);
			return NULL;
		}
		if (*e != '\0')
		{
			/* a fraction or exponent: truncated like Jackson's longValue(),
			 * refused when it does not fit a long */
			double		d = strtod(buf, NULL);

			if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
			{
				es_error_illegal_argument(&c->err,
										  "Numeric value (%s) out of range of long for field [%s] in action/metadata line [%d]",
										  buf, key, line);
				return NULL;
			}
			v = (long long) d;
		}
		*kind = 'n';
		*nval = v;
		/* numbers are also usable as strings (e.g. "_id": 1) */
		*sval = arena_strndup(&c->arena, buf, n);
		*slen = n;
		return q;
	}
	if (*p == 't' || *p == 'f' || *p == 'n')
	{
		const char *q = jscan_skip_value(p, end, 1);

		if (q == NULL)
		{
			json_syntax_error(c, line, "Unrecognized token in action/metadata line");
			return NULL;
		}
		*kind = *p == 'n' ? 'z' : 'b';
		*bval = *p == 't';
		*sval = *p == 't' ? "true" : *p == 'f' ? "false" : NULL;
		*slen = *sval ? strlen(*sval) : 0;
		return q;
	}
	json_syntax_error(c, line, "Unexpected character in action/metadata line");
	return NULL;
}

static bool
parse_long_value(BulkCtx *c, int line, const char *key, char kind, const char *s,
				 int64_t nval, int64_t *out)
{
	char	   *e;
	long long	v;

	if (kind == 'n')
	{
		*out = nval;
		return true;
	}
	if (kind == 's')
	{
		errno = 0;
		v = strtoll(s, &e, 10);
		if (*s != '\0' && *e == '\0' && errno == 0)
		{
			*out = v;
			return true;
		}
	}
	es_error_illegal_argument(&c->err,
							  "Failed to parse value [%s] for field [%s] in action/metadata line [%d]",
							  s ? s : "null", key, line);
	return false;
}

/*
 * Parse the action/metadata line [p, end) (no newline).  Returns 1 when an
 * op was added, 0 for a blank line, -1 on a whole-request error.
 */
static int
parse_action(BulkCtx *c, const char *p, const char *end, int line, WriteOp *op)
{
	bool		is_es = c->srv->cfg.flavor == FLAVOR_ELASTICSEARCH;
	const char *astart;
	size_t		alen;

	p = jscan_skip_ws(p, end);
	if (p >= end)
		return 0;
	if (*p != '{')
	{
		malformed(c, line, "expected START_OBJECT", p, end);
		return -1;
	}
	p = jscan_skip_ws(p + 1, end);
	if (p >= end || *p != '"')
	{
		if (p < end && *p == '}')
		{
			malformed(c, line, "expected FIELD_NAME", p, end);
			return -1;
		}
		json_syntax_error(c, line, "Unexpected character: was expecting double-quote to start field name");
		return -1;
	}
	jb_reset(&c->tmp);
	p = jscan_string(p, end, &c->tmp);
	if (p == NULL)
	{
		json_syntax_error(c, line, "Invalid field name");
		return -1;
	}
	astart = c->tmp.data ? c->tmp.data : "";
	alen = c->tmp.len;
	write_op_init(op);
	if (alen == 5 && memcmp(astart, "index", 5) == 0)
		op->op = OP_INDEX;
	else if (alen == 6 && memcmp(astart, "create", 6) == 0)
		op->op = OP_CREATE;
	else if (alen == 6 && memcmp(astart, "delete", 6) == 0)
		op->op = OP_DELETE;
	else if (alen == 6 && memcmp(astart, "update", 6) == 0)
		op->op = OP_UPDATE;
	else
	{
		if (is_es)
			es_error_illegal_argument(&c->err,
									  "Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%.*s]",
									  line, (int) (alen > 200 ? 200 : alen), astart);
		else
			es_error_illegal_argument(&c->err,
									  "Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%.*s]",
									  line, (int) (alen > 200 ? 200 : alen), astart);
		return -1;
	}
	p = jscan_skip_ws(p, end);
	if (p >= end || *p != ':')
	{
		json_syntax_error(c, line, "Unexpected character: was expecting a colon to separate field name and value");
		return -1;
	}
	p = jscan_skip_ws(p + 1, end);
	if (p >= end || *p != '{')
	{
		malformed(c, line, "expected START_OBJECT", p, end);
		return -1;
	}
	op->index = c->default_index;
	op->fetch_default = c->has_fetch_default ? &c->fetch_default : NULL;
	op->routing = c->default_routing;
	op->require_alias = c->default_require_alias;
	p = jscan_skip_ws(p + 1, end);
	if (p < end && *p == '}')
		p++;
	else
		for (;;)
		{
			const char *key;
			char		kind = 0;
			const char *sval = NULL;
			size_t		slen = 0;
			int64_t		nval = 0;
			bool		bval = false;

			p = jscan_skip_ws(p, end);
			if (p >= end || *p != '"')
			{
				json_syntax_error(c, line, "Unexpected character: was expecting double-quote to start field name");
				return -1;
			}
			jb_reset(&c->tmp);
			p = jscan_string(p, end, &c->tmp);
			if (p == NULL)
			{
				json_syntax_error(c, line, "Invalid field name");
				return -1;
			}
			key = arena_strndup(&c->arena, c->tmp.data ? c->tmp.data : "", c->tmp.len);
			p = jscan_skip_ws(p, end);
			if (p >= end || *p != ':')
			{
				json_syntax_error(c, line, "Unexpected character: was expecting a colon to separate field name and value");
				return -1;
			}
			p = jscan_skip_ws(p + 1, end);
			if (p >= end)
			{
				json_syntax_error(c, line, "Unexpected end-of-input: expected a value");
				return -1;
			}
			if (*p == '{' || *p == '[')
			{
				const char *q;

				if (!(*p == '{' && (strcmp(key, "_source") == 0 ||
									(is_es && strcmp(key, "dynamic_templates") == 0))))
				{
					es_error_illegal_argument(&c->err,
											  "Malformed action/metadata line [%d], expected a simple value for field [%s] but found [%s]",
											  line, key, token_name(p, end));
					return -1;
				}
				q = jscan_skip_value(p, end, JSCAN_MAX_DEPTH);
				if (q == NULL)
				{
					json_syntax_error(c, line, "Malformed object in action/metadata line");
					return -1;
				}
				if (strcmp(key, "_source") == 0)
				{
					op->fetch_spec = arena_strndup(&c->arena, p, (size_t) (q - p));
					op->fetch_spec_len = (size_t) (q - p);
				}
				p = q;
			}
			else
			{
				const char *vstart = p;

				p = parse_scalar(c, line, key, p, end, &kind, &sval, &slen, &nval, &bval);
				if (p && strcmp(key, "_source") == 0)
				{
					op->fetch_spec = arena_strndup(&c->arena, vstart, (size_t) (p - vstart));
					op->fetch_spec_len = (size_t) (p - vstart);
				}
				if (p == NULL)
					return -1;
				if (strcmp(key, "_index") == 0)
					op->index = sval;
				else if (strcmp(key, "_id") == 0)
				{
					op->id = sval;
					op->id_len = slen;
				}
				else if (strcmp(key, "routing") == 0)
					op->routing = sval;
				else if (strcmp(key, "version") == 0)
				{
					if (!parse_long_value(c, line, key, kind, sval, nval, &op->version))
						return -1;
				}
				else if (strcmp(key, "version_type") == 0)
				{
					if (sval == NULL || version_type_parse(sval, &op->vtype) < 0)
					{
						es_error_illegal_argument(&c->err, "No version type match [%s]",
												  sval ? sval : "null");
						return -1;
					}
				}
				else if (strcmp(key, "if_seq_no") == 0)
				{
					if (!parse_long_value(c, line, key, kind, sval, nval, &op->if_seq_no))
						return -1;
					if (op->if_seq_no < 0 && op->if_seq_no != SEQ_NO_UNASSIGNED)
					{
						es_error_illegal_argument(&c->err,
												  "sequence numbers must be non negative. got [%lld].",
												  (long long) op->if_seq_no);
						return -1;
					}
				}
				else if (strcmp(key, "if_primary_term") == 0)
				{
					if (!parse_long_value(c, line, key, kind, sval, nval, &op->if_primary_term))
						return -1;
					if (op->if_primary_term < 0)
					{
						es_error_illegal_argument(&c->err,
												  "primary term must be non negative. got [%lld]",
												  (long long) op->if_primary_term);
						return -1;
					}
				}
				else if (strcmp(key, "op_type") == 0)
				{
					if (op->op == OP_INDEX && sval && strcmp(sval, "create") == 0)
						op->op = OP_CREATE;
					else if (!(sval && (strcmp(sval, "index") == 0 ||
										strcmp(sval, "create") == 0)))
					{
						es_error_illegal_argument(&c->err, "opType must be 'create' or 'index', found: [%s]",
												  sval ? sval : "null");
						return -1;
					}
				}
				else if (strcmp(key, "require_alias") == 0)
					op->require_alias = (kind == 'b' && bval) ||
						(kind == 's' && strcmp(sval, "true") == 0);
				else if (strcmp(key, "pipeline") == 0 ||
						 strcmp(key, "retry_on_conflict") == 0 ||
						 strcmp(key, "_source") == 0 ||
						 (is_es && strcmp(key, "dynamic_templates") == 0))
					 /* accepted and ignored */ ;
				else
				{
					es_error_illegal_argument(&c->err,
											  "Action/metadata line [%d] contains an unknown parameter [%s]",
											  line, key);
					return -1;
				}
			}
			p = jscan_skip_ws(p, end);
			if (p < end && *p == ',')
			{
				p++;
				continue;
			}
			if (p < end && *p == '}')
			{
				p++;
				break;
			}
			json_syntax_error(c, line, "Unexpected character: was expecting comma to separate Object entries");
			return -1;
		}
	p = jscan_skip_ws(p, end);
	if (p >= end || *p != '}')
	{
		if (p < end && *p == ',')
			es_error_illegal_argument(&c->err,
									  "Malformed action/metadata line [%d], expected END_OBJECT but found [FIELD_NAME]",
									  line);
		else
			malformed(c, line, "expected END_OBJECT", p, end);
		return -1;
	}
	p = jscan_skip_ws(p + 1, end);
	if (p < end)
	{
		malformed(c, line, "expected END_OBJECT", p, end);
		return -1;
	}
	if (op->op == OP_UPDATE && (op->version != VERSION_MATCH_ANY || op->vtype != VT_INTERNAL))
	{
		es_error_illegal_argument(&c->err,
								  "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead");
		return -1;
	}
	return 1;
}

static WriteOp *
new_op(BulkCtx *c)
{
	if (c->nops == c->cap)
	{
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->ops = realloc(c->ops, sizeof(WriteOp) * (size_t) c->cap);
		if (c->ops == NULL)
			abort();
	}
	return &c->ops[c->nops];
}

/* strip a trailing \r */
static size_t
trim_cr(const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '\r')
		n--;
	return n;
}

static int
parse_body(BulkCtx *c, const char *body, size_t len)
{
	const char *p = body;
	const char *end = body + len;
	int			line = 0;

	while (p < end)
	{
		const char *nl = memchr(p, '\n', (size_t) (end - p));
		WriteOp    *op;
		int			r;

		line++;
		if (nl == NULL)
		{
			/* only whitespace may follow the last newline */
			if (jscan_skip_ws(p, end) == end)
				break;
			es_error_illegal_argument(&c->err,
									  "The bulk request must be terminated by a newline [\\n]");
			return -1;
		}
		op = new_op(c);
		r = parse_action(c, p, p + trim_cr(p, (size_t) (nl - p)), line, op);
		if (r < 0)
			return -1;
		p = nl + 1;
		if (r == 0)
			continue;
		if (op->op != OP_DELETE)
		{
			const char *snl;

			if (p >= end)
				break;			/* action without source: dropped */
			snl = memchr(p, '\n', (size_t) (end - p));
			line++;
			if (snl == NULL)
			{
				es_error_illegal_argument(&c->err,
										  "The bulk request must be terminated by a newline [\\n]");
				return -1;
			}
			op->source = p;
			op->source_len = trim_cr(p, (size_t) (snl - p));
			p = snl + 1;
		}
		c->nops++;
	}
	return 0;
}

/* ---- execution ---- */

void
bulk_handle(Server *srv, const char *default_index, const Request *req, Response *resp)
{
	BulkCtx		c;
	RefreshPolicy refresh;
	JsonBuf		msgs;
	int			nerr = 0;
	int			i;
	int64_t		start = now_mono_ms();
	int64_t		now;
	bool		errors = false;
	JsonBuf    *out = &resp->body;
	size_t		errors_pos;
	Index	  **touched = NULL;
	int			ntouched = 0;
	const char *ra;
	Index	   *last_ix = NULL;	/* index of the last write, for prefetching */
	const char *last_name = NULL;

	memset(&c, 0, sizeof(c));
	c.srv = srv;
	jb_init(&c.tmp);
	c.default_index = default_index;
	c.default_routing = req_param(req, "routing");
	c.default_pipeline = req_param(req, "pipeline");
	ra = req_param(req, "require_alias");
	c.default_require_alias = ra && (ra[0] == '\0' || strcmp(ra, "true") == 0);
	c.has_fetch_default = req_param(req, "_source") || req_param(req, "_source_includes") ||
		req_param(req, "_source_excludes");
	if (c.has_fetch_default)
		source_filter_from_request(&c.fetch_default, req);

	if (refresh_policy_parse(req_param(req, "refresh"), &refresh, &c.err) < 0)
	{
		es_error_respond(resp, &c.err);
		goto done;
	}
	if (req->body == NULL || req->body_len == 0)
	{
		es_error_parse(&c.err, "request body is required");
		es_error_respond(resp, &c.err);
		goto done;
	}
	if (parse_body(&c, req->body, req->body_len) < 0)
	{
		es_error_respond(resp, &c.err);
		goto done;
	}

	/* validation of every item */
	jb_init(&msgs);
	if (c.nops == 0)
	{
		nerr = 1;
		jb_cstr(&msgs, "1: no requests added;");
	}
	for (i = 0; i < c.nops; i++)
		write_validate(&c.ops[i], &msgs, &nerr);
	if (nerr)
	{
		es_error_set(&c.err, 400, "action_request_validation_exception",
					 "Validation Failed: %s", msgs.data);
		jb_free(&msgs);
		es_error_respond(resp, &c.err);
		goto done;
	}
	jb_free(&msgs);

	/* execute */
	jb_reset(out);
	jb_reserve(out, (size_t) c.nops * 180 + 64);
	jb_cstr(out, "{\"took\":");
	errors_pos = out->len;
	/* placeholder, patched at the end: "took" digits + errors flag */
	jb_cstr(out, "0000000000,\"errors\":false,\"items\":[");
	now = now_mono_ms();
	for (i = 0; i < c.nops; i++)
	{
		WriteOp    *op = &c.ops[i];
		WriteResult res;

		/*
		 * Random lookups in a large id table are memory-latency bound:
		 * prefetch the items ahead (same index as the last write only).
		 */
		if (last_ix)
		{
			int			st;

			for (st = 0; st < 3; st++)
			{
				int			j = i + PREFETCH_AHEAD - st * (PREFETCH_AHEAD / 3);
				const WriteOp *o = j < c.nops ? &c.ops[j] : NULL;

				if (o && o->id && o->index &&
					(o->index == last_name || strcmp(o->index, last_name) == 0))
					index_prefetch_id(last_ix, o->id, o->id_len, st);
			}
		}

		if (i)
			jb_char(out, ',');
		jb_cstr(out, "{\"");
		jb_cstr(out, op_type_name(op->op));
		jb_cstr(out, "\":");

		if (faults_bulk_item(srv, req))
		{
			memset(&res, 0, sizeof(res));
			res.index_name = op->index;
			res.id = op->id ? op->id : "";
			res.id_len = op->id ? op->id_len : 0;
			faults_item_rejection(srv, &res.err);
		}
		else if ((op->op == OP_INDEX || op->op == OP_CREATE) &&
				 source_validate(srv, op->source, op->source_len, &res.err) < 0)
		{
			EsError		e = res.err;

			memset(&res, 0, sizeof(res));
			res.err = e;
			res.index_name = op->index;
			res.id = op->id ? op->id : "";
			res.id_len = op->id ? op->id_len : 0;
			/* still resolve the concrete index name for the item */
			{
				EsError		e2;
				Index	   *ix = store_write_index(srv->store, op->index, &e2);

				if (ix)
					res.index_name = ix->name;
			}
		}
		else
			write_execute(srv, op, now, &res);

		stats_doc_op(srv->stats, (int) op->op, res.err.status == 0);
		if (res.ix && op->index)
		{
			last_ix = res.ix;
			last_name = op->index;
		}
		if (res.err.status)
			errors = true;
		else if (refresh != REFRESH_NONE && res.ix)
		{
			int			t;

			for (t = 0; t < ntouched; t++)
				if (touched[t] == res.ix)
					break;
			if (t == ntouched)
			{
				touched = realloc(touched, sizeof(Index *) * (size_t) (ntouched + 1));
				if (touched == NULL)
					abort();
				touched[ntouched++] = res.ix;
			}
		}
		res.error_trace = resp->error_trace;
		write_result_json(out, srv, &res, refresh == REFRESH_IMMEDIATE && !res.err.status,
						  true);
		write_result_free(&res);
		jb_char(out, '}');
	}
	jb_cstr(out, "]}");
	for (i = 0; i < ntouched; i++)
		index_refresh(touched[i]);

	/* patch took + errors */
	{
		char		patch[64];
		int64_t		took = now_mono_ms() - start;
		int			n;

		n = snprintf(patch, sizeof(patch), "%lld,\"errors\":%s",
					 (long long) (took > 999999999 ? 999999999 : took),
					 errors ? "true" : "false");
		/* original placeholder: 10 digits + ,"errors":false  */
		{
			size_t		oldlen = 10 + strlen(",\"errors\":false");

			memmove(out->data + errors_pos + n, out->data + errors_pos + oldlen,
					out->len - errors_pos - oldlen + 1);
			memcpy(out->data + errors_pos, patch, (size_t) n);
			out->len = out->len - oldlen + (size_t) n;
		}
	}
	stats_count(srv->stats, "bulk", 200, (uint64_t) c.nops);
	response_json(resp, 200);
done:
	if (c.has_fetch_default)
		source_filter_free(&c.fetch_default);
	free(touched);
	free(c.ops);
	arena_free(&c.arena);
	jb_free(&c.tmp);
}
