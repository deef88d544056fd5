/*
 * options.h: the command line of reindex_streamer (Options, parsed in main.c)
 * and the shutdown flag its signal handlers set.
 *
 * opt is written only while main() parses arguments, before any thread
 * starts; afterwards every thread reads it.
 */
#ifndef REINDEX_STREAMER_OPTIONS_H
#define REINDEX_STREAMER_OPTIONS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAMER_VERSION "0.1"

typedef struct Options
{
	const char *conninfo;
	bool		once;
	uint64_t	until_lsn;
	bool		has_until_lsn;
	int			backfill_workers;	/* 0 = job option, else 2 */
	size_t		batch_bytes;
	int			batch_docs;
	int			flush_interval_ms;
	int			max_inflight;
	int			status_interval_ms;
	int			alias_check_interval_ms;	/* 0 = no alias drift repair */
	long		request_timeout_ms;	/* --request-timeout: every HTTP request */
	int64_t		detach_lag_bytes;	/* shared slot: detach a target this far behind */
	int			detach_after_ms;	/* ... or whose oldest event waits this long */
	bool		log_json;
	const char *metrics_address;	/* --metrics-address, or NULL */
	bool		compress;		/* --compress: gzip _bulk bodies */
	char		id[256];
	bool		progress;
	int			verbose;
} Options;

/* the command line (main.c) */
extern Options opt;
/* set by SIGINT/SIGTERM: finish what is in flight and exit (main.c) */
extern volatile sig_atomic_t shutdown_requested;

#endif							/* REINDEX_STREAMER_OPTIONS_H */
