/*
 * buf.h: the growable byte buffer (buf.c) and its JSON string writer.
 *
 * A zeroed Buf ({0}) is empty and valid; after any append, data is
 * NUL-terminated and len excludes the NUL.  Running out of memory is fatal.
 */
#ifndef REINDEX_STREAMER_BUF_H
#define REINDEX_STREAMER_BUF_H

#include <stddef.h>

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

void		buf_reserve(Buf *b, size_t extra);
void		buf_append(Buf *b, const char *s, size_t n);
void		buf_puts(Buf *b, const char *s);
void		buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
void		buf_json_string(Buf *b, const char *s, size_t n);
void		buf_reset(Buf *b);
void		buf_free(Buf *b);

#endif							/* REINDEX_STREAMER_BUF_H */
