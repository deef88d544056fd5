/*
 * bulk.c: NDJSON _bulk request bodies, written directly (never through a JSON
 * library).
 *
 * Owns: Batch (a body plus one BulkItem per action so that a retry or a
 * dead letter can cut an item out of the body again), the lane hash that keeps
 * every event of one document id on one lane (I4), and reading an item's
 * _id and version back (dead letters).
 *
 * Invariants: an action line carries the version verbatim from the wire (or
 * the consistent point), with version_type external_gte for streamed events
 * and external for backfilled rows (I1); the id is copied verbatim as the JSON
 * string the plugin produced; every line ends with '\n'.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "bulk.h"
#include "clock.h"
#include "log.h"

static void
batch_push_item(Batch *b, size_t off, uint64_t seq)
{
	if (b->nitems == b->cap)
	{
		b->cap = b->cap ? b->cap * 2 : 256;
		b->items = realloc(b->items, sizeof(BulkItem) * b->cap);
		if (!b->items)
			fatal("out of memory");
	}
	b->items[b->nitems].off = (uint32_t) off;
	b->items[b->nitems].len = (uint32_t) (b->body.len - off);
	b->items[b->nitems].seq = seq;
	b->nitems++;
	if (b->nitems == 1)
		b->first_ms = now_ms();
}

/*
 * Append one action (and for index its source line).  index_json and id are
 * JSON strings with quotes; doc is a compact JSON object.
 */
void
batch_add(Batch *b, ItemOp op, const char *index_json, uint64_t version,
		  bool external_gte, const char *id, size_t id_len,
		  const char *doc, size_t doc_len, uint64_t seq)
{
	size_t		off = b->body.len;
	size_t		ilen = strlen(index_json);
	char		num[24];
	int			nlen;

	nlen = snprintf(num, sizeof(num), "%" PRIu64, version);
	buf_reserve(&b->body, ilen + id_len + doc_len + nlen + 96);
	if (op == ITEM_INDEX)
		buf_append(&b->body, "{\"index\":{\"_index\":", 19);
	else
		buf_append(&b->body, "{\"delete\":{\"_index\":", 20);
	buf_append(&b->body, index_json, ilen);
	buf_append(&b->body, ",\"_id\":", 7);
	buf_append(&b->body, id, id_len);
	buf_append(&b->body, ",\"version\":", 11);
	buf_append(&b->body, num, nlen);
	if (external_gte)
		buf_append(&b->body, ",\"version_type\":\"external_gte\"}}\n", 33);
	else
		buf_append(&b->body, ",\"version_type\":\"external\"}}\n", 29);
	if (op == ITEM_INDEX)
	{
		buf_append(&b->body, doc, doc_len);
		buf_append(&b->body, "\n", 1);
	}
	batch_push_item(b, off, seq);
}

/* Append an item cut from another batch's body (retries). */
void
batch_add_raw(Batch *b, const char *item, size_t len, uint64_t seq)
{
	size_t		off = b->body.len;

	buf_append(&b->body, item, len);
	batch_push_item(b, off, seq);
}

void
batch_clear(Batch *b)
{
	buf_reset(&b->body);
	b->nitems = 0;
	b->first_ms = 0;
}

void
batch_free(Batch *b)
{
	buf_free(&b->body);
	free(b->items);
	b->items = NULL;
	b->nitems = b->cap = 0;
}

/* FNV-1a over the id's JSON text: every event of one id picks one lane (I4). */
uint32_t
bulk_lane_of(const char *id, size_t id_len, int lanes)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	if (lanes <= 1)
		return 0;
	for (i = 0; i < id_len; i++)
	{
		h ^= (unsigned char) id[i];
		h *= 16777619u;
	}
	return h % (uint32_t) lanes;
}

/*
 * Extract _id and version from an item's action line (for dead letters).
 * *id is malloc'd.
 */
bool
bulk_item_meta(const char *item, size_t len, char **id, uint64_t *version)
{
	const char *nl = memchr(item, '\n', len);
	json_t	   *root,
			   *action,
			   *v;
	const char *key;
	json_error_t jerr;

	*id = NULL;
	*version = 0;
	root = json_loadb(item, nl ? (size_t) (nl - item) : len, 0, &jerr);
	if (!root)
		return false;
	json_object_foreach(root, key, action)
	{
		(void) key;
		v = json_object_get(action, "_id");
		if (json_is_string(v))
			*id = strdup(json_string_value(v));
		v = json_object_get(action, "version");
		if (json_is_integer(v))
			*version = (uint64_t) json_integer_value(v);
		break;
	}
	json_decref(root);
	return *id != NULL;
}
