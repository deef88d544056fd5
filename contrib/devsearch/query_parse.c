/*
 * query_parse.c — the query DSL parser of devsearch: request JSON to a Query tree.
 *
 * Owns query_parse() and query_free(): match_all, match_none, term, terms,
 * ids, match, exists, range, bool, constant_score and prefix, the keys each
 * accepts (boost, _name, minimum_should_match...), and the refusal, with the
 * cluster's error, of every other query type.  Binding to an index and
 * matching documents live in query_match.c.
 *
 * Invariants: parse errors carry the type and reason a real cluster gives;
 * a tree is returned complete or freed, never half-built; nesting deeper than
 * 64 levels is refused.  Markers query_match.c reads: msm -2 is a prefix
 * query, -3 constant_score; op_and on a term query is case_insensitive.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "query_internal.h"

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

static Query *parse_node(json_t *q, EsError *err, int depth);

static Query *
new_query(QueryType t)
{
	Query	   *q = qalloc(sizeof(Query));

	q->type = t;
	q->boost = 1.0;
	q->msm = -1;
	return q;
}

static void
no_object(EsError *err, const char *qname)
{
	es_error_set(err, 400, "parsing_exception",
				 "[%s] query malformed, no start_object after query name", qname);
}

/* "boost" and "_name" are accepted by every query */
static bool
common_key(Query *q, const char *k, json_t *v)
{
	if (strcmp(k, "boost") == 0 && json_is_number(v))
	{
		q->boost = json_number_value(v);
		return true;
	}
	return strcmp(k, "_name") == 0;
}

/* the single {"field": body} of term/match/range/prefix */
static const char *
single_field(json_t *body, const char *qname, json_t **fval, Query *q, EsError *err)
{
	const char *k,
			   *field = NULL;
	json_t	   *v;

	if (!json_is_object(body))
	{
		no_object(err, qname);
		return NULL;
	}
	json_object_foreach(body, k, v)
	{
		if (common_key(q, k, v) && !json_is_object(v))
			continue;
		if (field)
		{
			es_error_set(err, 400, "parsing_exception",
						 "[%s] query doesn't support multiple fields, found [%s] and [%s]",
						 qname, field, k);
			return NULL;
		}
		field = k;
		*fval = v;
	}
	if (field == NULL)
		es_error_set(err, 400, "illegal_argument_exception",
					 "[%s] query requires a field", qname);
	return field;
}

static void
set_field(Query *q, const char *f)
{
	q->field = qstrdup(f);
	q->id_field = strcmp(f, "_id") == 0;
}

