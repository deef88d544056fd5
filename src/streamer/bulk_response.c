/*
 * bulk_response.c: classification of _bulk responses, item by item, without
 * building a JSON tree.
 *
 * Owns: a small validating scanner over the response body (strings with
 * escapes, nested objects and arrays, scalars), the shortcut for
 * "errors":false, and the outcome of each item (I3/I6): 2xx and a delete's
 * 404 without an error are OK, 409 is stale (already newer under external
 * versioning, I1), 429/5xx are retried, and so is a cluster_block_exception
 * of any status (index.blocks.write answers 403: a block is a state of the
 * cluster an operator lifts, never a property of the document), an
 * item's index_not_found_exception (the index was deleted, or the server
 * restarted empty, on a cluster that does not auto-create indexes) is
 * OUT_GONE: a state of the target, never a dead letter; anything else is
 * dead-lettered.
 *
 * Invariants: an item is OK only when the server said so; a body that does
 * not scan as a _bulk response (truncated, wrong item count) is never taken
 * as success: all its items are retried (HTTP 200 or retryable status) or
 * dead-lettered (any other status).  "errors":false is trusted only when it
 * is a top-level member that comes before "items", as Elasticsearch and
 * OpenSearch write it; otherwise every item is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bulk_response.h"
#include "es_client.h"
#include "json_scan.h"

/*
 * One item: {"<op>":{... "status":N ... "error":{...} ...}}.  *err_start and
 * *err_len locate the error value's raw JSON (len 0 when absent).
 */
static bool
scan_item(JsonScan *s, long *status, const char **err_start, size_t *err_len)
{
	*status = -1;
	*err_len = 0;
	if (!js_eat(s, '{') || !js_string(s, NULL, NULL) || !js_eat(s, ':') || !js_eat(s, '{'))
		return false;
	js_ws(s);
	if (s->p < s->end && *s->p == '}')
		s->p++;
	else
	{
		for (;;)
		{
			const char *k;
			size_t		klen;

			if (!js_string(s, &k, &klen) || !js_eat(s, ':'))
				return false;
			js_ws(s);
			if (js_key_is(k, klen, "status"))
			{
				char	   *e;

				*status = strtol(s->p, &e, 10);
				if (e == s->p || e > s->end)
					return false;
				s->p = e;
			}
			else if (js_key_is(k, klen, "error"))
			{
				const char *start = s->p;

				if (!js_skip(s))
					return false;
				*err_start = start;
				*err_len = s->p - start;
			}
			else if (!js_skip(s))
				return false;
			if (js_eat(s, ','))
				continue;
			if (!js_eat(s, '}'))
				return false;
			break;
		}
	}
	return *status >= 0 && js_eat(s, '}');
}

/* Is this raw error object {"type":"<type>",...}? */
static bool
error_is(const char *err, size_t len, const char *type)
{
	const char *v;
	size_t		vlen;
	JsonScan	s;

	if (!js_member(err, len, "type", &v, &vlen))
		return false;
	s = (JsonScan) {v, v + vlen};
	return js_string(&s, &v, &vlen) && js_key_is(v, vlen, type);
}

static bool
error_is_block(const char *err, size_t len)
{
	return error_is(err, len, "cluster_block_exception");
}

static bool
error_is_index_gone(const char *err, size_t len)
{
	return error_is(err, len, "index_not_found_exception");
}

/* A whole-request error body {"error":{"type":"cluster_block_exception",...},...}? */
static bool
body_is_block(const char *body, size_t len)
{
	const char *v;
	size_t		vlen;

	return js_member(body, len, "error", &v, &vlen) && error_is_block(v, vlen);
}

static ItemOutcome
classify(long st, const char *err, size_t err_len)
{
	if (st >= 200 && st < 300)
		return OUT_OK;
	if (st == 404 && err_len == 0)
		return OUT_OK;			/* delete of a document that is not there */
	if (st == 404 && error_is_index_gone(err, err_len))
		return OUT_GONE;
	if (st == 409)
		return OUT_STALE;
	if (es_retryable_status(st))
		return OUT_RETRY;
	if (err_len > 0 && error_is_block(err, err_len))
		return OUT_RETRY;		/* e.g. index.blocks.write: 403 until lifted */
	return OUT_DEAD;
}

