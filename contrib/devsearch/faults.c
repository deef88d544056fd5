/*
 * faults.c — deterministic fault injection and request statistics
 * (devsearch, dev-only).  See faults.h for the rule format.
 *
 * Invariants: every decision happens under Server.lock and draws from one
 * xorshift64* generator reseeded from --seed whenever the rules change, so a
 * request sequence always meets the same faults.  Clearing the rules bumps
 * Server.fault_generation and broadcasts faults_changed, which releases
 * stalled connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

typedef enum FaultType
{
	F_BULK_ITEM_429,
	F_HTTP_429,
	F_HTTP_503,
	F_DELAY,
	F_RESET,
	F_STALL
} FaultType;

static const char *const fault_names[] = {
	"bulk_item_429", "http_429", "http_503", "delay", "reset", "stall"
};

typedef struct FaultRule
{
	FaultType	type;
	double		rate;
	char		path[128];
	long		ms;
	long		count;			/* remaining firings; -1 unlimited */
	long		after_bytes;	/* reset: -1 = half of the body */
	uint64_t	fired;
} FaultRule;

typedef struct Faults
{
	FaultRule  *rules;
	int			n;
	uint64_t	seed;
	uint64_t	rng;
} Faults;

struct Faults *
faults_create(uint64_t seed)
{
	Faults	   *f = calloc(1, sizeof(Faults));

	if (f == NULL)
		abort();
	f->seed = seed;
	f->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
	return f;
}

void
faults_destroy(Faults *f)
{
	free(f->rules);
	free(f);
}

