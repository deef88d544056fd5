/*
 * jsonscan.c — fast validating JSON scanner (devsearch).
 *
 * Owns the implementation of jsonscan.h.  A recursive-descent validator with
 * an explicit depth bound; it only checks syntax and encodings, it never
 * allocates (except jscan_string, which appends to a caller buffer).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"

typedef struct Scan
{
	const char *start;
	const char *end;
	int			max_depth;
	JScanError *err;
} Scan;

static void
scan_fail(Scan *s, const char *at, const char *msg)
{
	const char *q;
	int			line = 1,
				col = 1;

	if (s->err == NULL || s->err->msg[0])
		return;
	if (at > s->end)
		at = s->end;
	for (q = s->start; q < at; q++)
	{
		if (*q == '\n')
		{
			line++;
			col = 1;
		}
		else
			col++;
	}
	s->err->offset = (size_t) (at - s->start);
	s->err->line = line;
	s->err->col = col;
	snprintf(s->err->msg, sizeof(s->err->msg), "%s", msg);
}

const char *
jscan_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* validate a string at p (p[0] == '"'); optional decode into out */
/*
 * Does any of the 8 bytes at p need attention inside a string: a control
 * character, '"', '\\' or a non-ASCII byte?  (Bit tricks on one 64-bit word;
 * may report a false positive, never a false negative.)
 */
static inline bool
word_special(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t	w,
				quote,
				bslash;

	memcpy(&w, p, 8);
	quote = w ^ (ones * '"');
	bslash = w ^ (ones * '\\');
	return ((w - ones * 0x20) | (quote - ones) | (bslash - ones) | w) & highs;
}

