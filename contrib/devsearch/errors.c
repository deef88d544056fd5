/*
 * errors.c — Elasticsearch error envelopes (devsearch).
 *
 * Owns the implementation of errors.h.  Invariants: reasons and metadata are
 * truncated to their buffers, never overflowed; root_cause repeats type,
 * reason and metadata but never caused_by.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devsearch.h"
#include "errors.h"

void
es_error_clear(EsError *e)
{
	e->status = 0;
	e->type[0] = '\0';
	e->reason[0] = '\0';
	e->nmeta = 0;
	e->cause_type[0] = '\0';
	e->cause_reason[0] = '\0';
}

static void
set_v(EsError *e, int status, const char *type, const char *fmt, va_list ap)
{
	es_error_clear(e);
	e->status = status;
	snprintf(e->type, sizeof(e->type), "%s", type);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
}

void
es_error_set(EsError *e, int status, const char *type, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_v(e, status, type, fmt, ap);
	va_end(ap);
}

void
es_error_meta(EsError *e, const char *key, const char *val)
{
	int			i;

	for (i = 0; i < e->nmeta; i++)
		if (strcmp(e->meta_key[i], key) == 0)
			break;
	if (i == e->nmeta)
	{
		if (e->nmeta >= ES_ERR_MAX_META)
			return;
		e->nmeta++;
	}
	snprintf(e->meta_key[i], sizeof(e->meta_key[i]), "%s", key);
	snprintf(e->meta_val[i], sizeof(e->meta_val[i]), "%s", val);
}

void
es_error_cause(EsError *e, const char *type, const char *fmt,...)
{
	va_list		ap;

	snprintf(e->cause_type, sizeof(e->cause_type), "%s", type);
	va_start(ap, fmt);
	vsnprintf(e->cause_reason, sizeof(e->cause_reason), fmt, ap);
	va_end(ap);
}

static void
index_not_found(EsError *e, const char *index, const char *resource_type)
{
	es_error_set(e, 404, "index_not_found_exception", "no such index [%s]", index);
	es_error_meta(e, "resource.type", resource_type);
	es_error_meta(e, "resource.id", index);
	es_error_meta(e, "index_uuid", "_na_");
	es_error_meta(e, "index", index);
}

void
es_error_index_not_found(EsError *e, const char *index)
{
	index_not_found(e, index, "index_or_alias");
}

void
es_error_index_not_found_expr(EsError *e, const char *index)
{
	index_not_found(e, index, "index_expression");
}

void
es_error_illegal_argument(EsError *e, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_v(e, 400, "illegal_argument_exception", fmt, ap);
	va_end(ap);
}

void
es_error_parse(EsError *e, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_v(e, 400, "parse_exception", fmt, ap);
	va_end(ap);
}

static void
write_core(JsonBuf *jb, const EsError *e)
{
	int			i;

	jb_key(jb, "type");
	jb_qcstr(jb, e->type);
	jb_cstr(jb, ",\"reason\":");
	jb_qcstr(jb, e->reason);
	for (i = 0; i < e->nmeta; i++)
	{
		jb_char(jb, ',');
		jb_key(jb, e->meta_key[i]);
		jb_qcstr(jb, e->meta_val[i]);
	}
}

static const char *
meta_get(const EsError *e, const char *key)
{
	int			i;

	for (i = 0; i < e->nmeta; i++)
		if (strcmp(e->meta_key[i], key) == 0)
			return e->meta_val[i];
	return NULL;
}

/* "document_missing_exception" -> "DocumentMissingException" */
static void
class_name(JsonBuf *out, const char *type)
{
	bool		up = true;

	for (; *type; type++)
	{
		if (*type == '_')
		{
			up = true;
			continue;
		}
		jb_char(out, up && *type >= 'a' && *type <= 'z' ? (char) (*type - 'a' + 'A') : *type);
		up = false;
	}
}

void
es_error_java_string(const EsError *e, JsonBuf *out)
{
	const char *ix = meta_get(e, "index");
	const char *uuid = meta_get(e, "index_uuid");
	const char *shard = meta_get(e, "shard");

	if (strcmp(e->type, "illegal_argument_exception") == 0 ||
		strcmp(e->type, "illegal_state_exception") == 0)
	{
		jb_cstr(out, "java.lang.");
		class_name(out, e->type);
		jb_cstr(out, ": ");
		jb_cstr(out, e->reason);
		return;
	}
	if (ix)
	{
		jb_printf(out, "[%s/%s]", ix, uuid ? uuid : "_na_");
		if (shard)
			jb_printf(out, "[[%s][%s]]", ix, shard);
		jb_char(out, ' ');
	}
	class_name(out, e->type);
	jb_char(out, '[');
	jb_cstr(out, e->reason);
	jb_char(out, ']');
	if (e->cause_type[0])
	{
		jb_cstr(out, "; nested: ");
		class_name(out, e->cause_type);
		jb_char(out, '[');
		jb_cstr(out, e->cause_reason);
		jb_cstr(out, "];");
	}
}

static void
write_trace(JsonBuf *jb, const EsError *e)
{
	JsonBuf		t;

	jb_init(&t);
	es_error_java_string(e, &t);
	jb_cstr(jb, ",\"stack_trace\":");
	jb_str(jb, t.data ? t.data : "", t.len);
	jb_free(&t);
}

void
es_error_write_object(JsonBuf *jb, const EsError *e)
{
	es_error_write_object_trace(jb, e, false);
}

void
es_error_write_object_trace(JsonBuf *jb, const EsError *e, bool trace)
{
	jb_char(jb, '{');
	write_core(jb, e);
	if (trace)
		write_trace(jb, e);
	if (e->cause_type[0])
	{
		jb_cstr(jb, ",\"caused_by\":{\"type\":");
		jb_qcstr(jb, e->cause_type);
		jb_cstr(jb, ",\"reason\":");
		jb_qcstr(jb, e->cause_reason);
		jb_char(jb, '}');
	}
	jb_char(jb, '}');
}

void
es_error_respond(Response *resp, const EsError *e)
{
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"error\":{\"root_cause\":[{");
	write_core(&resp->body, e);
	if (resp->error_trace)
		write_trace(&resp->body, e);
	jb_cstr(&resp->body, "}],");
	/* the outer object: same core plus caused_by */
	write_core(&resp->body, e);
	if (resp->error_trace)
		write_trace(&resp->body, e);
	if (e->cause_type[0])
	{
		jb_cstr(&resp->body, ",\"caused_by\":{\"type\":");
		jb_qcstr(&resp->body, e->cause_type);
		jb_cstr(&resp->body, ",\"reason\":");
		jb_qcstr(&resp->body, e->cause_reason);
		jb_char(&resp->body, '}');
	}
	jb_cstr(&resp->body, "},\"status\":");
	jb_i64(&resp->body, e->status);
	jb_char(&resp->body, '}');
	response_json(resp, e->status);
}

void
es_respond_error(Response *resp, int status, const char *type, const char *fmt,...)
{
	EsError		e;
	va_list		ap;

	va_start(ap, fmt);
	set_v(&e, status, type, fmt, ap);
	va_end(ap);
	es_error_respond(resp, &e);
}

void
es_respond_simple_error(Response *resp, int status, const char *msg)
{
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"error\":");
	jb_qcstr(&resp->body, msg);
	jb_cstr(&resp->body, ",\"status\":");
	jb_i64(&resp->body, status);
	jb_char(&resp->body, '}');
	response_json(resp, status);
}
