/*
 * jsonbuf.c — growable output buffer and JSON writers (devsearch).
 *
 * Owns the implementation of jsonbuf.h.  Invariants: data stays
 * NUL-terminated; allocation failure aborts; strings are always emitted as
 * valid JSON (control characters escaped, invalid UTF-8 replaced by U+FFFD).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbuf.h"

void
jb_init(JsonBuf *jb)
{
	jb->data = NULL;
	jb->len = 0;
	jb->cap = 0;
}

void
jb_free(JsonBuf *jb)
{
	free(jb->data);
	jb_init(jb);
}

void
jb_reset(JsonBuf *jb)
{
	jb->len = 0;
	if (jb->data)
		jb->data[0] = '\0';
}

void
jb_grow(JsonBuf *jb, size_t need)
{
	size_t		ncap;
	char	   *nd;

	if (need <= jb->cap)
		return;
	ncap = jb->cap ? jb->cap : 256;
	while (ncap < need)
		ncap *= 2;
	nd = realloc(jb->data, ncap);
	if (nd == NULL)
	{
		fprintf(stderr, "devsearch: out of memory\n");
		abort();
	}
	jb->data = nd;
	jb->cap = ncap;
}

/* length of a valid UTF-8 sequence at s (n bytes available), 0 if invalid */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF)
	{
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0;
		if (c == 0xED && s[1] >= 0xA0)
			return 0;			/* surrogates */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4)
	{
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
			(s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

void
jb_str(JsonBuf *jb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;
	char	   *o;

	/* worst case: every byte becomes \u00XX (6) or U+FFFD (3) */
	jb_reserve(jb, n * 6 + 2);
	o = jb->data + jb->len;
	*o++ = '"';
	while (i < n)
	{
		unsigned char c = p[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80)
		{
			*o++ = (char) c;
			i++;
			continue;
		}
		if (c < 0x80)
		{
			*o++ = '\\';
			switch (c)
			{
				case '"':
					*o++ = '"';
					break;
				case '\\':
					*o++ = '\\';
					break;
				case '\n':
					*o++ = 'n';
					break;
				case '\r':
					*o++ = 'r';
					break;
				case '\t':
					*o++ = 't';
					break;
				case '\b':
					*o++ = 'b';
					break;
				case '\f':
					*o++ = 'f';
					break;
				default:
					*o++ = 'u';
					*o++ = '0';
					*o++ = '0';
					*o++ = hex[c >> 4];
					*o++ = hex[c & 15];
			}
			i++;
			continue;
		}
		{
			size_t		l = utf8_seq_len(p + i, n - i);

			if (l == 0)
			{
				*o++ = (char) 0xEF;
				*o++ = (char) 0xBF;
				*o++ = (char) 0xBD;
				i++;
			}
			else
			{
				memcpy(o, p + i, l);
				o += l;
				i += l;
			}
		}
	}
	*o++ = '"';
	jb->len = (size_t) (o - jb->data);
	jb->data[jb->len] = '\0';
}

void
jb_qcstr(JsonBuf *jb, const char *s)
{
	jb_str(jb, s, strlen(s));
}

void
jb_i64(JsonBuf *jb, int64_t v)
{
	char		tmp[24];
	char	   *e = tmp + sizeof(tmp);
	char	   *p = e;
	uint64_t	u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

	do
	{
		*--p = (char) ('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	jb_raw(jb, p, (size_t) (e - p));
}

void
jb_u64(JsonBuf *jb, uint64_t u)
{
	char		tmp[24];
	char	   *e = tmp + sizeof(tmp);
	char	   *p = e;

	do
	{
		*--p = (char) ('0' + u % 10);
		u /= 10;
	} while (u);
	jb_raw(jb, p, (size_t) (e - p));
}

void
jb_double(JsonBuf *jb, double v)
{
	char		tmp[40];

	if (!isfinite(v))
	{
		jb_cstr(jb, "null");
		return;
	}
	if (v == (double) (int64_t) v && fabs(v) < 1e15)
		snprintf(tmp, sizeof(tmp), "%.1f", v);
	else
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	jb_cstr(jb, tmp);
}

void
jb_bool(JsonBuf *jb, bool v)
{
	jb_cstr(jb, v ? "true" : "false");
}

void
jb_key(JsonBuf *jb, const char *key)
{
	jb_qcstr(jb, key);
	jb_char(jb, ':');
}

static int
jb_dump_cb(const char *buffer, size_t size, void *data)
{
	jb_raw((JsonBuf *) data, buffer, size);
	return 0;
}

void
jb_json(JsonBuf *jb, const json_t *v)
{
	if (v == NULL)
	{
		jb_cstr(jb, "null");
		return;
	}
	json_dump_callback(v, jb_dump_cb, jb,
					   JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
					   JSON_REAL_PRECISION(17));
}

void
jb_printf(JsonBuf *jb, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	jb_reserve(jb, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(jb->data + jb->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	jb->len += (size_t) n;
}

char *
jb_steal(JsonBuf *jb, size_t *len)
{
	char	   *d = jb->data;

	if (len)
		*len = jb->len;
	jb_init(jb);
	return d;
}
