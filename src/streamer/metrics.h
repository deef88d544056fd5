/*
 * metrics.h: the Prometheus endpoint of reindex_streamer (--metrics-address).
 *
 * A tiny HTTP/1.0 responder served from the main thread's poll loop (no
 * thread, no HTTP library): GET /metrics answers the text exposition format
 * (version 0.0.4), anything else 404.  Per-target figures are read from the
 * Target structs at scrape time; the bulk request latency histogram,
 * reconnects and the other process-wide counters are atomics that any thread
 * may bump.
 */
#ifndef REINDEX_STREAMER_METRICS_H
#define REINDEX_STREAMER_METRICS_H

#include <stdbool.h>

struct Target;

/* Listen on "host:port" ("127.0.0.1:9187", "[::1]:0", ":9187"); exits on error. */
void		metrics_listen(const char *address);

/* Sockets to poll (listener and clients); returns how many were added. */
int			metrics_poll_fds(int *fds, short *events, int room);

/* Serve whatever is ready (revents as returned by the poll). */
void		metrics_serve(const int *fds, const short *revents, int n,
						  struct Target **targets, int ntargets);

/* Record one finished _bulk request (any thread). */
void		metrics_observe_bulk(double seconds);

/* Count a reconnect: the catalog session or a replication stream was lost. */
void		metrics_count_reconnect(void);

void		metrics_close(void);

#endif							/* REINDEX_STREAMER_METRICS_H */
