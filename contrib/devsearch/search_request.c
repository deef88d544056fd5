/*
 * search_request.c — parsing of _search, _count and _delete_by_query
 * requests (devsearch).
 *
 * Owns: the URL parameters each endpoint accepts, the request body (query,
 * post_filter, from/size, sort, search_after, _source, version, seq_no,
 * track_total_hits, min_score, terminate_after, max_docs, conflicts) and the
 * errors a real cluster gives for each bad input, and the error shape of a
 * failed search phase.  search.c executes what this file produced.
 *
 * Invariant: a request is parsed and validated completely before search.c
 * reads or deletes anything.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "query.h"
#include "search.h"
#include "search_request.h"
#include "searchsort.h"
#include "sourcefilter.h"

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* split "a,b,c" into arr (appending) */

void
search_req_free(SearchReq *r)
{
	query_free(r->query);
	query_free(r->post_filter);
	sort_fields_free(r->sort, r->nsort);
	if (r->search_after)
		json_decref(r->search_after);
	if (r->source_json)
		json_decref(r->source_json);
	source_filter_free(&r->source);
}

static const char *
token_name(json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "START_OBJECT";
		case JSON_ARRAY:
			return "START_ARRAY";
		case JSON_STRING:
			return "VALUE_STRING";
		case JSON_INTEGER:
		case JSON_REAL:
			return "VALUE_NUMBER";
		case JSON_TRUE:
		case JSON_FALSE:
			return "VALUE_BOOLEAN";
		default:
			return "VALUE_NULL";
	}
}

