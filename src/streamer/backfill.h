/*
 * backfill.h: the parallel backfill of a target from its exported snapshot
 * (backfill.c), run on worker threads.
 */
#ifndef REINDEX_STREAMER_BACKFILL_H
#define REINDEX_STREAMER_BACKFILL_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "target.h"

typedef struct Backfill Backfill;
Backfill   *backfill_start(Target *t);
bool		backfill_done(Backfill *b, bool *ok, bool *completed);
bool		backfill_stopped_early(Backfill *b);
void		backfill_free(Backfill *b);
void		backfill_progress(Backfill *b, int64_t *done_chunks, int64_t *total_chunks);

/* the exported snapshot in a REPEATABLE READ READ ONLY transaction (backfill.c) */
bool		backfill_import_snapshot(PGconn *c, Target *t, const char *snapshot);

#endif							/* REINDEX_STREAMER_BACKFILL_H */
