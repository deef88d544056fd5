/*
 * mapping.h — document validation against an index's explicit mapping
 * (devsearch).
 *
 * Owns: the compiled form of an index's "mappings" (parsed once per mappings
 * object and cached) and the per-document check that a real cluster's
 * DocumentParser performs: typed fields reject values they cannot parse,
 * dynamic "strict" objects reject unknown fields, with the exact error of the
 * Elasticsearch 8 (document_parsing_exception) or OpenSearch 2
 * (mapper_parsing_exception) flavor.
 *
 * Invariants: an index without explicit properties and without dynamic
 * "strict" costs one size check per document; the check never modifies the
 * source and never allocates per document on the success path once warmed;
 * callers hold Server.lock (the cache is process-wide and unsynchronised).
 */
#ifndef DEVSEARCH_MAPPING_H
#define DEVSEARCH_MAPPING_H

#include <stddef.h>

#include "devsearch.h"
#include "errors.h"
#include "store.h"

/*
 * Check one document source (a JSON object already accepted by
 * source_validate) against ix's mapping.  id is the document id used in
 * messages.  0 if it fits; -1 with err set to the 400 the cluster answers.
 */
int			mapping_check_source(const Server *srv, const Index *ix,
								 const char *id, size_t id_len,
								 const char *src, size_t len, EsError *err);

#endif