static bool
is_scalar(json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static Query *
parse_term(json_t *body, EsError *err, bool prefix)
{
	const char *qn = prefix ? "prefix" : "term";
	Query	   *q = new_query(prefix ? Q_TERM : Q_TERM);
	json_t	   *fv = NULL;
	const char *field = single_field(body, qn, &fv, q, err);

	if (field == NULL)
		goto fail;
	set_field(q, field);
	if (json_is_object(fv))
	{
		const char *k;
		json_t	   *v;

		json_object_foreach(fv, k, v)
		{
			if (strcmp(k, "value") == 0 && is_scalar(v))
				q->value = json_incref(v);
			else if (strcmp(k, "case_insensitive") == 0 && json_is_boolean(v))
				q->op_and = json_is_true(v);	/* reused as case-insensitive */
			else if (strcmp(k, "rewrite") == 0 && prefix)
				continue;
			else if (!common_key(q, k, v))
			{
				es_error_set(err, 400, "parsing_exception",
							 "[%s] query does not support [%s]", qn, k);
				goto fail;
			}
		}
		if (q->value == NULL)
		{
			es_error_set(err, 400, "illegal_argument_exception",
						 "value cannot be null");
			goto fail;
		}
	}
	else if (is_scalar(fv))
		q->value = json_incref(fv);
	else
	{
		es_error_set(err, 400, "parsing_exception",
					 "[%s] query does not support array of values", qn);
		goto fail;
	}
	if (prefix)
	{
		char		b[64];

		q->text = qstrdup(scalar_text(q->value, b, sizeof(b)));
		q->msm = -2;			/* marks a prefix query */
	}
	return q;
fail:
	query_free(q);
	return NULL;
}

static Query *
parse_terms(json_t *body, EsError *err, bool ids)
{
	Query	   *q = new_query(ids ? Q_IDS : Q_TERMS);
	const char *k;
	json_t	   *v;

	if (!json_is_object(body))
	{
		no_object(err, ids ? "ids" : "terms");
		goto fail;
	}
	json_object_foreach(body, k, v)
	{
		if (common_key(q, k, v))
			continue;
		if (ids && strcmp(k, "type") == 0)
			continue;
		if ((ids && strcmp(k, "values") == 0) || (!ids && q->field == NULL))
		{
			size_t		i;
			json_t	   *e;

			if (!json_is_array(v))
			{
				es_error_set(err, 400, "parsing_exception",
							 ids ? "[ids] query does not support [%s]"
							 : "[terms] query does not support [%s]", k);
				goto fail;
			}
			json_array_foreach(v, i, e)
				if (!is_scalar(e))
			{
				es_error_set(err, 400, "parsing_exception",
							 "[%s] query does not support null or non-scalar values",
							 ids ? "ids" : "terms");
				goto fail;
			}
			q->value = json_incref(v);
			if (!ids)
				set_field(q, k);
			continue;
		}
		if (!ids)
			es_error_set(err, 400, "parsing_exception",
						 "[terms] query does not support multiple fields");
		else
			es_error_set(err, 400, "parsing_exception",
						 "[ids] query does not support [%s]", k);
		goto fail;
	}
	if (q->value == NULL)
	{
		if (ids)
			q->value = json_array();
		else
		{
			es_error_set(err, 400, "parsing_exception",
						 "[terms] query requires a field");
			goto fail;
		}
	}
	return q;
fail:
	query_free(q);
	return NULL;
}

/* minimum_should_match for a clause count */
int
msm_resolve(const char *spec, int count)
{
	char	   *end;
	long		n;
	bool		neg = false;
	int			r;

	if (spec == NULL)
		return -1;
	if (*spec == '-')
	{
		neg = true;
		spec++;
	}
	n = strtol(spec, &end, 10);
	if (*end == '%')
	{
		int			part = (int) (count * n / 100);

		r = neg ? count - part : part;
	}
	else
		r = neg ? count - (int) n : (int) n;
	if (r < 0)
		r = 0;
	return r;
}

static bool
msm_valid(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	if (*p == '%')
		p++;
	return *p == '\0';
}

static bool
take_msm(Query *q, json_t *v, EsError *err)
{
	char		b[64];

	if (json_is_integer(v))
		snprintf(b, sizeof(b), "%lld", (long long) json_integer_value(v));
	else if (json_is_string(v) && strlen(json_string_value(v)) < sizeof(b))
		snprintf(b, sizeof(b), "%s", json_string_value(v));
	else
		b[0] = 'x', b[1] = '\0';
	if (!msm_valid(b))
	{
		es_error_set(err, 400, "parsing_exception",
					 "minimum_should_match [%s] is not supported", b);
		return false;
	}
	free(q->msm_spec);
	q->msm_spec = qstrdup(b);
	return true;
}

static Query *
parse_match(json_t *body, EsError *err)
{
	Query	   *q = new_query(Q_MATCH);
	json_t	   *fv = NULL,
			   *text = NULL;
	const char *field = single_field(body, "match", &fv, q, err);
	char		b[64];
	const char *s;

	if (field == NULL)
		goto fail;
	set_field(q, field);
	if (json_is_object(fv))
	{
		const char *k;
		json_t	   *v;

		json_object_foreach(fv, k, v)
		{
			if (strcmp(k, "query") == 0)
				text = v;
			else if (strcmp(k, "operator") == 0 && json_is_string(v))
			{
				const char *o = json_string_value(v);

				if (strcasecmp(o, "and") == 0)
					q->op_and = true;
				else if (strcasecmp(o, "or") == 0)
					q->op_and = false;
				else
				{
					es_error_set(err, 400, "illegal_argument_exception",
								 "No enum constant org.opensearch.index.search.MatchQuery.Operator.%s", o);
					goto fail;
				}
			}
			else if (strcmp(k, "minimum_should_match") == 0)
			{
				if (!take_msm(q, v, err))
					goto fail;
			}
			else if (strcmp(k, "analyzer") == 0 || strcmp(k, "lenient") == 0 ||
					 strcmp(k, "zero_terms_query") == 0 ||
					 strcmp(k, "auto_generate_synonyms_phrase_query") == 0)
				continue;
			else if (!common_key(q, k, v))
			{
				es_error_set(err, 400, "parsing_exception",
							 "[match] query does not support [%s]", k);
				goto fail;
			}
		}
	}
	else
		text = fv;
	if (!is_scalar(text))
	{
		es_error_set(err, 400, "parsing_exception",
					 "No text specified for text query");
		goto fail;
	}
	s = scalar_text(text, b, sizeof(b));
	q->text = qstrdup(s);
	q->ntokens = text_tokens(s, strlen(s), &q->tokens);
	return q;
fail:
	query_free(q);
	return NULL;
}

static Query *
parse_exists(json_t *body, EsError *err)
{
	Query	   *q = new_query(Q_EXISTS);
	const char *k;
	json_t	   *v;

	if (!json_is_object(body))
	{
		no_object(err, "exists");
		goto fail;
	}
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "field") == 0 && json_is_string(v))
			set_field(q, json_string_value(v));
		else if (!common_key(q, k, v))
		{
			es_error_set(err, 400, "parsing_exception",
						 "[exists] query does not support [%s]", k);
			goto fail;
		}
	}
	if (q->field == NULL)
	{
		es_error_set(err, 400, "parsing_exception",
					 "[exists] must be provided with a [field]");
		goto fail;
	}
	return q;
