/*
 * log.h: log lines (text, or JSON with --log-json) and fatal errors.
 *
 * Implemented in status.c, which also draws the progress bar: one mutex
 * serializes both, so any thread may log.  target is the index name a line
 * is about, or NULL.  log_debug prints only with --verbose.
 */
#ifndef REINDEX_STREAMER_LOG_H
#define REINDEX_STREAMER_LOG_H

#include "options.h"

typedef enum LogLevel
{
	LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR
} LogLevel;

void		log_msg(LogLevel level, const char *target, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
#define log_debug(t, ...) do { if (opt.verbose) log_msg(LOG_DEBUG, t, __VA_ARGS__); } while (0)
#define log_info(t, ...) log_msg(LOG_INFO, t, __VA_ARGS__)
#define log_warn(t, ...) log_msg(LOG_WARN, t, __VA_ARGS__)
#define log_error(t, ...) log_msg(LOG_ERROR, t, __VA_ARGS__)
void		fatal(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

#endif							/* REINDEX_STREAMER_LOG_H */
