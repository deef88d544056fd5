/*
 * mapping.c — document validation against an index's explicit mapping
 * (devsearch).
 *
 * Owns the implementation of mapping.h: a compiled mapping (MObject trees of
 * MField, built once per "mappings" object and cached by its pointer) and a
 * streaming walk over the raw source bytes that mirrors what the cluster's
 * DocumentParser rejects.  Invariants: the source was already validated as a
 * JSON object (jscan_validate), so the walk trusts its syntax; the cache
 * holds one reference on every mappings object it keys, so a key pointer
 * cannot be reused while cached, and entries whose only reference is ours
 * (the index is gone) are swept when the cache grows.
 *
 * Messages follow the sources (read for wording only):
 *  - Elasticsearch 8 FieldMapper.rethrowAsDocumentParsingException:
 *    "failed to parse field [%s] of type [%s] in %s. Preview of field's
 *    value: '%s'" where %s is "document with id '<id>'", wrapped by
 *    DocumentParsingException which prefixes "[line:col] " (the parser's
 *    token location after the preview was read); type
 *    document_parsing_exception.  OpenSearch 2 FieldMapper.parse throws
 *    MapperParsingException with the same text and no location.
 *  - StrictDynamicMappingException (both): "mapping set to strict, dynamic
 *    introduction of [<field>] within [<parent path or _doc>] is not
 *    allowed", type strict_dynamic_mapping_exception (ES 8 adds the location).
 *  - the caused_by of a value that does not parse is the Java exception of
 *    AbstractXContentParser.intValue/longValue/floatValue/doubleValue/
 *    booleanValue (number_format_exception "For input string: \"x\"" from
 *    Double.parseDouble; illegal_argument_exception "For input string:
 *    \"x\"" from the long path; "Value [x] is out of range for an integer"),
 *    DateFieldMapper ("failed to parse date field [x] with format [f]"),
 *    InetAddresses ("'x' is not an IP string literal."), and the JSON
 *    parser for tokens of the wrong kind ("Can't get text on a START_OBJECT
 *    at l:c", "Current token (X) not numeric, can not use numeric value
 *    accessors").  Jackson-level messages are best effort.
 * A value that is an object is previewed as Java's HashMap.toString() would
 * print it ({k=v, ...} in hash-bucket order).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "mapping.h"

typedef enum FieldKind
{
	FK_OBJECT,					/* object / nested: children in obj */
	FK_DISABLED,				/* object with enabled: false */
	FK_ANY,						/* a type this server does not check */
	FK_LONG,
	FK_INTEGER,
	FK_SHORT,
	FK_BYTE,
	FK_DOUBLE,
	FK_FLOAT,
	FK_HALF_FLOAT,
	FK_SCALED_FLOAT,
	FK_BOOLEAN,
	FK_TEXT,					/* keyword, text and other string types */
	FK_DATE,
	FK_IP
} FieldKind;

typedef enum Dynamic
{
	DYN_TRUE,
	DYN_FALSE,
	DYN_STRICT
} Dynamic;

typedef struct MObject MObject;

typedef struct MField
{
	char	   *name;			/* leaf name (no dots) */
	size_t		name_len;
	char	   *path;			/* full dotted path */
	char	   *type_name;		/* "integer", "keyword", ... */
	char	   *format;			/* dates: the format as given */
	FieldKind	kind;
	bool		coerce;
	bool		ignore_malformed;
	MObject    *obj;			/* FK_OBJECT */
} MField;

struct MObject
{
	MField	   *fields;
	int			nfields;
	int			cap;
	Dynamic		dynamic;		/* effective (inherited when not given) */
	char	   *path;			/* "_doc" for the root */
};

typedef struct Mapping
{
	MObject		root;
	bool		checks;			/* explicit properties or strict */
} Mapping;

/* ---------------------------------------------------------------- compile */

static char *
xstrndup0(const char *s, size_t n)
{
	char	   *r = malloc(n + 1);

	if (r == NULL)
		abort();
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

static Dynamic
parse_dynamic(json_t *v, Dynamic inherit)
{
	const char *s;

	if (json_is_true(v))
		return DYN_TRUE;
	if (json_is_false(v))
		return DYN_FALSE;
	if (!json_is_string(v))
		return inherit;
	s = json_string_value(v);
	if (strcmp(s, "strict") == 0)
		return DYN_STRICT;
	if (strcmp(s, "false") == 0)
		return DYN_FALSE;
	return DYN_TRUE;			/* "true", "runtime" */
}

static bool
json_flag(json_t *v, bool dflt)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v))
		return strcmp(json_string_value(v), "true") == 0;
	return dflt;
}

/* date formats whose grammar the walk knows; anything else is not checked */
static bool
date_format_known(const char *fmt)
{
	static const char *const known[] = {
		"strict_date_optional_time", "date_optional_time",
		"strict_date_optional_time_nanos", "epoch_millis", NULL
	};
	const char *p = fmt;

	while (*p)
	{
		const char *bar = strstr(p, "||");
		size_t		n = bar ? (size_t) (bar - p) : strlen(p);
		bool		ok = false;

		for (int i = 0; known[i]; i++)
			if (strlen(known[i]) == n && strncmp(known[i], p, n) == 0)
				ok = true;
		if (!ok)
			return false;
		p += n;
		if (bar)
			p += 2;
	}
	return true;
}

