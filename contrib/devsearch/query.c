/*
 * query.c — the query DSL of devsearch: parse, bind to an index, match.
 *
 * Owns the implementation of query.h: match_all, match_none, term, terms,
 * ids, match, exists, range, bool, constant_score and prefix.  Matching
 * follows Elasticsearch's dynamic mapping when a field is unmapped: a string
 * is a text field (lower-cased tokens) with an exact `.keyword` sub-field,
 * numbers compare numerically, booleans as booleans.
 *
 * Invariants: parse errors carry the type and reason a real cluster gives;
 * the match path does not allocate (tokens are compared in place).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "store.h"

static void *
qalloc(size_t n)
{
	void	   *p = calloc(1, n);

	if (p == NULL)
		abort();
	return p;
}

static char *
qstrdup(const char *s)
{
	char	   *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

/* ------------------------------------------------------------------------
 * Field values
 * ------------------------------------------------------------------------ */

static void
fv_add(FieldVals *fv, json_t *v)
{
	if (fv->v == NULL)
	{
		fv->v = fv->inline_v;
		fv->cap = 8;
	}
	if (fv->n == fv->cap)
	{
		json_t	  **nv = malloc(sizeof(json_t *) * (size_t) fv->cap * 2);

		if (nv == NULL)
			abort();
		memcpy(nv, fv->v, sizeof(json_t *) * (size_t) fv->n);
		if (fv->v != fv->inline_v)
			free(fv->v);
		fv->v = nv;
		fv->cap *= 2;
	}
	fv->v[fv->n++] = v;
}

static void
collect(json_t *node, const char *path, FieldVals *out, int depth)
{
	size_t		i;

	if (node == NULL || depth > 200)
		return;
	if (json_is_array(node))
	{
		json_t	   *e;

		json_array_foreach(node, i, e)
			collect(e, path, out, depth + 1);
		return;
	}
	if (*path == '\0')
	{
		if (!json_is_null(node))
			fv_add(out, node);
		return;
	}
	if (!json_is_object(node))
		return;
	/* try every split point: "a.b.c" may be {"a":{"b.c":..}}, {"a.b":..}... */
	for (i = 0;; i++)
	{
		if (path[i] == '.' || path[i] == '\0')
		{
			json_t	   *child = json_object_getn(node, path, i);

			if (child)
				collect(child, path[i] ? path + i + 1 : path + i, out, depth + 1);
			if (path[i] == '\0')
				break;
		}
	}
}

void
field_values(json_t *src, const char *path, FieldVals *out)
{
	out->n = 0;
	collect(src, path, out, 0);
}

void
field_values_free(FieldVals *fv)
{
	if (fv->v && fv->v != fv->inline_v)
		free(fv->v);
	fv->v = NULL;
	fv->n = fv->cap = 0;
}

/* ------------------------------------------------------------------------
 * Mappings
 * ------------------------------------------------------------------------ */

static FieldKind
kind_of_type(const char *t)
{
	if (t == NULL)
		return FK_DYNAMIC;
	if (strcmp(t, "text") == 0 || strcmp(t, "match_only_text") == 0)
		return FK_TEXT;
	if (strcmp(t, "keyword") == 0 || strcmp(t, "constant_keyword") == 0 ||
		strcmp(t, "wildcard") == 0 || strcmp(t, "ip") == 0)
		return FK_KEYWORD;
	if (strcmp(t, "boolean") == 0)
		return FK_BOOLEAN;
	if (strcmp(t, "date") == 0 || strcmp(t, "date_nanos") == 0)
		return FK_DATE;
	if (strcmp(t, "long") == 0 || strcmp(t, "integer") == 0 ||
		strcmp(t, "short") == 0 || strcmp(t, "byte") == 0 ||
		strcmp(t, "double") == 0 || strcmp(t, "float") == 0 ||
		strcmp(t, "half_float") == 0 || strcmp(t, "scaled_float") == 0 ||
		strcmp(t, "unsigned_long") == 0)
		return FK_NUMERIC;
	return FK_DYNAMIC;
}