static double
rnd(Faults *f)
{
	uint64_t	x = f->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	f->rng = x;
	return (double) ((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void
reseed(Faults *f)
{
	f->rng = f->seed ? f->seed : 0x9E3779B97F4A7C15ULL;
}

static int
set_field(FaultRule *r, const char *k, const char *v, char *errbuf, size_t errlen)
{
	char	   *end;

	if (strcmp(k, "rate") == 0)
	{
		r->rate = strtod(v, &end);
		if (*end || r->rate < 0 || r->rate > 1)
			goto bad;
	}
	else if (strcmp(k, "path") == 0)
		snprintf(r->path, sizeof(r->path), "%s", v);
	else if (strcmp(k, "ms") == 0)
	{
		r->ms = strtol(v, &end, 10);
		if (*end || r->ms < 0)
			goto bad;
	}
	else if (strcmp(k, "count") == 0)
	{
		r->count = strtol(v, &end, 10);
		if (*end || r->count < 0)
			goto bad;
	}
	else if (strcmp(k, "after_bytes") == 0)
	{
		r->after_bytes = strtol(v, &end, 10);
		if (*end || r->after_bytes < 0)
			goto bad;
	}
	else
	{
		snprintf(errbuf, errlen, "unknown fault parameter [%s]", k);
		return -1;
	}
	return 0;
bad:
	snprintf(errbuf, errlen, "bad value [%s] for fault parameter [%s]", v, k);
	return -1;
}

static void
rule_init(FaultRule *r)
{
	memset(r, 0, sizeof(*r));
	r->rate = 1.0;
	r->count = -1;
	r->after_bytes = -1;
}

static int
parse_type(const char *s, FaultType *t)
{
	int			i;

	for (i = 0; i < (int) (sizeof(fault_names) / sizeof(fault_names[0])); i++)
		if (strcmp(s, fault_names[i]) == 0)
		{
			*t = (FaultType) i;
			return 0;
		}
	return -1;
}

static void
add_rule(Faults *f, const FaultRule *r)
{
	f->rules = realloc(f->rules, sizeof(FaultRule) * (size_t) (f->n + 1));
	if (f->rules == NULL)
		abort();
	f->rules[f->n++] = *r;
	reseed(f);
}

int
faults_add_spec(Faults *f, const char *spec, char *errbuf, size_t errlen)
{
	FaultRule	r;
	char	   *copy = strdup(spec);
	char	   *colon = strchr(copy, ':');
	char	   *tok,
			   *save = NULL;

	rule_init(&r);
	if (colon)
		*colon = '\0';
	if (parse_type(copy, &r.type) < 0)
	{
		snprintf(errbuf, errlen, "unknown fault type [%s]", copy);
		free(copy);
		return -1;
	}
	if (colon)
		for (tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		{
			char	   *eq = strchr(tok, '=');

			if (eq == NULL)
			{
				snprintf(errbuf, errlen, "fault parameter [%s] needs a value", tok);
				free(copy);
				return -1;
			}
			*eq = '\0';
			if (set_field(&r, tok, eq + 1, errbuf, errlen) < 0)
			{
				free(copy);
				return -1;
			}
		}
	add_rule(f, &r);
	free(copy);
	return 0;
}

void
faults_clear(Server *srv)
{
	srv->faults->n = 0;
	reseed(srv->faults);
	srv->fault_generation++;
	pthread_cond_broadcast(&srv->faults_changed);
}

static void
write_rules(Faults *f, JsonBuf *b)
{
	int			i;

	jb_cstr(b, "{\"seed\":");
	jb_u64(b, f->seed);
	jb_cstr(b, ",\"faults\":[");
	for (i = 0; i < f->n; i++)
	{
		FaultRule  *r = &f->rules[i];

		if (i)
			jb_char(b, ',');
		jb_cstr(b, "{\"type\":");
		jb_qcstr(b, fault_names[r->type]);
		jb_cstr(b, ",\"rate\":");
		jb_double(b, r->rate);
		jb_cstr(b, ",\"path\":");
		jb_qcstr(b, r->path);
		jb_cstr(b, ",\"ms\":");
		jb_i64(b, r->ms);
		jb_cstr(b, ",\"count\":");
		jb_i64(b, r->count);
		jb_cstr(b, ",\"after_bytes\":");
		jb_i64(b, r->after_bytes);
		jb_cstr(b, ",\"fired\":");
		jb_u64(b, r->fired);
		jb_char(b, '}');
	}
	jb_cstr(b, "]}");
}

void
faults_handle_get(Server *srv, Response *resp)
{
	jb_reset(&resp->body);
	write_rules(srv->faults, &resp->body);
	response_json(resp, 200);
}

/*
 * POST /_dev/faults: {"faults":[rule...], "replace": true|false (default
 * true), "seed": N} or a single rule object.
 */
void
faults_handle_post(Server *srv, const Request *req, Response *resp)
{
	json_error_t jerr;
	json_t	   *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
	json_t	   *list;
	FaultRule  *rules = NULL;
	int			n = 0;
	size_t		i;
	json_t	   *r;

	if (body == NULL || !json_is_object(body))
	{
		es_respond_error(resp, 400, "parse_exception", "fault body must be a JSON object");
		json_decref(body);
		return;
	}
	list = json_object_get(body, "faults");
	if (list == NULL)
	{
		list = json_array();
		json_array_append(list, body);
	}
	else
		json_incref(list);
	if (!json_is_array(list))
	{
		es_respond_error(resp, 400, "parse_exception", "[faults] must be an array");
		goto out;
	}
	json_array_foreach(list, i, r)
	{
		FaultRule	fr;
		const char *k;
		json_t	   *v;
		char		err[200];

		rule_init(&fr);
		if (!json_is_object(r) || !json_is_string(json_object_get(r, "type")) ||
			parse_type(json_string_value(json_object_get(r, "type")), &fr.type) < 0)
		{
			es_respond_error(resp, 400, "illegal_argument_exception",
							 "each fault needs a [type], one of [bulk_item_429, http_429, http_503, delay, reset, stall]");
			goto out;
		}
		json_object_foreach(r, k, v)
		{
			char		val[160];

			if (strcmp(k, "type") == 0)
				continue;
			if (json_is_string(v))
				snprintf(val, sizeof(val), "%s", json_string_value(v));
			else if (json_is_integer(v))
				snprintf(val, sizeof(val), "%lld", (long long) json_integer_value(v));
			else if (json_is_real(v))
				snprintf(val, sizeof(val), "%.17g", json_real_value(v));
			else
				snprintf(val, sizeof(val), "?");
			if (set_field(&fr, k, val, err, sizeof(err)) < 0)
			{
				es_respond_error(resp, 400, "illegal_argument_exception", "%s", err);
				goto out;
			}
		}
		rules = realloc(rules, sizeof(FaultRule) * (size_t) (n + 1));
		rules[n++] = fr;
	}
	if (!json_is_false(json_object_get(body, "replace")))
		faults_clear(srv);
	if (json_is_integer(json_object_get(body, "seed")))
		srv->faults->seed = (uint64_t) json_integer_value(json_object_get(body, "seed"));
	for (i = 0; i < (size_t) n; i++)
		add_rule(srv->faults, &rules[i]);
	reseed(srv->faults);
	jb_reset(&resp->body);
	write_rules(srv->faults, &resp->body);
	response_json(resp, 200);
out:
	free(rules);
	json_decref(list);
	json_decref(body);
}

static bool
rule_fires(Faults *f, FaultRule *r, const Request *req)
{
	if (r->count == 0)
		return false;
	if (r->path[0] && strstr(req->path, r->path) == NULL)
		return false;
	if (r->rate < 1.0 && rnd(f) >= r->rate)
		return false;
	if (r->count > 0)
		r->count--;
	r->fired++;
	return true;
}

bool
faults_on_request(Server *srv, const Request *req, Response *resp)
{
	Faults	   *f = srv->faults;
	int			i;
	bool		is_es = srv->cfg.flavor == FLAVOR_ELASTICSEARCH;

	for (i = 0; i < f->n; i++)
	{
		FaultRule  *r = &f->rules[i];

		switch (r->type)
		{
			case F_BULK_ITEM_429:
				break;
			case F_HTTP_429:
				if (rule_fires(f, r, req))
				{
					EsError		e;

					es_error_set(&e, 429, is_es ? "es_rejected_execution_exception" : "rejected_execution_exception",
								 "rejected execution of coordinating operation [coordinating_and_primary_bytes=104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=%zu, max_coordinating_and_primary_bytes=104857600]",
								 req->body_len);
					es_error_respond(resp, &e);
					return true;
				}
				break;
			case F_HTTP_503:
				if (rule_fires(f, r, req))
				{
					EsError		e;

					es_error_set(&e, 503, "cluster_block_exception",
								 "blocked by: [SERVICE_UNAVAILABLE/2/no master];");
					es_error_respond(resp, &e);
					return true;
				}
				break;
			case F_DELAY:
				if (rule_fires(f, r, req))
					resp->delay_ms += r->ms;
				break;
			case F_RESET:
				if (rule_fires(f, r, req))
					resp->reset_after = r->after_bytes >= 0 ? r->after_bytes : -2;
				break;
			case F_STALL:
				if (rule_fires(f, r, req))
					resp->stall_ms = r->ms;
				break;
		}
	}
	return false;
}

bool
faults_bulk_item(Server *srv, const Request *req)
{
	Faults	   *f = srv->faults;
	int			i;

	for (i = 0; i < f->n; i++)
		if (f->rules[i].type == F_BULK_ITEM_429 && rule_fires(f, &f->rules[i], req))
			return true;
	return false;
}

void
faults_item_rejection(const Server *srv, EsError *err)
{
	bool		is_es = srv->cfg.flavor == FLAVOR_ELASTICSEARCH;

	if (is_es)
		es_error_set(err, 429, "es_rejected_execution_exception",
					 "rejected execution of org.elasticsearch.action.support.replication.TransportWriteAction$1/WrappedActionListener{org.elasticsearch.action.support.replication.ReplicationOperation$$Lambda$1/0x0000000800b3c3b8@1a2b3c4d}{org.elasticsearch.action.bulk.TransportShardBulkAction$$Lambda$2/0x0000000800b3c5e0@5e6f7a8b} on EsThreadPoolExecutor[name = devsearch/write, queue capacity = 10000, org.elasticsearch.common.util.concurrent.EsThreadPoolExecutor@9c0d1e2f[Running, pool size = 2, active threads = 2, queued tasks = 10000, completed tasks = 123456]]");
	else
		es_error_set(err, 429, "rejected_execution_exception",
					 "rejected execution of org.opensearch.common.util.concurrent.TimedRunnable@1a2b3c4d on OpenSearchThreadPoolExecutor[name = devsearch/write, queue capacity = 10000, org.opensearch.common.util.concurrent.OpenSearchThreadPoolExecutor@9c0d1e2f[Running, pool size = 2, active threads = 2, queued tasks = 10000, completed tasks = 123456]]");
}

/* ---- stats ---- */

typedef struct StatEntry
{
	char		name[48];
	uint64_t	requests;
	uint64_t	items;
	uint64_t	status_2xx,
				status_4xx,
				status_5xx;
} StatEntry;

#define STATS_NOPS 5
static const char *const stats_op_names[STATS_NOPS] = {
	"index", "create", "delete", "update", "get"
};

typedef struct Stats
{
	StatEntry  *e;
	int			n;
	uint64_t	op_ok[STATS_NOPS];
	uint64_t	op_failed[STATS_NOPS];
} Stats;

struct Stats *
stats_create(void)
{
	Stats	   *s = calloc(1, sizeof(Stats));

	if (s == NULL)
		abort();
	return s;
}

void
stats_destroy(Stats *s)
{
	free(s->e);
	free(s);
}

void
stats_reset(Stats *s)
{
	s->n = 0;
	memset(s->op_ok, 0, sizeof(s->op_ok));
	memset(s->op_failed, 0, sizeof(s->op_failed));
}

void
stats_doc_op(Stats *s, int op, bool ok)
{
	if (op < 0 || op >= STATS_NOPS)
		return;
	if (ok)
		s->op_ok[op]++;
	else
		s->op_failed[op]++;
}

void
stats_count(Stats *s, const char *endpoint, int status, uint64_t items)
{
	int			i;
	StatEntry  *e = NULL;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, endpoint) == 0)
		{
			e = &s->e[i];
			break;
		}
	if (e == NULL)
	{
		s->e = realloc(s->e, sizeof(StatEntry) * (size_t) (s->n + 1));
		if (s->e == NULL)
			abort();
		e = &s->e[s->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", endpoint);
	}
	if (items)
	{
		e->items += items;
		return;
	}
	e->requests++;
	if (status >= 500)
		e->status_5xx++;
	else if (status >= 400)
		e->status_4xx++;
	else
		e->status_2xx++;
}

void
stats_write(Stats *s, Response *resp)
{
	int			i;
	JsonBuf    *b = &resp->body;

	jb_reset(b);
	jb_cstr(b, "{\"endpoints\":{");
	for (i = 0; i < s->n; i++)
	{
		if (i)
			jb_char(b, ',');
		jb_key(b, s->e[i].name);
		jb_printf(b, "{\"requests\":%llu,\"items\":%llu,\"2xx\":%llu,\"4xx\":%llu,\"5xx\":%llu}",
				  (unsigned long long) s->e[i].requests, (unsigned long long) s->e[i].items,
				  (unsigned long long) s->e[i].status_2xx,
				  (unsigned long long) s->e[i].status_4xx,
				  (unsigned long long) s->e[i].status_5xx);
	}
	jb_cstr(b, "},\"docs\":{");
	for (i = 0; i < STATS_NOPS; i++)
		jb_printf(b, "%s\"%s\":{\"ok\":%llu,\"failed\":%llu}", i ? "," : "",
				  stats_op_names[i], (unsigned long long) s->op_ok[i],
				  (unsigned long long) s->op_failed[i]);
	jb_cstr(b, "}}");
	response_json(resp, 200);
}
