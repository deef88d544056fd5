/*
 * target.h: Target, one index the streamer feeds, as read from the catalog
 * (catalog.c fills it, main.c drives it), with its counters.
 *
 * Counters are atomics (backfill and replay threads bump them); last_error
 * is guarded by err_lock; everything else belongs to the main thread.
 */
#ifndef REINDEX_STREAMER_TARGET_H
#define REINDEX_STREAMER_TARGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "endpoint.h"

typedef struct Counters
{
	atomic_llong rows_backfilled;
	atomic_llong events_applied;
	atomic_llong stale_rejected;
	atomic_llong retried;
	atomic_llong dead_lettered;
	atomic_llong dead_lettered_uncounted;	/* backfill: for the status delta */
} Counters;

struct Stream;
struct Backfill;
struct Replay;

typedef struct Target
{
	int64_t		id;
	int64_t		job_id;			/* newest job with this target as new_target, or 0 */
	char		state[32];		/* catalog target state */
	char		job_state[32];
	char	   *index_name;
	char	   *index_json;		/* index name as a JSON string */
	char	   *source;			/* regclass text */
	char	   *slot_name;		/* the slot feeding it: its own, or the shared one */
	bool		shared;			/* catalog feed = 'shared' */
	uint64_t	handover_lsn;	/* shared: events above this come from the shared slot */
	char	   *source_oid;
	char	   *include_q;		/* quoted identifiers, comma-separated, or NULL */
	char	   *exclude_q;
	char	   *include_cols;	/* comma-separated or NULL */
	char	   *exclude_cols;
	char	   *include_arr;	/* text[] literal or NULL */
	char	   *exclude_arr;
	uint64_t	consistent_point;
	uint64_t	confirmed_lsn;
	int64_t		rows_estimated; /* catalog estimate (metrics) */
	int64_t		ready_lag_bytes;	/* job threshold */
	int			job_workers;
	int64_t		refused_stop_sample;	/* job option (0: no early stop) */
	double		refused_stop_fraction;	/* job option */
	bool		dead_letter_documents;	/* job option: keep refused bodies */
	bool		replay_pending; /* a reindex_replay() request waits */
	uint64_t	replay_retry_at_ms;
	bool		drop_index;
	char	   *requested_settings; /* JSON of index settings to restore */
	Endpoint	ep;
	Counters	c;
	long long	written[5];		/* counter values already added to the catalog */
	pthread_mutex_t err_lock;
	char		last_error[512];
	char		stream_error[512];	/* the note left when its stream broke */
	uint64_t	stream_error_lsn;	/* confirmed LSN then: progress past it
									 * after a reopen clears that note */
	bool		seen;			/* present in the last catalog read */
	uint64_t	retry_at_ms;
	uint64_t	handover_retry_at;
	int			attempt;
	struct Stream *stream;
	struct Backfill *bf;
	struct Replay *replay;
	uint64_t	lag_bytes;
	double		lag_seconds;
	uint64_t	server_wal_end;
	atomic_bool index_lost;		/* a write answered index_not_found (main.c) */
} Target;

/* the note reindex_status shows as last_error; "" clears it (status.c) */
void		target_set_error(Target *t, const char *fmt,...) __attribute__((format(printf, 2, 3)));
/* a write was answered index_not_found: noted once, any thread (status.c) */
void		target_index_lost(Target *t, const char *error);

#endif							/* REINDEX_STREAMER_TARGET_H */
