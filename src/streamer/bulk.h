/*
 * bulk.h: NDJSON _bulk request bodies (bulk.c): Batch, BulkItem, the lane
 * hash (I4) and reading an item's _id and version back.
 */
#ifndef REINDEX_STREAMER_BULK_H
#define REINDEX_STREAMER_BULK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum ItemOp
{
	ITEM_INDEX, ITEM_DELETE
} ItemOp;

typedef struct BulkItem
{
	uint32_t	off;			/* start of the action line in body */
	uint32_t	len;			/* action line plus source line */
	uint64_t	seq;			/* transaction sequence (stream) or chunk */
} BulkItem;

typedef struct Batch
{
	Buf			body;
	BulkItem   *items;
	int			nitems;
	int			cap;
	uint64_t	first_ms;		/* when the first item was added */
} Batch;

void		batch_add(Batch *b, ItemOp op, const char *index_json, uint64_t version,
					  bool external_gte, const char *id, size_t id_len,
					  const char *doc, size_t doc_len, uint64_t seq);
void		batch_add_raw(Batch *b, const char *item, size_t len, uint64_t seq);
void		batch_clear(Batch *b);
void		batch_free(Batch *b);
uint32_t	bulk_lane_of(const char *id, size_t id_len, int lanes);
bool		bulk_item_meta(const char *item, size_t len, char **id, uint64_t *version);

#endif							/* REINDEX_STREAMER_BULK_H */
