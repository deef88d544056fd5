/*-------------------------------------------------------------------------
 *
 * relinfo.c
 *	  Per-relation and per-type metadata of the document encoder: for each
 *	  relation whose rows are encoded, its root table, the root's live
 *	  columns (in the root's order, mapped to the relation's attribute
 *	  numbers), the key columns the document id is built from, and for each
 *	  column type how its values are written (output function, kind).
 *
 *	  Invariants:
 *	  - Entries are built on first use and rebuilt only after an
 *		invalidation: relcache callbacks mark a relation's entry (or every
 *		entry whose root is that relation) stale; pg_type changes and changes
 *		to a composite type's relation mark every type encoder stale.
 *	  - Callbacks only set flags.  Memory is released only inside
 *		relinfo_get(), so a pointer returned by relinfo_get() stays usable
 *		until the next relinfo_get() call.
 *	  - The key is the root's replica identity index (the primary key by
 *		default); a relation with REPLICA IDENTITY NOTHING or without such
 *		an index has nkeys = 0 and callers refuse it with
 *		relinfo_require_key().
 *
 * IDENTIFICATION
 *	  src/plugin/relinfo.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "encoder.h"
#include "pg_compat.h"

typedef struct TypeEntry
{
	Oid			typid;			/* hash key */
	Oid			typrelid;		/* composite: its pg_class entry */
	TypeEnc    *enc;
} TypeEntry;

static MemoryContext CacheCxt = NULL;	/* RelInfo hash, RelInfo contexts */
static MemoryContext TypeCxt = NULL;	/* type hash and every TypeEnc */
static HTAB *RelInfoHash = NULL;
static HTAB *TypeHash = NULL;
static bool types_stale = false;
static RelInfo *last_ri = NULL;	/* the entry relinfo_get() returned last */
static uint64 generation_counter = 0;

static void relinfo_relcache_cb(Datum arg, Oid relid);
static void relinfo_type_cb(Datum arg, int cacheid, uint32 hashvalue);
static TypeEnc *typeenc_get(Oid typid);

/*---- cache setup and invalidation ----*/

