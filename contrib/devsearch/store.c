/*
 * store.c — in-memory indexes, documents, tombstones, refresh and aliases.
 * Shard routing lives in routing.c.
 *
 * Owns the implementation of store.h (see its invariants).  Notes:
 *  - id lookup: open addressing with linear probing over Index.ht, values are
 *    pos+1 into Index.docs; removal uses backward-shift deletion, so no
 *    tombstone slots accumulate in the table.
 *  - Index.docs is compacted (and the table rebuilt) when more than half of it
 *    is holes, keeping insertion order.
 *  - Expired delete tombstones are pruned at most every gc_deletes/4 and on
 *    refresh, but lookups ignore an expired tombstone immediately.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devsearch.h"
#include "store.h"

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		abort();
	return p;
}

static char *
xstrdup(const char *s)
{
	size_t		n = strlen(s);
	char	   *d = xmalloc(n + 1);

	memcpy(d, s, n + 1);
	return d;
}

/* ---- record allocator (Doc and Blob) ----
 *
 * A million documents are two million small records.  They are carved from
 * 2 MB chunks by 16-byte size classes with a free list per class: no malloc
 * header, arena lock or bin search per record.  (Huge pages for the chunks
 * were measured slower: the faults then compact memory.)  Chunks are kept
 * for reuse, never returned.  Process-wide
 * state: there is one Store per process and every call holds Server.lock.
 * Under AddressSanitizer records come from malloc so that use-after-free is
 * still caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#define REC_USE_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REC_USE_MALLOC 1
#endif
#endif

#define REC_CLASS		16
#define REC_MAX			512
#define REC_NCLASSES	(REC_MAX / REC_CLASS)
#define REC_CHUNK		(2u * 1024 * 1024)

#ifndef REC_USE_MALLOC
typedef struct RecFree
{
	struct RecFree *next;
} RecFree;

static RecFree *rec_free_list[REC_NCLASSES];
static char *rec_cur;
static size_t rec_left;
#endif

static void *
rec_alloc(size_t n)
{
#ifdef REC_USE_MALLOC
	return xmalloc(n);
#else
	size_t		c,
				sz;
	void	   *p;

	if (n > REC_MAX)
		return xmalloc(n);
	c = (n + REC_CLASS - 1) / REC_CLASS - 1;
	sz = (c + 1) * REC_CLASS;
	if (rec_free_list[c])
	{
		p = rec_free_list[c];
		rec_free_list[c] = rec_free_list[c]->next;
		return p;
	}
	if (rec_left < sz)
	{
		void	   *chunk;

		/* the rest of the old chunk goes to the free lists */
		while (rec_left >= REC_CLASS)
		{
			size_t		k = (rec_left > REC_MAX ? REC_MAX : rec_left) / REC_CLASS - 1;
			RecFree    *f = (RecFree *) rec_cur;

			f->next = rec_free_list[k];
			rec_free_list[k] = f;
			rec_cur += (k + 1) * REC_CLASS;
			rec_left -= (k + 1) * REC_CLASS;
		}
		/* populated at once: one call instead of 512 page faults */
		chunk = mmap(NULL, REC_CHUNK, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (chunk == MAP_FAILED)
			abort();
		rec_cur = chunk;
		rec_left = REC_CHUNK;
	}
	p = rec_cur;
	rec_cur += sz;
	rec_left -= sz;
	return p;
#endif
}

static void
rec_release(void *p, size_t n)
{
#ifdef REC_USE_MALLOC
	(void) n;
	free(p);
#else
	size_t		c;
	RecFree    *f = p;

	if (p == NULL)
		return;
	if (n > REC_MAX)
	{
		free(p);
		return;
	}
	c = (n + REC_CLASS - 1) / REC_CLASS - 1;
	f->next = rec_free_list[c];
	rec_free_list[c] = f;
#endif
}

/* ---- blobs ---- */

Blob *
blob_new(const char *data, size_t len)
{
	Blob	   *b = rec_alloc(sizeof(Blob) + len + 1);

	b->refs = 1;
	b->len = (uint32_t) len;
	memcpy(b->data, data, len);
	b->data[len] = '\0';
	return b;
}

void
blob_ref(Blob *b)
{
	if (b)
		b->refs++;
}

void
blob_unref(Blob *b)
{
	if (b && --b->refs == 0)
		rec_release(b, sizeof(Blob) + b->len + 1);
}

/* ---- store ---- */

Store *
store_create(int64_t default_gc_deletes_ms)
{
	Store	   *st = xmalloc(sizeof(Store));

	memset(st, 0, sizeof(*st));
	st->default_gc_deletes_ms = default_gc_deletes_ms;
	return st;
}