FieldKind
field_kind(const Index *ix, const char *path, char **src_path)
{
	json_t	   *props = NULL;
	const char *p = path;
	size_t		plen = strlen(path);

	*src_path = NULL;
	if (ix && json_is_object(ix->mappings))
	{
		props = json_object_get(ix->mappings, "properties");
		if (props == NULL)
		{
			/* a typed mapping {"_doc":{"properties":..}} */
			json_t	   *t = json_object_get(ix->mappings, "_doc");

			if (t)
				props = json_object_get(t, "properties");
		}
	}
	while (json_is_object(props) && *p)
	{
		const char *dot = strchr(p, '.');
		size_t		seg = dot ? (size_t) (dot - p) : strlen(p);
		json_t	   *m = json_object_getn(props, p, seg);
		json_t	   *sub;

		if (!json_is_object(m))
			break;
		if (dot == NULL)
		{
			*src_path = qstrdup(path);
			return kind_of_type(json_string_value(json_object_get(m, "type")));
		}
		sub = json_object_get(m, "properties");
		if (json_is_object(sub))
		{
			props = sub;
			p = dot + 1;
			continue;
		}
		/* a multi-field: "title.raw" with title.fields.raw */
		sub = json_object_get(m, "fields");
		if (json_is_object(sub))
		{
			json_t	   *f = json_object_get(sub, dot + 1);

			if (json_is_object(f))
			{
				*src_path = strndup(path, (size_t) (dot - path));
				if (*src_path == NULL)
					abort();
				return kind_of_type(json_string_value(json_object_get(f, "type")));
			}
		}
		break;
	}
	if (plen > 8 && strcmp(path + plen - 8, ".keyword") == 0)
	{
		*src_path = strndup(path, plen - 8);
		if (*src_path == NULL)
			abort();
		return FK_DYNAMIC_KEYWORD;
	}
	*src_path = qstrdup(path);
	return FK_DYNAMIC;
}

/* ------------------------------------------------------------------------
 * Analysis
 * ------------------------------------------------------------------------ */

static inline bool
tok_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c >= 0x80;
}

static int
text_tokens(const char *s, size_t len, char ***out)
{
	size_t		i = 0;
	int			n = 0,
				cap = 0;
	char	  **v = NULL;

	while (i < len)
	{
		size_t		st;

		while (i < len && !tok_char((unsigned char) s[i]))
			i++;
		if (i >= len)
			break;
		st = i;
		while (i < len && tok_char((unsigned char) s[i]))
			i++;
		if (n == cap)
		{
			cap = cap ? cap * 2 : 8;
			v = realloc(v, sizeof(char *) * (size_t) cap);
			if (v == NULL)
				abort();
		}
		v[n] = qalloc(i - st + 1);
		for (size_t k = st; k < i; k++)
			v[n][k - st] = (char) tolower((unsigned char) s[k]);
		n++;
	}
	*out = v;
	return n;
}

static void
tokens_free(char **t, int n)
{
	for (int i = 0; i < n; i++)
		free(t[i]);
	free(t);
}

/* does text s contain the (already lower-cased) token tok? */
static bool
text_has_token(const char *s, size_t len, const char *tok, size_t toklen)
{
	size_t		i = 0;

	while (i < len)
	{
		size_t		st,
					k;

		while (i < len && !tok_char((unsigned char) s[i]))
			i++;
		st = i;
		while (i < len && tok_char((unsigned char) s[i]))
			i++;
		if (i - st != toklen || toklen == 0)
			continue;
		for (k = 0; k < toklen; k++)
			if (tolower((unsigned char) s[st + k]) != (unsigned char) tok[k])
				break;
		if (k == toklen)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Scalars
 * ------------------------------------------------------------------------ */

/* textual form of a scalar as Elasticsearch indexes it into keyword/text */
static const char *
scalar_text(json_t *v, char *buf, size_t bufsz)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
	{
		snprintf(buf, bufsz, "%lld", (long long) json_integer_value(v));
		return buf;
	}
	if (json_is_real(v))
	{
		snprintf(buf, bufsz, "%.17g", json_real_value(v));
		return buf;
	}
	if (json_is_true(v))
		return "true";
	if (json_is_false(v))
		return "false";
	return NULL;
}

static bool
scalar_number(json_t *v, double *out)
{
	if (json_is_number(v))
	{
		*out = json_number_value(v);
		return true;
	}
	if (json_is_string(v))
	{
		const char *s = json_string_value(v);
		char	   *end;

		if (*s == '\0')
			return false;
		*out = strtod(s, &end);
		return *end == '\0' && isfinite(*out);
	}
	return false;
}

static int
scalar_bool(json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v))
	{
		if (strcmp(json_string_value(v), "true") == 0)
			return 1;
		if (strcmp(json_string_value(v), "false") == 0)
			return 0;
	}
	return -1;
}

