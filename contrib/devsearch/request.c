/*
 * request.c — transport-independent Request/Response helpers and small
 * utilities (clock, time values, byte sizes, ids) for devsearch.
 *
 * Invariants: every string in a Request is a private NUL-terminated copy;
 * request_free() releases all of it.  Path segments and query parameters are
 * percent-decoded here (not by the transport) so an id containing "%2F" stays
 * one segment.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "devsearch.h"

static char *
xstrndup(const char *s, size_t n)
{
	char	   *d = malloc(n + 1);

	if (d == NULL)
		abort();
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* percent-decode s[0..n) into a new string; plus_space for query strings */
static char *
pct_decode(const char *s, size_t n, bool plus_space)
{
	char	   *d = malloc(n + 1);
	size_t		i,
				o = 0;

	if (d == NULL)
		abort();
	for (i = 0; i < n; i++)
	{
		if (s[i] == '%' && i + 2 < n &&
			hexval((unsigned char) s[i + 1]) >= 0 &&
			hexval((unsigned char) s[i + 2]) >= 0)
		{
			d[o++] = (char) (hexval((unsigned char) s[i + 1]) * 16 +
							 hexval((unsigned char) s[i + 2]));
			i += 2;
		}
		else if (plus_space && s[i] == '+')
			d[o++] = ' ';
		else
			d[o++] = s[i];
	}
	d[o] = '\0';
	return d;
}

void
request_init(Request *req)
{
	memset(req, 0, sizeof(*req));
	req->method = HTTP_OTHER;
}

int
request_set_target(Request *req, const char *method, const char *target)
{
	const char *q = strchr(target, '?');
	size_t		plen = q ? (size_t) (q - target) : strlen(target);
	const char *p;
	const char *end;

	free(req->method_name);
	req->method_name = xstrndup(method, strlen(method));
	if (strcmp(method, "GET") == 0)
		req->method = HTTP_GET;
	else if (strcmp(method, "HEAD") == 0)
		req->method = HTTP_HEAD;
	else if (strcmp(method, "POST") == 0)
		req->method = HTTP_POST;
	else if (strcmp(method, "PUT") == 0)
		req->method = HTTP_PUT;
	else if (strcmp(method, "DELETE") == 0)
		req->method = HTTP_DELETE;
	else
		req->method = HTTP_OTHER;

	if (plen == 0 || target[0] != '/')
		return -1;
	req->path = xstrndup(target, plen);

	/* segments: split on '/', skip empty ones */
	p = target;
	end = target + plen;
	while (p < end)
	{
		const char *s;

		while (p < end && *p == '/')
			p++;
		if (p >= end)
			break;
		s = p;
		while (p < end && *p != '/')
			p++;
		req->seg = realloc(req->seg, sizeof(char *) * (size_t) (req->nseg + 1));
		if (req->seg == NULL)
			abort();
		req->seg[req->nseg++] = pct_decode(s, (size_t) (p - s), false);
	}

	/* query parameters */
	if (q)
	{
		p = q + 1;
		while (*p)
		{
			const char *s = p;
			const char *eq = NULL;

			while (*p && *p != '&')
			{
				if (*p == '=' && eq == NULL)
					eq = p;
				p++;
			}
			if (p > s)
			{
				KeyValue   *kv;

				req->params = realloc(req->params,
									  sizeof(KeyValue) * (size_t) (req->nparams + 1));
				if (req->params == NULL)
					abort();
				kv = &req->params[req->nparams++];
				if (eq)
				{
					kv->name = pct_decode(s, (size_t) (eq - s), true);
					kv->value = pct_decode(eq + 1, (size_t) (p - eq - 1), true);
				}
				else
				{
					kv->name = pct_decode(s, (size_t) (p - s), true);
					kv->value = xstrndup("", 0);
				}
			}
			if (*p == '&')
				p++;
		}
	}
	return 0;
}

void
request_add_header(Request *req, const char *name, const char *value)
{
	KeyValue   *kv;

	req->headers = realloc(req->headers, sizeof(KeyValue) * (size_t) (req->nheaders + 1));
	if (req->headers == NULL)
		abort();
	kv = &req->headers[req->nheaders++];
	kv->name = xstrndup(name, strlen(name));
	kv->value = xstrndup(value, strlen(value));
}