/* integer parameter: 0 ok, -1 bad */
static int
parse_i64(const char *s, int64_t *out)
{
	char	   *end;
	long long	v;

	if (s == NULL || *s == '\0')
		return -1;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

bool
json_i64(json_t *v, int64_t *out)
{
	if (json_is_integer(v))
	{
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_string(v))
		return parse_i64(json_string_value(v), out) == 0;
	return false;
}

/* ------------------------------------------------------------------------
 * Errors shaped like a failed search phase
 * ------------------------------------------------------------------------ */

void
respond_phase_error(Response *resp, int status, const char *cause_type,
					const char *reason, const Index *ix)
{
	JsonBuf    *jb = &resp->body;

	jb_reset(jb);
	jb_cstr(jb, "{\"error\":{\"root_cause\":[{\"type\":");
	jb_qcstr(jb, cause_type);
	jb_cstr(jb, ",\"reason\":");
	jb_qcstr(jb, reason);
	if (ix)
	{
		jb_cstr(jb, ",\"index\":");
		jb_qcstr(jb, ix->name);
		jb_cstr(jb, ",\"index_uuid\":");
		jb_qcstr(jb, ix->uuid);
	}
	jb_cstr(jb, "}],\"type\":\"search_phase_execution_exception\","
			"\"reason\":\"all shards failed\",\"phase\":\"query\","
			"\"grouped\":true,\"failed_shards\":[{\"shard\":0,\"index\":");
	if (ix)
		jb_qcstr(jb, ix->name);
	else
		jb_cstr(jb, "null");
	jb_cstr(jb, ",\"node\":\"devsearch-node-0\",\"reason\":{\"type\":");
	jb_qcstr(jb, cause_type);
	jb_cstr(jb, ",\"reason\":");
	jb_qcstr(jb, reason);
	jb_cstr(jb, "}}],\"caused_by\":{\"type\":");
	jb_qcstr(jb, cause_type);
	jb_cstr(jb, ",\"reason\":");
	jb_qcstr(jb, reason);
	jb_cstr(jb, "}},\"status\":");
	jb_i64(jb, status);
	jb_char(jb, '}');
	response_json(resp, status);
}

/* ------------------------------------------------------------------------
 * Request parsing
 * ------------------------------------------------------------------------ */

static const char *const search_params[] = {
	"_source", "_source_excludes", "_source_includes", "allow_no_indices",
	"allow_partial_search_results", "analyze_wildcard", "analyzer",
	"batched_reduce_size", "ccs_minimize_roundtrips", "default_operator", "df",
	"docvalue_fields", "expand_wildcards", "explain", "from", "ignore_throttled",
	"ignore_unavailable", "include_named_queries_score", "lenient",
	"max_concurrent_shard_requests", "pre_filter_shard_size", "preference", "q",
	"request_cache", "rest_total_hits_as_int", "routing", "scroll",
	"search_pipeline", "search_type", "seq_no_primary_term", "shard_info", "size",
	"sort", "stats", "stored_fields", "suggest_field", "suggest_mode",
	"suggest_size", "suggest_text", "terminate_after", "timeout", "track_scores",
	"track_total_hits", "typed_keys", "version", "cancel_after_time_interval",
	"phase_took", NULL
};
static const char *const count_params[] = {
	"allow_no_indices", "analyze_wildcard", "analyzer", "default_operator", "df",
	"expand_wildcards", "ignore_throttled", "ignore_unavailable", "lenient",
	"min_score", "preference", "q", "routing", "terminate_after", NULL
};
static const char *const dbq_params[] = {
	"_source", "_source_excludes", "_source_includes", "allow_no_indices",
	"analyze_wildcard", "analyzer", "conflicts", "default_operator", "df",
	"expand_wildcards", "from", "ignore_unavailable", "lenient", "max_docs",
	"preference", "q", "refresh", "request_cache", "requests_per_second",
	"routing", "scroll", "scroll_size", "search_timeout", "search_type", "size",
	"slices", "sort", "stats", "terminate_after", "timeout", "version",
	"wait_for_active_shards", "wait_for_completion", NULL
};
static const char *const common_params[] = {
	"pretty", "human", "error_trace", "filter_path", "source", "format", NULL
};

static bool
in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

static int
check_params(const Request *req, SearchKind kind, EsError *err)
{
	const char *const *l = kind == SEARCH_SEARCH ? search_params
		: kind == SEARCH_COUNT ? count_params : dbq_params;

	for (int i = 0; i < req->nparams; i++)
	{
		const char *n = req->params[i].name;

		if (!in_list(l, n) && !in_list(common_params, n))
		{
			es_error_illegal_argument(err,
									  "request [%s] contains unrecognized parameter: [%s]",
									  req->path, n);
			return -1;
		}
	}
	return 0;
}

int
bool_param(const Request *req, const char *name, bool dflt, bool *out, EsError *err)
{
	int			v = req_param_bool(req, name, dflt);

	if (v < 0)
	{
		es_error_illegal_argument(err,
								  "Failed to parse value [%s] as only [true] or [false] are allowed.",
								  req_param(req, name));
		return -1;
	}
	*out = v;
	return 0;
}

static int
check_source_json(json_t *v, EsError *err)
{
	size_t		i;
	json_t	   *e;

	if (json_is_boolean(v) || json_is_string(v))
		return 0;
	if (json_is_array(v))
	{
		json_array_foreach(v, i, e)
			if (!json_is_string(e))
			goto bad;
		return 0;
	}
	if (json_is_object(v))
	{
		const char *k;
		json_t	   *x;

		json_object_foreach(v, k, x)
		{
			if (strcmp(k, "includes") != 0 && strcmp(k, "include") != 0 &&
				strcmp(k, "excludes") != 0 && strcmp(k, "exclude") != 0)
			{
				es_error_set(err, 400, "parsing_exception",
							 "Unknown key for a %s in [%s].", token_name(x), k);
				return -1;
			}
			if (check_source_json(x, err) < 0 || json_is_boolean(x) || json_is_object(x))
				goto bad;
		}
		return 0;
	}
bad:
	es_error_set(err, 400, "parsing_exception",
				 "Expected one of [VALUE_BOOLEAN, START_OBJECT] but found [%s]",
				 token_name(v));
	return -1;
}

/* q=field:value, q=value is not supported, q=* is match_all */
static int
parse_q(SearchReq *r, const char *q, EsError *err)
{
	const char *colon = strchr(q, ':');
	json_t	   *j;

	if (strcmp(q, "*") == 0 || strcmp(q, "*:*") == 0)
	{
		query_free(r->query);
		r->query = query_parse(NULL, err);
		return 0;
	}
	if (colon == NULL || colon == q || colon[1] == '\0')
	{
		es_error_illegal_argument(err,
								  "devsearch supports only q=<field>:<value> and q=*, not [%s]", q);
		return -1;
	}
	j = json_pack("{s:{s#:s}}", "match", q, (int) (colon - q), colon + 1);
	if (j == NULL)
	{
		es_error_illegal_argument(err, "invalid q parameter [%s]", q);
		return -1;
	}
	query_free(r->query);
	r->query = query_parse(j, err);
	json_decref(j);
	return r->query ? 0 : -1;
}

static int
parse_body(SearchReq *r, json_t *body, SearchKind kind, EsError *err)
{
	const char *k;
	json_t	   *v;

	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "query") == 0)
		{
			query_free(r->query);
			r->query = query_parse(v, err);
			if (r->query == NULL)
				return -1;
			continue;
		}
		if (kind == SEARCH_COUNT)
		{
			if (strcmp(k, "min_score") == 0 && json_is_number(v))
			{
				r->has_min_score = true;
				r->min_score = json_number_value(v);
				continue;
			}
			es_error_set(err, 400, "parsing_exception",
						 "request does not support [%s]", k);
			return -1;
		}
		if (kind == SEARCH_DELETE_BY_QUERY && strcmp(k, "max_docs") == 0)
		{
			if (!json_i64(v, &r->max_docs) || r->max_docs <= 0)
			{
				es_error_set(err, 400, "action_request_validation_exception",
							 "Validation Failed: 1: maxDocs should be greater than 0 "
							 "if the request is limited to some number of documents or -1 if it isn't but it was [%s];",
							 json_is_integer(v) ? "non-positive" : "invalid");
				return -1;
			}
			continue;
		}
		if (kind == SEARCH_DELETE_BY_QUERY && strcmp(k, "conflicts") == 0 &&
			json_is_string(v))
		{
			r->conflicts_proceed = strcmp(json_string_value(v), "proceed") == 0;
			continue;
		}
		if (strcmp(k, "from") == 0 || strcmp(k, "size") == 0)
		{
			int64_t		n;

			if (!json_i64(v, &n))
			{
				es_error_set(err, 400, "parsing_exception",
							 "[%s] failed to parse field [%s]", k, k);
				return -1;
			}
			if (k[0] == 'f')
				r->from = n;
			else
				r->size = n;
		}
		else if (strcmp(k, "sort") == 0)
		{
			if (sort_parse_json(&r->sort, &r->nsort, v, err) < 0)
				return -1;
		}
		else if (strcmp(k, "_source") == 0)
		{
			if (check_source_json(v, err) < 0)
				return -1;
			if (r->source_json)
				json_decref(r->source_json);
			r->source_json = json_incref(v);
		}
		else if (strcmp(k, "version") == 0 && json_is_boolean(v))
			r->version = json_is_true(v);
		else if (strcmp(k, "seq_no_primary_term") == 0 && json_is_boolean(v))
			r->seq_no_pt = json_is_true(v);
		else if (strcmp(k, "track_scores") == 0 && json_is_boolean(v))
			r->track_scores = json_is_true(v);
		else if (strcmp(k, "track_total_hits") == 0)
		{
			if (json_is_boolean(v))
				r->track_total = json_is_true(v) ? -1 : 0;
			else if (json_is_integer(v) && json_integer_value(v) >= -1)
				r->track_total = json_integer_value(v) == -1 ? -1 : json_integer_value(v);
			else
			{
				es_error_illegal_argument(err,
										  "[track_total_hits] parameter must be positive or equals to -1, got %s",
										  json_is_integer(v) ? "a negative value" : "a non-integer");
				return -1;
			}
		}
		else if (strcmp(k, "search_after") == 0 && json_is_array(v))
		{
			if (r->search_after)
				json_decref(r->search_after);
			r->search_after = json_incref(v);
		}
		else if (strcmp(k, "post_filter") == 0)
		{
			query_free(r->post_filter);
			r->post_filter = query_parse(v, err);
			if (r->post_filter == NULL)
				return -1;
		}
		else if (strcmp(k, "min_score") == 0 && json_is_number(v))
		{
			r->has_min_score = true;
			r->min_score = json_number_value(v);
		}
		else if (strcmp(k, "terminate_after") == 0 && json_is_integer(v))
			r->terminate_after = json_integer_value(v);
		else if (strcmp(k, "timeout") == 0 || strcmp(k, "explain") == 0 ||
				 strcmp(k, "stored_fields") == 0 || strcmp(k, "stats") == 0 ||
				 strcmp(k, "profile") == 0)
			continue;
		else if (strcmp(k, "aggs") == 0 || strcmp(k, "aggregations") == 0 ||
				 strcmp(k, "highlight") == 0 || strcmp(k, "collapse") == 0 ||
				 strcmp(k, "suggest") == 0 || strcmp(k, "rescore") == 0 ||
				 strcmp(k, "script_fields") == 0 || strcmp(k, "docvalue_fields") == 0 ||
				 strcmp(k, "fields") == 0 || strcmp(k, "pit") == 0 ||
				 strcmp(k, "slice") == 0 || strcmp(k, "indices_boost") == 0)
		{
			es_error_illegal_argument(err,
									  "[%s] is not supported by the development search server", k);
			return -1;
		}
		else
		{
			es_error_set(err, 400, "parsing_exception",
						 "Unknown key for a %s in [%s].", token_name(v), k);
			return -1;
		}
	}
	return 0;
}