/* term semantics: does one leaf value match the query value? */
static bool
leaf_term(FieldKind kind, json_t *leaf, json_t *v, bool ci)
{
	char		b1[64],
				b2[64];
	const char *ls,
			   *vs;
	double		ln,
				vn;
	int			lb,
				vb;

	if (kind == FK_DYNAMIC)
	{
		if (json_is_string(leaf))
			kind = FK_TEXT;
		else if (json_is_number(leaf))
			kind = FK_NUMERIC;
		else if (json_is_boolean(leaf))
			kind = FK_BOOLEAN;
		else
			return false;
	}
	switch (kind)
	{
		case FK_TEXT:
			ls = scalar_text(leaf, b1, sizeof(b1));
			vs = scalar_text(v, b2, sizeof(b2));
			if (ls == NULL || vs == NULL)
				return false;
			if (ci)
			{
				char	  **t;
				int			n = text_tokens(vs, strlen(vs), &t);
				bool		r = n == 1 && text_has_token(ls, strlen(ls), t[0], strlen(t[0]));

				tokens_free(t, n);
				return r;
			}
			{
				/* an unanalyzed term matches only an identical token */
				size_t		vl = strlen(vs);

				for (size_t k = 0; k < vl; k++)
					if (!tok_char((unsigned char) vs[k]) || isupper((unsigned char) vs[k]))
						return false;
				return text_has_token(ls, strlen(ls), vs, vl);
			}
		case FK_DYNAMIC_KEYWORD:
			if (!json_is_string(leaf))
				return false;
			/* fall through */
		case FK_KEYWORD:
		case FK_DATE:
			ls = scalar_text(leaf, b1, sizeof(b1));
			vs = scalar_text(v, b2, sizeof(b2));
			if (ls && vs && (ci ? strcasecmp(ls, vs) : strcmp(ls, vs)) == 0)
				return true;
			if (kind == FK_DATE && scalar_number(leaf, &ln) && scalar_number(v, &vn))
				return ln == vn;
			return false;
		case FK_NUMERIC:
			return scalar_number(leaf, &ln) && scalar_number(v, &vn) && ln == vn;
		case FK_BOOLEAN:
			lb = scalar_bool(leaf);
			vb = scalar_bool(v);
			return lb >= 0 && lb == vb;
		case FK_DYNAMIC:
			break;
	}
	return false;
}

/* compare a leaf with a range bound: <0, 0, >0; false if incomparable */
static bool
leaf_cmp(FieldKind kind, json_t *leaf, json_t *bound, int *out)
{
	double		ln,
				bn;
	char		b1[64],
				b2[64];
	const char *ls,
			   *bs;

	if ((kind == FK_NUMERIC || json_is_number(leaf) || kind == FK_DATE) &&
		scalar_number(leaf, &ln) && scalar_number(bound, &bn))
	{
		*out = ln < bn ? -1 : ln > bn ? 1 : 0;
		return true;
	}
	if (kind == FK_NUMERIC || kind == FK_BOOLEAN)
		return false;
	if (kind == FK_DYNAMIC_KEYWORD && !json_is_string(leaf))
		return false;
	ls = scalar_text(leaf, b1, sizeof(b1));
	bs = scalar_text(bound, b2, sizeof(b2));
	if (ls == NULL || bs == NULL)
		return false;
	*out = strcmp(ls, bs);
	*out = *out < 0 ? -1 : *out > 0;
	return true;
}

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
static int
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

/* ------------------------------------------------------------------------
 * Binding and matching
 * ------------------------------------------------------------------------ */

static void
bind_list(Query **l, int n, const Index *ix)
{
	for (int i = 0; i < n; i++)
		query_bind(l[i], ix);
}