static const char *
scan_string(Scan *s, const char *p, JsonBuf *out)
{
	const unsigned char *q = (const unsigned char *) p + 1;
	const unsigned char *e = (const unsigned char *) s->end;
	const unsigned char *run = q;

	while (q < e)
	{
		unsigned char c;

		/* fast path: plain ASCII bytes other than '"' and '\\' */
		while (e - q >= 8 && !word_special(q))
			q += 8;
		while (q < e && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
			q++;
		if (q >= e)
			break;
		c = *q;
		if (c == '"')
		{
			if (out)
				jb_raw(out, (const char *) run, (size_t) (q - run));
			return (const char *) q + 1;
		}
		if (c < 0x20)
		{
			scan_fail(s, (const char *) q, "Illegal unquoted character in string");
			return NULL;
		}
		if (c == '\\')
		{
			if (out)
				jb_raw(out, (const char *) run, (size_t) (q - run));
			if (q + 1 >= e)
				break;
			switch (q[1])
			{
				case '"':
				case '\\':
				case '/':
					if (out)
						jb_char(out, (char) q[1]);
					q += 2;
					break;
				case 'b':
				case 'f':
				case 'n':
				case 'r':
				case 't':
					if (out)
						jb_char(out, q[1] == 'b' ? '\b' : q[1] == 'f' ? '\f' :
								q[1] == 'n' ? '\n' : q[1] == 'r' ? '\r' : '\t');
					q += 2;
					break;
				case 'u':
					{
						unsigned	cp = 0;
						int			i;

						if (q + 6 > e)
						{
							scan_fail(s, (const char *) q, "Unexpected end-of-input in escape");
							return NULL;
						}
						for (i = 2; i < 6; i++)
						{
							unsigned char h = q[i];

							cp <<= 4;
							if (h >= '0' && h <= '9')
								cp |= h - '0';
							else if (h >= 'a' && h <= 'f')
								cp |= h - 'a' + 10;
							else if (h >= 'A' && h <= 'F')
								cp |= h - 'A' + 10;
							else
							{
								scan_fail(s, (const char *) q, "Unexpected character in unicode escape");
								return NULL;
							}
						}
						q += 6;
						/* surrogate pair */
						if (cp >= 0xD800 && cp <= 0xDBFF && q + 6 <= e && q[0] == '\\' && q[1] == 'u')
						{
							unsigned	lo = 0;

							for (i = 2; i < 6; i++)
							{
								unsigned char h = q[i];

								lo <<= 4;
								if (h >= '0' && h <= '9')
									lo |= h - '0';
								else if (h >= 'a' && h <= 'f')
									lo |= h - 'a' + 10;
								else if (h >= 'A' && h <= 'F')
									lo |= h - 'A' + 10;
								else
									lo = 0xFFFFFFFF;
							}
							if (lo >= 0xDC00 && lo <= 0xDFFF)
							{
								cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
								q += 6;
							}
						}
						if (out)
						{
							char		u[4];
							size_t		l;

							if (cp >= 0xD800 && cp <= 0xDFFF)
								cp = 0xFFFD;	/* lone surrogate */
							if (cp < 0x80)
							{
								u[0] = (char) cp;
								l = 1;
							}
							else if (cp < 0x800)
							{
								u[0] = (char) (0xC0 | (cp >> 6));
								u[1] = (char) (0x80 | (cp & 63));
								l = 2;
							}
							else if (cp < 0x10000)
							{
								u[0] = (char) (0xE0 | (cp >> 12));
								u[1] = (char) (0x80 | ((cp >> 6) & 63));
								u[2] = (char) (0x80 | (cp & 63));
								l = 3;
							}
							else
							{
								u[0] = (char) (0xF0 | (cp >> 18));
								u[1] = (char) (0x80 | ((cp >> 12) & 63));
								u[2] = (char) (0x80 | ((cp >> 6) & 63));
								u[3] = (char) (0x80 | (cp & 63));
								l = 4;
							}
							jb_raw(out, u, l);
						}
						break;
					}
				default:
					scan_fail(s, (const char *) q, "Unrecognized character escape");
					return NULL;
			}
			run = q;
			continue;
		}
		if (c < 0x80)
		{
			q++;
			continue;
		}
		/* multi-byte UTF-8 */
		{
			size_t		l = 0;
			size_t		avail = (size_t) (e - q);

			if (c >= 0xC2 && c <= 0xDF)
				l = (avail >= 2 && (q[1] & 0xC0) == 0x80) ? 2 : 0;
			else if (c >= 0xE0 && c <= 0xEF)
			{
				if (avail >= 3 && (q[1] & 0xC0) == 0x80 && (q[2] & 0xC0) == 0x80 &&
					!(c == 0xE0 && q[1] < 0xA0) && !(c == 0xED && q[1] >= 0xA0))
					l = 3;
			}
			else if (c >= 0xF0 && c <= 0xF4)
			{
				if (avail >= 4 && (q[1] & 0xC0) == 0x80 && (q[2] & 0xC0) == 0x80 &&
					(q[3] & 0xC0) == 0x80 && !(c == 0xF0 && q[1] < 0x90) &&
					!(c == 0xF4 && q[1] >= 0x90))
					l = 4;
			}
			if (l == 0)
			{
				scan_fail(s, (const char *) q, "Invalid UTF-8 start byte");
				return NULL;
			}
			q += l;
		}
	}
	scan_fail(s, s->end, "Unexpected end-of-input: was expecting closing quote for a string value");
	return NULL;
}

static const char *
scan_number(Scan *s, const char *p)
{
	const char *q = p;
	int			digits = 0;

	if (q < s->end && *q == '-')
		q++;
	if (q >= s->end || *q < '0' || *q > '9')
	{
		scan_fail(s, q, "Unexpected character: expected digit");
		return NULL;
	}
	if (*q == '0')
	{
		q++;
		digits++;
		if (q < s->end && *q >= '0' && *q <= '9')
		{
			scan_fail(s, q, "Invalid numeric value: Leading zeroes not allowed");
			return NULL;
		}
	}
	else
		while (q < s->end && *q >= '0' && *q <= '9')
		{
			q++;
			digits++;
		}
	if (q < s->end && *q == '.')
	{
		q++;
		if (q >= s->end || *q < '0' || *q > '9')
		{
			scan_fail(s, q, "Unexpected character: Decimal point not followed by a digit");
			return NULL;
		}
		while (q < s->end && *q >= '0' && *q <= '9')
		{
			q++;
			digits++;
		}
	}
	if (q < s->end && (*q == 'e' || *q == 'E'))
	{
		char		buf[64];
		size_t		n;

		q++;
		if (q < s->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= s->end || *q < '0' || *q > '9')
		{
			scan_fail(s, q, "Unexpected character: Exponent indicator not followed by a digit");
			return NULL;
		}
		while (q < s->end && *q >= '0' && *q <= '9')
			q++;
		n = (size_t) (q - p);
		if (n >= sizeof(buf))
		{
			scan_fail(s, p, "Numeric value out of range");
			return NULL;
		}
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (!isfinite(strtod(buf, NULL)))
		{
			scan_fail(s, p, "Numeric value out of range of double");
			return NULL;
		}
	}
	if (digits > 300)
	{
		scan_fail(s, p, "Numeric value out of range");
		return NULL;
	}
	return q;
}

static const char *scan_value(Scan *s, const char *p, int depth);

static const char *
scan_literal(Scan *s, const char *p, const char *lit)
{
	size_t		n = strlen(lit);

	if ((size_t) (s->end - p) < n || memcmp(p, lit, n) != 0)
	{
		scan_fail(s, p, "Unrecognized token: was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')");
		return NULL;
	}
	p += n;
	if (p < s->end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					   (*p >= '0' && *p <= '9')))
	{
		scan_fail(s, p, "Unrecognized token: was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')");
		return NULL;
	}
	return p;
}

