/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  Every PG_VERSION_NUM guard of reindex.so: the server API differences
 *	  between PostgreSQL 15, 16, 17 and 18 that the extension and the output
 *	  plugin meet, each behind one name that means the same on all four.
 *	  Backend code only (include after postgres.h); the streamer and the
 *	  development server are frontend programs and never include it.
 *
 *	  Invariant: no other file tests PG_VERSION_NUM.
 *
 *	  What changed between the majors for logical decoding, and what it
 *	  means for the plugin (README.md, "Supported PostgreSQL versions",
 *	  says what each major needs configured):
 *	  - Tuple layout (17): ReorderBufferChange's data.tp.oldtuple/newtuple
 *		were ReorderBufferTupleBuf * (the HeapTupleData in member .tuple)
 *		up to 16 and are a plain HeapTuple from 17 on: REINDEX_CHANGE_TUPLE.
 *	  - Streaming of in-progress transactions (14) and its parallel apply
 *		(16): offered to plugins that set the stream_* callbacks.  reindex
 *		sets none, so every major hands it whole committed transactions
 *		(large ones spill to disk in the server, logical_decoding_work_mem)
 *		and txn->end_lsn is always the commit record's end (invariant I1).
 *	  - Two-phase commit (15): offered to plugins with the prepare
 *		callbacks; reindex has none, so a prepared transaction is decoded
 *		at COMMIT PREPARED like any other, on every major.
 *	  - Progress of skipped changes (16): the server itself keeps the
 *		walsender alive through long runs of changes a plugin filters out
 *		(update_progress_txn); 15 needs the plugin's own
 *		OutputPluginUpdateProgress calls, which are harmless later.
 *	  - Logical decoding on a standby (16), failover slots synchronised
 *		to a standby (17), idle_replication_slot_timeout (18): slot
 *		properties, none visible to a plugin.
 *	  - output_plugin_libraries (14.23, 15.20, 16.15, 17.11, 18.6): the
 *		plugin must be listed there; same rule on every major.
 *	  - Primary key lookup (18): RelationGetPrimaryKeyIndex gained
 *		deferrable_ok; a deferrable primary key never names a document,
 *		as before 18: reindex_primary_key_index.
 *	  - Abs() left c.h (16): plain abs() is used instead, no guard.
 *	  - pg_b64_encode takes const uint8 * (18): REINDEX_B64_SRC.
 *	  - pg_proc_aclcheck gave way to object_aclcheck (16):
 *		reindex_function_aclcheck.
 *
 * IDENTIFICATION
 *	  src/common/pg_compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef REINDEX_PG_COMPAT_H
#define REINDEX_PG_COMPAT_H

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "reindex builds for PostgreSQL 15, 16, 17 and 18"
#endif

/* the HeapTuple of a change's data.tp.oldtuple or data.tp.newtuple */
#if PG_VERSION_NUM >= 170000
#define REINDEX_CHANGE_TUPLE(t)		(t)
#else
#define REINDEX_CHANGE_TUPLE(t)		(&(t)->tuple)
#endif

/* the relation's immediate (non-deferrable) primary key index, or InvalidOid */
#if PG_VERSION_NUM >= 180000
#define reindex_primary_key_index(rel)	RelationGetPrimaryKeyIndex((rel), false)
#else
#define reindex_primary_key_index(rel)	RelationGetPrimaryKeyIndex(rel)
#endif

/* the type of pg_b64_encode's source bytes */
#if PG_VERSION_NUM >= 180000
#define REINDEX_B64_SRC(p)			((const uint8 *) (p))
#else
#define REINDEX_B64_SRC(p)			((const char *) (p))
#endif

/* may roleid execute the function funcid?  (include catalog/pg_proc.h) */
#if PG_VERSION_NUM >= 160000
#define reindex_function_aclcheck(funcid, roleid) \
	object_aclcheck(ProcedureRelationId, (funcid), (roleid), ACL_EXECUTE)
#else
#define reindex_function_aclcheck(funcid, roleid) \
	pg_proc_aclcheck((funcid), (roleid), ACL_EXECUTE)
#endif

#endif							/* REINDEX_PG_COMPAT_H */
