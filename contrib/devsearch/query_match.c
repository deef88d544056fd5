/*
 * query_match.c — binding a Query tree to an index and matching documents (devsearch).
 *
 * Owns query_bind(), query_match() and the questions asked of a bound tree
 * (query_source_paths, query_is_match_all, query_ids), and what they rest on:
 * field values along dotted paths, the mapped kind of a field, text analysis
 * (lower-cased alphanumeric tokens) and the comparison of scalars.  Matching
 * follows Elasticsearch's dynamic mapping when a field is unmapped: a string
 * is a text field (lower-cased tokens) with an exact `.keyword` sub-field,
 * numbers compare numerically, booleans as booleans.  Parsing lives in
 * query_parse.c.
 *
 * Invariants: matching never modifies the source; the match path does not
 * allocate (tokens are compared in place).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "query_internal.h"
#include "store.h"

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

int
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

void
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
const char *
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

