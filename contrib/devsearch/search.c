/*
 * search.c — _search, _count and _delete_by_query (devsearch).
 *
 * Owns: search_handle(): index resolution, the scan over refreshed documents (partial _source parsing),
 * paging and the response bodies of the three endpoints.  Request parsing
 * (body and URL parameters) lives in search_request.c, sorting and
 * search_after live in searchsort.c, the query DSL in query_parse.c and
 * query_match.c, _source filtering in sourcefilter.c.
 *
 * Invariants:
 *  - Only the refreshed view (Doc.vis) is read: searches see what a real
 *    cluster would show after its last refresh, never unrefreshed writes.
 *  - A request is parsed and validated completely before anything is read or
 *    deleted; errors use the type, reason and status of a real cluster.
 *  - match_all without sorting never parses a _source except for the hits
 *    it returns, so counting and paging over millions of documents is cheap.
 *  - _delete_by_query deletes a document only if it is unchanged since the
 *    refresh that made it visible; otherwise it is a version conflict.
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

#define DBQ_SCROLL_SIZE 1000

/* ------------------------------------------------------------------------
 * Execution
 * ------------------------------------------------------------------------ */

/*
 * Parse only the top-level members of a _source that some path needs: a key
 * k is needed when a path equals k or starts with "k.".  Skipped members are
 * only scanned.  Falls back to a full parse when the scan fails.
 */
typedef struct NeedPaths
{
	const char **v;
	int			n;
	bool		all;			/* parse everything */
} NeedPaths;

static bool
key_needed(const NeedPaths *np, const char *k, size_t klen)
{
	for (int i = 0; i < np->n; i++)
	{
		const char *p = np->v[i];

		if (strncmp(p, k, klen) == 0 && (p[klen] == '\0' || p[klen] == '.'))
			return true;
	}
	return false;
}

/* a JSON scalar or container from a validated slice, without the parser for
 * the common scalar forms; NULL when it does not parse */
