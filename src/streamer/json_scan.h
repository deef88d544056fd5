/*
 * json_scan.h: a minimal scanner over JSON text (json_scan.c), for the hot
 * paths that must not build a jansson tree (_bulk responses, wire lines).
 *
 * A JsonScan walks [p, end) and never reads past end; strings are returned
 * as pointers into the text, still escaped.
 */
#ifndef REINDEX_STREAMER_JSON_SCAN_H
#define REINDEX_STREAMER_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct JsonScan
{
	const char *p;
	const char *end;
} JsonScan;

void		js_ws(JsonScan *s);
bool		js_eat(JsonScan *s, char c);
bool		js_string(JsonScan *s, const char **str, size_t *len);
bool		js_skip(JsonScan *s);
bool		js_key_is(const char *k, size_t klen, const char *name);
bool		js_member(const char *obj, size_t len, const char *name, const char **val,
					  size_t *vlen);

#endif							/* REINDEX_STREAMER_JSON_SCAN_H */
