/*
 * status.c: what the streamer tells people: log lines (text or JSON), the
 * progress bar for backfills on a terminal, the periodic summary, and the
 * per-target "last error" note that the catalog shows.
 *
 * Invariants: log output is serialized by one mutex (backfill threads log
 * too); nothing here ever formats an endpoint credential; the progress bar is
 * drawn only when stderr is a terminal and --no-progress was not given, and a
 * log line always erases it first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backfill.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "options.h"
#include "pg_text.h"
#include "status.h"
#include "target.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static bool bar_shown;

static const char *
level_name(LogLevel l)
{
	switch (l)
	{
		case LOG_DEBUG:
			return "debug";
		case LOG_INFO:
			return "info";
		case LOG_WARN:
			return "warning";
		case LOG_ERROR:
			return "error";
	}
	return "info";
}

static void
timestamp(char *out, size_t n)
{
	struct timeval tv;
	struct tm	tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int) (tv.tv_usec / 1000));
}

static void vlog(LogLevel level, const char *target, const char *fmt, va_list ap)
			__attribute__((format(printf, 3, 0)));

static void
vlog(LogLevel level, const char *target, const char *fmt, va_list ap)
{
	char		msg[2048];
	char		ts[40];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	timestamp(ts, sizeof(ts));
	pthread_mutex_lock(&log_lock);
	if (bar_shown)
	{
		fputs("\r\033[K", stderr);
		bar_shown = false;
	}
	if (opt.log_json)
	{
		Buf			b = {0};

		buf_puts(&b, "{\"ts\":\"");
		buf_puts(&b, ts);
		buf_puts(&b, "\",\"level\":\"");
		buf_puts(&b, level_name(level));
		buf_puts(&b, "\",\"streamer\":");
		buf_json_string(&b, opt.id, strlen(opt.id));
		if (target)
		{
			buf_puts(&b, ",\"index\":");
			buf_json_string(&b, target, strlen(target));
		}
		buf_puts(&b, ",\"msg\":");
		buf_json_string(&b, msg, strlen(msg));
		buf_puts(&b, "}\n");
		fputs(b.data, stderr);
		buf_free(&b);
	}
	else if (target)
		fprintf(stderr, "%s %s [%s] %s\n", ts, level_name(level), target, msg);
	else
		fprintf(stderr, "%s %s %s\n", ts, level_name(level), msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void
log_msg(LogLevel level, const char *target, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vlog(level, target, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * Set the note the catalog shows as last_error (empty clears it).  A change
 * is logged once; repeats of the same text are not.
 */
void
target_set_error(Target *t, const char *fmt,...)
{
	va_list		ap;
	char		msg[512];
	bool		changed;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&t->err_lock);
	changed = strcmp(msg, t->last_error) != 0;
	if (changed)
		snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	pthread_mutex_unlock(&t->err_lock);
	if (changed && msg[0])
		log_warn(t->index_name, "%s", msg);
}

/*
 * A write to the target's index was answered index_not_found: note it once
 * (any thread); main.c's drive_target then stops the target and fails its job.
 */
void
target_index_lost(Target *t, const char *error)
{
	if (!atomic_exchange(&t->index_lost, true))
		target_set_error(t, "index %s no longer exists: %.200s", t->index_name,
						 error ? error : "index_not_found_exception");
}

/* One line per backfilling target, redrawn in place, on a terminal only. */
void
status_progress_bar(Target **targets, int n)
{
	static uint64_t last_ms;
	static long long last_rows;
	Buf			line = {0};
	uint64_t	now = now_ms();
	long long	rows = 0;
	int			i;

	if (!opt.progress || !isatty(2) || now - last_ms < 200)
		return;
	for (i = 0; i < n; i++)
	{
		Target	   *t = targets[i];
		int64_t		done,
					total;
		int			pct,
					k;

		if (!t->bf)
			continue;
		backfill_progress(t->bf, &done, &total);
		rows += atomic_load(&t->c.rows_backfilled);
		pct = total > 0 ? (int) (done * 100 / total) : 0;
		buf_printf(&line, "%s%s [", line.len ? "  " : "", t->index_name);
		for (k = 0; k < 20; k++)
			buf_puts(&line, k < pct / 5 ? "#" : "-");
		buf_printf(&line, "] %3d%% %lld rows", pct, (long long) atomic_load(&t->c.rows_backfilled));
	}
	if (line.len)
	{
		double		rate = last_ms ? (rows - last_rows) * 1000.0 / (double) (now - last_ms) : 0;

		buf_printf(&line, "  %.0f rows/s", rate > 0 ? rate : 0);
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "\r\033[K%s", line.data);
		fflush(stderr);
		bar_shown = true;
		pthread_mutex_unlock(&log_lock);
	}
	last_ms = now;
	last_rows = rows;
	buf_free(&line);
}

/* Periodic one-line summary per target (when there is no progress bar). */
void
status_summary(Target **targets, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		Target	   *t = targets[i];
		char		lsn[32];

		format_lsn(t->confirmed_lsn, lsn);
		log_info(t->index_name,
				 "%s: backfilled %lld, applied %lld, stale %lld, retried %lld, dead-lettered %lld,"
				 " confirmed %s, lag %llu bytes / %.1f s",
				 t->state,
				 (long long) atomic_load(&t->c.rows_backfilled),
				 (long long) atomic_load(&t->c.events_applied),
				 (long long) atomic_load(&t->c.stale_rejected),
				 (long long) atomic_load(&t->c.retried),
				 (long long) atomic_load(&t->c.dead_lettered),
				 lsn, (unsigned long long) t->lag_bytes, t->lag_seconds);
	}
}
