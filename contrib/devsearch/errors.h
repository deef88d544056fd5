/*
 * errors.h — Elasticsearch error envelopes (devsearch).
 *
 * Owns: EsError (a structured error carried between modules) and the writers
 * of the two wire forms:
 *   full:   {"error":{"root_cause":[{"type","reason",<meta>}],"type","reason",
 *            <meta>[,"caused_by":{...}]},"status":N}
 *   simple: {"error":"<string>","status":N}
 * Invariants: root_cause never carries caused_by; metadata values are strings
 * written flat in insertion order; reasons are truncated, never overflowed.
 */
#ifndef DEVSEARCH_ERRORS_H
#define DEVSEARCH_ERRORS_H

#include <stdbool.h>

#include "jsonbuf.h"

#define ES_ERR_MAX_META 6

typedef struct EsError
{
	int			status;			/* HTTP status; 0 = no error */
	char		type[80];
	char		reason[1024];
	int			nmeta;
	char		meta_key[ES_ERR_MAX_META][32];
	char		meta_val[ES_ERR_MAX_META][300];
	/* optional caused_by (one level) */
	char		cause_type[80];	/* "" = none */
	char		cause_reason[512];
} EsError;

struct Response;

void		es_error_clear(EsError *e);
/* set status/type/reason (printf-style reason); clears meta and cause */
void		es_error_set(EsError *e, int status, const char *type,
						 const char *fmt,...) __attribute__((format(printf, 4, 5)));
void		es_error_meta(EsError *e, const char *key, const char *val);
void		es_error_cause(EsError *e, const char *type, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* common errors */
void		es_error_index_not_found(EsError *e, const char *index);
/* the same as a real cluster answers it where a single-index operation (get,
 * delete of one document) or an expression that resolved to nothing
 * (allow_no_indices=false) found no index: resource.type "index_expression" */
void		es_error_index_not_found_expr(EsError *e, const char *index);
void		es_error_illegal_argument(EsError *e, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
void		es_error_parse(EsError *e, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));	/* 400 parse_exception */

/* the inner error object {"type","reason",<meta>,"caused_by"} (bulk items);
 * with trace, also "stack_trace" (see es_error_java_string) */
void		es_error_write_object(JsonBuf *jb, const EsError *e);
void		es_error_write_object_trace(JsonBuf *jb, const EsError *e, bool trace);
/*
 * What Throwable.toString() of the Java exception would print, the first
 * line of a real stack_trace: "[index/uuid][[index][shard]] ClassName[reason]"
 * for OpenSearch/Elasticsearch exceptions, "java.lang.X: reason" for JDK ones.
 * devsearch has no stack frames, so stack_trace is this line alone.
 */
void		es_error_java_string(const EsError *e, JsonBuf *out);
/* whole response with the full envelope and status e->status */
void		es_error_respond(struct Response *resp, const EsError *e);
/* shorthand: build and respond in one call */
void		es_respond_error(struct Response *resp, int status, const char *type,
							 const char *fmt,...) __attribute__((format(printf, 4, 5)));
/* {"error":"msg","status":N} */
void		es_respond_simple_error(struct Response *resp, int status, const char *msg);

#endif
