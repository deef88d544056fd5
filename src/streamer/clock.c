/*
 * clock.c: the monotonic millisecond clock every deadline, backoff and
 * latency is measured on, and the sleep that goes with it.
 *
 * Invariants: now_ms is CLOCK_MONOTONIC (never wall time, so it does not jump
 * with NTP); sleep_ms sleeps the whole time even when a signal interrupts it.
 */
#include <errno.h>
#include <time.h>

#include "clock.h"

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