static FieldKind
kind_of(const char *type)
{
	static const struct
	{
		const char *name;
		FieldKind	kind;
	}			kinds[] = {
		{"long", FK_LONG}, {"integer", FK_INTEGER}, {"short", FK_SHORT},
		{"byte", FK_BYTE}, {"double", FK_DOUBLE}, {"float", FK_FLOAT},
		{"half_float", FK_HALF_FLOAT}, {"scaled_float", FK_SCALED_FLOAT},
		{"boolean", FK_BOOLEAN}, {"keyword", FK_TEXT}, {"text", FK_TEXT},
		{"match_only_text", FK_TEXT}, {"wildcard", FK_TEXT},
		{"search_as_you_type", FK_TEXT}, {"date", FK_DATE},
		{"date_nanos", FK_DATE}, {"ip", FK_IP}, {"object", FK_OBJECT},
		{"nested", FK_OBJECT}, {NULL, FK_ANY}
	};

	for (int i = 0; kinds[i].name; i++)
		if (strcmp(kinds[i].name, type) == 0)
			return kinds[i].kind;
	return FK_ANY;
}

static char *
join_path(const char *parent, const char *name, size_t n)
{
	size_t		pl;
	char	   *r;

	if (parent == NULL)
		return xstrndup0(name, n);
	pl = strlen(parent);
	r = malloc(pl + 1 + n + 1);
	if (r == NULL)
		abort();
	memcpy(r, parent, pl);
	r[pl] = '.';
	memcpy(r + pl + 1, name, n);
	r[pl + 1 + n] = '\0';
	return r;
}

static MField *
find_field(const MObject *o, const char *name, size_t n)
{
	for (int i = 0; i < o->nfields; i++)
		if (o->fields[i].name_len == n && memcmp(o->fields[i].name, name, n) == 0)
			return &o->fields[i];
	return NULL;
}

static void compile_object(MObject *o, json_t *def, Dynamic inherit,
						   const char *path, bool is_root);

/* the field called name (may be dotted: a.b = object a holding b) in o */
static MField *
add_field(MObject *o, const char *name, size_t n)
{
	const char *dot = memchr(name, '.', n);
	size_t		seg = dot ? (size_t) (dot - name) : n;
	MField	   *f = find_field(o, name, seg);

	if (f == NULL)
	{
		if (o->nfields == o->cap)
		{
			o->cap = o->cap ? o->cap * 2 : 4;
			o->fields = realloc(o->fields, sizeof(MField) * (size_t) o->cap);
			if (o->fields == NULL)
				abort();
		}
		f = &o->fields[o->nfields++];
		memset(f, 0, sizeof(*f));
		f->name = xstrndup0(name, seg);
		f->name_len = seg;
		f->path = join_path(o->path && strcmp(o->path, "_doc") != 0 ? o->path : NULL,
							name, seg);
		f->kind = FK_ANY;
		f->coerce = true;
		if (dot)
		{
			/* an intermediate object of a dotted mapping name */
			f->kind = FK_OBJECT;
			f->type_name = xstrndup0("object", 6);
			f->obj = calloc(1, sizeof(MObject));
			if (f->obj == NULL)
				abort();
			compile_object(f->obj, NULL, o->dynamic, f->path, false);
		}
	}
	if (dot)
	{
		if (f->kind != FK_OBJECT)
			return NULL;		/* a.b under a leaf a: not ours to judge */
		return add_field(f->obj, dot + 1, n - seg - 1);
	}
	return f;
}

static void
compile_field(MObject *parent, const char *name, json_t *def)
{
	MField	   *f;
	json_t	   *type = json_object_get(def, "type");
	json_t	   *props = json_object_get(def, "properties");
	const char *tn;

	if (!json_is_object(def))
		return;
	f = add_field(parent, name, strlen(name));
	if (f == NULL)
		return;
	tn = json_is_string(type) ? json_string_value(type) : (props ? "object" : NULL);
	if (tn == NULL)
		tn = "object";
	free(f->type_name);
	f->type_name = xstrndup0(tn, strlen(tn));
	f->kind = kind_of(tn);
	f->coerce = json_flag(json_object_get(def, "coerce"), true);
	f->ignore_malformed = json_flag(json_object_get(def, "ignore_malformed"), false);
	if (f->kind == FK_DATE)
	{
		json_t	   *fmt = json_object_get(def, "format");
		const char *fs = json_is_string(fmt) ? json_string_value(fmt)
			: "strict_date_optional_time||epoch_millis";

		f->format = xstrndup0(fs, strlen(fs));
		if (!date_format_known(fs))
			f->kind = FK_ANY;
	}
	if (f->kind == FK_OBJECT)
	{
		if (!json_flag(json_object_get(def, "enabled"), true))
		{
			f->kind = FK_DISABLED;
			return;
		}
		if (f->obj == NULL)
		{
			f->obj = calloc(1, sizeof(MObject));
			if (f->obj == NULL)
				abort();
			compile_object(f->obj, def, parent->dynamic, f->path, false);
		}
		else
		{
			/* already made by a dotted name: merge this definition in */
			json_t	   *dyn = json_object_get(def, "dynamic");
			const char *k;
			json_t	   *v;

			if (dyn)
				f->obj->dynamic = parse_dynamic(dyn, f->obj->dynamic);
			json_object_foreach(props, k, v)
				compile_field(f->obj, k, v);
		}
	}
}