static void
create_type_hash(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(TypeEntry);
	ctl.hcxt = TypeCxt;
	TypeHash = hash_create("reindex type encoders", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
cache_init(void)
{
	HASHCTL		ctl;

	if (RelInfoHash != NULL)
		return;

	CacheCxt = AllocSetContextCreate(CacheMemoryContext,
									 "reindex relation cache",
									 ALLOCSET_DEFAULT_SIZES);
	TypeCxt = AllocSetContextCreate(CacheCxt, "reindex type cache",
									ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RelInfo);
	ctl.hcxt = CacheCxt;
	RelInfoHash = hash_create("reindex relations", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	create_type_hash();

	CacheRegisterRelcacheCallback(relinfo_relcache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, relinfo_type_cb, (Datum) 0);
}

static void
relinfo_relcache_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	RelInfo    *ri;

	if (RelInfoHash == NULL)
		return;

	hash_seq_init(&status, RelInfoHash);
	while ((ri = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || ri->relid == relid || ri->rootid == relid)
			ri->valid = false;
	}

	/* a composite type's attributes live in its pg_class entry */
	if (TypeHash != NULL && !types_stale)
	{
		TypeEntry  *te;

		hash_seq_init(&status, TypeHash);
		while ((te = hash_seq_search(&status)) != NULL)
		{
			if (te->typrelid != InvalidOid &&
				(relid == InvalidOid || te->typrelid == relid))
			{
				types_stale = true;
				hash_seq_term(&status);
				break;
			}
		}
	}
}

static void
relinfo_type_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	types_stale = true;
}

/* drop every type encoder and, since relations point at them, every entry */
static void
flush_types(void)
{
	HASH_SEQ_STATUS status;
	RelInfo    *ri;

	hash_seq_init(&status, RelInfoHash);
	while ((ri = hash_seq_search(&status)) != NULL)
		ri->valid = false;

	MemoryContextReset(TypeCxt);
	create_type_hash();
	types_stale = false;
}

/*---- type encoders ----*/

static EncKind
kind_of_base_type(Oid typid, char typtype)
{
	switch (typid)
	{
		case INT2OID:
			return ENC_INT2;
		case INT4OID:
			return ENC_INT4;
		case INT8OID:
			return ENC_INT8;
		case FLOAT4OID:
			return ENC_FLOAT4;
		case FLOAT8OID:
			return ENC_FLOAT8;
		case NUMERICOID:
			return ENC_NUMERIC;
		case BOOLOID:
			return ENC_BOOL;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return ENC_TEXT;
		case NAMEOID:
			return ENC_NAME;
		case JSONOID:
			return ENC_JSON;
		case JSONBOID:
			return ENC_JSONB;
		case DATEOID:
			return ENC_DATE;
		case TIMEOID:
			return ENC_TIME;
		case TIMETZOID:
			return ENC_TIMETZ;
		case TIMESTAMPOID:
			return ENC_TIMESTAMP;
		case TIMESTAMPTZOID:
			return ENC_TIMESTAMPTZ;
		case INTERVALOID:
			return ENC_INTERVAL;
		case UUIDOID:
			return ENC_UUID;
		case BYTEAOID:
			return ENC_BYTEA;
		default:
			break;
	}
	if (typtype == TYPTYPE_COMPOSITE)
		return ENC_COMPOSITE;
	return ENC_OTHER;
}

/* fill in an encoder; called with TypeCxt current */
static void
typeenc_build(TypeEnc *enc, Oid typid, Oid *typrelid)
{
	int32		basetypmod = -1;
	Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);
	Oid			elemtype;
	Oid			outfunc;
	char		typtype = get_typtype(basetype);

	enc->typid = typid;
	get_typlenbyvalalign(basetype, &enc->typlen, &enc->typbyval,
						 &enc->typalign);
	getTypeOutputInfo(basetype, &outfunc, &enc->typisvarlena);
	fmgr_info_cxt(outfunc, &enc->outfunc, TypeCxt);
	enc->kind = kind_of_base_type(basetype, typtype);

	elemtype = get_element_type(basetype);
	if (OidIsValid(elemtype) && enc->typlen == -1)
	{
		enc->kind = ENC_ARRAY;
		enc->elem = typeenc_get(elemtype);
	}
	else if (enc->kind == ENC_COMPOSITE)
	{
		TupleDesc	td = lookup_rowtype_tupdesc(basetype, -1);
		int			n = 0;

		*typrelid = get_typ_typrelid(basetype);
		enc->tupdesc = CreateTupleDescCopy(td);
		ReleaseTupleDesc(td);
		enc->fields = palloc(sizeof(FieldEnc) * enc->tupdesc->natts);
		for (int i = 0; i < enc->tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(enc->tupdesc, i);
			StringInfoData buf;

			if (att->attisdropped)
				continue;
			initStringInfo(&buf);
			encoder_append_json_string(&buf, NameStr(att->attname),
									   strlen(NameStr(att->attname)));
			appendStringInfoChar(&buf, ':');
			enc->fields[n].json_name = buf.data;
			enc->fields[n].json_name_len = buf.len;
			enc->fields[n].attno = i;
			enc->fields[n].type = typeenc_get(att->atttypid);
			n++;
		}
		enc->nfields = n;
	}
}

