/*
 * jsonscan.h — fast validating JSON scanner (devsearch).
 *
 * Owns: the hot-path JSON checks used by _bulk and the document APIs, without
 * building a tree.  Invariants: never reads past end; rejects invalid UTF-8,
 * control characters in strings, nesting deeper than max_depth, non-finite or
 * absurdly long numbers, trailing garbage.  Errors carry a 1-based line and
 * column like Jackson's "[line:col]".
 */
#ifndef DEVSEARCH_JSONSCAN_H
#define DEVSEARCH_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "jsonbuf.h"

#define JSCAN_MAX_DEPTH 100

typedef struct JScanError
{
	size_t		offset;
	int			line;
	int			col;
	char		msg[160];
} JScanError;

/* validate exactly one JSON value (surrounded by optional whitespace);
 * 0 ok, -1 with err */
int			jscan_validate(const char *p, size_t n, int max_depth, JScanError *err);
/* true if the first non-blank byte is '{' */
bool		jscan_is_object(const char *p, size_t n);
/* skip blanks (space, \t, \r, \n) */
const char *jscan_skip_ws(const char *p, const char *end);
/* decode the string at p ('"' expected) into out (appended, raw UTF-8);
 * returns the pointer after the closing quote, NULL on error */
const char *jscan_string(const char *p, const char *end, JsonBuf *out);
/* skip one value at p; NULL on error */
const char *jscan_skip_value(const char *p, const char *end, int max_depth);

#endif
