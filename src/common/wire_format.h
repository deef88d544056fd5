/*-------------------------------------------------------------------------
 *
 * wire_format.h
 *	  Constants of the `reindex` output plugin's wire format, shared by the
 *	  plugin (backend) and the streamer (frontend).  The format itself is
 *	  described in src/plugin/WIRE-FORMAT.md; this header only names its
 *	  version and its operation words so both ends spell them identically.
 *
 *	  Invariant: every line is "<op> <version> ...", fields separated by
 *	  exactly one space; <op> is one of the words below.  A message is one
 *	  line, or, with the plugin option batch_bytes, several lines of one
 *	  transaction joined by REINDEX_LINE_SEPARATOR (never inside a line).
 *
 * IDENTIFICATION
 *	  src/common/wire_format.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef REINDEX_WIRE_FORMAT_H
#define REINDEX_WIRE_FORMAT_H

/* the only format version the plugin speaks; option format_version */
#define REINDEX_WIRE_FORMAT_VERSION	1

#define REINDEX_OP_BEGIN		"begin"
#define REINDEX_OP_COMMIT		"commit"
#define REINDEX_OP_INDEX		"index"
#define REINDEX_OP_DELETE		"delete"
#define REINDEX_OP_REFETCH		"refetch"
#define REINDEX_OP_TRUNCATE		"truncate"
#define REINDEX_OP_TRUNCATE_PARTITION	"truncate_partition"

/* between the lines of a batched message (option batch_bytes) */
#define REINDEX_LINE_SEPARATOR	'\n'

/* separator of the parts of a composite document id, and its escape */
#define REINDEX_ID_SEPARATOR	'|'
#define REINDEX_ID_ESCAPE		'\\'

#endif							/* REINDEX_WIRE_FORMAT_H */
