/*
 * store.h — in-memory indexes, documents and aliases (devsearch).
 *
 * Owns: Store, Index, Doc, Alias and index-expression resolution.
 *
 * Invariants (all calls require Server.lock held):
 *  - A Doc is either live (live != NULL) or a delete tombstone (live == NULL,
 *    deleted_at_ms set).  A tombstone older than the index's gc_deletes is
 *    treated as absent by every lookup (doc_current()) and pruned lazily.
 *  - Two views per document: the live view (realtime GET, versioning) and the
 *    refreshed view (vis, vis_*) that search/count/_cat see.  index_refresh()
 *    copies live -> vis for every dirty doc; nothing else changes vis.
 *  - Source bytes are immutable, reference counted Blobs; the refreshed view
 *    may share a Blob with the live view.
 *  - _seq_no per index starts at 0 and increases by 1 per applied op
 *    (including not_found deletes); _primary_term is always 1.
 *  - Docs are kept in insertion order (Index.docs, with NULL holes); iteration
 *    of visible docs follows it.  Lookup by id is an open-addressing table.
 */
#ifndef DEVSEARCH_STORE_H
#define DEVSEARCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "errors.h"

typedef struct Blob
{
	uint32_t	refs;
	uint32_t	len;
	char		data[];			/* len bytes + NUL */
} Blob;

Blob	   *blob_new(const char *data, size_t len);
void		blob_ref(Blob *b);
void		blob_unref(Blob *b);

typedef struct Doc
{
	Blob	   *live;			/* current _source; NULL = deleted (tombstone) */
	Blob	   *vis;			/* refreshed _source; NULL = not visible */
	int64_t		version;		/* live (or tombstone) _version */
	int64_t		seq_no;
	int64_t		vis_version;	/* refreshed view's _version / _seq_no */
	int64_t		vis_seq_no;
	int64_t		deleted_at_ms;	/* monotonic time of delete (tombstones) */
	char	   *routing;		/* NULL if none given */
	uint32_t	pos;			/* index into Index.docs */
	bool		dirty;			/* in Index.dirty (changed since refresh) */
	uint16_t	shard;			/* shard of (routing or id), see
								 * index_shard_for() */
	uint32_t	hash;			/* hash of id (the id table's tag) */
	uint32_t	id_len;
	char		id[];			/* id_len bytes + NUL */
} Doc;

typedef struct Alias
{
	char	   *name;
	int			is_write_index; /* -1 unset, 0 false, 1 true */
	json_t	   *props;			/* attributes shown by GET _alias, e.g.
								 * filter, index_routing, search_routing,
								 * is_hidden (is_write_index kept separately) */
} Alias;

typedef struct Index
{
	char	   *name;
	char		uuid[23];
	int64_t		creation_date;	/* epoch ms */
	json_t	   *settings;		/* flat "index.x" -> string value */
	json_t	   *mappings;		/* as given (object), {} by default */
	int64_t		gc_deletes_ms;	/* cached from settings */
	int64_t		refresh_interval_ms;	/* -1 = never (lazy refresh) */
	int			number_of_shards;
	int			routing_num_shards; /* index.number_of_routing_shards, 0 =
									 * default */
	int			number_of_replicas;
	int64_t		next_seq_no;
	int64_t		last_refresh_ms;
	/* documents */
	Doc		  **docs;			/* insertion order, NULL holes */
	uint32_t	ndocs;			/* used slots incl. holes */
	uint32_t	docs_cap;
	uint32_t	nholes;
	int			scroll_pins;	/* open scrolls over this index: no
								 * compaction (their _doc keys must stay) */
	struct HtSlot *ht;			/* open addressing: {pos+1 (0 = empty), id
								 * hash}; the hash spares probing a Doc */
	uint32_t	ht_cap;			/* power of two */
	uint32_t	ht_used;
	uint64_t	ht_epoch;		/* bumped by every table change */
	/* the last missed lookup: where index_upsert_slot may insert that id
	 * without probing again, valid while ht_epoch is unchanged (the id is
	 * copied: callers' buffers come and go) */
	uint64_t	miss_epoch;
	uint32_t	miss_slot;
	uint32_t	miss_hash;
	uint32_t	miss_len;		/* 0 = nothing cached */
	char		miss_id[64];
	Doc		  **dirty;
	uint32_t	ndirty;
	uint32_t	dirty_cap;
	uint32_t	ntombstones;
	uint64_t	live_count;		/* live docs (realtime) */
	uint64_t	vis_count;		/* visible docs (refreshed) */
	int64_t		last_prune_ms;
	/* aliases pointing at this index */
	Alias	   *aliases;
	int			naliases;
} Index;

typedef struct Store
{
	Index	  **indexes;		/* sorted by name */
	int			nindexes;
	int			cap;
	int64_t		default_gc_deletes_ms;
} Store;

Store	   *store_create(int64_t default_gc_deletes_ms);
void		store_destroy(Store *st);
void		store_clear(Store *st);	/* drop every index */

/* ---- indexes ---- */
Index	   *store_find_index(Store *st, const char *name);
/* validates the name (invalid_index_name_exception) and existence
 * (resource_already_exists_exception); settings: object of settings in flat
 * or nested form (may be NULL); mappings may be NULL.  NULL + err on failure */
