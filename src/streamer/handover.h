/*
 * handover.h: the shared slot (handover.c): its stream, handing a target
 * over from its own slot to it, and detaching a target that falls behind.
 */
#ifndef REINDEX_STREAMER_HANDOVER_H
#define REINDEX_STREAMER_HANDOVER_H

#include <stdbool.h>

#include "stream.h"
#include "target.h"

extern char shared_slot_name[64];
void		shared_drive(Target **targets, int n);
Stream	   *shared_stream(void);
bool		shared_feeds(const Target *t);
void		shared_forget(Target *t);
/* t, a member of the shared stream, gets a slot of its own from its position (why: its note) */
bool		shared_detach(Target *t, const char *why);
bool		shared_work(void);
void		shared_broken(void);
void		shared_close(void);
bool		shared_elsewhere(void);
/* the socket of the shared slot's creation in progress, or -1 */
int			shared_creating_socket(void);

#endif							/* REINDEX_STREAMER_HANDOVER_H */
