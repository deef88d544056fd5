/*-------------------------------------------------------------------------
 *
 * encoder.h
 *	  The one document encoder of reindex, shared by the output plugin
 *	  (plugin.c) and the SQL functions reindex.document() and
 *	  reindex.document_by_key() (document_sql.c), plus the per-relation and
 *	  per-type metadata cache it runs on (relinfo.c).
 *
 *	  Invariants:
 *	  - A row renders to the same bytes whichever caller encodes it: both
 *		callers go through encoder_append_id() / encoder_append_document().
 *	  - The encoding of a value never depends on session settings
 *		(DateStyle, IntervalStyle, TimeZone, extra_float_digits).
 *	  - The hot path does no catalog lookups: everything is resolved when a
 *		RelInfo/TypeEnc is built and kept until a relcache or pg_type
 *		invalidation marks it stale.
 *
 * IDENTIFICATION
 *	  src/plugin/encoder.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef REINDEX_ENCODER_H
#define REINDEX_ENCODER_H

#include "access/tupdesc.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/rel.h"

/* how a value of a type is written as JSON */
typedef enum EncKind
{
	ENC_INT2,
	ENC_INT4,
	ENC_INT8,
	ENC_FLOAT4,
	ENC_FLOAT8,
	ENC_NUMERIC,
	ENC_BOOL,
	ENC_TEXT,					/* text, varchar, bpchar: varlena bytes */
	ENC_NAME,
	ENC_JSON,					/* json: embedded, whitespace removed */
	ENC_JSONB,					/* jsonb: embedded, whitespace removed */
	ENC_DATE,
	ENC_TIME,
	ENC_TIMETZ,
	ENC_TIMESTAMP,
	ENC_TIMESTAMPTZ,
	ENC_INTERVAL,
	ENC_UUID,
	ENC_BYTEA,
	ENC_ARRAY,
	ENC_COMPOSITE,
	ENC_OTHER					/* the type's output function, as a string */
} EncKind;

typedef struct TypeEnc TypeEnc;

/* one field of a composite type */
typedef struct FieldEnc
{
	char	   *json_name;		/* "name": ready to append */
	int			json_name_len;
	int			attno;			/* 0-based index in the composite's tupdesc */
	TypeEnc    *type;
} FieldEnc;

/* everything needed to encode values of one type, resolved once */
struct TypeEnc
{
	Oid			typid;			/* the column's type (a domain stays itself) */
	EncKind		kind;			/* of the base type */
	bool		typisvarlena;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	FmgrInfo	outfunc;		/* of the base type */
	TypeEnc    *elem;			/* ENC_ARRAY: element type */
	TupleDesc	tupdesc;		/* ENC_COMPOSITE: private copy */
	int			nfields;
	FieldEnc   *fields;
};

/* one document column; columns are in the order of the root table */
typedef struct ColEnc
{
	char	   *name;			/* plain column name */
	char	   *json_name;		/* "name": ready to append */
	int			json_name_len;
	AttrNumber	attnum;			/* in the relation the RelInfo describes */
	TypeEnc    *type;
} ColEnc;

/* what a relation's rows become; built by relinfo_get() */
typedef struct RelInfo
{
	Oid			relid;			/* hash key: the relation changes come from */
	bool		valid;
	uint64		generation;		/* changes whenever the entry is rebuilt */
	MemoryContext cxt;			/* owns everything below */

	Oid			rootid;			/* the root partitioned table, or relid */
	char	   *nspname;		/* of the root */
	char	   *relname;		/* of the root */
	char	   *json_relation;	/* "schema.table" as a JSON string */
	int			json_relation_len;
	bool		skip;			/* reindex's own tables, unlogged, temp */
	char		replident;		/* of relid: d, n, f, i */

	int			ncols;			/* root's live columns */
	ColEnc	   *cols;
	int			nkeys;			/* 0: the table has no usable key */
	int		   *keycols;		/* indexes into cols, in index order */

	/* slots owned by the output plugin, valid while *_gen matches */
	uint64		plugin_gen;
	bool		plugin_wanted;
	bool	   *plugin_selected;
	int			plugin_nsets;	/* option targets: the sets naming this table */
	int		   *plugin_set_ids;
	bool	  **plugin_set_selected;
} RelInfo;

/* relinfo.c */
extern RelInfo *relinfo_get(Relation rel);
extern RelInfo *relinfo_get_by_oid(Oid relid);
extern bool *relinfo_select_columns(RelInfo *ri, List *include, List *exclude,
									MemoryContext cxt);
extern void relinfo_require_key(RelInfo *ri);

/* encoder.c */
extern void encoder_append_json_string(StringInfo out, const char *s, int len);
extern void encoder_append_value(StringInfo out, TypeEnc *type, Datum value);
extern void encoder_append_id(StringInfo out, RelInfo *ri,
							  const Datum *values, const bool *nulls,
							  const int *map);
extern void encoder_append_document(StringInfo out, RelInfo *ri,
									const Datum *values, const bool *nulls,
									const int *map, const bool *selected);
extern void encoder_append_key(StringInfo out, RelInfo *ri,
							   const Datum *values, const bool *nulls,
							   const int *map);
extern void encoder_append_iso_timestamp(StringInfo out, int64 ts, bool utc);

#endif							/* REINDEX_ENCODER_H */
