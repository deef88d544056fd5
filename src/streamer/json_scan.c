/*
 * json_scan.c: a small validating scanner over JSON response bodies, without
 * building a tree (the _bulk classification, verify's _mget and scroll pages).
 *
 * Owns: whitespace, punctuation, strings (raw contents, escapes honoured),
 * skipping any value by depth, and key comparison.  Invariants: never reads
 * past s->end; a failed call leaves s->p anywhere (callers give up).
 */
#include <string.h>

#include "json_scan.h"
#include "wire.h"

void
js_ws(JsonScan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

bool
js_eat(JsonScan *s, char c)
{
	js_ws(s);
	if (s->p >= s->end || *s->p != c)
		return false;
	s->p++;
	return true;
}

/* A string at s->p; str and len get its raw contents (between the quotes). */
bool
js_string(JsonScan *s, const char **str, size_t *len)
{
	size_t		e;

	js_ws(s);
	if (!wire_json_string_end(s->p, s->end - s->p, &e))
		return false;
	if (str)
	{
		*str = s->p + 1;
		*len = e - 2;
	}
	s->p += e;
	return true;
}

/* Skip one value of any kind (containers by depth, strings honouring escapes). */
bool
js_skip(JsonScan *s)
{
	int			depth = 0;

	js_ws(s);
	do
	{
		if (s->p >= s->end)
			return false;
		switch (*s->p)
		{
			case '"':
				if (!js_string(s, NULL, NULL))
					return false;
				break;
			case '{':
			case '[':
				depth++;
				s->p++;
				break;
			case '}':
			case ']':
				if (depth == 0)
					return false;
				depth--;
				s->p++;
				break;
			case ',':
			case ':':
			case ' ':
			case '\n':
			case '\r':
			case '\t':
				if (depth == 0)
					return false;
				s->p++;
				break;
			default:
				/* number, true, false, null */
				if (!((*s->p >= '0' && *s->p <= '9') || *s->p == '-' ||
					  (*s->p >= 'a' && *s->p <= 'z')))
					return false;
				while (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') ||
										 (*s->p >= 'a' && *s->p <= 'z') ||
										 *s->p == '-' || *s->p == '+' ||
										 *s->p == '.' || *s->p == 'E'))
					s->p++;
				break;
		}
	} while (depth > 0);
	return true;
}

bool
js_key_is(const char *k, size_t klen, const char *name)
{
	return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

/*
 * The raw JSON of member `name` of the object in [obj, obj + len): true with
 * val and vlen set when the object scans up to that member and has it.
 */
bool
js_member(const char *obj, size_t len, const char *name, const char **val, size_t *vlen)
{
	JsonScan	s = {obj, obj + len};

	if (obj == NULL || !js_eat(&s, '{'))
		return false;
	do
	{
		const char *k,
				   *start;
		size_t		klen;

		if (!js_string(&s, &k, &klen) || !js_eat(&s, ':'))
			return false;
		js_ws(&s);
		start = s.p;
		if (!js_skip(&s))
			return false;
		if (js_key_is(k, klen, name))
		{
			*val = start;
			*vlen = s.p - start;
			return true;
		}
	} while (js_eat(&s, ','));
	return false;
}
