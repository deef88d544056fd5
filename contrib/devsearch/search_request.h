/*
 * search_request.h — a parsed _search / _count / _delete_by_query request
 * (devsearch), shared by search_request.c (parsing) and search.c (execution).
 */
#ifndef DEVSEARCH_SEARCH_REQUEST_H
#define DEVSEARCH_SEARCH_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "devsearch.h"
#include "errors.h"
#include "query.h"
#include "search.h"
#include "searchsort.h"
#include "sourcefilter.h"

#define DEFAULT_MAX_RESULT_WINDOW 10000
#define DEFAULT_TRACK_TOTAL 10000

typedef struct SearchReq
{
	Query	   *query;
	Query	   *post_filter;
	int64_t		from;
	int64_t		size;
	SortField  *sort;
	int			nsort;
	json_t	   *search_after;
	json_t	   *source_json;	/* body "_source", validated */
	SourceFilter source;
	bool		version;
	bool		seq_no_pt;
	int64_t		track_total;	/* -1 exact, 0 none, N cap */
	bool		total_as_int;
	bool		track_scores;
	bool		has_min_score;
	double		min_score;
	int64_t		terminate_after;	/* 0 = none */
	int64_t		max_docs;		/* delete_by_query; -1 = all */
	bool		conflicts_proceed;
} SearchReq;

/* parse and validate the whole request (URL parameters and body); 0 or -1 with err */
int			parse_request(SearchReq *r, SearchKind kind, const Request *req, EsError *err);
void		search_req_free(SearchReq *r);

/* a boolean URL parameter: 0, or -1 with err */
int			bool_param(const Request *req, const char *name, bool dflt, bool *out, EsError *err);
/* an integer or a string holding one */
bool		json_i64(json_t *v, int64_t *out);
/* an error answered as a failed search phase (search_phase_execution_exception) */
void		respond_phase_error(Response *resp, int status, const char *cause_type,
								const char *reason, const Index *ix);

#endif
