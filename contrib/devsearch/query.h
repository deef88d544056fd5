/*
 * query.h — the query DSL of devsearch: parse, bind to an index, match.
 *
 * Owns: Query (a parsed query tree), field-value extraction along dotted paths
 * (FieldVals) and the analysis of text (lower-cased alphanumeric tokens).
 * query_parse.c implements query_parse()/query_free(), query_match.c the
 * rest; query_internal.h holds what those two share.
 *
 * Invariants:
 *  - query_parse() either returns a complete tree or NULL with err set to the
 *    error a real cluster gives (400 parsing_exception and friends); nothing is
 *    half-built.
 *  - query_bind() must be called for each index before query_match() on its
 *    documents: it resolves the mapped type of every field the tree uses.
 *  - query_match() never modifies the source and never allocates on the hot
 *    path except for tokenizing text fields.
 */
#ifndef DEVSEARCH_QUERY_H
#define DEVSEARCH_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "errors.h"

struct Index;

typedef enum QueryType
{
	Q_MATCH_ALL,
	Q_MATCH_NONE,
	Q_TERM,
	Q_TERMS,
	Q_IDS,
	Q_MATCH,
	Q_EXISTS,
	Q_RANGE,
	Q_BOOL
} QueryType;

/* how a field is indexed, from the mapping or guessed per value (dynamic) */
typedef enum FieldKind
{
	FK_DYNAMIC,					/* unmapped: strings are text, x.keyword exact */
	FK_DYNAMIC_KEYWORD,			/* unmapped x.keyword: the string value of x */
	FK_TEXT,
	FK_KEYWORD,
	FK_NUMERIC,
	FK_BOOLEAN,
	FK_DATE
} FieldKind;

typedef struct Query
{
	QueryType	type;
	double		boost;
	char	   *field;			/* term, terms, match, exists, range */
	char	   *src_path;		/* path in _source (x for dynamic x.keyword) */
	FieldKind	kind;			/* set by query_bind() */
	bool		id_field;		/* field is _id */
	json_t	   *value;			/* term: the value; terms/ids: array */
	/* match */
	char	  **tokens;
	int			ntokens;
	bool		op_and;
	int			msm;			/* minimum tokens/should clauses; -1 unset */
	char	   *msm_spec;		/* minimum_should_match as given */
	char	   *text;			/* match: the whole query text */
	/* range: NULL when absent */
	json_t	   *gt,
			   *gte,
			   *lt,
			   *lte;
	/* bool */
	struct Query **must,
			  **filter,
			  **should,
			  **must_not;
	int			nmust,
				nfilter,
				nshould,
				nmust_not;
} Query;

/* NULL query JSON means match_all.  Returns NULL with err on a bad query. */
Query	   *query_parse(json_t *q, EsError *err);
void		query_free(Query *q);
/* resolve field kinds against the index's mappings */
void		query_bind(Query *q, const struct Index *ix);
/* true if the document matches; *score receives its score */
bool		query_match(const Query *q, const char *id, json_t *src, double *score);
/* append the _source paths the bound tree reads (not owned: valid while q) */
void		query_source_paths(const Query *q, const char ***paths, int *n);
/* the query tree is match_all (possibly wrapped in a filter-less bool) */
bool		query_is_match_all(const Query *q);
/* the id list of an ids query or a terms query on _id (a JSON array), else
 * NULL: such a query matches only documents with one of these ids */
json_t	   *query_ids(const Query *q);

/* ---- field values ---- */
typedef struct FieldVals
{
	json_t	  **v;
	int			n;
	int			cap;
	json_t	   *inline_v[8];
} FieldVals;

/* collect the leaf values (arrays flattened, nulls dropped) at a dotted
 * path; keys that contain dots themselves are matched too */
void		field_values(json_t *src, const char *path, FieldVals *out);
void		field_values_free(FieldVals *fv);

/* the mapped kind of a field in an index (FK_DYNAMIC if unmapped) */
FieldKind	field_kind(const struct Index *ix, const char *path, char **src_path);

#endif