static void
compile_object(MObject *o, json_t *def, Dynamic inherit, const char *path, bool is_root)
{
	json_t	   *props = json_object_get(def, "properties");
	const char *k;
	json_t	   *v;

	o->dynamic = parse_dynamic(json_object_get(def, "dynamic"), inherit);
	o->path = xstrndup0(is_root ? "_doc" : path, strlen(is_root ? "_doc" : path));
	if (json_is_object(props))
		json_object_foreach(props, k, v)
			compile_field(o, k, v);
}

static void
free_object(MObject *o)
{
	for (int i = 0; i < o->nfields; i++)
	{
		MField	   *f = &o->fields[i];

		free(f->name);
		free(f->path);
		free(f->type_name);
		free(f->format);
		if (f->obj)
		{
			free_object(f->obj);
			free(f->obj);
		}
	}
	free(o->fields);
	free(o->path);
}

static Mapping *
mapping_compile(json_t *mappings)
{
	Mapping    *m = calloc(1, sizeof(Mapping));

	if (m == NULL)
		abort();
	compile_object(&m->root, mappings, DYN_TRUE, NULL, true);
	m->checks = m->root.nfields > 0 || m->root.dynamic == DYN_STRICT;
	return m;
}

/* ------------------------------------------------------------------ cache */

typedef struct CacheEntry
{
	json_t	   *key;			/* one reference held */
	Mapping    *m;
} CacheEntry;

static CacheEntry *g_cache;
static int	g_ncache;
static int	g_capcache;
static json_t *g_last_key;
static Mapping *g_last;

static void
cache_sweep(void)
{
	int			j = 0;

	for (int i = 0; i < g_ncache; i++)
	{
		if (g_cache[i].key->refcount == 1)
		{
			/* the index that owned these mappings is gone */
			free_object(&g_cache[i].m->root);
			free(g_cache[i].m);
			json_decref(g_cache[i].key);
			continue;
		}
		g_cache[j++] = g_cache[i];
	}
	g_ncache = j;
	g_last_key = NULL;
	g_last = NULL;
}

static Mapping *
mapping_get(json_t *mappings)
{
	Mapping    *m;

	if (mappings == g_last_key)
		return g_last;
	for (int i = 0; i < g_ncache; i++)
		if (g_cache[i].key == mappings)
		{
			g_last_key = mappings;
			g_last = g_cache[i].m;
			return g_last;
		}
	if (g_ncache == g_capcache)
	{
		cache_sweep();
		if (g_ncache * 2 >= g_capcache)
		{
			g_capcache = g_capcache ? g_capcache * 2 : 16;
			g_cache = realloc(g_cache, sizeof(CacheEntry) * (size_t) g_capcache);
			if (g_cache == NULL)
				abort();
		}
	}
	m = mapping_compile(mappings);
	g_cache[g_ncache].key = json_incref(mappings);
	g_cache[g_ncache].m = m;
	g_ncache++;
	g_last_key = mappings;
	g_last = m;
	return m;
}

/* ---------------------------------------------------------- java printing */