static void
doc_free(Doc *d)
{
	blob_unref(d->live);
	blob_unref(d->vis);
	free(d->routing);
	rec_release(d, sizeof(Doc) + d->id_len + 1);
}

static void
index_free(Index *ix)
{
	uint32_t	i;
	int			a;

	for (i = 0; i < ix->ndocs; i++)
		if (ix->docs[i])
			doc_free(ix->docs[i]);
	free(ix->docs);
	free(ix->ht);
	free(ix->dirty);
	for (a = 0; a < ix->naliases; a++)
	{
		free(ix->aliases[a].name);
		json_decref(ix->aliases[a].props);
	}
	free(ix->aliases);
	json_decref(ix->settings);
	json_decref(ix->mappings);
	free(ix->name);
	free(ix);
}

void
store_clear(Store *st)
{
	int			i;

	for (i = 0; i < st->nindexes; i++)
		index_free(st->indexes[i]);
	st->nindexes = 0;
}

void
store_destroy(Store *st)
{
	store_clear(st);
	free(st->indexes);
	free(st);
}

Index *
store_find_index(Store *st, const char *name)
{
	int			lo = 0,
				hi = st->nindexes - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(st->indexes[mid]->name, name);

		if (c == 0)
			return st->indexes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

int
index_name_validate(const char *name, EsError *err)
{
	const char *p;
	size_t		n = strlen(name);

	for (p = name; *p; p++)
	{
		if (strchr("\\/*?\"<>| ,#", *p))
		{
			es_error_set(err, 400, "invalid_index_name_exception",
						 "Invalid index name [%s], must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]",
						 name);
			goto meta;
		}
		if (*p == ':')
		{
			es_error_set(err, 400, "invalid_index_name_exception",
						 "Invalid index name [%s], must not contain ':'", name);
			goto meta;
		}
	}
	if (n == 0)
	{
		es_error_set(err, 400, "invalid_index_name_exception",
					 "Invalid index name [%s], must not be empty", name);
		goto meta;
	}
	for (p = name; *p; p++)
		if (isupper((unsigned char) *p))
		{
			es_error_set(err, 400, "invalid_index_name_exception",
						 "Invalid index name [%s], must be lowercase", name);
			goto meta;
		}
	if (name[0] == '-' || name[0] == '_' || name[0] == '+')
	{
		es_error_set(err, 400, "invalid_index_name_exception",
					 "Invalid index name [%s], must not start with '_', '-', or '+'", name);
		goto meta;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
	{
		es_error_set(err, 400, "invalid_index_name_exception",
					 "Invalid index name [%s], must not be '.' or '..'", name);
		goto meta;
	}
	if (n > 255)
	{
		es_error_set(err, 400, "invalid_index_name_exception",
					 "Invalid index name [%s], index name is too long, (%zu > 255)", name, n);
		goto meta;
	}
	return 0;
meta:
	es_error_meta(err, "index_uuid", "_na_");
	es_error_meta(err, "index", name);
	return -1;
}

/* ---- settings ---- */

/* flatten nested settings into out (flat "index.*" keys, string values) */
static int
flatten_settings(json_t *out, const char *prefix, json_t *v, EsError *err)
{
	const char *k;
	json_t	   *c;

	json_object_foreach(v, k, c)
	{
		char		key[512];

		if (prefix[0])
			snprintf(key, sizeof(key), "%s.%s", prefix, k);
		else
			snprintf(key, sizeof(key), "%s", k);
		if (json_is_object(c))
		{
			if (flatten_settings(out, key, c, err) < 0)
				return -1;
			continue;
		}
		if (strncmp(key, "index.", 6) != 0)
		{
			char		tmp[520];

			snprintf(tmp, sizeof(tmp), "index.%s", key);
			memcpy(key, tmp, sizeof(key) - 1);
			key[sizeof(key) - 1] = '\0';
		}
		if (json_is_string(c) || json_is_null(c) || json_is_array(c))
			json_object_set(out, key, c);
		else if (json_is_integer(c))
		{
			char		num[32];

			snprintf(num, sizeof(num), "%lld", (long long) json_integer_value(c));
			json_object_set_new(out, key, json_string(num));
		}
		else if (json_is_real(c))
		{
			char		num[40];

			snprintf(num, sizeof(num), "%.17g", json_real_value(c));
			json_object_set_new(out, key, json_string(num));
		}
		else if (json_is_boolean(c))
			json_object_set_new(out, key, json_string(json_is_true(c) ? "true" : "false"));
	}
	(void) err;
	return 0;
}

static int
parse_int_setting(const char *key, json_t *v, int min, int *out, EsError *err)
{
	const char *s = json_string_value(v);
	char	   *end;
	long		n;

	if (s == NULL)
	{
		es_error_illegal_argument(err, "Failed to parse value for setting [%s]", key);
		return -1;
	}
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || n > 1024 * 1024)
	{
		es_error_illegal_argument(err, "Failed to parse value [%s] for setting [%s]", s, key);
		return -1;
	}
	if (n < min)
	{
		es_error_illegal_argument(err, "Failed to parse value [%s] for setting [%s] must be >= %d",
								  s, key, min);
		return -1;
	}
	*out = (int) n;
	return 0;
}

static int
parse_time_setting(const char *key, json_t *v, int64_t *out, EsError *err)
{
	const char *s = json_string_value(v);

	if (s == NULL || parse_time_value(s, out) < 0)
	{
		es_error_illegal_argument(err,
								  "failed to parse setting [%s] with value [%s] as a time value: unit is missing or unrecognized",
								  key, s ? s : "");
		return -1;
	}
	return 0;
}

static const char *const static_settings[] = {
	"index.number_of_shards", "index.number_of_routing_shards", "index.codec",
	"index.routing_partition_size", "index.sort.field", "index.sort.order",
	NULL
};

int
index_apply_settings(Index *ix, json_t *settings, bool creating, EsError *err)
{
	json_t	   *flat = json_object();
	const char *k;
	json_t	   *v;
	int			shards = ix->number_of_shards,
				routing_shards = ix->routing_num_shards,
				replicas = ix->number_of_replicas;
	int64_t		gc = ix->gc_deletes_ms,
				ri = ix->refresh_interval_ms;

	if (settings && !json_is_object(settings))
	{
		es_error_illegal_argument(err, "settings must be an object");
		json_decref(flat);
		return -1;
	}
	if (settings)
		flatten_settings(flat, "", settings, err);

	json_object_foreach(flat, k, v)
	{
		int			i;

		if (!creating)
			for (i = 0; static_settings[i]; i++)
				if (strcmp(k, static_settings[i]) == 0)
				{
					es_error_illegal_argument(err,
											  "Can't update non dynamic settings [[%s]] for open indices [[%s/%s]]",
											  k, ix->name, ix->uuid);
					json_decref(flat);
					return -1;
				}
		if (json_is_null(v))
			continue;
		if (strcmp(k, "index.number_of_shards") == 0 &&
			parse_int_setting(k, v, 1, &shards, err) < 0)
			goto fail;
		if (strcmp(k, "index.number_of_routing_shards") == 0 &&
			parse_int_setting(k, v, 1, &routing_shards, err) < 0)
			goto fail;
		if (strcmp(k, "index.number_of_replicas") == 0 &&
			parse_int_setting(k, v, 0, &replicas, err) < 0)
			goto fail;
		if (strcmp(k, "index.gc_deletes") == 0 &&
			parse_time_setting(k, v, &gc, err) < 0)
			goto fail;
		if (strcmp(k, "index.refresh_interval") == 0 &&
			parse_time_setting(k, v, &ri, err) < 0)
			goto fail;
	}
	if (shards > 1024)
	{
		es_error_illegal_argument(err,
								  "Failed to parse value [%d] for setting [index.number_of_shards] must be <= 1024",
								  shards);
		goto fail;
	}
	if (routing_shards && (routing_shards < shards || routing_shards % shards != 0))
	{
		es_error_illegal_argument(err,
								  "the number of source shards [%d] must be a factor of [%d]",
								  shards, routing_shards);
		goto fail;
	}
	/* all valid: apply */
	json_object_foreach(flat, k, v)
	{
		if (json_is_null(v))
		{
			json_object_del(ix->settings, k);
			if (strcmp(k, "index.gc_deletes") == 0)
				gc = -2;
			if (strcmp(k, "index.refresh_interval") == 0)
				ri = 1000;
			if (strcmp(k, "index.number_of_replicas") == 0)
			{
				replicas = 1;
				json_object_set_new(ix->settings, k, json_string("1"));
			}
		}
		else
			json_object_set(ix->settings, k, v);
	}
	ix->number_of_shards = shards;
	ix->routing_num_shards = routing_shards;
	ix->number_of_replicas = replicas;
	ix->gc_deletes_ms = gc;
	ix->refresh_interval_ms = ri;
	json_decref(flat);
	return 0;
fail:
	json_decref(flat);
	return -1;
}

static int64_t
index_gc_ms(Index *ix, Store *st)
{
	return ix->gc_deletes_ms == -2 ? st->default_gc_deletes_ms : ix->gc_deletes_ms;
}

/* the Store is needed for the default gc_deletes; kept in a static for the
 * doc-level helpers that only see the Index (single Store per process) */
static Store *g_store_for_defaults;

Index *
store_create_index(Store *st, const char *name, json_t *settings,
				   json_t *mappings, EsError *err)
{
	Index	   *ix;
	int			pos;
	char		num[32];

	if (index_name_validate(name, err) < 0)
		return NULL;
	if ((ix = store_find_index(st, name)) != NULL)
	{
		es_error_set(err, 400, "resource_already_exists_exception",
					 "index [%s/%s] already exists", name, ix->uuid);
		es_error_meta(err, "index_uuid", ix->uuid);
		es_error_meta(err, "index", name);
		return NULL;
	}
	if (store_alias_exists(st, name))
	{
		es_error_set(err, 400, "invalid_index_name_exception",
					 "Invalid index name [%s], already exists as alias", name);
		es_error_meta(err, "index_uuid", "_na_");
		es_error_meta(err, "index", name);
		return NULL;
	}
	g_store_for_defaults = st;
	ix = xmalloc(sizeof(Index));
	memset(ix, 0, sizeof(*ix));
	ix->name = xstrdup(name);
	random_uuid(ix->uuid);
	ix->creation_date = now_epoch_ms();
	ix->settings = json_object();
	ix->gc_deletes_ms = -2;		/* -2 = server default */
	ix->refresh_interval_ms = 1000;
	ix->number_of_shards = 1;
	ix->number_of_replicas = 1;
	ix->last_refresh_ms = now_mono_ms();
	ix->last_prune_ms = ix->last_refresh_ms;
	if (index_apply_settings(ix, settings, true, err) < 0)
	{
		index_free(ix);
		return NULL;
	}
	snprintf(num, sizeof(num), "%lld", (long long) ix->creation_date);
	json_object_set_new(ix->settings, "index.creation_date", json_string(num));
	snprintf(num, sizeof(num), "%d", ix->number_of_shards);
	json_object_set_new(ix->settings, "index.number_of_shards", json_string(num));
	snprintf(num, sizeof(num), "%d", ix->number_of_replicas);
	json_object_set_new(ix->settings, "index.number_of_replicas", json_string(num));
	json_object_set_new(ix->settings, "index.uuid", json_string(ix->uuid));
	json_object_set_new(ix->settings, "index.version.created", json_string("8000099"));
	json_object_set_new(ix->settings, "index.provided_name", json_string(name));
	ix->mappings = (mappings && json_is_object(mappings)) ? json_incref(mappings) : json_object();

	if (st->nindexes == st->cap)
	{
		st->cap = st->cap ? st->cap * 2 : 8;
		st->indexes = xrealloc(st->indexes, sizeof(Index *) * (size_t) st->cap);
	}
	for (pos = 0; pos < st->nindexes; pos++)
		if (strcmp(st->indexes[pos]->name, name) > 0)
			break;
	memmove(&st->indexes[pos + 1], &st->indexes[pos],
			sizeof(Index *) * (size_t) (st->nindexes - pos));
	st->indexes[pos] = ix;
	st->nindexes++;
	return ix;
}

void
store_delete_index(Store *st, Index *ix)
{
	int			i;

	for (i = 0; i < st->nindexes; i++)
		if (st->indexes[i] == ix)
		{
			memmove(&st->indexes[i], &st->indexes[i + 1],
					sizeof(Index *) * (size_t) (st->nindexes - i - 1));
			st->nindexes--;
			index_free(ix);
			return;
		}
}

/* ---- id hash table ---- */

static inline uint64_t
hash_id(const char *s, size_t n)
{
	uint64_t	h = 0xcbf29ce484222325ULL ^ n;
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		uint64_t	w;

		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ (unsigned char) s[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

typedef struct HtSlot
{
	uint32_t	pos1;			/* Index.docs position + 1; 0 = empty */
	uint32_t	hash;			/* low 32 bits of hash_id(); slot = hash & mask */
} HtSlot;

static inline uint32_t
id_hash(const char *s, size_t n)
{
	return (uint32_t) hash_id(s, n);
}

/*
 * Grow or rebuild the table.  Entries are moved from the old table using the
 * stored hashes (no Doc is touched); with from_docs (after compaction moved
 * positions) it is rebuilt from Index.docs.
 */
/*
 * Zeroed memory for the id table.  Probes land on random slots, so a large
 * table costs a TLB miss per probe with 4 kB pages (and a very expensive one
 * under virtualisation): from 2 MB on, ask for transparent huge pages.
 */
#define HUGE_PAGE (2u * 1024 * 1024)

static void *
table_alloc(size_t bytes)
{
	void	   *p;

	if (bytes < HUGE_PAGE)
	{
		p = xmalloc(bytes);
		memset(p, 0, bytes);
		return p;
	}
	bytes = (bytes + HUGE_PAGE - 1) & ~((size_t) HUGE_PAGE - 1);
	if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
		abort();
#ifdef MADV_HUGEPAGE
	(void) madvise(p, bytes, MADV_HUGEPAGE);
#endif
	memset(p, 0, bytes);
	return p;
}

static void
ht_rebuild_ex(Index *ix, uint32_t cap, bool from_docs)
{
	HtSlot	   *old = ix->ht;
	uint32_t	oldcap = ix->ht_cap;
	uint32_t	mask = cap - 1;
	uint32_t	i;

	ix->ht_epoch++;
	ix->ht = table_alloc(sizeof(HtSlot) * cap);
	ix->ht_cap = cap;
	ix->ht_used = 0;
	if (from_docs || old == NULL)
	{
		for (i = 0; i < ix->ndocs; i++)
		{
			Doc		   *d = ix->docs[i];
			uint32_t	slot;

			if (d == NULL)
				continue;
			slot = d->hash & mask;
			while (ix->ht[slot].pos1)
				slot = (slot + 1) & mask;
			ix->ht[slot].pos1 = i + 1;
			ix->ht[slot].hash = d->hash;
			ix->ht_used++;
		}
	}
	else
	{
		for (i = 0; i < oldcap; i++)
		{
			uint32_t	slot;

			if (old[i].pos1 == 0)
				continue;
			slot = old[i].hash & mask;
			while (ix->ht[slot].pos1)
				slot = (slot + 1) & mask;
			ix->ht[slot] = old[i];
			ix->ht_used++;
		}
	}
	free(old);
}

static void
ht_rebuild(Index *ix, uint32_t cap)
{
	ht_rebuild_ex(ix, cap, false);
}

/* slot holding id, or the empty slot where it would go */
static uint32_t
ht_find_slot(Index *ix, const char *id, size_t n, uint32_t h, bool *found)
{
	uint32_t	mask = ix->ht_cap - 1;
	uint32_t	slot = h & mask;

	for (;;)
	{
		const HtSlot *e = &ix->ht[slot];

		if (e->pos1 == 0)
		{
			*found = false;
			return slot;
		}
		if (e->hash == h)
		{
			Doc		   *d = ix->docs[e->pos1 - 1];

			if (d->id_len == n && memcmp(d->id, id, n) == 0)
			{
				*found = true;
				return slot;
			}
		}
		slot = (slot + 1) & mask;
	}
}

void
index_prefetch_id(const Index *ix, const char *id, size_t id_len, int stage)
{
	uint32_t	h,
				mask,
				slot;
	const HtSlot *e;

	if (ix->ht_cap == 0)
		return;
	h = id_hash(id, id_len);
	mask = ix->ht_cap - 1;
	slot = h & mask;
	if (stage == 0)
	{
		__builtin_prefetch(&ix->ht[slot]);
		return;
	}
	/* the home slot only: that is where a short probe finds its match */
	e = &ix->ht[slot];
	if (e->pos1 == 0 || e->hash != h)
		return;
	if (stage == 1)
		__builtin_prefetch(&ix->docs[e->pos1 - 1]);
	else if (ix->docs[e->pos1 - 1])
		__builtin_prefetch(ix->docs[e->pos1 - 1]);
}

Doc *
index_lookup(Index *ix, const char *id, size_t id_len)
{
	bool		found;
	uint32_t	slot,
				h;

	if (ix->ht_cap == 0)
		return NULL;
	h = id_hash(id, id_len);
	slot = ht_find_slot(ix, id, id_len, h, &found);
	if (found)
		return ix->docs[ix->ht[slot].pos1 - 1];
	if (id_len > 0 && id_len <= sizeof(ix->miss_id))
	{
		ix->miss_epoch = ix->ht_epoch;
		ix->miss_slot = slot;
		ix->miss_hash = h;
		ix->miss_len = (uint32_t) id_len;
		memcpy(ix->miss_id, id, id_len);
	}
	return NULL;
}

static bool
tombstone_expired(Index *ix, Doc *d, int64_t now_ms)
{
	int64_t		gc = g_store_for_defaults ? index_gc_ms(ix, g_store_for_defaults) :
		(ix->gc_deletes_ms < 0 ? 60000 : ix->gc_deletes_ms);

	return d->live == NULL && now_ms - d->deleted_at_ms > gc;
}

Doc *
index_current(Index *ix, const char *id, size_t id_len, int64_t now_ms)
{
	Doc		   *d = index_lookup(ix, id, id_len);

	if (d == NULL || d->seq_no < 0)	/* a slot never written (external version 0 is a version) */
		return NULL;
	if (d->live == NULL && tombstone_expired(ix, d, now_ms))
		return NULL;
	return d;
}

static void
mark_dirty(Index *ix, Doc *d)
{
	if (d->dirty)
		return;
	if (ix->ndirty == ix->dirty_cap)
	{
		ix->dirty_cap = ix->dirty_cap ? ix->dirty_cap * 2 : 1024;
		ix->dirty = xrealloc(ix->dirty, sizeof(Doc *) * ix->dirty_cap);
	}
	ix->dirty[ix->ndirty++] = d;
	d->dirty = true;
}

Doc *
index_upsert_slot(Index *ix, const char *id, size_t id_len)
{
	bool		found;
	uint32_t	slot,
				h;
	Doc		   *d;

	if (ix->ht_cap == 0 || (ix->ht_used + 1) * 4 > ix->ht_cap * 3)
		ht_rebuild(ix, ix->ht_cap ? ix->ht_cap * 2 : 1024);
	if (ix->miss_epoch == ix->ht_epoch && ix->miss_len == id_len && ix->ht_cap > 0 &&
		memcmp(ix->miss_id, id, id_len) == 0)
	{
		/* index_lookup just missed this id: reuse its empty slot */
		h = ix->miss_hash;
		slot = ix->miss_slot;
	}
	else
	{
		h = id_hash(id, id_len);
		slot = ht_find_slot(ix, id, id_len, h, &found);
		if (found)
			return ix->docs[ix->ht[slot].pos1 - 1];
	}
	ix->ht_epoch++;
	d = rec_alloc(sizeof(Doc) + id_len + 1);
	memset(d, 0, sizeof(Doc));
	d->id_len = (uint32_t) id_len;
	memcpy(d->id, id, id_len);
	d->id[id_len] = '\0';
	d->vis_version = 0;
	d->vis_seq_no = -1;
	d->seq_no = -1;
	if (ix->ndocs == ix->docs_cap)
	{
		ix->docs_cap = ix->docs_cap ? ix->docs_cap * 2 : 1024;
		ix->docs = xrealloc(ix->docs, sizeof(Doc *) * ix->docs_cap);
	}
	d->pos = ix->ndocs;
	ix->docs[ix->ndocs++] = d;
	d->hash = h;
	ix->ht[slot].pos1 = d->pos + 1;
	ix->ht[slot].hash = h;
	ix->ht_used++;
	return d;
}

void
index_doc_set_live(Index *ix, Doc *d, Blob *src, int64_t version)
{
	if (d->live == NULL)
	{
		ix->live_count++;
		if (d->seq_no >= 0)
			ix->ntombstones--;	/* tombstone revived */
	}
	blob_unref(d->live);
	d->live = src;
	d->version = version;
	d->seq_no = ix->next_seq_no++;
	mark_dirty(ix, d);
}

void
index_doc_set_deleted(Index *ix, Doc *d, int64_t version, int64_t now_ms)
{
	if (d->live != NULL)
	{
		ix->live_count--;
		ix->ntombstones++;
	}
	else if (d->seq_no < 0)
		ix->ntombstones++;		/* fresh record: new tombstone */
	blob_unref(d->live);
	d->live = NULL;
	d->version = version;
	d->seq_no = ix->next_seq_no++;
	d->deleted_at_ms = now_ms;
	mark_dirty(ix, d);
}

void
index_delete_doc(Index *ix, Doc *d, int64_t now_ms)
{
	if (d->live == NULL)
		return;
	index_doc_set_deleted(ix, d, d->version + 1, now_ms);
}

/* remove a doc record entirely (expired tombstone, not dirty, not visible) */
static void
index_remove_record(Index *ix, Doc *d)
{
	bool		found;
	uint32_t	slot = ht_find_slot(ix, d->id, d->id_len, d->hash, &found);
	uint32_t	mask = ix->ht_cap - 1;
	uint32_t	hole,
				j;

	if (!found)
		return;
	ix->ht_epoch++;
	/* backward-shift deletion */
	hole = slot;
	ix->ht[hole].pos1 = 0;
	j = hole;
	for (;;)
	{
		HtSlot		v;
		uint32_t	home;

		j = (j + 1) & mask;
		v = ix->ht[j];
		if (v.pos1 == 0)
			break;
		home = v.hash & mask;
		/* can o move to hole?  only if home is not in (hole, j] cyclically */
		if ((j > hole && (home <= hole || home > j)) ||
			(j < hole && (home <= hole && home > j)))
		{
			ix->ht[hole] = v;
			ix->ht[j].pos1 = 0;
			hole = j;
		}
	}
	ix->ht_used--;
	ix->docs[d->pos] = NULL;
	ix->nholes++;
	ix->ntombstones--;
	doc_free(d);
}

static void
compact_docs(Index *ix)
{
	uint32_t	i,
				o = 0;

	for (i = 0; i < ix->ndocs; i++)
		if (ix->docs[i])
		{
			ix->docs[o] = ix->docs[i];
			ix->docs[o]->pos = o;
			o++;
		}
	ix->ndocs = o;
	ix->nholes = 0;
	ht_rebuild_ex(ix, ix->ht_cap, true);
}

void
index_prune_tombstones(Index *ix, int64_t now_ms)
{
	uint32_t	i;
	int64_t		gc = g_store_for_defaults ? index_gc_ms(ix, g_store_for_defaults) : 60000;
	int64_t		every = gc > 0 ? gc / 4 : 0;

	if (ix->ntombstones == 0 || now_ms - ix->last_prune_ms < every)
		return;
	ix->last_prune_ms = now_ms;
	for (i = 0; i < ix->ndocs; i++)
	{
		Doc		   *d = ix->docs[i];

		if (d && d->live == NULL && d->seq_no >= 0 && !d->dirty && d->vis == NULL &&
			tombstone_expired(ix, d, now_ms))
			index_remove_record(ix, d);
	}
	if (ix->nholes > 64 && ix->nholes * 2 > ix->ndocs && ix->scroll_pins == 0)
		compact_docs(ix);
}

void
index_refresh(Index *ix)
{
	uint32_t	i;
	int64_t		now = now_mono_ms();

	for (i = 0; i < ix->ndirty; i++)
	{
		Doc		   *d = ix->dirty[i];

		if (d->vis && !d->live)
			ix->vis_count--;
		else if (!d->vis && d->live)
			ix->vis_count++;
		blob_ref(d->live);
		blob_unref(d->vis);
		d->vis = d->live;
		d->vis_version = d->version;
		d->vis_seq_no = d->seq_no;
		d->dirty = false;
	}
	ix->ndirty = 0;
	ix->last_refresh_ms = now;
	index_prune_tombstones(ix, now);
}

void
index_refresh_shard(Index *ix, int shard)
{
	uint32_t	i,
				keep = 0;

	if (ix->number_of_shards <= 1)
	{
		index_refresh(ix);
		return;
	}
	for (i = 0; i < ix->ndirty; i++)
	{
		Doc		   *d = ix->dirty[i];

		if (d->shard != shard)
		{
			ix->dirty[keep++] = d;
			continue;
		}
		if (d->vis && !d->live)
			ix->vis_count--;
		else if (!d->vis && d->live)
			ix->vis_count++;
		blob_ref(d->live);
		blob_unref(d->vis);
		d->vis = d->live;
		d->vis_version = d->version;
		d->vis_seq_no = d->seq_no;
		d->dirty = false;
	}
	ix->ndirty = keep;
}

void
index_maybe_refresh(Index *ix, int64_t now_ms)
{
	if (ix->refresh_interval_ms < 0)
		return;
	if (now_ms - ix->last_refresh_ms >= ix->refresh_interval_ms)
		index_refresh(ix);
}

void
index_foreach_visible(Index *ix, DocVisitor cb, void *arg)
{
	index_foreach_visible_from(ix, 0, cb, arg);
}

void
index_foreach_visible_from(Index *ix, uint32_t from, DocVisitor cb, void *arg)
{
	uint32_t	i;

	for (i = from; i < ix->ndocs; i++)
	{
		Doc		   *d = ix->docs[i];

		if (d && d->vis)
			if (!cb(arg, ix, d))
				return;
	}
}

/* ---- aliases ---- */

Alias *
index_find_alias(Index *ix, const char *alias)
{
	int			i;

	for (i = 0; i < ix->naliases; i++)
		if (strcmp(ix->aliases[i].name, alias) == 0)
			return &ix->aliases[i];
	return NULL;
}

bool
store_alias_exists(Store *st, const char *alias)
{
	int			i;

	for (i = 0; i < st->nindexes; i++)
		if (index_find_alias(st->indexes[i], alias))
			return true;
	return false;
}

Index *
store_write_index(Store *st, const char *name, EsError *err)
{
	Index	   *ix = store_find_index(st, name);
	Index	   *only = NULL;
	int			n = 0,
				i;

	if (ix)
		return ix;
	for (i = 0; i < st->nindexes; i++)
	{
		Alias	   *a = index_find_alias(st->indexes[i], name);

		if (a == NULL)
			continue;
		if (a->is_write_index == 1)
			return st->indexes[i];
		n++;
		if (a->is_write_index != 0)
			only = st->indexes[i];
		else
			only = NULL;
	}
	if (n == 0)
	{
		es_error_index_not_found(err, name);
		return NULL;
	}
	if (n == 1 && only)
		return only;
	es_error_illegal_argument(err,
							  "no write index is defined for alias [%s]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index",
							  name);
	return NULL;
}

/* ---- expressions ---- */

bool
glob_match(const char *p, const char *s)
{
	const char *star = NULL,
			   *ss = NULL;

	while (*s)
	{
		if (*p == '*')
		{
			star = p++;
			ss = s;
		}
		else if (*p == *s)
		{
			p++;
			s++;
		}
		else if (star)
		{
			p = star + 1;
			s = ++ss;
		}
		else
			return false;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

void
index_list_free(IndexList *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static void
list_add(IndexList *l, Index *ix)
{
	int			i;

	for (i = 0; i < l->n; i++)
		if (l->v[i] == ix)
			return;
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, sizeof(Index *) * (size_t) l->cap);
	}
	l->v[l->n++] = ix;
}

static void
list_remove(IndexList *l, Index *ix)
{
	int			i;

	for (i = 0; i < l->n; i++)
		if (l->v[i] == ix)
		{
			memmove(&l->v[i], &l->v[i + 1], sizeof(Index *) * (size_t) (l->n - i - 1));
			l->n--;
			return;
		}
}

static int
cmp_index_name(const void *a, const void *b)
{
	return strcmp((*(Index *const *) a)->name, (*(Index *const *) b)->name);
}

int
store_resolve(Store *st, const char *expr, unsigned flags, IndexList *out, EsError *err)
{
	char	   *copy,
			   *tok,
			   *save = NULL;
	bool		had_wildcard = false;
	int			i;

	out->n = 0;
	if (expr == NULL || expr[0] == '\0' || strcmp(expr, "_all") == 0 ||
		strcmp(expr, "*") == 0)
	{
		for (i = 0; i < st->nindexes; i++)
			list_add(out, st->indexes[i]);
		return 0;
	}
	copy = xstrdup(expr);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		bool		exclude = false;
		Index	   *ix;

		if (tok[0] == '-' && (had_wildcard || out->n > 0))
		{
			exclude = true;
			tok++;
		}
		if (strcmp(tok, "_all") == 0)
			tok = "*";
		if (strchr(tok, '*'))
		{
			bool		any = false;

			had_wildcard = true;
			for (i = 0; i < st->nindexes; i++)
			{
				Index	   *c = st->indexes[i];
				bool		m = glob_match(tok, c->name);
				int			a;

				if (!m && !(flags & RESOLVE_NO_ALIASES))
					for (a = 0; a < c->naliases && !m; a++)
						m = glob_match(tok, c->aliases[a].name);
				if (m)
				{
					any = true;
					if (exclude)
						list_remove(out, c);
					else
						list_add(out, c);
				}
			}
			if (!any && !exclude && !(flags & RESOLVE_ALLOW_NO_INDICES))
			{
				es_error_index_not_found(err, tok);
				free(copy);
				index_list_free(out);
				return -1;
			}
			continue;
		}
		ix = store_find_index(st, tok);
		if (ix)
		{
			if (exclude)
				list_remove(out, ix);
			else
				list_add(out, ix);
			continue;
		}
		if (!(flags & RESOLVE_NO_ALIASES) && store_alias_exists(st, tok))
		{
			for (i = 0; i < st->nindexes; i++)
				if (index_find_alias(st->indexes[i], tok))
				{
					if (exclude)
						list_remove(out, st->indexes[i]);
					else
						list_add(out, st->indexes[i]);
				}
			continue;
		}
		if (exclude)
			continue;
		if (!(flags & RESOLVE_IGNORE_UNAVAILABLE))
		{
			es_error_index_not_found(err, tok);
			free(copy);
			index_list_free(out);
			return -1;
		}
	}
	free(copy);
	if (out->n == 0 && !(flags & RESOLVE_ALLOW_NO_INDICES))
	{
		/* IndexNameExpressionResolver: nothing left and allow_no_indices=false */
		es_error_index_not_found_expr(err, expr);
		index_list_free(out);
		return -1;
	}
	if (out->n > 1)
		qsort(out->v, (size_t) out->n, sizeof(Index *), cmp_index_name);
	return 0;
}
