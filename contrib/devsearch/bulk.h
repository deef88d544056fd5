/*
 * bulk.h — the _bulk endpoint (devsearch).
 *
 * bulk_handle() answers POST|PUT /_bulk and /{index}/_bulk (lock held);
 * default_index is the path index or NULL.  See bulk.c for the invariants.
 */
#ifndef DEVSEARCH_BULK_H
#define DEVSEARCH_BULK_H

#include "devsearch.h"

void		bulk_handle(Server *srv, const char *default_index, const Request *req,
						Response *resp);

#endif