void
query_bind(Query *q, const Index *ix)
{
	if (q->field && !q->id_field)
	{
		free(q->src_path);
		q->kind = field_kind(ix, q->field, &q->src_path);
	}
	bind_list(q->must, q->nmust, ix);
	bind_list(q->filter, q->nfilter, ix);
	bind_list(q->should, q->nshould, ix);
	bind_list(q->must_not, q->nmust_not, ix);
}

static void
paths_list(Query **l, int n, const char ***paths, int *np)
{
	for (int i = 0; i < n; i++)
		query_source_paths(l[i], paths, np);
}

void
query_source_paths(const Query *q, const char ***paths, int *n)
{
	if (q->field && !q->id_field)
	{
		*paths = realloc(*paths, sizeof(char *) * ((size_t) *n + 1));
		if (*paths == NULL)
			abort();
		(*paths)[(*n)++] = q->src_path ? q->src_path : q->field;
	}
	paths_list(q->must, q->nmust, paths, n);
	paths_list(q->filter, q->nfilter, paths, n);
	paths_list(q->should, q->nshould, paths, n);
	paths_list(q->must_not, q->nmust_not, paths, n);
}

bool
query_is_match_all(const Query *q)
{
	return q->type == Q_MATCH_ALL;
}

static bool
id_in(json_t *arr, const char *id)
{
	size_t		i;
	json_t	   *e;
	char		b[64];

	json_array_foreach(arr, i, e)
	{
		const char *s = scalar_text(e, b, sizeof(b));

		if (s && strcmp(s, id) == 0)
			return true;
	}
	return false;
}

static bool
prefix_match(FieldKind kind, json_t *leaf, const char *pre, bool ci)
{
	char		b[64];
	const char *s = scalar_text(leaf, b, sizeof(b));
	size_t		pl = strlen(pre);

	if (s == NULL)
		return false;
	if (kind == FK_DYNAMIC && json_is_string(leaf))
		kind = FK_TEXT;
	if (kind == FK_TEXT)
	{
		size_t		len = strlen(s),
					i = 0;

		while (i < len)
		{
			size_t		st,
						k;

			while (i < len && !tok_char((unsigned char) s[i]))
				i++;
			st = i;
			while (i < len && tok_char((unsigned char) s[i]))
				i++;
			if (i - st < pl || i == st)
				continue;
			for (k = 0; k < pl; k++)
			{
				int			c = tolower((unsigned char) s[st + k]);
				int			p = ci ? tolower((unsigned char) pre[k]) : (unsigned char) pre[k];

				if (c != p)
					break;
			}
			if (k == pl)
				return true;
		}
		return false;
	}
	if (kind == FK_DYNAMIC_KEYWORD && !json_is_string(leaf))
		return false;
	return ci ? strncasecmp(s, pre, pl) == 0 : strncmp(s, pre, pl) == 0;
}

/* does one leaf satisfy every bound of a range query? */
static bool
in_range(const Query *q, FieldKind kind, json_t *leaf)
{
	int			c;

	if (q->gt && (!leaf_cmp(kind, leaf, q->gt, &c) || c <= 0))
		return false;
	if (q->gte && (!leaf_cmp(kind, leaf, q->gte, &c) || c < 0))
		return false;
	if (q->lt && (!leaf_cmp(kind, leaf, q->lt, &c) || c >= 0))
		return false;
	if (q->lte && (!leaf_cmp(kind, leaf, q->lte, &c) || c > 0))
		return false;
	return true;
}