fail:
	query_free(q);
	return NULL;
}

static Query *
parse_range(json_t *body, EsError *err)
{
	Query	   *q = new_query(Q_RANGE);
	json_t	   *fv = NULL;
	const char *field = single_field(body, "range", &fv, q, err);
	const char *k;
	json_t	   *v;
	bool		incl_lower = true,
				incl_upper = true;
	json_t	   *from = NULL,
			   *to = NULL;

	if (field == NULL)
		goto fail;
	set_field(q, field);
	if (!json_is_object(fv))
	{
		es_error_set(err, 400, "parsing_exception",
					 "[range] query malformed, after field missing start object");
		goto fail;
	}
	json_object_foreach(fv, k, v)
	{
		json_t	   *sv = json_is_null(v) ? NULL : v;

		if (json_is_string(sv) && strncmp(json_string_value(sv), "now", 3) == 0)
		{
			es_error_illegal_argument(err,
									  "date math [%s] is not supported by the development search server",
									  json_string_value(sv));
			goto fail;
		}
		if (sv && !is_scalar(sv) && strcmp(k, "boost") != 0)
		{
			es_error_set(err, 400, "parsing_exception",
						 "[range] query does not support [%s]", k);
			goto fail;
		}
		if (strcmp(k, "gt") == 0)
			q->gt = sv ? json_incref(sv) : NULL;
		else if (strcmp(k, "gte") == 0)
			q->gte = sv ? json_incref(sv) : NULL;
		else if (strcmp(k, "lt") == 0)
			q->lt = sv ? json_incref(sv) : NULL;
		else if (strcmp(k, "lte") == 0)
			q->lte = sv ? json_incref(sv) : NULL;
		else if (strcmp(k, "from") == 0)
			from = sv;
		else if (strcmp(k, "to") == 0)
			to = sv;
		else if (strcmp(k, "include_lower") == 0 && json_is_boolean(v))
			incl_lower = json_is_true(v);
		else if (strcmp(k, "include_upper") == 0 && json_is_boolean(v))
			incl_upper = json_is_true(v);
		else if (strcmp(k, "format") == 0 || strcmp(k, "time_zone") == 0 ||
				 strcmp(k, "relation") == 0)
			continue;
		else if (!common_key(q, k, v))
		{
			es_error_set(err, 400, "parsing_exception",
						 "[range] query does not support [%s]", k);
			goto fail;
		}
	}
	if (from && !q->gt && !q->gte)
	{
		if (incl_lower)
			q->gte = json_incref(from);
		else
			q->gt = json_incref(from);
	}
	if (to && !q->lt && !q->lte)
	{
		if (incl_upper)
			q->lte = json_incref(to);
		else
			q->lt = json_incref(to);
	}
	return q;
fail:
	query_free(q);
	return NULL;
}

