/*
 * sourcefilter.h — _source includes/excludes filtering (devsearch).
 *
 * Owns: the _source / _source_includes / _source_excludes semantics shared by
 * GET, _source and (if wanted) search hits.  Patterns are dotted paths with
 * '*' wildcards; an include of "a" keeps the whole subtree under a; excludes
 * win over includes; objects left empty by an include filter are dropped.
 */
#ifndef DEVSEARCH_SOURCEFILTER_H
#define DEVSEARCH_SOURCEFILTER_H

#include <stdbool.h>
#include <jansson.h>

#include "devsearch.h"

typedef struct SourceFilter
{
	bool		fetch;			/* false: do not return _source at all */
	int			ninc;
	char	  **inc;
	int			nexc;
	char	  **exc;
} SourceFilter;

/* from request params _source, _source_includes, _source_excludes
 * (also the legacy _source_include/_source_exclude) */
void		source_filter_from_request(SourceFilter *sf, const Request *req);
/* from a search body "_source" value (bool, string, array or object) */
void		source_filter_from_json(SourceFilter *sf, const json_t *v);
bool		source_filter_is_identity(const SourceFilter *sf);
/* write the filtered source (raw bytes when no filtering is needed) */
void		source_filter_write(JsonBuf *jb, const SourceFilter *sf, const char *src, size_t len);
void		source_filter_free(SourceFilter *sf);

#endif
