/*
 * query_internal.h — what query_parse.c and query_match.c share, and nobody else.
 *
 * Owns: the allocation helpers of the query tree (they abort on out-of-memory,
 * never return NULL), and the declarations of the few helpers one of the two
 * files defines and the other calls: text analysis and the textual form of a
 * scalar (query_match.c), minimum_should_match resolution (query_parse.c).
 *
 * Invariants: only query_parse.c and query_match.c include this header; the
 * rest of devsearch uses query.h.
 */
#ifndef DEVSEARCH_QUERY_INTERNAL_H
#define DEVSEARCH_QUERY_INTERNAL_H

#include <stdlib.h>
#include <string.h>

#include "query.h"

static inline void *
qalloc(size_t n)
{
	void	   *p = calloc(1, n);

	if (p == NULL)
		abort();
	return p;
}

static inline char *
qstrdup(const char *s)
{
	char	   *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

/* ---- query_match.c ---- */
/* split text into lower-cased alphanumeric tokens (*out and each token malloc'd) */
int			text_tokens(const char *s, size_t len, char ***out);
void		tokens_free(char **t, int n);
/* textual form of a scalar as Elasticsearch indexes it into keyword/text;
 * NULL for null, arrays and objects */
const char *scalar_text(json_t *v, char *buf, size_t bufsz);

/* ---- query_parse.c ---- */
/* minimum_should_match for a clause count; -1 if spec is NULL */
int			msm_resolve(const char *spec, int count);

#endif
