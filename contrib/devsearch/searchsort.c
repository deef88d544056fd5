/*
 * searchsort.c — sorting for _search (devsearch).
 *
 * Owns: sort specifications (body "sort" and the sort= parameter), the sort
 * keys of a hit, the hit order (sort fields, then index order, then document
 * order: a total order, so pages are stable), search_after, the top-k heap
 * that keeps a page of hits without sorting every match, and the "sort"
 * values written in hits.
 *
 * Invariants: ascending sorts use a multi-valued field's minimum, descending
 * its maximum; missing values sort last unless missing=_first; text fields
 * have no field data (Elasticsearch's 400); the comparison functions read the
 * order set by sort_set_order() (one search at a time: Server.lock is held).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "searchsort.h"

static char *
sstrdup(const char *s)
{
	char	   *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static int
parse_sort_entry(SortField **sort, int *nsort, const char *name, json_t *opts, EsError *err)
{
	SortField  *sf;

	*sort = realloc(*sort, sizeof(SortField) * ((size_t) *nsort + 1));
	if (*sort == NULL)
		abort();
	sf = &(*sort)[(*nsort)++];
	memset(sf, 0, sizeof(*sf));
	sf->field = strdup(name);
	if (sf->field == NULL)
		abort();
	if (strcmp(name, "_score") == 0)
	{
		sf->what = SF_SCORE;
		sf->desc = true;
	}
	else if (strcmp(name, "_doc") == 0)
		sf->what = SF_DOC;
	else if (strcmp(name, "_id") == 0)
		sf->what = SF_ID;
	else
		sf->what = SF_FIELD;
	if (opts == NULL)
		return 0;
	if (json_is_string(opts))
	{
		const char *o = json_string_value(opts);

		if (strcmp(o, "asc") == 0 || strcmp(o, "ASC") == 0)
			sf->desc = false;
		else if (strcmp(o, "desc") == 0 || strcmp(o, "DESC") == 0)
			sf->desc = true;
		else
		{
			es_error_illegal_argument(err, "Unknown SortOrder [%s]", o);
			return -1;
		}
		return 0;
	}
	if (!json_is_object(opts))
	{
		es_error_set(err, 400, "parsing_exception",
					 "[%s] failed to parse field [sort]", name);
		return -1;
	}
	{
		const char *k;
		json_t	   *v;

		json_object_foreach(opts, k, v)
		{
			if (strcmp(k, "order") == 0 && json_is_string(v))
			{
				const char *o = json_string_value(v);

				if (strcasecmp(o, "asc") == 0)
					sf->desc = false;
				else if (strcasecmp(o, "desc") == 0)
					sf->desc = true;
				else
				{
					es_error_illegal_argument(err, "Unknown SortOrder [%s]", o);
					return -1;
				}
			}
			else if (strcmp(k, "missing") == 0)
			{
				if (json_is_string(v) && strcmp(json_string_value(v), "_last") == 0)
					sf->missing = 0;
				else if (json_is_string(v) && strcmp(json_string_value(v), "_first") == 0)
					sf->missing = 1;
				else if (json_is_string(v) || json_is_number(v))
				{
					sf->missing = 2;
					sf->missing_value = json_incref(v);
				}
			}
			else if (strcmp(k, "unmapped_type") == 0)
				sf->unmapped_ok = true;
			else if (strcmp(k, "mode") == 0 || strcmp(k, "numeric_type") == 0 ||
					 strcmp(k, "format") == 0)
				continue;
			else
			{
				es_error_set(err, 400, "parsing_exception",
							 "[field_sort] unknown field [%s]", k);
				return -1;
			}
		}
	}
	return 0;
}

int
sort_parse_json(SortField **sort, int *nsort, json_t *s, EsError *err)
{
	if (json_is_array(s))
	{
		size_t		i;
		json_t	   *e;

		json_array_foreach(s, i, e)
			if (sort_parse_json(sort, nsort, e, err) < 0)
			return -1;
		return 0;
	}
	if (json_is_string(s))
		return parse_sort_entry(sort, nsort, json_string_value(s), NULL, err);
	if (json_is_object(s) && json_object_size(s) >= 1)
	{
		const char *k;
		json_t	   *v;

		json_object_foreach(s, k, v)
			if (parse_sort_entry(sort, nsort, k, v, err) < 0)
			return -1;
		return 0;
	}
	es_error_set(err, 400, "parsing_exception", "malformed sort format, "
				 "within the sort array, an object, or an actual string are allowed");
	return -1;
}

int
sort_parse_param(SortField **sort, int *nsort, const char *s, EsError *err)
{
	char	   *copy = strdup(s),
			   *tok,
			   *save = NULL;
	int			rc = 0;

	if (copy == NULL)
		abort();
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save))
	{
		char	   *colon = strrchr(tok, ':');
		json_t	   *o = NULL;

		if (colon)
		{
			*colon = '\0';
			o = json_string(colon + 1);
		}
		rc = parse_sort_entry(sort, nsort, tok, o, err);
		if (o)
			json_decref(o);
	}
	free(copy);
	return rc;
}

static const char text_sort_reason[] =
"Text fields are not optimised for operations that require per-document "
"field data like aggregations and sorting, so these operations are disabled "
"by default. Please use a keyword field instead. Alternatively, set "
"fielddata=true on [%s] in order to load field data by uninverting the "
"inverted index. Note that this can use significant memory.";

void
sortval_from_json(SortVal *sv, json_t *v)
{
	memset(sv, 0, sizeof(*sv));
	if (json_is_integer(v))
	{
		sv->kind = 1;
		sv->is_int = true;
		sv->i = json_integer_value(v);
		sv->num = (double) sv->i;
	}
	else if (json_is_real(v))
	{
		sv->kind = 1;
		sv->num = json_real_value(v);
	}
	else if (json_is_string(v))
	{
		sv->kind = 2;
		sv->str = sstrdup(json_string_value(v));
	}
	else if (json_is_boolean(v))
	{
		sv->kind = 1;
		sv->is_int = true;
		sv->i = json_is_true(v);
		sv->num = (double) sv->i;
	}
}

static int
sortval_cmp(const SortVal *a, const SortVal *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == 1)
		return a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
	if (a->kind == 2)
		return strcmp(a->str, b->str);
	return 0;
}

/*
 * Extract the key of a field for one hit.  Returns 0, or -1 with *text_err
 * set when the field is text (no field data).
 */
