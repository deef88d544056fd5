/*
 * bulk_response.h: classifying a _bulk response (bulk_response.c): one
 * ItemOutcome per item, and a short text for a request that failed whole.
 */
#ifndef REINDEX_STREAMER_BULK_RESPONSE_H
#define REINDEX_STREAMER_BULK_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "es_client.h"

/* true: classified item by item; false: a whole-request failure (es_bulk_failure) */
bool		es_bulk_outcomes(const EsResponse *r, int nitems, ItemOutcome *out,
							 char **errors, long *statuses);
void		es_bulk_failure(const EsResponse *r, char *out, size_t len);

#endif							/* REINDEX_STREAMER_BULK_RESPONSE_H */