static bool
add_clauses(Query ***arr, int *n, json_t *v, EsError *err, int depth)
{
	size_t		i,
				cnt = json_is_array(v) ? json_array_size(v) : 1;

	*arr = realloc(*arr, sizeof(Query *) * ((size_t) *n + cnt + 1));
	if (*arr == NULL)
		abort();
	for (i = 0; i < cnt; i++)
	{
		json_t	   *c = json_is_array(v) ? json_array_get(v, i) : v;
		Query	   *sub = parse_node(c, err, depth + 1);

		if (sub == NULL)
			return false;
		(*arr)[(*n)++] = sub;
	}
	return true;
}

static Query *
parse_bool(json_t *body, EsError *err, int depth)
{
	Query	   *q = new_query(Q_BOOL);
	const char *k;
	json_t	   *v;

	if (!json_is_object(body))
	{
		no_object(err, "bool");
		goto fail;
	}
	json_object_foreach(body, k, v)
	{
		bool		ok = true;

		if (strcmp(k, "must") == 0)
			ok = add_clauses(&q->must, &q->nmust, v, err, depth);
		else if (strcmp(k, "filter") == 0)
			ok = add_clauses(&q->filter, &q->nfilter, v, err, depth);
		else if (strcmp(k, "should") == 0)
			ok = add_clauses(&q->should, &q->nshould, v, err, depth);
		else if (strcmp(k, "must_not") == 0 || strcmp(k, "mustNot") == 0)
			ok = add_clauses(&q->must_not, &q->nmust_not, v, err, depth);
		else if (strcmp(k, "minimum_should_match") == 0)
			ok = take_msm(q, v, err);
		else if (strcmp(k, "adjust_pure_negative") == 0)
			continue;
		else if (!common_key(q, k, v))
		{
			es_error_set(err, 400, "parsing_exception",
						 "[bool] query does not support [%s]", k);
			ok = false;
		}
		if (!ok)
			goto fail;
	}
	if (q->msm_spec)
		q->msm = msm_resolve(q->msm_spec, q->nshould);
	else
		q->msm = (q->nmust + q->nfilter) > 0 ? 0 : (q->nshould > 0 ? 1 : 0);
	return q;
fail:
	query_free(q);
	return NULL;
}

static Query *
parse_constant_score(json_t *body, EsError *err, int depth)
{
	Query	   *q = new_query(Q_BOOL);
	const char *k;
	json_t	   *v;

	if (!json_is_object(body))
	{
		no_object(err, "constant_score");
		goto fail;
	}
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "filter") == 0)
		{
			if (!add_clauses(&q->filter, &q->nfilter, v, err, depth))
				goto fail;
		}
		else if (!common_key(q, k, v))
		{
			es_error_set(err, 400, "parsing_exception",
						 "[constant_score] query does not support [%s]", k);
			goto fail;
		}
	}
	if (q->nfilter == 0)
	{
		es_error_set(err, 400, "parsing_exception",
					 "[constant_score] requires a 'filter' element");
		goto fail;
	}
	q->msm = -3;				/* marks constant_score: score = boost */
	return q;
fail:
	query_free(q);
	return NULL;
}

