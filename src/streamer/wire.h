/*
 * wire.h: the plugin's wire format v1 (wire.c): one JSON line per event.
 *
 * A parsed WireMsg points into the line it came from (no copies).
 */
#ifndef REINDEX_STREAMER_WIRE_H
#define REINDEX_STREAMER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum WireType
{
	WIRE_BEGIN, WIRE_INDEX, WIRE_DELETE, WIRE_REFETCH, WIRE_TRUNCATE,
	WIRE_TRUNCATE_PARTITION, WIRE_COMMIT
} WireType;

typedef struct WireMsg
{
	WireType	type;
	uint64_t	version;
	const char *rel;			/* JSON string, quotes included */
	size_t		rel_len;
	const char *id;				/* JSON string, quotes included; the partition
								 * for truncate_partition */
	size_t		id_len;
	const char *body;			/* document (index) or key object (refetch) */
	size_t		body_len;
	uint64_t	xid;			/* begin/commit */
} WireMsg;

bool		wire_parse(const char *line, size_t len, WireMsg *m, const char **err);
bool		wire_json_string_end(const char *s, size_t len, size_t *end);
char	   *wire_json_string_decode(const char *s, size_t len);

#endif							/* REINDEX_STREAMER_WIRE_H */
