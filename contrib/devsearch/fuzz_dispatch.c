/*
 * fuzz_dispatch.c — libFuzzer harness for the devsearch request dispatcher.
 *
 * Owns: LLVMFuzzerTestOneInput().  Each input starts from the same state
 * (POST /_dev/reset, then an index "fz" with a few documents, an alias "fza"
 * and a refresh), then one fuzzed request goes through server_dispatch().
 *
 * Input format: byte 0 picks the endpoint (see targets[]); the remaining
 * bytes are the body.  For the "raw" endpoint the first line of the body is
 * "<METHOD> <target>" and the rest is the body, so paths and query strings
 * are fuzzed too.
 *
 * Invariants checked (abort() = a finding): the dispatcher returns; the
 * status is a valid HTTP status; a non-HEAD answer with a JSON content type
 * is one valid JSON value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "devsearch.h"

typedef struct Target
{
	const char *method;
	const char *target;
	const char *ctype;
} Target;

static const Target targets[] = {
	{"POST", "/_bulk", "application/x-ndjson"},
	{"POST", "/fz/_bulk?refresh=true", "application/x-ndjson"},
	{"PUT", "/fz/_doc/1", "application/json"},
	{"POST", "/fza/_doc", "application/json"},
	{"POST", "/fz/_search", "application/json"},
	{"POST", "/_search?seq_no_primary_term=true&version=true", "application/json"},
	{"POST", "/fz,fza/_count", "application/json"},
	{"POST", "/fz/_delete_by_query?refresh=true", "application/json"},
	{"POST", "/_aliases", "application/json"},
	{"PUT", "/newidx", "application/json"},
	{"PUT", "/fz/_settings", "application/json"},
	{"PUT", "/fz/_alias/fzb", "application/json"},
	{NULL, NULL, "application/json"},	/* raw: first line is the request line */
};

#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

static Server *srv;

static void
check_response(const Response *resp)
{
	if (resp->status < 100 || resp->status > 599)
	{
		fprintf(stderr, "bad HTTP status %d\n", resp->status);
		abort();
	}
	if (!resp->head && resp->body.len > 0 && strstr(resp->content_type, "json"))
	{
		json_error_t err;
		json_t	   *j = json_loadb(resp->body.data, resp->body.len,
								   JSON_ALLOW_NUL, &err);

		if (j == NULL)
		{
			fprintf(stderr, "response is not JSON (%s): %.*s\n", err.text,
					(int) (resp->body.len > 500 ? 500 : resp->body.len),
					resp->body.data);
			abort();
		}
		json_decref(j);
	}
}

static void
call(const char *method, const char *target, const char *ctype,
	 const char *body, size_t len, bool check)
{
	Request		req;
	Response	resp;

	request_init(&req);
	response_init(&resp);
	if (request_set_target(&req, method, target) == 0)
	{
		if (ctype)
			request_add_header(&req, "Content-Type", ctype);
		if (body)
			request_set_body(&req, body, len);
		server_dispatch(srv, &req, &resp);
		if (check)
			check_response(&resp);
	}
	response_free(&resp);
	request_free(&req);
}

static void
fixture(void)
{
	static const char docs[] =
		"{\"index\":{\"_index\":\"fz\",\"_id\":\"1\"}}\n"
		"{\"title\":\"Hello World\",\"n\":1,\"tags\":[\"a\",\"b\"],\"o\":{\"x\":1}}\n"
		"{\"index\":{\"_index\":\"fz\",\"_id\":\"2\"}}\n"
		"{\"title\":\"second doc\",\"n\":2.5,\"flag\":true}\n"
		"{\"index\":{\"_index\":\"fz\",\"_id\":\"3\",\"version\":7,\"version_type\":\"external\"}}\n"
		"{\"title\":null,\"n\":\"3\"}\n";
	static const char alias[] =
		"{\"actions\":[{\"add\":{\"index\":\"fz\",\"alias\":\"fza\",\"is_write_index\":true}}]}";

	call("POST", "/_dev/reset", NULL, NULL, 0, false);
	call("PUT", "/fz", "application/json", "{\"settings\":{\"number_of_shards\":1}}", 35, false);
	call("POST", "/_bulk?refresh=true", "application/x-ndjson", docs, sizeof(docs) - 1, false);
	call("POST", "/_aliases", "application/json", alias, sizeof(alias) - 1, false);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const Target *t;
	const char *body;
	size_t		len;

	if (srv == NULL)
	{
		ServerConfig cfg;

		memset(&cfg, 0, sizeof(cfg));
		cfg.flavor = FLAVOR_OPENSEARCH;
		cfg.gc_deletes_ms = 60000;
		cfg.max_content_length = 100 * 1024 * 1024;
		cfg.seed = 1;
		cfg.quiet = true;
		srv = server_create(&cfg);
	}
	if (size < 1)
		return 0;
	t = &targets[data[0] % NTARGETS];
	body = (const char *) data + 1;
	len = size - 1;
	fixture();
	if (t->method)
		call(t->method, t->target, t->ctype, body, len, true);
	else
	{
		const char *nl = memchr(body, '\n', len);
		size_t		ll = nl ? (size_t) (nl - body) : len;
		char	   *line = strndup(body, ll);
		char	   *sp = line ? strchr(line, ' ') : NULL;

		if (sp && ll < 4096 && strlen(line) == ll)
		{
			*sp = '\0';
			call(line, sp + 1, t->ctype, nl ? nl + 1 : "", nl ? len - ll - 1 : 0, true);
		}
		free(line);
	}
	return 0;
}
