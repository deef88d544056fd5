/*
 * verify.h: reindex_verify runs (verify.c), claimed and run by the streamer.
 */
#ifndef REINDEX_STREAMER_VERIFY_H
#define REINDEX_STREAMER_VERIFY_H

#include <libpq-fe.h>

#include "target.h"

void		verify_tick(PGconn *c, Target **targets, int n);
void		verify_stop(void);

#endif							/* REINDEX_STREAMER_VERIFY_H */
