/*
 * aliases.h: repairing alias drift (aliases.c).
 */
#ifndef REINDEX_STREAMER_ALIASES_H
#define REINDEX_STREAMER_ALIASES_H

#include <libpq-fe.h>

#include "target.h"

void		alias_repair(PGconn *c, Target **targets, int n);

#endif							/* REINDEX_STREAMER_ALIASES_H */
