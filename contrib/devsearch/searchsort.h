/*
 * searchsort.h — sorting for _search (devsearch): sort specifications, sort
 * keys, hit order, search_after and the top-k heap.  See searchsort.c.
 */
#ifndef DEVSEARCH_SEARCHSORT_H
#define DEVSEARCH_SEARCHSORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "errors.h"
#include "jsonbuf.h"
#include "store.h"

typedef enum SortWhat
{
	SF_SCORE,
	SF_DOC,
	SF_ID,
	SF_FIELD
} SortWhat;

typedef struct SortField
{
	SortWhat	what;
	char	   *field;
	bool		desc;
	int			missing;		/* 0 _last, 1 _first, 2 missing_value */
	json_t	   *missing_value;
	bool		unmapped_ok;	/* unmapped_type given */
	bool		numeric;		/* some value was numeric (for missing) */
	bool		seen;			/* mapped or valued in a searched index */
} SortField;

typedef struct SortVal
{
	int			kind;			/* 0 missing, 1 number, 2 string */
	bool		is_int;
	int64_t		i;
	double		num;
	char	   *str;
	bool		borrowed;		/* str points into a Doc: not freed */
} SortVal;

typedef struct Hit
{
	Index	   *ix;
	Doc		   *d;
	int			ixno;
	double		score;
	SortVal    *keys;
} Hit;

/* append the entries of a body "sort" value / a sort= parameter */
int			sort_parse_json(SortField **sort, int *nsort, json_t *s, EsError *err);
int			sort_parse_param(SortField **sort, int *nsort, const char *s, EsError *err);
void		sort_fields_free(SortField *sort, int nsort);

void		sortval_from_json(SortVal *sv, json_t *v);
/* key of field sf for a document (src may be partial); -1 + *text_err when
 * the field is a text field */
int			sort_field_key(SortField *sf, const Index *ix, json_t *src, SortVal *out,
						   bool *text_err);
void		sort_keys_free(SortVal *k, int n);
void		sort_text_field_reason(char *buf, size_t n, const char *field);

/* the order used by hit_cmp() and hit_after() */
void		sort_set_order(const SortField *sort, int nsort);
int			hit_cmp(const void *a, const void *b);
/* is h strictly after the search_after key? */
bool		hit_after(const Hit *h, const SortVal *after);
/* max-heap on hit_cmp: h[0] is the worst kept hit */
void		heap_sift_up(Hit *h, size_t i);
void		heap_sift_down(Hit *h, size_t n, size_t i);

void		write_sort_value(JsonBuf *jb, const SortField *sf, const SortVal *v, const Hit *h);

#endif