static json_t *
load_value(const char *v, size_t n)
{
	if (n >= 2 && v[0] == '"' && memchr(v + 1, '\\', n - 2) == NULL)
		return json_stringn(v + 1, n - 2);
	if (n > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) && n < 40)
	{
		char		buf[40],
				   *end;

		memcpy(buf, v, n);
		buf[n] = '\0';
		if (strpbrk(buf, ".eE") == NULL)
		{
			long long	i;

			errno = 0;
			i = strtoll(buf, &end, 10);
			if (errno == 0 && *end == '\0')
				return json_integer(i);
			return NULL;
		}
		else
		{
			double		d = strtod(buf, &end);

			if (*end == '\0' && isfinite(d))
				return json_real(d);
			return NULL;
		}
	}
	if (n == 4 && memcmp(v, "true", 4) == 0)
		return json_true();
	if (n == 5 && memcmp(v, "false", 5) == 0)
		return json_false();
	if (n == 4 && memcmp(v, "null", 4) == 0)
		return json_null();
	return json_loadb(v, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/*
 * Returns a new reference: either scratch (cleared and refilled with the
 * needed members) or a fully parsed document.
 */
static json_t *
load_source(const Blob *b, const NeedPaths *np, JsonBuf *key, json_t *scratch)
{
	const char *p = b->data,
			   *end = b->data + b->len;

	if (np->all || scratch == NULL)
		return json_loadb(b->data, b->len, JSON_ALLOW_NUL, NULL);
	json_object_clear(scratch);
	p = jscan_skip_ws(p, end);
	if (p >= end || *p != '{')
		goto full;
	p = jscan_skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return json_incref(scratch);
	while (p < end)
	{
		const char *vstart,
				   *vend;

		jb_reset(key);
		p = jscan_string(p, end, key);
		if (p == NULL)
			goto full;
		p = jscan_skip_ws(p, end);
		if (p >= end || *p != ':')
			goto full;
		vstart = jscan_skip_ws(p + 1, end);
		vend = jscan_skip_value(vstart, end, 1000);
		if (vend == NULL)
			goto full;
		if (key_needed(np, key->data ? key->data : "", key->len))
		{
			json_t	   *v = load_value(vstart, (size_t) (vend - vstart));

			if (v == NULL)
				goto full;
			json_object_setn_new(scratch, key->data ? key->data : "", key->len, v);
		}
		p = jscan_skip_ws(vend, end);
		if (p < end && *p == ',')
		{
			p = jscan_skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			return json_incref(scratch);
		goto full;
	}
full:
	json_object_clear(scratch);
	return json_loadb(b->data, b->len, JSON_ALLOW_NUL, NULL);
}

typedef struct Scan
{
	SearchReq  *r;
	Index	   *ix;
	int			ixno;
	Hit		   *hits;
	size_t		nhits;
	size_t		cap;
	uint64_t	total;
	double		max_score;
	bool		keep;			/* keep hits (else count only) */
	size_t		topk;			/* keep only the best topk hits (0 = all) */
	bool		drop_all;		/* keep no hit at all (size 0) */
	bool		need_src;
	bool		text_err;
	const char *text_err_field;
	Index	   *err_ix;
	uint64_t	limit;			/* stop after this many matches (0 none) */
	SortVal    *after;
	NeedPaths	need;
	JsonBuf		key;
	json_t	   *scratch;		/* reused partial _source object */
} Scan;

static bool
scan_doc(void *arg, Index *ix, Doc *d)
{
	Scan	   *s = arg;
	SearchReq  *r = s->r;
	json_t	   *src = NULL;
	double		score = 0,
				fscore;
	bool		m;
	Hit			h;

	if (s->need_src)
	{
		if (s->scratch == NULL)
			s->scratch = json_object();
		src = load_source(d->vis, &s->need, &s->key, s->scratch);
		if (src == NULL)
			return true;
	}
	m = query_match(r->query, d->id, src, &score);
	if (m && r->post_filter)
		m = query_match(r->post_filter, d->id, src, &fscore);
	if (m && r->has_min_score && score < r->min_score)
		m = false;
	if (!m)
		goto out;
	memset(&h, 0, sizeof(h));
	h.ix = ix;
	h.d = d;
	h.ixno = s->ixno;
	h.score = score;
	if (s->keep && r->nsort > 0)
	{
		h.keys = calloc((size_t) r->nsort, sizeof(SortVal));
		if (h.keys == NULL)
			abort();
		for (int i = 0; i < r->nsort; i++)
		{
			SortField  *sf = &r->sort[i];

			switch (sf->what)
			{
				case SF_SCORE:
					h.keys[i].kind = 1;
					h.keys[i].num = score;
					break;
				case SF_DOC:
					h.keys[i].kind = 1;
					h.keys[i].is_int = true;
					h.keys[i].i = ((int64_t) s->ixno << 32) | d->pos;
					h.keys[i].num = (double) h.keys[i].i;
					break;
				case SF_ID:
					h.keys[i].kind = 2;
					h.keys[i].str = d->id;
					h.keys[i].borrowed = true;
					break;
				case SF_FIELD:
					if (sort_field_key(sf, ix, src, &h.keys[i], &s->text_err) < 0)
					{
						s->text_err_field = sf->field;
						s->err_ix = ix;
						sort_keys_free(h.keys, r->nsort);
						if (src)
							json_decref(src);
						return false;
					}
					break;
			}
		}
	}
	/* search_after narrows the hits, never the total */
	s->total++;
	if (score > s->max_score)
		s->max_score = score;
	if (s->keep && s->after && !hit_after(&h, s->after))
	{
		sort_keys_free(h.keys, r->nsort);
		goto out;
	}
	if (s->keep && s->drop_all)
		sort_keys_free(h.keys, r->nsort);
	else if (s->keep && s->topk > 0 && s->nhits == s->topk)
	{
		/* the heap is full: replace its worst hit if this one is better */
		if (hit_cmp(&h, &s->hits[0]) < 0)
		{
			sort_keys_free(s->hits[0].keys, r->nsort);
			s->hits[0] = h;
			heap_sift_down(s->hits, s->nhits, 0);
		}
		else
			sort_keys_free(h.keys, r->nsort);
	}
	else if (s->keep)
	{
		if (s->nhits == s->cap)
		{
			s->cap = s->cap ? s->cap * 2 : 256;
			s->hits = realloc(s->hits, s->cap * sizeof(Hit));
			if (s->hits == NULL)
				abort();
		}
		s->hits[s->nhits++] = h;
		if (s->topk > 0)
			heap_sift_up(s->hits, s->nhits - 1);
	}
out:
	if (src)
		json_decref(src);
	return s->limit == 0 || s->total < s->limit;
}

static int
doc_pos_cmp(const void *a, const void *b)
{
	uint32_t	x = (*(Doc *const *) a)->pos,
				y = (*(Doc *const *) b)->pos;

	return x < y ? -1 : x > y;
}

/*
 * The visible documents of ix with one of these ids (strings or numbers), in
 * index order as index_foreach_visible() would visit them: one hash lookup
 * per id instead of a scan of every document.
 */
static void
foreach_visible_id(Index *ix, json_t *ids, DocVisitor cb, void *arg)
{
	size_t		n = json_array_size(ids),
				k = 0,
				i;
	Doc		  **v = malloc(sizeof(Doc *) * (n ? n : 1));
	json_t	   *e;

	if (v == NULL)
		abort();
	json_array_foreach(ids, i, e)
	{
		char		b[64];
		const char *id = b;
		size_t		len;
		Doc		   *d;

		if (json_is_string(e))
		{
			id = json_string_value(e);
			len = json_string_length(e);
		}
		else if (json_is_integer(e))
			len = (size_t) snprintf(b, sizeof(b), "%lld", (long long) json_integer_value(e));
		else
			continue;
		d = index_lookup(ix, id, len);
		if (d && d->vis)
			v[k++] = d;
	}
	qsort(v, k, sizeof(Doc *), doc_pos_cmp);
	for (i = 0; i < k; i++)
		if ((i == 0 || v[i] != v[i - 1]) && !cb(arg, ix, v[i]))
			break;
	free(v);
}

/* bind the queries to one index and decide what of each _source to parse */
static void
scan_index(Scan *s, Index *ix, int ixno, bool with_sort)
{
	SearchReq  *r = s->r;

	s->ix = ix;
	s->ixno = ixno;
	query_bind(r->query, ix);
	if (r->post_filter)
		query_bind(r->post_filter, ix);
	s->need.n = 0;
	s->need.all = false;
	query_source_paths(r->query, &s->need.v, &s->need.n);
	if (r->post_filter)
		query_source_paths(r->post_filter, &s->need.v, &s->need.n);
	for (int k = 0; with_sort && k < r->nsort; k++)
		if (r->sort[k].what == SF_FIELD)
		{
			s->need.v = realloc(s->need.v, sizeof(char *) * ((size_t) s->need.n + 1));
			if (s->need.v == NULL)
				abort();
			s->need.v[s->need.n++] = r->sort[k].field;
		}
	s->need_src = s->need.n > 0;
	if (query_ids(r->query))
		foreach_visible_id(ix, query_ids(r->query), scan_doc, s);
	else
		index_foreach_visible(ix, scan_doc, s);
}

static void
scan_free(Scan *s)
{
	for (size_t i = 0; i < s->nhits; i++)
		sort_keys_free(s->hits[i].keys, s->r->nsort);
	free(s->hits);
	free(s->need.v);
	jb_free(&s->key);
	if (s->scratch)
		json_decref(s->scratch);
	memset(s, 0, sizeof(*s));
}

/* match_all in index order: collect the page after an optional _doc
 * search_after key without reading any _source */
static bool
page_doc(void *arg, Index *ix, Doc *d)
{
	Scan	   *s = arg;
	int64_t		key = ((int64_t) s->ixno << 32) | d->pos;
	Hit			h;

	if (s->after && (double) key <= s->after[0].num)
		return true;
	memset(&h, 0, sizeof(h));
	h.ix = ix;
	h.d = d;
	h.ixno = s->ixno;
	h.score = s->r->query->boost;
	if (s->r->nsort == 1)
	{
		h.keys = calloc(1, sizeof(SortVal));
		if (h.keys == NULL)
			abort();
		h.keys[0].kind = 1;
		h.keys[0].is_int = true;
		h.keys[0].i = key;
		h.keys[0].num = (double) key;
	}
	if (s->nhits == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 256;
		s->hits = realloc(s->hits, s->cap * sizeof(Hit));
		if (s->hits == NULL)
			abort();
	}
	s->hits[s->nhits++] = h;
	return s->nhits < s->limit;
}

static void
write_shards(JsonBuf *jb, const IndexList *l)
{
	int			shards = 0;

	for (int i = 0; i < l->n; i++)
		shards += l->v[i]->number_of_shards > 0 ? l->v[i]->number_of_shards : 1;
	jb_cstr(jb, "\"_shards\":{\"total\":");
	jb_i64(jb, shards);
	jb_cstr(jb, ",\"successful\":");
	jb_i64(jb, shards);
	jb_cstr(jb, ",\"skipped\":0,\"failed\":0}");
}

static void
write_hit(JsonBuf *jb, const SearchReq *r, const Hit *h, bool show_score)
{
	const Doc  *d = h->d;

	jb_cstr(jb, "{\"_index\":");
	jb_qcstr(jb, h->ix->name);
	jb_cstr(jb, ",\"_id\":");
	jb_str(jb, d->id, d->id_len);
	if (r->version)
	{
		jb_cstr(jb, ",\"_version\":");
		jb_i64(jb, d->vis_version);
	}
	if (r->seq_no_pt)
	{
		jb_cstr(jb, ",\"_seq_no\":");
		jb_i64(jb, d->vis_seq_no);
		jb_cstr(jb, ",\"_primary_term\":1");
	}
	jb_cstr(jb, ",\"_score\":");
	if (show_score)
		jb_double(jb, h->score);
	else
		jb_cstr(jb, "null");
	if (d->routing)
	{
		jb_cstr(jb, ",\"_routing\":");
		jb_qcstr(jb, d->routing);
	}
	if (r->source.fetch)
	{
		jb_cstr(jb, ",\"_source\":");
		source_filter_write(jb, &r->source, d->vis->data, d->vis->len);
	}
	if (r->nsort > 0)
	{
		jb_cstr(jb, ",\"sort\":[");
		for (int i = 0; i < r->nsort; i++)
		{
			if (i)
				jb_char(jb, ',');
			write_sort_value(jb, &r->sort[i], &h->keys[i], h);
		}
		jb_char(jb, ']');
	}
	jb_char(jb, '}');
}

static int64_t
max_result_window(const IndexList *l)
{
	int64_t		w = DEFAULT_MAX_RESULT_WINDOW;

	for (int i = 0; i < l->n; i++)
	{
		json_t	   *v = json_object_get(l->v[i]->settings, "index.max_result_window");
		int64_t		n;

		if (v && json_i64(v, &n) && n < w)
			w = n;
	}
	return w;
}

static bool
sorted_by_score_only(const SearchReq *r)
{
	return r->nsort == 0 || (r->nsort == 1 && r->sort[0].what == SF_SCORE);
}

static void
do_search(Server *srv, SearchReq *r, IndexList *l, Response *resp, int64_t t0,
		  int64_t *last_key)
{
	Scan		s;
	JsonBuf    *jb = &resp->body;
	bool		show_score = sorted_by_score_only(r) || r->track_scores;
	bool		doc_order = r->nsort == 0 ||
		(r->nsort == 1 && r->sort[0].what == SF_DOC && !r->sort[0].desc);
	bool		fast = query_is_match_all(r->query) && !r->post_filter &&
		!r->has_min_score && r->terminate_after <= 0 && doc_order &&
		(!r->search_after || (r->nsort == 1 &&
							  json_is_number(json_array_get(r->search_after, 0))));
	uint64_t	want = (uint64_t) (r->from + r->size);
	int64_t		window = max_result_window(l);
	SortVal    *after = NULL;

	for (int k = 0; k < r->nsort && l->n > 0; k++)
	{
		/* Elasticsearch 8 disables field data on _id by default */
		if (r->sort[k].what == SF_ID && srv->cfg.flavor == FLAVOR_ELASTICSEARCH)
		{
			respond_phase_error(resp, 400, "illegal_argument_exception",
								"Fielddata access on the _id field is disallowed, you can "
								"re-enable it by updating the dynamic cluster setting: "
								"indices.id_field_data.enabled", l->v[0]);
			return;
		}
	}
	if (l->n > 0 && r->from + r->size > window)
	{
		char		reason[512];

		snprintf(reason, sizeof(reason),
				 "Result window is too large, from + size must be less than or equal to: [%lld] "
				 "but was [%lld]. See the scroll api for a more efficient way to request large "
				 "data sets. This limit can be set by changing the [index.max_result_window] "
				 "index level setting.", (long long) window, (long long) (r->from + r->size));
		respond_phase_error(resp, 400, "illegal_argument_exception", reason, l->v[0]);
		return;
	}
	memset(&s, 0, sizeof(s));
	s.r = r;
	s.keep = true;
	sort_set_order(r->sort, r->nsort);
	if (r->search_after)
	{
		after = calloc((size_t) r->nsort, sizeof(SortVal));
		if (after == NULL)
			abort();
		for (int i = 0; i < r->nsort; i++)
			sortval_from_json(&after[i], json_array_get(r->search_after, (size_t) i));
		s.after = after;
	}
	if (fast)
	{
		/* count without reading; collect only the requested page */
		for (int i = 0; i < l->n; i++)
			s.total += l->v[i]->vis_count;
		if (s.total > 0)
			s.max_score = r->query->boost;
		s.limit = want;
		for (int i = 0; i < l->n && s.nhits < want; i++)
		{
			int64_t		from = 0;

			/* after a _doc key: start right behind it, not at the front */
			if (after && (int64_t) after[0].num >= ((int64_t) i << 32))
			{
				if ((int64_t) after[0].num >> 32 > i)
					continue;
				from = ((int64_t) after[0].num & 0xffffffff) + 1;
			}
			s.ix = l->v[i];
			s.ixno = i;
			index_foreach_visible_from(l->v[i], (uint32_t) from, page_doc, &s);
		}
	}
	else
	{
		s.topk = (size_t) (r->from + r->size);
		s.drop_all = s.topk == 0;
		s.limit = r->terminate_after > 0 ? (uint64_t) r->terminate_after : 0;
		for (int i = 0; i < l->n; i++)
		{
			scan_index(&s, l->v[i], i, true);
			if (s.text_err || (s.limit && s.total >= s.limit))
				break;
		}
	}
	if (s.text_err)
	{
		char		reason[1024];

		sort_text_field_reason(reason, sizeof(reason), s.text_err_field);
		respond_phase_error(resp, 400, "illegal_argument_exception", reason, s.err_ix);
		goto done;
	}
	for (int k = 0; k < r->nsort; k++)
	{
		SortField  *sf = &r->sort[k];

		if (sf->what == SF_FIELD && !sf->seen && !sf->unmapped_ok && l->n > 0)
		{
			char		reason[600];

			snprintf(reason, sizeof(reason), "No mapping found for [%s] in order to sort on",
					 sf->field);
			respond_phase_error(resp, 400, "query_shard_exception", reason, l->v[0]);
			goto done;
		}
	}
	if (!fast && s.nhits > 1)
		qsort(s.hits, s.nhits, sizeof(Hit), hit_cmp);

	jb_reset(jb);
	jb_cstr(jb, "{\"took\":");
	jb_i64(jb, now_mono_ms() - t0);
	jb_cstr(jb, ",\"timed_out\":false,");
	if (r->terminate_after > 0)
		jb_cstr(jb, s.total >= (uint64_t) r->terminate_after ?
				"\"terminated_early\":true," : "\"terminated_early\":false,");
	write_shards(jb, l);
	jb_cstr(jb, ",\"hits\":{");
	if (r->total_as_int)
	{
		jb_cstr(jb, "\"total\":");
		jb_u64(jb, s.total);
		jb_char(jb, ',');
	}
	else if (r->track_total != 0)
	{
		bool		capped = r->track_total > 0 && s.total > (uint64_t) r->track_total;

		jb_cstr(jb, "\"total\":{\"value\":");
		jb_u64(jb, capped ? (uint64_t) r->track_total : s.total);
		jb_cstr(jb, capped ? ",\"relation\":\"gte\"}," : ",\"relation\":\"eq\"},");
	}
	jb_cstr(jb, "\"max_score\":");
	if (show_score && s.total > 0 && r->size > 0)
		jb_double(jb, s.max_score);
	else
		jb_cstr(jb, "null");
	jb_cstr(jb, ",\"hits\":[");
	for (size_t i = (size_t) r->from, n = 0; i < s.nhits && (int64_t) n < r->size; i++, n++)
	{
		if (n)
			jb_char(jb, ',');
		write_hit(jb, r, &s.hits[i], show_score);
	}
	jb_cstr(jb, "]}}");
	response_json(resp, 200);
	if (last_key && s.nhits > (size_t) r->from)
	{
		size_t		last = s.nhits - 1;

		if (last >= (size_t) (r->from + r->size))
			last = (size_t) (r->from + r->size - 1);
		if (last >= (size_t) r->from && s.hits[last].keys)
			*last_key = s.hits[last].keys[0].i;
	}
done:
	scan_free(&s);
	sort_keys_free(after, r->nsort);
}

static void
do_count(SearchReq *r, IndexList *l, Response *resp)
{
	Scan		s;
	JsonBuf    *jb = &resp->body;

	memset(&s, 0, sizeof(s));
	s.r = r;
	if (query_is_match_all(r->query) && !r->has_min_score)
	{
		for (int i = 0; i < l->n; i++)
			s.total += l->v[i]->vis_count;
		if (r->terminate_after > 0 && s.total > (uint64_t) r->terminate_after)
			s.total = (uint64_t) r->terminate_after;
	}
	else
	{
		s.topk = (size_t) (r->from + r->size);
		s.drop_all = s.topk == 0;
		s.limit = r->terminate_after > 0 ? (uint64_t) r->terminate_after : 0;
		for (int i = 0; i < l->n; i++)
		{
			scan_index(&s, l->v[i], i, false);
			if (s.limit && s.total >= s.limit)
				break;
		}
	}
	jb_reset(jb);
	jb_cstr(jb, "{\"count\":");
	jb_u64(jb, s.total);
	if (r->terminate_after > 0)
	{
		jb_cstr(jb, ",\"terminated_early\":");
		jb_bool(jb, s.total >= (uint64_t) r->terminate_after);
	}
	jb_char(jb, ',');
	write_shards(jb, l);
	jb_char(jb, '}');
	response_json(resp, 200);
	scan_free(&s);
}

static void
do_delete_by_query(SearchReq *r, IndexList *l, const Request *req, Response *resp,
				   int64_t t0)
{
	JsonBuf    *jb = &resp->body;
	JsonBuf		failures;
	uint64_t	total = 0,
				deleted = 0,
				conflicts = 0;
	int			nfail = 0;
	bool		aborted = false;
	const char *refresh = req_param(req, "refresh");
	bool		do_refresh = refresh && (*refresh == '\0' || strcmp(refresh, "true") == 0 ||
										 strcmp(refresh, "wait_for") == 0);
	int64_t		now = now_mono_ms();

	if (refresh && !do_refresh && strcmp(refresh, "false") != 0)
	{
		es_respond_error(resp, 400, "illegal_argument_exception",
						 "Unknown value for refresh: [%s].", refresh);
		return;
	}
	jb_init(&failures);
	for (int i = 0; i < l->n && !aborted; i++)
	{
		Index	   *ix = l->v[i];
		Scan		s;

		memset(&s, 0, sizeof(s));
		s.r = r;
		s.keep = true;
		if (r->max_docs > 0)
			s.limit = (uint64_t) r->max_docs - total;
		if (r->max_docs <= 0 || total < (uint64_t) r->max_docs)
			scan_index(&s, ix, i, false);
		for (size_t k = 0; k < s.nhits; k++)
		{
			Doc		   *d = s.hits[k].d;

			total++;
			if (d->live && d->version == d->vis_version && d->seq_no == d->vis_seq_no)
			{
				index_delete_doc(ix, d, now);
				deleted++;
				continue;
			}
			conflicts++;
			if (r->conflicts_proceed)
				continue;
			if (nfail++)
				jb_char(&failures, ',');
			jb_cstr(&failures, "{\"index\":");
			jb_qcstr(&failures, ix->name);
			jb_cstr(&failures, ",\"id\":");
			jb_str(&failures, d->id, d->id_len);
			jb_cstr(&failures, ",\"cause\":{\"type\":\"version_conflict_engine_exception\",\"reason\":");
			{
				char		reason[700];

				if (d->live)
					snprintf(reason, sizeof(reason),
							 "[%s]: version conflict, required seqNo [%lld], primary term [1]. "
							 "current document has seqNo [%lld] and primary term [1]",
							 d->id, (long long) d->vis_seq_no, (long long) d->seq_no);
				else
					snprintf(reason, sizeof(reason),
							 "[%s]: version conflict, required seqNo [%lld], primary term [1]. "
							 "but no document was found", d->id, (long long) d->vis_seq_no);
				jb_qcstr(&failures, reason);
			}
			jb_cstr(&failures, ",\"index_uuid\":");
			jb_qcstr(&failures, ix->uuid);
			jb_cstr(&failures, ",\"shard\":\"0\",\"index\":");
			jb_qcstr(&failures, ix->name);
			jb_cstr(&failures, "},\"status\":409}");
			aborted = true;
			break;
		}
		scan_free(&s);
		if (do_refresh)
			index_refresh(ix);
	}
	jb_reset(jb);
	jb_cstr(jb, "{\"took\":");
	jb_i64(jb, now_mono_ms() - t0);
	jb_cstr(jb, ",\"timed_out\":false,\"total\":");
	jb_u64(jb, total);
	jb_cstr(jb, ",\"deleted\":");
	jb_u64(jb, deleted);
	jb_cstr(jb, ",\"batches\":");
	jb_u64(jb, (total + DBQ_SCROLL_SIZE - 1) / DBQ_SCROLL_SIZE);
	jb_cstr(jb, ",\"version_conflicts\":");
	jb_u64(jb, conflicts);
	jb_cstr(jb, ",\"noops\":0,\"retries\":{\"bulk\":0,\"search\":0},"
			"\"throttled_millis\":0,\"requests_per_second\":-1.0,"
			"\"throttled_until_millis\":0,\"failures\":[");
	if (failures.len)
		jb_raw(jb, failures.data, failures.len);
	jb_cstr(jb, "]}");
	jb_free(&failures);
	response_json(resp, aborted ? 409 : 200);
}

/*
 * The next page of a scroll: the stored request again, after the last _doc
 * key it returned (-1: from the start); *last_key moves to this page's last.
 */
void
search_scroll_page(Server *srv, const char *targets, const Request *req,
				   int64_t *last_key, Response *resp)
{
	SearchReq	r;
	EsError		err;
	IndexList	l = {0};
	int64_t		t0 = now_mono_ms();

	es_error_clear(&err);
	if (parse_request(&r, SEARCH_SEARCH, req, &err) < 0 ||
		store_resolve(srv->store, targets, RESOLVE_DEFAULT | RESOLVE_IGNORE_UNAVAILABLE,
					  &l, &err) < 0)
	{
		es_error_respond(resp, &err);
		index_list_free(&l);
		search_req_free(&r);
		return;
	}
	if (*last_key >= 0)
	{
		r.search_after = json_array();
		json_array_append_new(r.search_after, json_integer(*last_key));
	}
	r.from = 0;
	for (int i = 0; i < l.n; i++)
		index_maybe_refresh(l.v[i], t0);
	do_search(srv, &r, &l, resp, t0, last_key);
	index_list_free(&l);
	search_req_free(&r);
}

void
search_handle(Server *srv, SearchKind kind, const char *targets,
			  const Request *req, Response *resp)
{
	SearchReq	r;
	EsError		err;
	IndexList	l = {0};
	unsigned	flags = 0;
	bool		b;
	int64_t		t0 = now_mono_ms();

	es_error_clear(&err);
	if (parse_request(&r, kind, req, &err) < 0)
	{
		es_error_respond(resp, &err);
		search_req_free(&r);
		return;
	}
	if (bool_param(req, "ignore_unavailable", false, &b, &err) < 0)
		goto fail;
	if (b)
		flags |= RESOLVE_IGNORE_UNAVAILABLE;
	if (bool_param(req, "allow_no_indices", true, &b, &err) < 0)
		goto fail;
	if (b)
		flags |= RESOLVE_ALLOW_NO_INDICES;
	if (store_resolve(srv->store, targets, flags, &l, &err) < 0)
		goto fail;
	for (int i = 0; i < l.n; i++)
		index_maybe_refresh(l.v[i], t0);
	switch (kind)
	{
		case SEARCH_SEARCH:
			if (req_param(req, "scroll"))
			{
				int64_t		last = -1;

				do_search(srv, &r, &l, resp, t0, &last);
				if (resp->status == 200)
					scroll_open(srv, targets, req, &l, last, resp);
			}
			else
				do_search(srv, &r, &l, resp, t0, NULL);
			break;
		case SEARCH_COUNT:
			do_count(&r, &l, resp);
			break;
		case SEARCH_DELETE_BY_QUERY:
			do_delete_by_query(&r, &l, req, resp, t0);
			break;
	}
	index_list_free(&l);
	search_req_free(&r);
	return;
fail:
	es_error_respond(resp, &err);
	index_list_free(&l);
	search_req_free(&r);
}
