/*
 * buf.c: the growable byte buffer every module builds text in (request
 * bodies, SQL, log lines, plugin options), and its JSON string writer.
 *
 * Owns: Buf.  Invariants: data is always NUL-terminated once anything was
 * appended (len excludes the NUL); an allocation failure is fatal, never a
 * short buffer; buf_json_string escapes '"', '\\' and every control
 * character, copying all other bytes (UTF-8 included) verbatim.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

void
buf_reserve(Buf *b, size_t extra)
{
	size_t		need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < need)
		b->cap *= 2;
	b->data = realloc(b->data, b->cap);
	if (!b->data)
		fatal("out of memory");
}

void
buf_append(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_reserve(b, n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

/* Append s as a JSON string (with quotes). */
void
buf_json_string(Buf *b, const char *s, size_t n)
{
	size_t		i;

	buf_reserve(b, n + 2);
	b->data[b->len++] = '"';
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			char		e[2] = {'\\', (char) c};

			buf_append(b, e, 2);
		}
		else if (c < 0x20)
		{
			char		e[8];

			snprintf(e, sizeof(e), "\\u%04x", c);
			buf_append(b, e, 6);
		}
		else
		{
			buf_reserve(b, 1);
			b->data[b->len++] = (char) c;
		}
	}
	buf_reserve(b, 1);
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

void
buf_reset(Buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
