/*
 * stream.h: one logical replication stream (stream.c), a target's own slot
 * or the shared slot fanned out to its members, applied to the indexes by
 * _bulk with acknowledged-only confirmation (I3).
 */
#ifndef REINDEX_STREAMER_STREAM_H
#define REINDEX_STREAMER_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "target.h"

typedef struct Stream Stream;
typedef struct StreamMember
{
	Target	   *t;
	int			set;			/* line tag (plugin option targets), -1: untagged */
	uint64_t	skip_le;		/* events at or below this version are not applied */
	bool		gated;			/* queued but not sent until the gate opens */
} StreamMember;
Stream	   *stream_open(const char *slot, uint64_t start, const char *targets,
						const StreamMember *members, int nmembers, char **err);
Stream	   *stream_open_own(Target *t, char **err);
void		stream_add_member(Stream *s, const StreamMember *sm);
void		stream_remove_member(Stream *s, const Target *t);
bool		stream_has_member(Stream *s, const Target *t);
void		stream_set_gate(Stream *s, const Target *t, bool gated);
uint64_t	stream_member_oldest_ms(Stream *s, const Target *t);
void		stream_set_stop(Stream *s, uint64_t lsn);
bool		stream_stop_done(Stream *s);
void		stream_pause(Stream *s, bool paused);
uint64_t	stream_position(Stream *s);
bool		stream_between_txns(Stream *s);
void		stream_close(Stream *s);
int			stream_socket(Stream *s);
short		stream_poll_events(Stream *s);
bool		stream_work(Stream *s);
bool		stream_idle(Stream *s);
bool		stream_drained(Stream *s);
void		stream_set_draining(Stream *s);
void		stream_request_reply(Stream *s);
uint64_t	stream_confirmed(Stream *s);
uint64_t	stream_oldest_unacked_ms(Stream *s);
int			stream_timeout_ms(Stream *s);

#endif							/* REINDEX_STREAMER_STREAM_H */