Index	   *store_create_index(Store *st, const char *name, json_t *settings,
							   json_t *mappings, EsError *err);
void		store_delete_index(Store *st, Index *ix);
/* 0 if valid, else fills err (invalid_index_name_exception) */
int			index_name_validate(const char *name, EsError *err);
/* apply settings (flat or nested object); dynamic-only when !creating.
 * 0 ok, -1 with err */
int			index_apply_settings(Index *ix, json_t *settings, bool creating, EsError *err);

/* ---- documents ---- */
/* raw lookup: live doc or tombstone, may be expired; NULL if unknown */
Doc		   *index_lookup(Index *ix, const char *id, size_t id_len);
/* live doc or unexpired tombstone, NULL otherwise (applies gc_deletes) */
Doc		   *index_current(Index *ix, const char *id, size_t id_len, int64_t now_ms);
/*
 * Prefetch what a lookup of id will touch, one level per stage, so that a
 * batch (bulk) can overlap the memory latency of items ahead of the current
 * one: stage 0 the table slot, 1 the Index.docs entry, 2 the Doc.  Each stage
 * reads only what the previous one brought in.  No effect on results.
 */
void		index_prefetch_id(const Index *ix, const char *id, size_t id_len, int stage);
/* get or create the Doc record for id (new record: live=NULL, version=0) */
Doc		   *index_upsert_slot(Index *ix, const char *id, size_t id_len);
/* set live source (takes ownership of one reference of src) */
void		index_doc_set_live(Index *ix, Doc *d, Blob *src, int64_t version);
/* turn into tombstone */
void		index_doc_set_deleted(Index *ix, Doc *d, int64_t version, int64_t now_ms);
/* delete a live doc with internal versioning (delete_by_query): version+1,
 * new seq_no, tombstone.  No-op if not live. */
void		index_delete_doc(Index *ix, Doc *d, int64_t now_ms);
/* make all changes visible to search */
void		index_refresh(Index *ix);
/* refresh one shard only (a single-document write with refresh=true) */
void		index_refresh_shard(Index *ix, int shard);

/*
 * Shard routing as OpenSearch 2 / Elasticsearch 8 compute it:
 * floorMod(murmur3_x86_32(UTF-16LE of routing or id), routing_num_shards) /
 * routing_factor.  A document lives in one shard; a GET/DELETE whose
 * (routing or id) maps to another shard does not see it.  Always 0 for a
 * single-shard index (no hashing).
 */
uint32_t	routing_hash(const char *s, size_t len);
/* mappings "_routing": {"required": true} */
bool		index_routing_required(const Index *ix);
/*
 * Routing of a single-document operation addressed to name (ix's name or an
 * alias of ix) with routing given (NULL = none): an alias's index_routing
 * applies (IndexMetadata.resolveIndexRouting); a different given value is
 * refused (-1, err), as is a missing one when the mapping requires it.
 */
int			index_resolve_routing(const Index *ix, const char *name, const char *given,
								  const char *id, size_t id_len, const char **out,
								  EsError *err);
int			index_shard_for(const Index *ix, const char *routing,
							const char *id, size_t id_len);
/* refresh if refresh_interval elapsed since last refresh (lazy model) */
void		index_maybe_refresh(Index *ix, int64_t now_ms);
/* drop expired tombstones (cheap when nothing to do) */
void		index_prune_tombstones(Index *ix, int64_t now_ms);

/* iterate docs visible to search, in insertion order; stop when cb returns
 * false.  The callback must not add or remove docs. */
typedef bool (*DocVisitor) (void *arg, Index *ix, Doc *d);
void		index_foreach_visible(Index *ix, DocVisitor cb, void *arg);
/* the same from position from of Index.docs on (a _doc search_after page) */
void		index_foreach_visible_from(Index *ix, uint32_t from, DocVisitor cb, void *arg);

/* ---- aliases ---- */
Alias	   *index_find_alias(Index *ix, const char *alias);
bool		store_alias_exists(Store *st, const char *alias);
/* write index of an alias or index name: returns the index, or NULL with
 * err set (index_not_found_exception or the "no write index" 400) */
Index	   *store_write_index(Store *st, const char *name, EsError *err);

/* ---- index expressions ---- */
typedef struct IndexList
{
	Index	  **v;
	int			n;
	int			cap;
} IndexList;

void		index_list_free(IndexList *l);

#define RESOLVE_IGNORE_UNAVAILABLE	0x01	/* skip missing concrete names */
#define RESOLVE_ALLOW_NO_INDICES	0x02	/* wildcard matching nothing ok */
#define RESOLVE_NO_ALIASES			0x04	/* do not expand aliases */
#define RESOLVE_DEFAULT			(RESOLVE_ALLOW_NO_INDICES)

/*
 * Resolve "a,b*,alias,-c,_all" (NULL, "" or "_all" = every index) into a
 * de-duplicated list of indexes sorted by name.  0 ok; -1 with err set
 * (index_not_found_exception naming the first missing expression) and out
 * freed (empty).
 */
int			store_resolve(Store *st, const char *expr, unsigned flags,
						  IndexList *out, EsError *err);

/* simple glob match with '*' only */
bool		glob_match(const char *pattern, const char *s);

#endif