int
sort_field_key(SortField *sf, const Index *ix, json_t *src, SortVal *out, bool *text_err)
{
	char	   *src_path;
	FieldKind	kind = field_kind(ix, sf->field, &src_path);
	FieldVals	fv = {0};
	SortVal		best = {0};
	int			i;

	*text_err = false;
	if (kind != FK_DYNAMIC && kind != FK_DYNAMIC_KEYWORD)
		sf->seen = true;
	if (kind == FK_NUMERIC)
		sf->numeric = true;
	if (kind == FK_TEXT)
	{
		free(src_path);
		*text_err = true;
		return -1;
	}
	field_values(src, src_path, &fv);
	for (i = 0; i < fv.n; i++)
	{
		SortVal		cur;
		json_t	   *leaf = fv.v[i];

		if (json_is_object(leaf))
			continue;
		if (kind == FK_DYNAMIC_KEYWORD && !json_is_string(leaf))
			continue;
		if (kind == FK_DYNAMIC && json_is_string(leaf))
		{
			*text_err = true;
			break;
		}
		sf->seen = true;
		if (kind == FK_KEYWORD && !json_is_string(leaf))
		{
			char		b[64];
			json_t	   *s;

			if (json_is_integer(leaf))
				snprintf(b, sizeof(b), "%lld", (long long) json_integer_value(leaf));
			else if (json_is_boolean(leaf))
				snprintf(b, sizeof(b), "%s", json_is_true(leaf) ? "true" : "false");
			else
				snprintf(b, sizeof(b), "%.17g", json_number_value(leaf));
			s = json_string(b);
			sortval_from_json(&cur, s);
			json_decref(s);
		}
		else if (kind == FK_NUMERIC && json_is_string(leaf))
		{
			char	   *end;
			double		d = strtod(json_string_value(leaf), &end);

			memset(&cur, 0, sizeof(cur));
			if (*end != '\0')
				continue;
			cur.kind = 1;
			cur.num = d;
		}
		else
			sortval_from_json(&cur, leaf);
		if (cur.kind == 1)
			sf->numeric = true;
		if (best.kind == 0 || (sf->desc ? sortval_cmp(&cur, &best) > 0
							   : sortval_cmp(&cur, &best) < 0))
		{
			free(best.str);
			best = cur;
		}
		else
			free(cur.str);
	}
	field_values_free(&fv);
	free(src_path);
	if (*text_err)
	{
		free(best.str);
		return -1;
	}
	if (best.kind == 0 && sf->missing == 2)
		sortval_from_json(&best, sf->missing_value);
	*out = best;
	return 0;
}