static Query *
parse_node(json_t *q, EsError *err, int depth)
{
	const char *name = NULL;
	json_t	   *body = NULL;
	Query	   *r;

	if (depth > 64)
	{
		es_error_set(err, 400, "parsing_exception",
					 "the query is nested more than 64 levels deep");
		return NULL;
	}
	if (!json_is_object(q))
	{
		es_error_set(err, 400, "parsing_exception",
					 "[_na] query malformed, must start with start_object");
		return NULL;
	}
	if (json_object_size(q) == 0)
	{
		es_error_set(err, 400, "parsing_exception",
					 "query malformed, empty clause found");
		return NULL;
	}
	if (json_object_size(q) > 1)
	{
		name = json_object_iter_key(json_object_iter(q));
		es_error_set(err, 400, "parsing_exception",
					 "[%s] malformed query, expected [END_OBJECT] but found [FIELD_NAME]",
					 name);
		return NULL;
	}
	name = json_object_iter_key(json_object_iter(q));
	body = json_object_iter_value(json_object_iter(q));
	if (strcmp(name, "match_all") == 0 || strcmp(name, "match_none") == 0)
	{
		const char *k;
		json_t	   *v;

		r = new_query(name[6] == 'a' ? Q_MATCH_ALL : Q_MATCH_NONE);
		if (!json_is_object(body))
			no_object(err, name);
		json_object_foreach(body, k, v)
			if (!common_key(r, k, v) && err->status == 0)
			es_error_set(err, 400, "parsing_exception",
						 "[%s] query does not support [%s]", name, k);
		if (err->status == 0)
			return r;
		query_free(r);
		return NULL;
	}
	if (strcmp(name, "term") == 0)
		return parse_term(body, err, false);
	if (strcmp(name, "prefix") == 0)
		return parse_term(body, err, true);
	if (strcmp(name, "terms") == 0)
		return parse_terms(body, err, false);
	if (strcmp(name, "ids") == 0)
		return parse_terms(body, err, true);
	if (strcmp(name, "match") == 0)
		return parse_match(body, err);
	if (strcmp(name, "exists") == 0)
		return parse_exists(body, err);
	if (strcmp(name, "range") == 0)
		return parse_range(body, err);
	if (strcmp(name, "bool") == 0)
		return parse_bool(body, err, depth);
	if (strcmp(name, "constant_score") == 0)
		return parse_constant_score(body, err, depth);
	{
		/* query types a real cluster knows: refuse them, never misreport them */
		static const char known[] =
			" match_phrase match_phrase_prefix match_bool_prefix multi_match query_string"
			" simple_query_string wildcard regexp fuzzy nested has_child has_parent"
			" function_score script_score dis_max boosting geo_distance geo_bounding_box"
			" geo_shape more_like_this script intervals span_term span_near terms_set"
			" distance_feature pinned wrapper knn neural combined_fields rank_feature percolate ";
		char		pat[80];

		snprintf(pat, sizeof(pat), " %s ", name);
		if (strlen(name) < 70 && strstr(known, pat))
		{
			es_error_illegal_argument(err,
									  "[%s] queries are not supported by the development search server",
									  name);
			return NULL;
		}
	}
	es_error_set(err, 400, "parsing_exception", "unknown query [%s]", name);
	es_error_cause(err, "named_object_not_found_exception",
				   "[1:%d] unknown field [%s]", 10, name);
	return NULL;
}

Query *
query_parse(json_t *q, EsError *err)
{
	if (q == NULL)
		return new_query(Q_MATCH_ALL);
	return parse_node(q, err, 0);
}

static void
free_list(Query **l, int n)
{
	for (int i = 0; i < n; i++)
		query_free(l[i]);
	free(l);
}

void
query_free(Query *q)
{
	if (q == NULL)
		return;
	free(q->field);
	free(q->src_path);
	if (q->value)
		json_decref(q->value);
	if (q->tokens)
		tokens_free(q->tokens, q->ntokens);
	free(q->msm_spec);
	free(q->text);
	if (q->gt)
		json_decref(q->gt);
	if (q->gte)
		json_decref(q->gte);
	if (q->lt)
		json_decref(q->lt);
	if (q->lte)
		json_decref(q->lte);
	free_list(q->must, q->nmust);
	free_list(q->filter, q->nfilter);
	free_list(q->should, q->nshould);
	free_list(q->must_not, q->nmust_not);
	free(q);
}
