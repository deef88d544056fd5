/*
 * pg_text.c: the text forms PostgreSQL prints that the streamer reads: LSNs
 * ("X/Y" hex, or plain decimal from our own options) and COPY text format
 * rows (backfill and verify read tables with COPY ... TO STDOUT).
 *
 * Invariants: an LSN that does not parse completely is refused, never
 * truncated; format_lsn writes the form PostgreSQL itself prints, so it can
 * be passed back to the server; copy_unescape only shortens its input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_text.h"

/* Accepts "X/Y" (hex, as PostgreSQL prints) or a plain decimal. */
bool
parse_lsn(const char *s, uint64_t *out)
{
	unsigned int hi,
				lo;
	char		extra;

	if (!s || !*s)
		return false;
	if (strchr(s, '/'))
	{
		if (sscanf(s, "%X/%X%c", &hi, &lo, &extra) != 2)
			return false;
		*out = ((uint64_t) hi << 32) | lo;
		return true;
	}
	else
	{
		char	   *end;
		unsigned long long v = strtoull(s, &end, 10);

		if (*end)
			return false;
		*out = v;
		return true;
	}
}

void
format_lsn(uint64_t lsn, char out[32])
{
	snprintf(out, 32, "%X/%X", (unsigned int) (lsn >> 32), (unsigned int) lsn);
}

/* Undo COPY text escaping in place; returns the new length. */
size_t
copy_unescape(char *s, size_t n)
{
	size_t		i,
				o = 0;

	for (i = 0; i < n; i++)
	{
		if (s[i] != '\\' || i + 1 >= n)
		{
			s[o++] = s[i];
			continue;
		}
		i++;
		switch (s[i])
		{
			case 'n':
				s[o++] = '\n';
				break;
			case 't':
				s[o++] = '\t';
				break;
			case 'r':
				s[o++] = '\r';
				break;
			case 'b':
				s[o++] = '\b';
				break;
			case 'f':
				s[o++] = '\f';
				break;
			case 'v':
				s[o++] = '\v';
				break;
			default:
				s[o++] = s[i];
				break;
		}
	}
	return o;
}
