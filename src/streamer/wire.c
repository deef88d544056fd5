/*
 * wire.c: parser for the `reindex` output plugin's wire format, version 1
 * (src/plugin/WIRE-FORMAT.md).
 *
 * Owns: splitting one XLogData payload into its fields without copying and
 * without parsing the document body.  Fields point into the caller's buffer,
 * which must stay alive while the WireMsg is used.  JSON strings (relation,
 * id) are located by scanning for the closing quote, honouring backslash
 * escapes; they are kept with their quotes so they can be copied verbatim into
 * a _bulk action line.
 */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/*
 * Find the end of the JSON string starting at s[0] == '"'.  On success *end
 * is the index just past the closing quote.
 */
bool
wire_json_string_end(const char *s, size_t len, size_t *end)
{
	size_t		i;

	if (len < 2 || s[0] != '"')
		return false;
	for (i = 1; i < len; i++)
	{
		if (s[i] == '\\')
		{
			i++;
			continue;
		}
		if (s[i] == '"')
		{
			*end = i + 1;
			return true;
		}
		if ((unsigned char) s[i] < 0x20)
			return false;
	}
	return false;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode a JSON string (quotes included) into a malloc'd NUL-terminated UTF-8
 * string.  Returns NULL on malformed input.
 */
char *
wire_json_string_decode(const char *s, size_t len)
{
	char	   *out;
	size_t		i,
				o = 0;

	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return NULL;
	out = malloc(len + 4);
	if (!out)
		return NULL;
	for (i = 1; i < len - 1; i++)
	{
		unsigned int cp;

		if (s[i] != '\\')
		{
			out[o++] = s[i];
			continue;
		}
		if (++i >= len - 1)
			goto bad;
		switch (s[i])
		{
			case '"':
			case '\\':
			case '/':
				out[o++] = s[i];
				break;
			case 'b':
				out[o++] = '\b';
				break;
			case 'f':
				out[o++] = '\f';
				break;
			case 'n':
				out[o++] = '\n';
				break;
			case 'r':
				out[o++] = '\r';
				break;
			case 't':
				out[o++] = '\t';
				break;
			case 'u':
				{
					int			k;

					if (i + 4 >= len)
						goto bad;
					cp = 0;
					for (k = 1; k <= 4; k++)
					{
						int			h = hexval(s[i + k]);

						if (h < 0)
							goto bad;
						cp = cp * 16 + h;
					}
					i += 4;
					if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < len &&
						s[i + 1] == '\\' && s[i + 2] == 'u')
					{
						unsigned int lo = 0;

						for (k = 3; k <= 6; k++)
						{
							int			h = hexval(s[i + k]);

							if (h < 0)
								goto bad;
							lo = lo * 16 + h;
						}
						if (lo >= 0xDC00 && lo <= 0xDFFF)
						{
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
							i += 6;
						}
					}
					if (cp < 0x80)
						out[o++] = (char) cp;
					else if (cp < 0x800)
					{
						out[o++] = (char) (0xC0 | (cp >> 6));
						out[o++] = (char) (0x80 | (cp & 0x3F));
					}
					else if (cp < 0x10000)
					{
						out[o++] = (char) (0xE0 | (cp >> 12));
						out[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
						out[o++] = (char) (0x80 | (cp & 0x3F));
					}
					else
					{
						out[o++] = (char) (0xF0 | (cp >> 18));
						out[o++] = (char) (0x80 | ((cp >> 12) & 0x3F));
						out[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
						out[o++] = (char) (0x80 | (cp & 0x3F));
					}
					break;
				}
			default:
				goto bad;
		}
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Parse an unsigned decimal at *p, advancing it. */
static bool
parse_u64(const char **p, const char *end, uint64_t *out)
{
	uint64_t	v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9')
	{
		uint64_t	d = (uint64_t) (*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

static bool
expect_space(const char **p, const char *end)
{
	if (*p >= end || **p != ' ')
		return false;
	(*p)++;
	return true;
}

static bool
take_string(const char **p, const char *end, const char **str, size_t *slen)
{
	size_t		e;

	if (!wire_json_string_end(*p, end - *p, &e))
		return false;
	*str = *p;
	*slen = e;
	*p += e;
	return true;
}

/*
 * Parse one message.  On failure returns false and sets *err to a static
 * description.
 */
bool
wire_parse(const char *line, size_t len, WireMsg *m, const char **err)
{
	const char *p = line;
	const char *end = line + len;
	const char *sp;
	size_t		wlen;

	memset(m, 0, sizeof(*m));
	sp = memchr(line, ' ', len);
	if (!sp)
	{
		*err = "message has no fields";
		return false;
	}
	wlen = sp - line;
#define WORD(w) (wlen == sizeof(w) - 1 && memcmp(line, w, wlen) == 0)
	if (WORD("index"))
		m->type = WIRE_INDEX;
	else if (WORD("delete"))
		m->type = WIRE_DELETE;
	else if (WORD("begin"))
		m->type = WIRE_BEGIN;
	else if (WORD("commit"))
		m->type = WIRE_COMMIT;
	else if (WORD("refetch"))
		m->type = WIRE_REFETCH;
	else if (WORD("truncate"))
		m->type = WIRE_TRUNCATE;
	else if (WORD("truncate_partition"))
		m->type = WIRE_TRUNCATE_PARTITION;
	else
	{
		*err = "unknown message type";
		return false;
	}
#undef WORD
	p = sp + 1;
	if (!parse_u64(&p, end, &m->version))
	{
		*err = "bad version";
		return false;
	}
	if (m->version >= (UINT64_C(1) << 63))
	{
		*err = "version does not fit in a signed 64-bit integer";
		return false;
	}

	switch (m->type)
	{
		case WIRE_BEGIN:
		case WIRE_COMMIT:
			if (!expect_space(&p, end) || !parse_u64(&p, end, &m->xid))
			{
				*err = "bad xid";
				return false;
			}
			/* optional commit time: ignored */
			return true;
		case WIRE_TRUNCATE:
			if (!expect_space(&p, end) || !take_string(&p, end, &m->rel, &m->rel_len))
			{
				*err = "bad relation";
				return false;
			}
			return true;
		case WIRE_TRUNCATE_PARTITION:
			if (!expect_space(&p, end) || !take_string(&p, end, &m->rel, &m->rel_len))
			{
				*err = "bad relation";
				return false;
			}
			if (!expect_space(&p, end) || !take_string(&p, end, &m->id, &m->id_len))
			{
				*err = "bad partition";
				return false;
			}
			return true;
		default:
			break;
	}

	if (!expect_space(&p, end) || !take_string(&p, end, &m->rel, &m->rel_len))
	{
		*err = "bad relation";
		return false;
	}
	if (!expect_space(&p, end) || !take_string(&p, end, &m->id, &m->id_len))
	{
		*err = "bad document id";
		return false;
	}
	if (m->type == WIRE_DELETE)
		return true;
	if (!expect_space(&p, end) || p >= end || *p != '{')
	{
		*err = m->type == WIRE_INDEX ? "bad document" : "bad key";
		return false;
	}
	m->body = p;
	m->body_len = end - p;
	while (m->body_len > 0 && (m->body[m->body_len - 1] == '\n' ||
							   m->body[m->body_len - 1] == '\r'))
		m->body_len--;
	return true;
}