static TypeEnc *
typeenc_get(Oid typid)
{
	TypeEntry  *te;
	bool		found;
	MemoryContext old;

	te = hash_search(TypeHash, &typid, HASH_ENTER, &found);
	if (found)
	{
		/* NULL enc: a composite that (illegally) contains itself */
		if (te->enc == NULL)
			elog(ERROR, "type %u contains itself", typid);
		return te->enc;
	}
	te->enc = NULL;
	te->typrelid = InvalidOid;

	old = MemoryContextSwitchTo(TypeCxt);
	PG_TRY();
	{
		TypeEnc    *enc = palloc0(sizeof(TypeEnc));
		Oid			typrelid = InvalidOid;

		typeenc_build(enc, typid, &typrelid);
		/* the entry may have moved? no: dynahash entries never move */
		te->enc = enc;
		te->typrelid = typrelid;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		hash_search(TypeHash, &typid, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	return te->enc;
}

/*---- relations ----*/

static char *
json_name_of(const char *name)
{
	StringInfoData buf;

	initStringInfo(&buf);
	encoder_append_json_string(&buf, name, strlen(name));
	appendStringInfoChar(&buf, ':');
	return buf.data;
}

/* the index whose columns make the document id, or InvalidOid */
static Oid
key_index_of(Relation rel, Relation root)
{
	if (rel->rd_rel->relreplident == REPLICA_IDENTITY_NOTHING ||
		root->rd_rel->relreplident == REPLICA_IDENTITY_NOTHING)
		return InvalidOid;
	if (root->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
		return reindex_primary_key_index(root);
	return RelationGetReplicaIndex(root);
}

static void
relinfo_build(RelInfo *ri, Relation rel)
{
	Relation	root = rel;
	TupleDesc	rootdesc;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			keyindex;
	MemoryContext old;
	StringInfoData buf;
	char	   *qualified;

	if (ri->cxt != NULL)
		MemoryContextDelete(ri->cxt);
	ri->cxt = AllocSetContextCreate(CacheCxt, "reindex relation",
									ALLOCSET_SMALL_SIZES);
	ri->valid = true;			/* an invalidation during the build wins */
	ri->generation = ++generation_counter;
	ri->plugin_gen = 0;
	ri->plugin_selected = NULL;
	ri->plugin_nsets = 0;
	ri->plugin_set_ids = NULL;
	ri->plugin_set_selected = NULL;
	ri->nkeys = 0;

	old = MemoryContextSwitchTo(ri->cxt);

	ri->rootid = RelationGetRelid(rel);
	if (rel->rd_rel->relispartition)
	{
		List	   *ancestors = get_partition_ancestors(RelationGetRelid(rel));

		ri->rootid = llast_oid(ancestors);
		root = RelationIdGetRelation(ri->rootid);
		if (!RelationIsValid(root))
			elog(ERROR, "could not open relation with OID %u", ri->rootid);
	}
	rootdesc = RelationGetDescr(root);

	ri->replident = rel->rd_rel->relreplident;
	ri->nspname = get_namespace_name(RelationGetNamespace(root));
	ri->relname = pstrdup(RelationGetRelationName(root));
	qualified = quote_qualified_identifier(ri->nspname, ri->relname);
	initStringInfo(&buf);
	encoder_append_json_string(&buf, qualified, strlen(qualified));
	ri->json_relation = buf.data;
	ri->json_relation_len = buf.len;
	ri->skip = strcmp(ri->nspname, "reindex") == 0 ||
		rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT;

	/* the root's live columns, found in rel by name */
	ri->cols = palloc0(sizeof(ColEnc) * Max(rootdesc->natts, 1));
	ri->ncols = 0;
	for (int i = 0; i < rootdesc->natts; i++)
	{
		Form_pg_attribute ratt = TupleDescAttr(rootdesc, i);
		ColEnc	   *col = &ri->cols[ri->ncols];
		AttrNumber	attnum = InvalidAttrNumber;

		if (ratt->attisdropped)
			continue;
#ifdef ATTRIBUTE_GENERATED_VIRTUAL
		if (ratt->attgenerated == ATTRIBUTE_GENERATED_VIRTUAL)
			continue;
#endif
		if (root == rel)
			attnum = ratt->attnum;
		else
		{
			for (int j = 0; j < desc->natts; j++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, j);

				if (!att->attisdropped &&
					strcmp(NameStr(att->attname), NameStr(ratt->attname)) == 0)
				{
					attnum = att->attnum;
					break;
				}
			}
			if (attnum == InvalidAttrNumber)
				elog(ERROR, "column \"%s\" of \"%s\" is missing in partition \"%s\"",
					 NameStr(ratt->attname), ri->relname,
					 RelationGetRelationName(rel));
		}
		col->name = pstrdup(NameStr(ratt->attname));
		col->json_name = json_name_of(col->name);
		col->json_name_len = strlen(col->json_name);
		col->attnum = attnum;
		col->type = NULL;		/* filled below, outside this context */
		ri->ncols++;
	}

	/* key columns, in index order */
	keyindex = key_index_of(rel, root);
	if (OidIsValid(keyindex))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(keyindex));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", keyindex);
		idx = (Form_pg_index) GETSTRUCT(tup);
		ri->keycols = palloc(sizeof(int) * idx->indnkeyatts);
		for (int k = 0; k < idx->indnkeyatts; k++)
		{
			AttrNumber	rootattnum = idx->indkey.values[k];
			const char *name;
			int			c;

			if (rootattnum <= 0)
				continue;		/* expression index: not a usable key */
			name = NameStr(TupleDescAttr(rootdesc, rootattnum - 1)->attname);
			for (c = 0; c < ri->ncols; c++)
				if (strcmp(ri->cols[c].name, name) == 0)
					break;
			if (c < ri->ncols)
				ri->keycols[ri->nkeys++] = c;
		}
		ReleaseSysCache(tup);
	}

	MemoryContextSwitchTo(old);

	for (int c = 0; c < ri->ncols; c++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, ri->cols[c].attnum - 1);

		ri->cols[c].type = typeenc_get(att->atttypid);
	}

	if (root != rel)
		RelationClose(root);
}

