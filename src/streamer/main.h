/*
 * main.h: what the main loop (main.c) offers the other modules: its catalog
 * session and what happens to a target whose slot the server invalidated.
 */
#ifndef REINDEX_STREAMER_MAIN_H
#define REINDEX_STREAMER_MAIN_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "target.h"

/* the main thread's catalog session */
extern PGconn *main_cat;

/* the server invalidated the slot t is fed by: t's job fails, saying why */
void		slot_invalidated(Target *t);
/* is err a slot's "invalidated" / "can no longer get changes" error */
bool		slot_lost_error(const char *err);

#endif							/* REINDEX_STREAMER_MAIN_H */
