/*
 * replay.h: replaying dead letters on request (reindex_replay(), replay.c).
 */
#ifndef REINDEX_STREAMER_REPLAY_H
#define REINDEX_STREAMER_REPLAY_H

#include "target.h"

typedef struct Replay Replay;
void		replay_drive(Target *t);
void		replay_free(Replay *r);

#endif							/* REINDEX_STREAMER_REPLAY_H */