/* Double.toString: shortest round-trip digits, plain in [1e-3, 1e7) */
static void
java_double(double d, JsonBuf *out)
{
	char		buf[40],
				digits[24];
	int			p,
				exp10,
				nd = 0;
	const char *s;

	if (isnan(d))
	{
		jb_cstr(out, "NaN");
		return;
	}
	if (isinf(d))
	{
		jb_cstr(out, d < 0 ? "-Infinity" : "Infinity");
		return;
	}
	if (d == 0)
	{
		jb_cstr(out, signbit(d) ? "-0.0" : "0.0");
		return;
	}
	for (p = 0; p < 17; p++)
	{
		snprintf(buf, sizeof(buf), "%.*e", p, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	s = buf;
	if (*s == '-')
	{
		jb_char(out, '-');
		s++;
	}
	for (; *s && *s != 'e'; s++)
		if (isdigit((unsigned char) *s))
			digits[nd++] = *s;
	exp10 = atoi(s + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	if (exp10 >= -3 && exp10 < 7)
	{
		if (exp10 < 0)
		{
			jb_cstr(out, "0.");
			for (int i = 0; i < -exp10 - 1; i++)
				jb_char(out, '0');
			jb_raw(out, digits, (size_t) nd);
		}
		else
		{
			for (int i = 0; i <= exp10; i++)
				jb_char(out, i < nd ? digits[i] : '0');
			jb_char(out, '.');
			if (nd > exp10 + 1)
				jb_raw(out, digits + exp10 + 1, (size_t) (nd - exp10 - 1));
			else
				jb_char(out, '0');
		}
	}
	else
	{
		jb_char(out, digits[0]);
		jb_char(out, '.');
		if (nd > 1)
			jb_raw(out, digits + 1, (size_t) (nd - 1));
		else
			jb_char(out, '0');
		jb_printf(out, "E%d", exp10);
	}
}

/* String.hashCode over the UTF-16 code units of a UTF-8 string */
static int32_t
java_hash(const char *s, size_t n)
{
	uint32_t	h = 0;
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = (unsigned char) s[i];
		uint32_t	cp;
		int			len;

		if (c < 0x80)
			cp = c, len = 1;
		else if ((c & 0xE0) == 0xC0)
			cp = c & 0x1F, len = 2;
		else if ((c & 0xF0) == 0xE0)
			cp = c & 0x0F, len = 3;
		else
			cp = c & 0x07, len = 4;
		for (int k = 1; k < len && i + (size_t) k < n; k++)
			cp = (cp << 6) | ((unsigned char) s[i + (size_t) k] & 0x3F);
		i += (size_t) len;
		if (cp >= 0x10000)
		{
			cp -= 0x10000;
			h = 31 * h + (0xD800 + (cp >> 10));
			h = 31 * h + (0xDC00 + (cp & 0x3FF));
		}
		else
			h = 31 * h + cp;
	}
	return (int32_t) h;
}

static const char *preview_value(const char *p, const char *end, JsonBuf *out);

typedef struct PreviewEntry
{
	size_t		key_off,
				key_len,
				val_off,
				val_len;
	uint32_t	bucket;
	int			order;
} PreviewEntry;

static int
preview_entry_cmp(const void *a, const void *b)
{
	const PreviewEntry *x = a,
			   *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->order - y->order;
}

/* HashMap.toString(): "{k=v, ...}" in bucket order of the final table */
static const char *
preview_object(const char *p, const char *end, JsonBuf *out)
{
	JsonBuf		tmp;
	PreviewEntry *ents = NULL;
	int			n = 0,
				cap = 0;
	uint32_t	tab = 16;

	jb_init(&tmp);
	jb_raw(&tmp, "", 0);
	p = jscan_skip_ws(p + 1, end);
	while (p < end && *p != '}')
	{
		if (n == cap)
		{
			cap = cap ? cap * 2 : 8;
			ents = realloc(ents, sizeof(PreviewEntry) * (size_t) cap);
			if (ents == NULL)
				abort();
		}
		ents[n].key_off = tmp.len;
		p = jscan_string(p, end, &tmp);
		if (p == NULL)
			break;
		ents[n].key_len = tmp.len - ents[n].key_off;
		p = jscan_skip_ws(p, end);
		p = jscan_skip_ws(p + 1, end);	/* ':' */
		ents[n].val_off = tmp.len;
		p = preview_value(p, end, &tmp);
		ents[n].val_len = tmp.len - ents[n].val_off;
		ents[n].order = n;
		n++;
		p = jscan_skip_ws(p, end);
		if (p < end && *p == ',')
			p = jscan_skip_ws(p + 1, end);
	}
	while ((double) n > 0.75 * tab)
		tab *= 2;
	for (int i = 0; i < n; i++)
	{
		uint32_t	h = (uint32_t) java_hash(tmp.data + ents[i].key_off, ents[i].key_len);

		ents[i].bucket = (h ^ (h >> 16)) & (tab - 1);
	}
	qsort(ents, (size_t) n, sizeof(PreviewEntry), preview_entry_cmp);
	jb_char(out, '{');
	for (int i = 0; i < n; i++)
	{
		if (i)
			jb_cstr(out, ", ");
		jb_raw(out, tmp.data + ents[i].key_off, ents[i].key_len);
		jb_char(out, '=');
		jb_raw(out, tmp.data + ents[i].val_off, ents[i].val_len);
	}
	jb_char(out, '}');
	free(ents);
	jb_free(&tmp);
	return p ? p + 1 : end;
}

/* the Java toString() of the value at p (as readValue would build it) */
static const char *
preview_value(const char *p, const char *end, JsonBuf *out)
{
	const char *q;

	p = jscan_skip_ws(p, end);
	if (p >= end)
		return end;
	switch (*p)
	{
		case '{':
			return preview_object(p, end, out);
		case '[':
			jb_char(out, '[');
			p = jscan_skip_ws(p + 1, end);
			for (int i = 0; p < end && *p != ']'; i++)
			{
				if (i)
					jb_cstr(out, ", ");
				p = jscan_skip_ws(preview_value(p, end, out), end);
				if (p < end && *p == ',')
					p = jscan_skip_ws(p + 1, end);
			}
			jb_char(out, ']');
			return p < end ? p + 1 : end;
		case '"':
			q = jscan_string(p, end, out);
			return q ? q : end;
		default:
			q = jscan_skip_value(p, end, JSCAN_MAX_DEPTH);
			if (q == NULL)
				return end;
			if (memchr(p, '.', (size_t) (q - p)) || memchr(p, 'e', (size_t) (q - p)) ||
				memchr(p, 'E', (size_t) (q - p)))
				java_double(strtod(p, NULL), out);
			else if (q - p == 2 && p[0] == '-' && p[1] == '0')
				jb_char(out, '0');
			else
				jb_raw(out, p, (size_t) (q - p));
			return q;
	}
}

/* ------------------------------------------------------------------- walk */

typedef struct Walk
{
	const char *src;
	const char *end;
	const char *id;
	size_t		id_len;
	bool		es;				/* Elasticsearch flavor */
	EsError    *err;
	JsonBuf    *text;			/* decoded string values (g_text) */
} Walk;

/* reused across documents (Server.lock held): no allocation once warm */
static JsonBuf g_text;

/* Jackson's "line:col" (1-based, bytes) of offset p in the source */
static void
location(const Walk *w, const char *p, char *out, size_t n)
{
	int			line = 1;
	const char *bol = w->src;

	for (const char *s = w->src; s < p; s++)
		if (*s == '\n')
		{
			line++;
			bol = s + 1;
		}
	snprintf(out, n, "%d:%d", line, (int) (p - bol) + 1);
}

/* the outer document-parsing error; loc = the token the parser stands on */
static void
doc_error(Walk *w, const char *loc, const char *type_es, const char *type_os,
		  const char *msg)
{
	if (w->es)
	{
		char		lc[32];

		location(w, loc, lc, sizeof(lc));
		es_error_set(w->err, 400, type_es, "[%s] %s", lc, msg);
	}
	else
		es_error_set(w->err, 400, type_os, "%s", msg);
}

/*
 * "failed to parse field" with its caused_by.  value = the value's first
 * byte, last = its last token (the parser's position after the preview).
 */
static void
field_error(Walk *w, const MField *f, const char *value, const char *last,
			const char *cause_type, const char *cause_reason)
{
	JsonBuf		msg;

	jb_init(&msg);
	jb_printf(&msg, "failed to parse field [%s] of type [%s] in document with id '%.*s'. Preview of field's value: '",
			  f->path, f->type_name, (int) w->id_len, w->id);
	preview_value(value, w->end, &msg);
	jb_char(&msg, '\'');
	doc_error(w, last, "document_parsing_exception", "mapper_parsing_exception", msg.data);
	es_error_cause(w->err, cause_type, "%s", cause_reason);
	jb_free(&msg);
}

/* a JSON-parser error about the token at value (x_content / jackson) */
static void
token_error(Walk *w, const MField *f, const char *value, const char *last,
			const char *msg)
{
	char		reason[200];

	if (w->es)
	{
		char		lc[32];

		location(w, value, lc, sizeof(lc));
		snprintf(reason, sizeof(reason), "[%s] %s", lc, msg);
		field_error(w, f, value, last, "x_content_parse_exception", reason);
	}
	else
		field_error(w, f, value, last, "json_parse_exception", msg);
}

static const char *
token_name(const char *p, const char *q)
{
	switch (*p)
	{
		case '{':
			return "START_OBJECT";
		case 't':
			return "VALUE_TRUE";
		case 'f':
			return "VALUE_FALSE";
		case '"':
			return "VALUE_STRING";
		default:
			return (memchr(p, '.', (size_t) (q - p)) || memchr(p, 'e', (size_t) (q - p)) ||
					memchr(p, 'E', (size_t) (q - p))) ? "VALUE_NUMBER_FLOAT" : "VALUE_NUMBER_INT";
	}
}

/*
 * Double.parseDouble: trims chars <= ' ', accepts [+-](NaN|Infinity|digits
 * [.digits][e[+-]digits][fFdD]).  false with the NumberFormatException text.
 */
static bool
java_parse_double(const char *s, size_t n, double *out, char *why, size_t whyn)
{
	size_t		a = 0,
				b = n,
				i;
	char		buf[400];
	bool		digits = false;

	while (a < b && (unsigned char) s[a] <= ' ')
		a++;
	while (b > a && (unsigned char) s[b - 1] <= ' ')
		b--;
	if (a == b)
	{
		snprintf(why, whyn, "empty String");
		return false;
	}
	i = a;
	if (s[i] == '+' || s[i] == '-')
		i++;
	if ((b - i == 3 && memcmp(s + i, "NaN", 3) == 0) ||
		(b - i == 8 && memcmp(s + i, "Infinity", 8) == 0))
		goto ok;
	while (i < b && isdigit((unsigned char) s[i]))
		i++, digits = true;
	if (i < b && s[i] == '.')
		for (i++; i < b && isdigit((unsigned char) s[i]); i++)
			digits = true;
	if (digits && i < b && (s[i] == 'e' || s[i] == 'E'))
	{
		size_t		e = ++i;

		if (i < b && (s[i] == '+' || s[i] == '-'))
			e = ++i;
		while (i < b && isdigit((unsigned char) s[i]))
			i++;
		if (i == e)
			digits = false;
	}
	if (i < b && strchr("fFdD", s[i]))
		i++;
	if (!digits || i != b)
	{
		snprintf(why, whyn, "For input string: \"%.*s\"", (int) (b - a), s + a);
		return false;
	}
ok:
	if (b - a >= sizeof(buf))
		b = a + sizeof(buf) - 1;
	memcpy(buf, s + a, b - a);
	buf[b - a] = '\0';
	*out = strtod(buf, NULL);
	if (s[i - 1] == 'f' || s[i - 1] == 'F')
		*out = (float) *out;
	return true;
}

/* Long.parseLong, then BigDecimal (AbstractXContentParser.toLong, coerce) */
static bool
java_string_long(const char *s, size_t n, char *why, size_t whyn)
{
	size_t		i = 0;
	bool		digits = false;
	char		buf[400];
	long double v;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < n && isdigit((unsigned char) s[i]))
		i++, digits = true;
	if (i < n && s[i] == '.')
		for (i++; i < n && isdigit((unsigned char) s[i]); i++)
			digits = true;
	if (digits && i < n && (s[i] == 'e' || s[i] == 'E'))
	{
		size_t		e = ++i;

		if (i < n && (s[i] == '+' || s[i] == '-'))
			e = ++i;
		while (i < n && isdigit((unsigned char) s[i]))
			i++;
		if (i == e)
			digits = false;
	}
	if (!digits || i != n || n >= sizeof(buf))
	{
		snprintf(why, whyn, "For input string: \"%.*s\"", (int) n, s);
		return false;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	v = truncl(strtold(buf, NULL));
	if (v > 9223372036854775807.0L || v < -9223372036854775808.0L)
	{
		snprintf(why, whyn, "Value [%.*s] is out of range for a long", (int) n, s);
		return false;
	}
	return true;
}

static bool
digits_at(const char *s, size_t n, size_t at, size_t count)
{
	if (at + count > n)
		return false;
	for (size_t i = 0; i < count; i++)
		if (!isdigit((unsigned char) s[at + i]))
			return false;
	return true;
}

static int
two(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* field ranges of a parsed date (ISO chronology, proleptic leap years) */
static bool
date_fields_ok(const char *s, size_t n)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			year = two(s) * 100 + two(s + 2);

	if (n >= 7)
	{
		int			month = two(s + 5);

		if (month < 1 || month > 12)
			return false;
		if (n >= 10)
		{
			int			day = two(s + 8);
			bool		leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

			if (day < 1 || day > mdays[month - 1] || (month == 2 && day == 29 && !leap))
				return false;
		}
	}
	if (n >= 13 && s[10] == 'T' && two(s + 11) > 23)
		return false;
	if (n >= 16 && s[10] == 'T' && s[13] == ':' && two(s + 14) > 59)
		return false;
	if (n >= 19 && s[10] == 'T' && s[13] == ':' && s[16] == ':' && two(s + 17) > 59)
		return false;
	return true;
}

/*
 * strict_date_optional_time: yyyy[-MM[-dd['T'HH[:mm[:ss[.f{1,9}]]][zone]]]]
 * with zone Z, +HH, +HHmm or +HH:mm; epoch_millis: [-]digits[.digits].
 */
static bool
date_ok(const MField *f, const char *s, size_t n)
{
	size_t		i;

	if (strstr(f->format, "date_optional_time"))
	{
		i = 0;
		if (digits_at(s, n, 0, 4))
		{
			i = 4;
			if (i == n)
				return true;
			if (s[i] == '-' && digits_at(s, n, i + 1, 2))
			{
				i += 3;
				if (i < n && s[i] == '-' && digits_at(s, n, i + 1, 2))
				{
					i += 3;
					if (i < n && s[i] == 'T')
					{
						i++;
						if (!digits_at(s, n, i, 2))
							goto epoch;
						i += 2;
						for (int part = 0; part < 2 && i < n && s[i] == ':'; part++)
						{
							if (!digits_at(s, n, i + 1, 2))
								goto epoch;
							i += 3;
						}
						if (i < n && (s[i] == '.' || s[i] == ','))
						{
							size_t		fd = 0;

							for (i++; i < n && isdigit((unsigned char) s[i]); i++)
								fd++;
							if (fd == 0 || fd > 9)
								goto epoch;
						}
						if (i < n && s[i] == 'Z')
							i++;
						else if (i < n && (s[i] == '+' || s[i] == '-'))
						{
							if (!digits_at(s, n, i + 1, 2))
								goto epoch;
							i += 3;
							if (i < n && s[i] == ':')
								i++;
							if (i < n)
							{
								if (!digits_at(s, n, i, 2))
									goto epoch;
								i += 2;
							}
						}
					}
				}
				if (i == n && date_fields_ok(s, n))
					return true;
			}
		}
	}
epoch:
	if (strstr(f->format, "epoch_millis"))
	{
		i = 0;
		if (i < n && s[i] == '-')
			i++;
		if (!digits_at(s, n, i, 1))
			return false;
		while (i < n && isdigit((unsigned char) s[i]))
			i++;
		if (i < n && s[i] == '.')
			for (i++; i < n && isdigit((unsigned char) s[i]); i++)
				;
		return i == n;
	}
	return false;
}

static const char *
class_name(FieldKind k)
{
	switch (k)
	{
		case FK_LONG:
			return "Long";
		case FK_SHORT:
			return "Short";
		case FK_FLOAT:
		case FK_HALF_FLOAT:
			return "Float";
		case FK_DOUBLE:
		case FK_SCALED_FLOAT:
			return "Double";
		default:
			return "Integer";
	}
}

/* a numeric value (already a finite/infinite double) against the type */
static bool
number_in_range(Walk *w, const MField *f, const char *p, const char *q, double d,
				const char *text, size_t tlen, bool from_string)
{
	char		why[480];
	JsonBuf		jd;

	switch (f->kind)
	{
		case FK_LONG:
			if (!from_string && (d >= 9223372036854775808.0 || d < -9223372036854775808.0))
			{
				snprintf(why, sizeof(why), "Numeric value (%.*s) out of range of long (-9223372036854775808 - 9223372036854775807)", (int) tlen, text);
				token_error(w, f, p, q, why);
				return false;
			}
			return true;
		case FK_INTEGER:
		case FK_SHORT:
		case FK_BYTE:
			if (d > 2147483647.0 || d < -2147483648.0)
			{
				if (from_string)
				{
					snprintf(why, sizeof(why), "Value [%.*s] is out of range for an integer", (int) tlen, text);
					field_error(w, f, p, q, "illegal_argument_exception", why);
				}
				else
				{
					snprintf(why, sizeof(why), "Numeric value (%.*s) out of range of int (-2147483648 - 2147483647)", (int) tlen, text);
					token_error(w, f, p, q, why);
				}
				return false;
			}
			if (f->kind == FK_SHORT && (trunc(d) > 32767 || trunc(d) < -32768))
			{
				if (from_string)
					snprintf(why, sizeof(why), "Value [%.*s] is out of range for a short", (int) tlen, text);
				else
					snprintf(why, sizeof(why), "Value [%d] is out of range for a short", (int) d);
				field_error(w, f, p, q, "illegal_argument_exception", why);
				return false;
			}
			if (f->kind == FK_BYTE && (trunc(d) > 127 || trunc(d) < -128))
			{
				snprintf(why, sizeof(why), "Value [%d] is out of range for a byte", (int) d);
				field_error(w, f, p, q, "illegal_argument_exception", why);
				return false;
			}
			return true;
		case FK_FLOAT:
		case FK_HALF_FLOAT:
		case FK_DOUBLE:
		case FK_SCALED_FLOAT:
			if (f->kind == FK_FLOAT)
				d = (float) d;
			if (f->kind == FK_HALF_FLOAT && isfinite(d) && fabs(d) >= 65520.0)
				d = d < 0 ? -INFINITY : INFINITY;
			if (isfinite(d))
				return true;
			jb_init(&jd);
			java_double(d, &jd);
			if (f->kind == FK_SCALED_FLOAT)
				snprintf(why, sizeof(why), "[scaled_float] only supports finite values, but got [%s]", jd.data);
			else
				snprintf(why, sizeof(why), "[%s] supports only finite values, but got [%s]", f->type_name, jd.data);
			jb_free(&jd);
			field_error(w, f, p, q, "illegal_argument_exception", why);
			return false;
		default:
			return true;
	}
}

/* one scalar or object value for leaf f at p; NULL after an error */
static const char *
check_leaf(Walk *w, const MField *f, const char *p)
{
	const char *q = jscan_skip_value(p, w->end, JSCAN_MAX_DEPTH);
	const char *last;
	const char *s;
	size_t		n;
	char		why[480];
	double		d;

	if (q == NULL)
		return w->end;
	last = *p == '{' ? q - 1 : p;	/* the parser ends on '}' after a preview */
	if ((f->kind == FK_TEXT && *p != '{') ||
		(*p == 't' && f->kind == FK_BOOLEAN) || (*p == 'f' && f->kind == FK_BOOLEAN))
		return q;				/* the common cases need no decoding */
	if (*p == '"')
	{
		jb_reset(w->text);
		if (jscan_string(p, w->end, w->text) == NULL)
			return q;
		s = w->text->data ? w->text->data : "";
		n = w->text->len;
	}
	else
	{
		s = p;
		n = (size_t) (q - p);
	}

	switch (f->kind)
	{
		case FK_TEXT:
		case FK_DATE:
		case FK_IP:
			if (*p == '{')
			{
				char		lc[32];

				location(w, p, lc, sizeof(lc));
				snprintf(why, sizeof(why), "Can't get text on a START_OBJECT at %s", lc);
				field_error(w, f, p, last, "illegal_state_exception", why);
				return NULL;
			}
			if (f->kind == FK_DATE && !date_ok(f, s, n))
			{
				snprintf(why, sizeof(why), "failed to parse date field [%.*s] with format [%s]",
						 (int) (n > 300 ? 300 : n), s, f->format);
				field_error(w, f, p, last, "illegal_argument_exception", why);
				return NULL;
			}
			if (f->kind == FK_IP)
			{
				char		addr[64];
				unsigned char bin[16];

				if (n >= sizeof(addr) ||
					(memcpy(addr, s, n), addr[n] = '\0',
					 inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1))
				{
					snprintf(why, sizeof(why), "'%.*s' is not an IP string literal.",
							 (int) (n > 300 ? 300 : n), s);
					field_error(w, f, p, last, "illegal_argument_exception", why);
					return NULL;
				}
			}
			return q;
		case FK_BOOLEAN:
			if (*p == 't' || *p == 'f')
				return q;
			if (*p == '"')
			{
				if (n == 0 || (n == 4 && memcmp(s, "true", 4) == 0) ||
					(n == 5 && memcmp(s, "false", 5) == 0))
					return q;
				snprintf(why, sizeof(why), "Failed to parse value [%.*s] as only [true] or [false] are allowed.",
						 (int) (n > 300 ? 300 : n), s);
				field_error(w, f, p, last, "illegal_argument_exception", why);
				return NULL;
			}
			snprintf(why, sizeof(why), "Current token (%s) not of boolean type", token_name(p, q));
			token_error(w, f, p, last, why);
			return NULL;
		default:
			break;
	}

	/* numbers */
	if (*p == '{' || *p == 't' || *p == 'f')
	{
		snprintf(why, sizeof(why), "Current token (%s) not numeric, can not use numeric value accessors",
				 token_name(p, q));
		token_error(w, f, p, last, why);
		return NULL;
	}
	if (*p == '"')
	{
		if (n == 0 && f->coerce)
			return q;			/* an empty string is null_value */
		if (!f->coerce)
		{
			snprintf(why, sizeof(why), "%s value passed as String", class_name(f->kind));
			field_error(w, f, p, last, "illegal_argument_exception", why);
			return NULL;
		}
		if (f->kind == FK_LONG)
		{
			if (!java_string_long(s, n, why, sizeof(why)))
			{
				field_error(w, f, p, last, "illegal_argument_exception", why);
				return NULL;
			}
			return q;
		}
		if (!java_parse_double(s, n, &d, why, sizeof(why)))
		{
			field_error(w, f, p, last, "number_format_exception", why);
			return NULL;
		}
		return number_in_range(w, f, p, last, d, s, n, true) ? q : NULL;
	}
	d = strtod(p, NULL);
	if (!f->coerce && (f->kind == FK_LONG || f->kind == FK_INTEGER ||
					   f->kind == FK_SHORT || f->kind == FK_BYTE) && d != trunc(d))
	{
		JsonBuf		jd;

		jb_init(&jd);
		java_double(d, &jd);
		snprintf(why, sizeof(why), "%s cannot be converted to %s without data loss",
				 jd.data, class_name(f->kind));
		jb_free(&jd);
		field_error(w, f, p, last, "illegal_argument_exception", why);
		return NULL;
	}
	return number_in_range(w, f, p, last, d, p, (size_t) (q - p), false) ? q : NULL;
}

static const char *walk_object(Walk *w, const MObject *o, const char *p);

/* the value at p for mapped field f (key = the document's field name) */
static const char *
walk_value(Walk *w, const MField *f, const char *key, size_t key_len, const char *p)
{
	p = jscan_skip_ws(p, w->end);
	if (p >= w->end)
		return NULL;
	if (*p == 'n')
		return p + 4;			/* null is always accepted */
	if (f->kind == FK_ANY || f->kind == FK_DISABLED)
		return jscan_skip_value(p, w->end, JSCAN_MAX_DEPTH);
	if (*p == '[')
	{
		/* arrays are flattened: each element is checked on its own */
		p = jscan_skip_ws(p + 1, w->end);
		while (p < w->end && *p != ']')
		{
			p = walk_value(w, f, key, key_len, p);
			if (p == NULL)
				return NULL;
			p = jscan_skip_ws(p, w->end);
			if (p < w->end && *p == ',')
				p = jscan_skip_ws(p + 1, w->end);
		}
		return p < w->end ? p + 1 : NULL;
	}
	if (f->kind == FK_OBJECT)
	{
		char		msg[900];

		if (*p == '{')
			return walk_object(w, f->obj, p);
		snprintf(msg, sizeof(msg), "object mapping for [%s] tried to parse field [%.*s] as object, but found a concrete value",
				 f->path, (int) (key_len > 300 ? 300 : key_len), key);
		doc_error(w, p, "document_parsing_exception", "mapper_parsing_exception", msg);
		return NULL;
	}
	if (f->ignore_malformed)
		return jscan_skip_value(p, w->end, JSCAN_MAX_DEPTH);
	return check_leaf(w, f, p);
}

static void
strict_error(Walk *w, const MObject *o, const char *name, size_t n, const char *at)
{
	char		msg[900];

	snprintf(msg, sizeof(msg), "mapping set to strict, dynamic introduction of [%.*s] within [%s] is not allowed",
			 (int) (n > 300 ? 300 : n), name, o->path);
	doc_error(w, at, "strict_dynamic_mapping_exception", "strict_dynamic_mapping_exception", msg);
}

/* the object at p ('{') against o; returns the byte after '}' or NULL */
static const char *
walk_object(Walk *w, const MObject *o, const char *p)
{
	JsonBuf		keybuf;

	jb_init(&keybuf);
	p = jscan_skip_ws(p + 1, w->end);
	while (p < w->end && *p != '}')
	{
		const char *k = p + 1;
		const char *kend = k;
		const char *v;
		const MObject *cur = o;
		const MField *f = NULL;
		size_t		klen;

		/* key: raw bytes when unescaped, decoded otherwise */
		while (kend < w->end && *kend != '"' && *kend != '\\')
			kend++;
		if (kend < w->end && *kend == '"')
		{
			klen = (size_t) (kend - k);
			p = kend + 1;
		}
		else
		{
			jb_reset(&keybuf);
			p = jscan_string(p, w->end, &keybuf);
			if (p == NULL)
				break;
			k = keybuf.data ? keybuf.data : "";
			klen = keybuf.len;
		}
		p = jscan_skip_ws(p, w->end);
		v = jscan_skip_ws(p + 1, w->end);	/* past ':' */

		/* resolve a dotted name one object at a time */
		for (;;)
		{
			const char *dot = memchr(k, '.', klen);
			size_t		seg = dot ? (size_t) (dot - k) : klen;

			f = find_field(cur, k, seg);
			if (f == NULL)
			{
				if (cur->dynamic == DYN_STRICT)
				{
					strict_error(w, cur, k, seg, v);
					jb_free(&keybuf);
					return NULL;
				}
				break;
			}
			if (dot == NULL)
				break;
			if (f->kind != FK_OBJECT)
			{
				f = NULL;		/* a.b under a leaf: not checked */
				break;
			}
			cur = f->obj;
			k = dot + 1;
			klen -= seg + 1;
		}
		if (f == NULL)
			p = jscan_skip_value(v, w->end, JSCAN_MAX_DEPTH);
		else
			p = walk_value(w, f, k, klen, v);
		if (p == NULL)
		{
			jb_free(&keybuf);
			return NULL;
		}
		p = jscan_skip_ws(p, w->end);
		if (p < w->end && *p == ',')
			p = jscan_skip_ws(p + 1, w->end);
	}
	jb_free(&keybuf);
	return p < w->end ? p + 1 : w->end;
}

int
mapping_check_source(const Server *srv, const Index *ix, const char *id, size_t id_len,
					 const char *src, size_t len, EsError *err)
{
	Mapping    *m;
	Walk		w;
	const char *p;
	const char *r;

	if (ix->mappings == NULL || json_object_size(ix->mappings) == 0)
		return 0;
	m = mapping_get(ix->mappings);
	if (!m->checks)
		return 0;
	memset(&w, 0, sizeof(w));
	w.src = src;
	w.end = src + len;
	w.id = id ? id : "";
	w.id_len = id ? id_len : 0;
	w.es = srv->cfg.flavor == FLAVOR_ELASTICSEARCH;
	w.err = err;
	w.text = &g_text;
	p = jscan_skip_ws(src, w.end);
	r = (p < w.end && *p == '{') ? walk_object(&w, &m->root, p) : p;
	return r == NULL ? -1 : 0;
}