void
request_set_body(Request *req, const char *body, size_t len)
{
	free(req->body);
	req->body = xstrndup(body ? body : "", body ? len : 0);
	req->body_len = body ? len : 0;
	req->has_body = true;
}

void
request_free(Request *req)
{
	int			i;

	free(req->method_name);
	free(req->path);
	for (i = 0; i < req->nseg; i++)
		free(req->seg[i]);
	free(req->seg);
	for (i = 0; i < req->nparams; i++)
	{
		free(req->params[i].name);
		free(req->params[i].value);
	}
	free(req->params);
	for (i = 0; i < req->nheaders; i++)
	{
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->headers);
	free(req->body);
	request_init(req);
}

const char *
req_param(const Request *req, const char *name)
{
	int			i;

	/* the last occurrence wins */
	for (i = req->nparams - 1; i >= 0; i--)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

const char *
req_header(const Request *req, const char *name)
{
	int			i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

int
req_param_bool(const Request *req, const char *name, bool dflt)
{
	const char *v = req_param(req, name);

	if (v == NULL)
		return dflt;
	if (v[0] == '\0' || strcmp(v, "true") == 0)
		return 1;
	if (strcmp(v, "false") == 0)
		return 0;
	return -1;
}

void
response_init(Response *resp)
{
	memset(resp, 0, sizeof(*resp));
	jb_init(&resp->body);
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
	resp->stall_ms = -1;
	resp->reset_after = -1;
}

void
response_free(Response *resp)
{
	int			i;

	for (i = 0; i < resp->nheaders; i++)
	{
		free(resp->header_name[i]);
		free(resp->header_value[i]);
	}
	jb_free(&resp->body);
	resp->nheaders = 0;
}

void
response_add_header(Response *resp, const char *name, const char *value)
{
	if (resp->nheaders >= RESP_MAX_HEADERS)
		return;
	resp->header_name[resp->nheaders] = xstrndup(name, strlen(name));
	resp->header_value[resp->nheaders] = xstrndup(value, strlen(value));
	resp->nheaders++;
}

void
response_json(Response *resp, int status)
{
	resp->status = status;
}

/* ---- clock and units ---- */

int64_t
now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
now_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
parse_time_value(const char *s, int64_t *out_ms)
{
	char	   *end;
	double		v;
	double		mult;

	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "-1") == 0)
	{
		*out_ms = -1;
		return 0;
	}
	if (strcmp(s, "0") == 0)
	{
		*out_ms = 0;
		return 0;
	}
	if (!isdigit((unsigned char) s[0]) && s[0] != '-')
		return -1;
	v = strtod(s, &end);
	if (end == s)
		return -1;
	if (strcmp(end, "nanos") == 0)
		mult = 1e-6;
	else if (strcmp(end, "micros") == 0)
		mult = 1e-3;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else if (strcmp(end, "d") == 0)
		mult = 86400000;
	else
		return -1;
	v *= mult;
	if (v < -1 || v > 9.2e15)
		return -1;
	*out_ms = (int64_t) v;
	if (v < 0)
		*out_ms = -1;
	return 0;
}

int
parse_byte_size(const char *s, int64_t *out)
{
	char	   *end;
	double		v;
	double		mult = 1;

	if (s == NULL || !isdigit((unsigned char) s[0]))
		return -1;
	v = strtod(s, &end);
	if (strcasecmp(end, "") == 0 || strcasecmp(end, "b") == 0)
		mult = 1;
	else if (strcasecmp(end, "kb") == 0 || strcasecmp(end, "k") == 0)
		mult = 1024.0;
	else if (strcasecmp(end, "mb") == 0 || strcasecmp(end, "m") == 0)
		mult = 1024.0 * 1024;
	else if (strcasecmp(end, "gb") == 0 || strcasecmp(end, "g") == 0)
		mult = 1024.0 * 1024 * 1024;
	else
		return -1;
	v *= mult;
	if (v < 0 || v > 9e15)
		return -1;
	*out = (int64_t) v;
	return 0;
}

void
random_uuid(char out[23])
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static uint64_t counter;
	uint64_t	x;
	int			i;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t) ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t) ts.tv_sec ^
		(__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) << 40);
	for (i = 0; i < 22; i++)
	{
		/* splitmix64 step */
		uint64_t	z;

		x += 0x9E3779B97F4A7C15ULL;
		z = x;
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
		z ^= z >> 31;
		out[i] = alphabet[z & 63];
	}
	out[22] = '\0';
}