static const char *
scan_value(Scan *s, const char *p, int depth)
{
	p = jscan_skip_ws(p, s->end);
	if (p >= s->end)
	{
		scan_fail(s, p, "Unexpected end-of-input: expected a value");
		return NULL;
	}
	switch (*p)
	{
		case '{':
			if (depth >= s->max_depth)
			{
				scan_fail(s, p, "Document nesting depth exceeds the maximum allowed");
				return NULL;
			}
			p = jscan_skip_ws(p + 1, s->end);
			if (p < s->end && *p == '}')
				return p + 1;
			for (;;)
			{
				p = jscan_skip_ws(p, s->end);
				if (p >= s->end || *p != '"')
				{
					scan_fail(s, p, "Unexpected character: was expecting double-quote to start field name");
					return NULL;
				}
				if ((p = scan_string(s, p, NULL)) == NULL)
					return NULL;
				p = jscan_skip_ws(p, s->end);
				if (p >= s->end || *p != ':')
				{
					scan_fail(s, p, "Unexpected character: was expecting a colon to separate field name and value");
					return NULL;
				}
				if ((p = scan_value(s, p + 1, depth + 1)) == NULL)
					return NULL;
				p = jscan_skip_ws(p, s->end);
				if (p < s->end && *p == ',')
				{
					p++;
					continue;
				}
				if (p < s->end && *p == '}')
					return p + 1;
				scan_fail(s, p, "Unexpected character: was expecting comma to separate Object entries");
				return NULL;
			}
		case '[':
			if (depth >= s->max_depth)
			{
				scan_fail(s, p, "Document nesting depth exceeds the maximum allowed");
				return NULL;
			}
			p = jscan_skip_ws(p + 1, s->end);
			if (p < s->end && *p == ']')
				return p + 1;
			for (;;)
			{
				if ((p = scan_value(s, p, depth + 1)) == NULL)
					return NULL;
				p = jscan_skip_ws(p, s->end);
				if (p < s->end && *p == ',')
				{
					p++;
					continue;
				}
				if (p < s->end && *p == ']')
					return p + 1;
				scan_fail(s, p, "Unexpected character: was expecting comma to separate Array entries");
				return NULL;
			}
		case '"':
			return scan_string(s, p, NULL);
		case 't':
			return scan_literal(s, p, "true");
		case 'f':
			return scan_literal(s, p, "false");
		case 'n':
			return scan_literal(s, p, "null");
		default:
			if (*p == '-' || (*p >= '0' && *p <= '9'))
				return scan_number(s, p);
			scan_fail(s, p, "Unexpected character: expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')");
			return NULL;
	}
}

int
jscan_validate(const char *p, size_t n, int max_depth, JScanError *err)
{
	Scan		s;
	const char *q;

	s.start = p;
	s.end = p + n;
	s.max_depth = max_depth;
	s.err = err;
	if (err)
		err->msg[0] = '\0';
	q = scan_value(&s, p, 0);
	if (q == NULL)
		return -1;
	q = jscan_skip_ws(q, s.end);
	if (q != s.end)
	{
		scan_fail(&s, q, "Unexpected character after the end of the value");
		return -1;
	}
	return 0;
}

bool
jscan_is_object(const char *p, size_t n)
{
	const char *q = jscan_skip_ws(p, p + n);

	return q < p + n && *q == '{';
}

const char *
jscan_string(const char *p, const char *end, JsonBuf *out)
{
	Scan		s;

	s.start = p;
	s.end = end;
	s.max_depth = 0;
	s.err = NULL;
	if (p >= end || *p != '"')
		return NULL;
	return scan_string(&s, p, out);
}

const char *
jscan_skip_value(const char *p, const char *end, int max_depth)
{
	Scan		s;

	s.start = p;
	s.end = end;
	s.max_depth = max_depth;
	s.err = NULL;
	return scan_value(&s, p, 0);
}