/*
 * The metadata of rel (any relation whose rows are encoded).  The result is
 * valid until the next call.
 */
RelInfo *
relinfo_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	RelInfo    *ri;
	bool		found;

	/* runs of changes of one table: skip the hash lookup */
	if (likely(last_ri != NULL && last_ri->relid == relid &&
			   last_ri->valid && !types_stale))
		return last_ri;

	cache_init();
	if (types_stale)
		flush_types();

	ri = hash_search(RelInfoHash, &relid, HASH_ENTER, &found);
	if (!found)
	{
		ri->valid = false;
		ri->cxt = NULL;
		ri->keycols = NULL;
	}
	if (!ri->valid)
	{
		PG_TRY();
		{
			relinfo_build(ri, rel);
		}
		PG_CATCH();
		{
			ri->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	last_ri = ri;				/* dynahash entries never move */
	return ri;
}

/* same, for a relation the caller has not opened */
RelInfo *
relinfo_get_by_oid(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	RelInfo    *ri;

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel))));
	ri = relinfo_get(rel);
	relation_close(rel, NoLock);
	return ri;
}

/* refuse a relation whose rows cannot be given a document id */
void
relinfo_require_key(RelInfo *ri)
{
	if (ri->nkeys > 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table \"%s.%s\" has no primary key or replica identity index",
					ri->nspname, ri->relname),
			 errdetail("Document ids are built from the primary key or the replica identity index, and REPLICA IDENTITY NOTHING carries no key."),
			 errhint("Add a primary key, or use ALTER TABLE ... REPLICA IDENTITY USING INDEX.")));
}

/*
 * Which document columns to render, from lists of column names (char *);
 * NIL include means all.  Unknown names are an error.
 */
bool *
relinfo_select_columns(RelInfo *ri, List *include, List *exclude,
					   MemoryContext cxt)
{
	bool	   *selected = MemoryContextAlloc(cxt, sizeof(bool) * Max(ri->ncols, 1));
	ListCell   *lc;

	for (int c = 0; c < ri->ncols; c++)
		selected[c] = (include == NIL);

	for (int pass = 0; pass < 2; pass++)
	{
		foreach(lc, pass == 0 ? include : exclude)
		{
			const char *name = lfirst(lc);
			int			c;

			for (c = 0; c < ri->ncols; c++)
				if (strcmp(ri->cols[c].name, name) == 0)
					break;
			if (c == ri->ncols)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s.%s\" does not exist",
								name, ri->nspname, ri->relname)));
			selected[c] = (pass == 0);
		}
	}
	return selected;
}
