/*
 * jsonbuf.h — growable output buffer with JSON writers (devsearch).
 *
 * Owns: JsonBuf, the only way responses are built.  Invariants: data is always
 * NUL-terminated when non-NULL; on allocation failure the process aborts (a dev
 * server has no sane way to continue); jb_str() always emits valid JSON string
 * syntax (invalid UTF-8 bytes are replaced by U+FFFD).
 */
#ifndef DEVSEARCH_JSONBUF_H
#define DEVSEARCH_JSONBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <jansson.h>

typedef struct JsonBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} JsonBuf;

void		jb_init(JsonBuf *jb);
void		jb_free(JsonBuf *jb);
void		jb_reset(JsonBuf *jb);	/* len = 0, keeps memory */
/* grow so that need bytes fit (slow path of jb_reserve) */
void		jb_grow(JsonBuf *jb, size_t need);

/*
 * The hot writers are inline: a response to a 10,000-item bulk is built from
 * ~100,000 small pieces, and for literal strings the compiler folds strlen.
 */
static inline void
jb_reserve(JsonBuf *jb, size_t extra)
{
	size_t		need = jb->len + extra + 1;

	if (need > jb->cap)
		jb_grow(jb, need);
}

/* raw bytes / C string, no escaping */
static inline void
jb_raw(JsonBuf *jb, const char *s, size_t n)
{
	jb_reserve(jb, n);
	memcpy(jb->data + jb->len, s, n);
	jb->len += n;
	jb->data[jb->len] = '\0';
}

static inline void
jb_cstr(JsonBuf *jb, const char *s)
{
	jb_raw(jb, s, strlen(s));
}

static inline void
jb_char(JsonBuf *jb, char c)
{
	jb_reserve(jb, 1);
	jb->data[jb->len++] = c;
	jb->data[jb->len] = '\0';
}

/* quoted, escaped JSON string */
void		jb_str(JsonBuf *jb, const char *s, size_t n);
void		jb_qcstr(JsonBuf *jb, const char *s);
/* numbers and literals */
void		jb_i64(JsonBuf *jb, int64_t v);
void		jb_u64(JsonBuf *jb, uint64_t v);
void		jb_double(JsonBuf *jb, double v);
void		jb_bool(JsonBuf *jb, bool v);
/* "key": (quoted key followed by a colon; caller writes commas) */
void		jb_key(JsonBuf *jb, const char *key);
/* a jansson value, compact, keys in insertion order */
void		jb_json(JsonBuf *jb, const json_t *v);
void		jb_printf(JsonBuf *jb, const char *fmt,...) __attribute__((format(printf, 2, 3)));
/* steal the buffer (caller frees with free()); jb becomes empty */
char	   *jb_steal(JsonBuf *jb, size_t *len);

#endif