static const SortField *cmp_sort;
static int	cmp_nsort;

void
sort_set_order(const SortField *sort, int nsort)
{
	cmp_sort = sort;
	cmp_nsort = nsort;
}

static int
hit_cmp_keys(const Hit *a, const Hit *b)
{
	for (int i = 0; i < cmp_nsort; i++)
	{
		const SortField *sf = &cmp_sort[i];
		const SortVal *x = &a->keys[i],
				   *y = &b->keys[i];
		int			c;

		if (sf->what == SF_FIELD && (x->kind == 0 || y->kind == 0))
		{
			if (x->kind == y->kind)
				continue;
			/* missing: _last by default, whatever the order */
			c = x->kind == 0 ? 1 : -1;
			return sf->missing == 1 ? -c : c;
		}
		c = sortval_cmp(x, y);
		if (c != 0)
			return sf->desc ? -c : c;
	}
	return 0;
}

int
hit_cmp(const void *pa, const void *pb)
{
	const Hit  *a = pa,
			   *b = pb;
	int			c;

	if (cmp_nsort > 0)
		c = hit_cmp_keys(a, b);
	else
		c = a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
	if (c != 0)
		return c;
	if (a->ixno != b->ixno)
		return a->ixno < b->ixno ? -1 : 1;
	return a->d->pos < b->d->pos ? -1 : a->d->pos > b->d->pos ? 1 : 0;
}

/* is the hit strictly after the search_after key? */
bool
hit_after(const Hit *h, const SortVal *after)
{
	Hit			probe = *h;

	probe.keys = (SortVal *) after;
	return hit_cmp_keys(h, &probe) > 0;
}

void
sort_keys_free(SortVal *k, int n)
{
	if (k == NULL)
		return;
	for (int i = 0; i < n; i++)
		if (!k[i].borrowed)
			free(k[i].str);
	free(k);
}

/*
 * A max-heap on hit_cmp order: hits[0] is the worst of the best topk hits
 * seen so far, so a page of from+size hits costs O(n log k), not a full sort.
 */
void
heap_sift_up(Hit *h, size_t i)
{
	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;
		Hit			tmp;

		if (hit_cmp(&h[i], &h[parent]) <= 0)
			break;
		tmp = h[i];
		h[i] = h[parent];
		h[parent] = tmp;
		i = parent;
	}
}

void
heap_sift_down(Hit *h, size_t n, size_t i)
{
	for (;;)
	{
		size_t		l = 2 * i + 1,
					r = l + 1,
					m = i;
		Hit			tmp;

		if (l < n && hit_cmp(&h[l], &h[m]) > 0)
			m = l;
		if (r < n && hit_cmp(&h[r], &h[m]) > 0)
			m = r;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

void
write_sort_value(JsonBuf *jb, const SortField *sf, const SortVal *v, const Hit *h)
{
	(void) h;
	if (v->kind == 1)
	{
		if (v->is_int)
			jb_i64(jb, v->i);
		else
			jb_double(jb, v->num);
	}
	else if (v->kind == 2)
		jb_qcstr(jb, v->str);
	else if (sf->numeric)
		jb_cstr(jb, (sf->missing == 1) == sf->desc ? "9223372036854775807"
				: "-9223372036854775808");
	else
		jb_cstr(jb, "null");
}

void
sort_text_field_reason(char *buf, size_t n, const char *field)
{
	snprintf(buf, n, text_sort_reason, field);
}

void
sort_fields_free(SortField *sort, int nsort)
{
	for (int i = 0; i < nsort; i++)
	{
		free(sort[i].field);
		if (sort[i].missing_value)
			json_decref(sort[i].missing_value);
	}
	free(sort);
}
