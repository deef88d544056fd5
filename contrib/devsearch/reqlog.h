/*
 * reqlog.h — the request log (reqlog.c): one JSON line per executed request.
 */
#ifndef DEVSEARCH_REQLOG_H
#define DEVSEARCH_REQLOG_H

#include "devsearch.h"
#include "jsonbuf.h"

/* open FILE for appending; the descriptor, or -1 (reported on stderr) */
int			reqlog_open(const char *path);
/* log one request; caller holds srv->lock; no-op without a log */
void		reqlog_write(Server *srv, const Request *req);

#endif