/*
 * Scan a 200 response.  Returns true with out[]/statuses[]/errors[] filled
 * when it is a well-formed _bulk response of exactly nitems items.
 */
static bool
scan_response(const char *body, size_t len, int nitems, ItemOutcome *out,
			  char **errors, long *statuses)
{
	JsonScan	s = {body, body + len};
	bool		no_errors = false;

	if (!js_eat(&s, '{'))
		return false;
	for (;;)
	{
		const char *k;
		size_t		klen;

		if (!js_string(&s, &k, &klen) || !js_eat(&s, ':'))
			return false;
		js_ws(&s);
		if (js_key_is(k, klen, "errors"))
		{
			no_errors = (s.end - s.p >= 5 && memcmp(s.p, "false", 5) == 0);
			if (!js_skip(&s))
				return false;
		}
		else if (js_key_is(k, klen, "items"))
		{
			int			i = 0;

			if (no_errors)
			{
				/* every item succeeded: no need to read them */
				for (i = 0; i < nitems; i++)
				{
					out[i] = OUT_OK;
					if (statuses)
						statuses[i] = 200;
				}
				return true;
			}
			if (!js_eat(&s, '['))
				return false;
			js_ws(&s);
			if (s.p < s.end && *s.p == ']')
				s.p++;
			else
				for (;;)
				{
					long		st;
					const char *es = NULL;
					size_t		elen;

					if (i >= nitems || !scan_item(&s, &st, &es, &elen))
						return false;
					out[i] = classify(st, es, elen);
					if (statuses)
						statuses[i] = st;
					if (errors && out[i] != OUT_OK && out[i] != OUT_STALE)
					{
						if (elen > 0)
							errors[i] = strndup(es, elen);
						else
						{
							errors[i] = malloc(64);
							snprintf(errors[i], 64, "HTTP status %ld", st);
						}
					}
					i++;
					if (js_eat(&s, ','))
						continue;
					if (!js_eat(&s, ']'))
						return false;
					break;
				}
			return i == nitems;
		}
		else if (!js_skip(&s))
			return false;
		if (!js_eat(&s, ','))
			return false;		/* the object ended without "items" */
	}
}

/*
 * Classify every item of a _bulk response.  errors[i] (malloc'd, may be NULL)
 * describes dead and retry items when errors != NULL.  Returns true when the
 * answer was read item by item, false for a whole-request failure (all items
 * classified alike; es_bulk_failure says what it was).
 */
bool
es_bulk_outcomes(const EsResponse *r, int nitems, ItemOutcome *out, char **errors,
				 long *statuses)
{
	ItemOutcome o;
	int			i;

	if (errors)
		for (i = 0; i < nitems; i++)
			errors[i] = NULL;
	if (r->http_status == 200 && r->body.data &&
		scan_response(r->body.data, r->body.len, nitems, out, errors, statuses))
		return true;
	if (errors)
		for (i = 0; i < nitems; i++)
		{
			free(errors[i]);
			errors[i] = NULL;
		}
	if (r->http_status == 200 || es_retryable_status(r->http_status))
		o = OUT_RETRY;			/* unparsable 200: treat as transient */
	else if (r->body.data && body_is_block(r->body.data, r->body.len))
		o = OUT_RETRY;			/* a cluster-wide block (cluster.blocks.*) */
	else
		o = OUT_DEAD;
	for (i = 0; i < nitems; i++)
	{
		out[i] = o;
		if (statuses)
			statuses[i] = r->http_status;
		if (errors)
		{
			Buf			e = {0};

			if (r->http_status == 0)
				buf_printf(&e, "transport error: %s", r->curl_error);
			else
			{
				buf_printf(&e, "HTTP %ld: ", r->http_status);
				buf_append(&e, r->body.data ? r->body.data : "",
						   r->body.len > 300 ? 300 : r->body.len);
			}
			errors[i] = e.data;
		}
	}
	return false;
}

/* What failed when a whole _bulk request did (es_bulk_outcomes false). */
void
es_bulk_failure(const EsResponse *r, char *out, size_t len)
{
	if (r->http_status == 0)
		snprintf(out, len, "transport error: %s", r->curl_error);
	else if (r->http_status == 200)
		snprintf(out, len, "HTTP 200 with an answer that is not a _bulk response (%zu bytes)",
				 r->body.len);
	else
		snprintf(out, len, "HTTP %ld", r->http_status);
}