static bool
match_field(const Query *q, json_t *src, double *score)
{
	FieldVals	fv = {0};
	bool		r = false;
	int			i,
				j;

	field_values(src, q->src_path ? q->src_path : q->field, &fv);
	switch (q->type)
	{
		case Q_TERM:
			for (i = 0; i < fv.n && !r; i++)
				r = q->msm == -2 ? prefix_match(q->kind, fv.v[i], q->text, q->op_and)
					: leaf_term(q->kind, fv.v[i], q->value, q->op_and);
			*score = q->boost;
			break;
		case Q_TERMS:
			for (i = 0; i < fv.n && !r; i++)
				for (j = 0; j < (int) json_array_size(q->value) && !r; j++)
					r = leaf_term(q->kind, fv.v[i], json_array_get(q->value, (size_t) j), false);
			*score = q->boost;
			break;
		case Q_EXISTS:
			for (i = 0; i < fv.n && !r; i++)
				r = !json_is_object(fv.v[i]) || json_object_size(fv.v[i]) > 0;
			*score = q->boost;
			break;
		case Q_RANGE:
			for (i = 0; i < fv.n && !r; i++)
				r = in_range(q, q->kind, fv.v[i]);
			*score = q->boost;
			break;
		case Q_MATCH:
			{
				int			matched = 0,
							need;
				bool		analyzed = q->kind == FK_TEXT || q->kind == FK_DYNAMIC;

				if (analyzed)
				{
					for (j = 0; j < q->ntokens; j++)
					{
						size_t		tl = strlen(q->tokens[j]);

						for (i = 0; i < fv.n; i++)
						{
							bool		hit;

							if (json_is_string(fv.v[i]) || q->kind == FK_TEXT)
							{
								char		b[64];
								const char *s = scalar_text(fv.v[i], b, sizeof(b));

								hit = s && text_has_token(s, strlen(s), q->tokens[j], tl);
							}
							else
							{
								json_t	   *t = json_string(q->tokens[j]);

								hit = t && leaf_term(FK_DYNAMIC, fv.v[i], t, false);
								json_decref(t);
							}
							if (hit)
							{
								matched++;
								break;
							}
						}
					}
					if (q->ntokens == 0)
						break;
					need = q->op_and ? q->ntokens : 1;
					if (q->msm_spec)
					{
						int			m = msm_resolve(q->msm_spec, q->ntokens);

						if (m > need)
							need = m;
					}
					r = matched >= need;
					*score = q->boost * matched / q->ntokens;
				}
				else
				{
					json_t	   *t = json_string(q->text);

					for (i = 0; i < fv.n && !r; i++)
						r = leaf_term(q->kind, fv.v[i], t, false);
					json_decref(t);
					*score = q->boost;
				}
				break;
			}
		default:
			break;
	}
	field_values_free(&fv);
	return r;
}

json_t *
query_ids(const Query *q)
{
	if (q->type == Q_IDS || (q->type == Q_TERMS && q->id_field))
		return q->value;
	return NULL;
}

bool
query_match(const Query *q, const char *id, json_t *src, double *score)
{
	double		s = 0,
				sub;
	int			i,
				nshould = 0;

	*score = 0;
	switch (q->type)
	{
		case Q_MATCH_ALL:
			*score = q->boost;
			return true;
		case Q_MATCH_NONE:
			return false;
		case Q_IDS:
			*score = q->boost;
			return id_in(q->value, id);
		case Q_TERM:
		case Q_TERMS:
		case Q_MATCH:
			if (q->id_field)
			{
				char		b[64];

				*score = q->boost;
				if (q->type == Q_TERMS)
					return id_in(q->value, id);
				if (q->type == Q_MATCH)
					return strcmp(q->text, id) == 0;
				if (q->msm == -2)
					return strncmp(id, q->text, strlen(q->text)) == 0;
				return strcmp(scalar_text(q->value, b, sizeof(b)), id) == 0;
			}
			return match_field(q, src, score);
		case Q_EXISTS:
			if (q->id_field)
			{
				*score = q->boost;
				return true;
			}
			return match_field(q, src, score);
		case Q_RANGE:
			if (q->id_field)
			{
				json_t	   *leaf = json_string(id);
				bool		r = in_range(q, FK_KEYWORD, leaf);

				json_decref(leaf);
				*score = q->boost;
				return r;
			}
			return match_field(q, src, score);
		case Q_BOOL:
			for (i = 0; i < q->nmust_not; i++)
				if (query_match(q->must_not[i], id, src, &sub))
					return false;
			for (i = 0; i < q->nfilter; i++)
				if (!query_match(q->filter[i], id, src, &sub))
					return false;
			for (i = 0; i < q->nmust; i++)
			{
				if (!query_match(q->must[i], id, src, &sub))
					return false;
				s += sub;
			}
			for (i = 0; i < q->nshould; i++)
				if (query_match(q->should[i], id, src, &sub))
				{
					nshould++;
					s += sub;
				}
			if (nshould < q->msm)
				return false;
			if (q->msm == -3)
				s = 1.0;
			*score = s * q->boost;
			return true;
	}
	return false;
}
