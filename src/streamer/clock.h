/*
 * clock.h: the monotonic millisecond clock and sleep (clock.c).
 */
#ifndef REINDEX_STREAMER_CLOCK_H
#define REINDEX_STREAMER_CLOCK_H

#include <stdint.h>

/* milliseconds on CLOCK_MONOTONIC: for deadlines and durations only */
uint64_t	now_ms(void);
/* sleep ms milliseconds, resuming after signals */
void		sleep_ms(uint64_t ms);

#endif							/* REINDEX_STREAMER_CLOCK_H */