int
parse_request(SearchReq *r, SearchKind kind, const Request *req, EsError *err)
{
	const char *p;
	bool		b;

	memset(r, 0, sizeof(*r));
	r->size = 10;
	r->track_total = DEFAULT_TRACK_TOTAL;
	r->max_docs = -1;
	if (check_params(req, kind, err) < 0)
		return -1;
	if (req->body_len > 0)
	{
		json_error_t jerr;
		json_t	   *body = json_loadb(req->body, req->body_len,
									  JSON_REJECT_DUPLICATES, &jerr);
		int			rc;

		if (body == NULL)
		{
			es_error_set(err, 400, "parsing_exception",
						 "failed to parse the request body: %s (line %d, column %d)",
						 jerr.text, jerr.line, jerr.column);
			return -1;
		}
		if (!json_is_object(body))
		{
			es_error_set(err, 400, "parsing_exception",
						 "Expected [START_OBJECT] but found [%s]", token_name(body));
			json_decref(body);
			return -1;
		}
		rc = parse_body(r, body, kind, err);
		json_decref(body);
		if (rc < 0)
			return -1;
	}
	else if (kind == SEARCH_DELETE_BY_QUERY && req_param(req, "q") == NULL)
	{
		es_error_set(err, 400, "action_request_validation_exception",
					 "Validation Failed: 1: query is missing;");
		return -1;
	}
	if ((p = req_param(req, "q")) != NULL && parse_q(r, p, err) < 0)
		return -1;
	if (r->query == NULL)
		r->query = query_parse(NULL, err);

	if (kind == SEARCH_DELETE_BY_QUERY)
	{
		if ((p = req_param(req, "conflicts")) != NULL)
		{
			if (strcmp(p, "proceed") == 0)
				r->conflicts_proceed = true;
			else if (strcmp(p, "abort") == 0)
				r->conflicts_proceed = false;
			else
			{
				es_error_illegal_argument(err,
										  "conflicts may only be \"proceed\" or \"abort\" but was [%s]", p);
				return -1;
			}
		}
		if ((p = req_param(req, "max_docs")) != NULL &&
			(parse_i64(p, &r->max_docs) < 0 || r->max_docs <= 0))
		{
			es_error_illegal_argument(err, "[max_docs] parameter must be a positive integer, got [%s]", p);
			return -1;
		}
		if (bool_param(req, "wait_for_completion", true, &b, err) < 0)
			return -1;
		if (!b)
		{
			es_error_illegal_argument(err,
									  "wait_for_completion=false is not supported by the development search server");
			return -1;
		}
		return 0;
	}
	if (kind == SEARCH_COUNT)
	{
		if ((p = req_param(req, "terminate_after")) != NULL &&
			parse_i64(p, &r->terminate_after) < 0)
		{
			es_error_illegal_argument(err, "Failed to parse int parameter [terminate_after] with value [%s]", p);
			return -1;
		}
		return 0;
	}

	if ((p = req_param(req, "from")) != NULL && parse_i64(p, &r->from) < 0)
	{
		es_error_illegal_argument(err, "Failed to parse int parameter [from] with value [%s]", p);
		return -1;
	}
	if ((p = req_param(req, "size")) != NULL && parse_i64(p, &r->size) < 0)
	{
		es_error_illegal_argument(err, "Failed to parse int parameter [size] with value [%s]", p);
		return -1;
	}
	if ((p = req_param(req, "sort")) != NULL && sort_parse_param(&r->sort, &r->nsort, p, err) < 0)
		return -1;
	if (req_param(req, "_source") || req_param(req, "_source_includes") ||
		req_param(req, "_source_excludes") || req_param(req, "_source_include") ||
		req_param(req, "_source_exclude"))
		source_filter_from_request(&r->source, req);
	else
		source_filter_from_json(&r->source, r->source_json);
	if (req_param(req, "version") && bool_param(req, "version", false, &r->version, err) < 0)
		return -1;
	if (req_param(req, "seq_no_primary_term") &&
		bool_param(req, "seq_no_primary_term", false, &r->seq_no_pt, err) < 0)
		return -1;
	if (req_param(req, "track_scores") &&
		bool_param(req, "track_scores", false, &r->track_scores, err) < 0)
		return -1;
	if ((p = req_param(req, "track_total_hits")) != NULL)
	{
		int64_t		n;

		if (strcmp(p, "true") == 0 || *p == '\0')
			r->track_total = -1;
		else if (strcmp(p, "false") == 0)
			r->track_total = 0;
		else if (parse_i64(p, &n) == 0 && n >= -1)
			r->track_total = n;
		else
		{
			es_error_illegal_argument(err, "Failed to parse int parameter [track_total_hits] with value [%s]", p);
			return -1;
		}
	}
	if (bool_param(req, "rest_total_hits_as_int", false, &r->total_as_int, err) < 0)
		return -1;
	if (r->total_as_int)
	{
		if (r->track_total != DEFAULT_TRACK_TOTAL && r->track_total != -1)
		{
			es_error_illegal_argument(err,
									  "[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got %lld",
									  (long long) r->track_total);
			return -1;
		}
		r->track_total = -1;
	}
	if (req_param(req, "scroll") && kind == SEARCH_SEARCH)
	{
		int64_t		keep;

		if (parse_time_value(req_param(req, "scroll"), &keep) < 0 || keep <= 0)
		{
			es_error_illegal_argument(err, "failed to parse setting [scroll] with value [%s] as a time value",
									  req_param(req, "scroll"));
			return -1;
		}
		if (r->search_after)
		{
			es_error_illegal_argument(err, "`search_after` cannot be used in a scroll context.");
			return -1;
		}
		/* scroll pages follow index order: _doc, the only order it keeps */
		if (r->nsort == 0)
		{
			r->sort = calloc(1, sizeof(SortField));
			if (r->sort == NULL)
				abort();
			r->sort[0].what = SF_DOC;
			r->nsort = 1;
		}
		else if (r->nsort != 1 || r->sort[0].what != SF_DOC || r->sort[0].desc)
		{
			es_error_illegal_argument(err, "the development search server scrolls only in [_doc] order");
			return -1;
		}
	}
	else if (req_param(req, "scroll"))
	{
		es_error_illegal_argument(err, "scroll is only supported by _search");
		return -1;
	}
	if (r->from < 0)
	{
		es_error_illegal_argument(err, "[from] parameter cannot be negative but was [%lld]",
								  (long long) r->from);
		return -1;
	}
	if (r->size < 0)
	{
		es_error_illegal_argument(err, "[size] parameter cannot be negative, found [%lld]",
								  (long long) r->size);
		return -1;
	}
	if (r->search_after)
	{
		if (r->nsort == 0)
		{
			es_error_illegal_argument(err, "Sort must contain at least one field.");
			return -1;
		}
		if ((int) json_array_size(r->search_after) != r->nsort)
		{
			es_error_illegal_argument(err, "search_after has %d value(s) but sort has %d.",
									  (int) json_array_size(r->search_after), r->nsort);
			return -1;
		}
		if (r->from > 0)
		{
			es_error_illegal_argument(err, "`from` parameter must be set to 0 when `search_after` is used.");
			return -1;
		}
	}
	return 0;
}

