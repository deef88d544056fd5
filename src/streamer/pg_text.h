/*
 * pg_text.h: PostgreSQL text forms the streamer reads (pg_text.c): LSNs and
 * COPY text format fields.
 */
#ifndef REINDEX_STREAMER_PG_TEXT_H
#define REINDEX_STREAMER_PG_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "X/Y" (hex, as PostgreSQL prints) or a plain decimal; false if malformed */
bool		parse_lsn(const char *s, uint64_t *out);
/* "X/Y", as PostgreSQL prints it */
void		format_lsn(uint64_t lsn, char out[32]);
/* undo COPY text format escaping in place; returns the new length */
size_t		copy_unescape(char *s, size_t n);

#endif							/* REINDEX_STREAMER_PG_TEXT_H */
