/*-------------------------------------------------------------------------
 *
 * document_sql.c
 *	  SQL functions rendering a row exactly as the output plugin does:
 *	  reindex.document(rel, record, include_columns, exclude_columns) and
 *	  reindex.document_by_key(rel, key jsonb, include_columns,
 *	  exclude_columns).  Both return "<id> <document>", byte for byte the
 *	  tail of the plugin's index line for that row and column selection.
 *	  The backfill reads every row through reindex.document(); refetch
 *	  events are resolved with reindex.document_by_key().  And the reverse:
 *	  reindex.absent_ids(rel, ids jsonb) reads document ids back into key
 *	  values and returns those no row has (reindex_verify's extras), and
 *	  reindex.document_by_id(rel, id, ...) renders the current row of a
 *	  document id (replayed dead letters keep only the id).
 *
 *	  Invariants:
 *	  - They encode with the plugin's encoder and metadata (encoder.c,
 *		relinfo.c); record columns are matched to the table's by name and
 *		must have the same types.
 *	  - document_by_key() builds its query only from catalog names, quoted;
 *		key values travel as a parameter.
 *
 * IDENTIFICATION
 *	  src/plugin/document_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/typcache.h"

#include "encoder.h"
#include "wire_format.h"

PG_FUNCTION_INFO_V1(reindex_document);
PG_FUNCTION_INFO_V1(reindex_document_by_key);
PG_FUNCTION_INFO_V1(reindex_absent_ids);
PG_FUNCTION_INFO_V1(reindex_document_by_id);

/* how the columns of one record type map to a relation's, per call site */
typedef struct RecordMap
{
	Oid			relid;
	uint64		generation;		/* of the RelInfo it was built for */
	Oid			tuptype;
	int32		tuptypmod;
	TupleDesc	tupdesc;		/* copy, in fn_mcxt */
	int		   *map;			/* RelInfo column -> record attribute index */
} RecordMap;

/* column names from a text[] (NULL: NIL) */
static List *
names_of(FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NIL;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column names must not be null")));
		result = lappend(result, TextDatumGetCString(elems[i]));
	}
	return result;
}

static bool *
selection_of(FunctionCallInfo fcinfo, RelInfo *ri)
{
	List	   *include = names_of(fcinfo, 2);
	List	   *exclude = names_of(fcinfo, 3);

	if (include == NIL && exclude == NIL)
		return NULL;
	return relinfo_select_columns(ri, include, exclude, CurrentMemoryContext);
}

static RecordMap *
record_map_get(FunctionCallInfo fcinfo, RelInfo *ri, Oid tuptype,
			   int32 tuptypmod)
{
	RecordMap  *rm = fcinfo->flinfo->fn_extra;
	MemoryContext old;
	TupleDesc	desc;

	if (rm != NULL && rm->relid == ri->relid &&
		rm->generation == ri->generation && rm->tuptype == tuptype &&
		rm->tuptypmod == tuptypmod)
		return rm;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (rm == NULL)
		rm = palloc0(sizeof(RecordMap));
	else
	{
		if (rm->tupdesc)
			FreeTupleDesc(rm->tupdesc);
		if (rm->map)
			pfree(rm->map);
		rm->tupdesc = NULL;
		rm->map = NULL;
	}
	fcinfo->flinfo->fn_extra = rm;
	rm->relid = InvalidOid;		/* until complete */

	desc = lookup_rowtype_tupdesc(tuptype, tuptypmod);
	rm->tupdesc = CreateTupleDescCopy(desc);
	ReleaseTupleDesc(desc);
	rm->map = palloc(sizeof(int) * Max(ri->ncols, 1));
	MemoryContextSwitchTo(old);

	for (int c = 0; c < ri->ncols; c++)
	{
		int			i;

		for (i = 0; i < rm->tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(rm->tupdesc, i);

			if (!att->attisdropped &&
				strcmp(NameStr(att->attname), ri->cols[c].name) == 0)
				break;
		}
		if (i == rm->tupdesc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("record has no column \"%s\" of table \"%s.%s\"",
							ri->cols[c].name, ri->nspname, ri->relname),
					 errhint("Pass a whole row of the table, as in reindex.document('t', t) FROM t.")));
		if (TupleDescAttr(rm->tupdesc, i)->atttypid != ri->cols[c].type->typid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of the record has type %s, but column \"%s\" of table \"%s.%s\" has type %s",
							ri->cols[c].name,
							format_type_be(TupleDescAttr(rm->tupdesc, i)->atttypid),
							ri->cols[c].name, ri->nspname, ri->relname,
							format_type_be(ri->cols[c].type->typid))));
		rm->map[c] = i;
	}

	rm->relid = ri->relid;
	rm->generation = ri->generation;
	rm->tuptype = tuptype;
	rm->tuptypmod = tuptypmod;
	return rm;
}

/*
 * reindex.document(rel regclass, r record, include_columns text[],
 *					exclude_columns text[]) RETURNS text
 */
Datum
reindex_document(PG_FUNCTION_ARGS)
{
	HeapTupleHeader th;
	HeapTupleData tuple;
	RelInfo    *ri;
	RecordMap  *rm;
	Datum	   *values;
	bool	   *nulls;
	bool	   *selected;
	StringInfoData out;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();

	ri = relinfo_get_by_oid(PG_GETARG_OID(0));
	relinfo_require_key(ri);
	selected = selection_of(fcinfo, ri);

	th = PG_GETARG_HEAPTUPLEHEADER(1);
	rm = record_map_get(fcinfo, ri, HeapTupleHeaderGetTypeId(th),
						HeapTupleHeaderGetTypMod(th));

	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	values = palloc(sizeof(Datum) * Max(rm->tupdesc->natts, 1));
	nulls = palloc(sizeof(bool) * Max(rm->tupdesc->natts, 1));
	heap_deform_tuple(&tuple, rm->tupdesc, values, nulls);

	initStringInfo(&out);
	encoder_append_id(&out, ri, values, nulls, rm->map);
	appendStringInfoChar(&out, ' ');
	encoder_append_document(&out, ri, values, nulls, rm->map, selected);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* SELECT * FROM rel WHERE k1 = ($1->>'k1')::t1 AND ... */
static char *
key_query_of(RelInfo *ri)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT * FROM %s WHERE ",
					 quote_qualified_identifier(ri->nspname, ri->relname));
	for (int k = 0; k < ri->nkeys; k++)
	{
		ColEnc	   *col = &ri->cols[ri->keycols[k]];
		char	   *field = quote_literal_cstr(col->name);

		if (k > 0)
			appendStringInfoString(&q, " AND ");
		appendStringInfo(&q, "%s OPERATOR(pg_catalog.=) ",
						 quote_identifier(col->name));
		if (col->type->kind == ENC_BYTEA)
			appendStringInfo(&q, "pg_catalog.decode($1 OPERATOR(pg_catalog.->>) %s, 'base64')",
							 field);
		else
			appendStringInfo(&q, "($1 OPERATOR(pg_catalog.->>) %s)::%s",
							 field, format_type_be_qualified(col->type->typid));
	}
	return q.data;
}

/*
 * The current row of ri with this key (a jsonb object holding every key
 * column), rendered as reindex.document() does; NULL if there is none.
 */
static text *
document_for_key(FunctionCallInfo fcinfo, RelInfo *ri, Datum key)
{
	char	   *query;
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1] = {key};
	StringInfoData out;
	bool		found = false;
	int			ret;

	for (int k = 0; k < ri->nkeys; k++)
	{
		ColEnc	   *col = &ri->cols[ri->keycols[k]];

		if (!DatumGetBool(DirectFunctionCall2(jsonb_exists, key,
											  CStringGetTextDatum(col->name))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key has no member \"%s\" for table \"%s.%s\"",
							col->name, ri->nspname, ri->relname),
					 errdetail("A key object holds every key column, as in the key of a refetch event.")));
	}
	query = key_query_of(ri);
	initStringInfo(&out);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(query, 1, argtypes, args, NULL, true, 2);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s", SPI_result_code_string(ret));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("more than one row of table \"%s.%s\" has this key",
						ri->nspname, ri->relname)));
	if (SPI_processed == 1)
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum	   *values = palloc(sizeof(Datum) * Max(desc->natts, 1));
		bool	   *nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
		int		   *map = palloc(sizeof(int) * Max(ri->ncols, 1));
		bool	   *selected = selection_of(fcinfo, ri);

		/* SELECT * lists the table's live columns in order */
		for (int c = 0; c < ri->ncols; c++)
			map[c] = c;
		if (desc->natts != ri->ncols)
			elog(ERROR, "row of \"%s.%s\" has %d columns, expected %d",
				 ri->nspname, ri->relname, desc->natts, ri->ncols);
		heap_deform_tuple(SPI_tuptable->vals[0], desc, values, nulls);
		encoder_append_id(&out, ri, values, nulls, map);
		appendStringInfoChar(&out, ' ');
		encoder_append_document(&out, ri, values, nulls, map, selected);
		found = true;
	}
	SPI_finish();

	if (!found)
		return NULL;
	return cstring_to_text_with_len(out.data, out.len);
}

/*
 * reindex.document_by_key(rel regclass, key jsonb, include_columns text[],
 *						   exclude_columns text[]) RETURNS text
 *
 * The current row with that key (the key object of a refetch event), as
 * reindex.document() renders it; NULL if there is none.
 */
Datum
reindex_document_by_key(PG_FUNCTION_ARGS)
{
	RelInfo    *ri;
	text	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	ri = relinfo_get_by_oid(PG_GETARG_OID(0));
	relinfo_require_key(ri);
	result = document_for_key(fcinfo, ri, PG_GETARG_DATUM(1));
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

/*---- reindex.absent_ids: which document ids have no row ----*/

/*
 * Split a document id into its key parts: | separates, \ escapes the next
 * character (the encoder's id escape, encoder_append_id).  Returns the
 * number of parts found (at most max, more count as max + 1).
 */
static int
split_id(const char *id, int len, StringInfo parts, int max)
{
	int			n = 0;

	resetStringInfo(&parts[0]);
	for (int i = 0; i < len; i++)
	{
		if (id[i] == REINDEX_ID_ESCAPE && i + 1 < len)
			appendStringInfoChar(&parts[n], id[++i]);
		else if (id[i] == REINDEX_ID_SEPARATOR)
		{
			if (++n >= max)
				return max + 1;
			resetStringInfo(&parts[n]);
		}
		else
			appendStringInfoChar(&parts[n], id[i]);
	}
	return n + 1;
}

static bool
is_integer_text(const char *s, int64 min, int64 max)
{
	char	   *end;
	long long	v;

	if (*s == '\0' || isspace((unsigned char) *s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && v >= min && v <= max;
}

static bool
is_base64_text(const char *s, int len)
{
	if (len % 4 != 0)
		return false;
	for (int i = 0; i < len; i++)
		if (!isalnum((unsigned char) s[i]) && s[i] != '+' && s[i] != '/' &&
			!(s[i] == '=' && i >= len - 2))
			return false;
	return true;
}

/*
 * The key column's value for one id part, as the column's type reads it;
 * false when the part is not a value of that type (then no row can have
 * it).  Types whose input cannot be checked cheaply are read inside a
 * subtransaction so that a bad id is an absent row, not an error.
 */
static bool
key_value_of(ColEnc *col, StringInfo part, Datum *out)
{
	TypeEnc    *t = col->type;
	Oid			infunc,
				ioparam;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	switch (t->kind)
	{
		case ENC_INT2:
			if (!is_integer_text(part->data, PG_INT16_MIN, PG_INT16_MAX))
				return false;
			if (t->typid == INT2OID)
			{
				*out = Int16GetDatum((int16) strtol(part->data, NULL, 10));
				return true;
			}
			break;
		case ENC_INT4:
			if (!is_integer_text(part->data, PG_INT32_MIN, PG_INT32_MAX))
				return false;
			if (t->typid == INT4OID)
			{
				*out = Int32GetDatum((int32) strtol(part->data, NULL, 10));
				return true;
			}
			break;
		case ENC_INT8:
			if (!is_integer_text(part->data, PG_INT64_MIN, PG_INT64_MAX))
				return false;
			if (t->typid == INT8OID)
			{
				*out = Int64GetDatum((int64) strtoll(part->data, NULL, 10));
				return true;
			}
			break;
		case ENC_TEXT:
			if (t->typid == TEXTOID)
			{
				*out = PointerGetDatum(cstring_to_text_with_len(part->data, part->len));
				return true;
			}
			break;
		case ENC_BYTEA:
			if (!is_base64_text(part->data, part->len))
				return false;
			if (t->typid == BYTEAOID)
			{
				*out = DirectFunctionCall2(binary_decode,
										   PointerGetDatum(cstring_to_text_with_len(part->data, part->len)),
										   PointerGetDatum(cstring_to_text("base64")));
				return true;
			}
			break;
		default:
			break;
	}
	getTypeInputInfo(t->typid, &infunc, &ioparam);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		*out = OidInputFunctionCall(infunc, part->data, ioparam, -1);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * SELECT u.i FROM ROWS FROM (unnest($1::int4[]), unnest($2::t1[]), ...)
 *   AS u(i, k1, ...) WHERE NOT EXISTS (SELECT FROM rel x WHERE x.k1 = u.k1 ...)
 */
static char *
absent_query_of(RelInfo *ri, Oid *argtypes)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT u.i FROM ROWS FROM (pg_catalog.unnest($1)");
	argtypes[0] = INT4ARRAYOID;
	for (int k = 0; k < ri->nkeys; k++)
	{
		ColEnc	   *col = &ri->cols[ri->keycols[k]];

		argtypes[k + 1] = get_array_type(col->type->typid);
		if (!OidIsValid(argtypes[k + 1]))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("key column \"%s\" of table \"%s.%s\" has a type without an array type",
							col->name, ri->nspname, ri->relname)));
		appendStringInfo(&q, ", pg_catalog.unnest($%d)", k + 2);
	}
	appendStringInfoString(&q, ") AS u(i");
	for (int k = 0; k < ri->nkeys; k++)
		appendStringInfo(&q, ", k%d", k);
	appendStringInfo(&q, ") WHERE NOT EXISTS (SELECT FROM %s x WHERE ",
					 quote_qualified_identifier(ri->nspname, ri->relname));
	for (int k = 0; k < ri->nkeys; k++)
		appendStringInfo(&q, "%sx.%s OPERATOR(pg_catalog.=) u.k%d", k ? " AND " : "",
						 quote_identifier(ri->cols[ri->keycols[k]].name), k);
	appendStringInfoString(&q, ")");
	return q.data;
}

/*
 * reindex.absent_ids(rel regclass, ids jsonb) RETURNS SETOF text
 *
 * The document ids of the JSON array that no row of rel has, in the
 * caller's snapshot (reindex_verify's search for extra documents).  Ids are
 * read back into key values with the encoder's id format; an id that is
 * not one of rel's (wrong number of parts, a value the key type cannot
 * hold) is absent.  One query per call, an anti-join on the key.
 */
Datum
reindex_absent_ids(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RelInfo    *ri;
	Jsonb	   *ids;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n,
				nids = 0,
				nfound = 0,
				cap;
	char	  **idv;
	int		   *idl;
	Datum	  **vals;
	Datum	   *pos;
	StringInfoData *parts;
	Oid		   *argtypes;
	Datum	   *args;
	char	   *query;
	int			ret;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	ri = relinfo_get_by_oid(PG_GETARG_OID(0));
	relinfo_require_key(ri);
	ids = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(ids) || JB_ROOT_IS_SCALAR(ids))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ids must be a JSON array of strings")));
	cap = Max(JB_ROOT_COUNT(ids), 1);
	idv = palloc(sizeof(char *) * cap);
	idl = palloc(sizeof(int) * cap);
	pos = palloc(sizeof(Datum) * cap);
	vals = palloc(sizeof(Datum *) * ri->nkeys);
	for (int k = 0; k < ri->nkeys; k++)
		vals[k] = palloc(sizeof(Datum) * cap);
	parts = palloc(sizeof(StringInfoData) * ri->nkeys);
	for (int k = 0; k < ri->nkeys; k++)
		initStringInfo(&parts[k]);

	it = JsonbIteratorInit(&ids->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		ok;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ids must be a JSON array of strings")));
		idv[nids] = v.val.string.val;
		idl[nids] = v.val.string.len;
		ok = split_id(v.val.string.val, v.val.string.len, parts, ri->nkeys) == ri->nkeys;
		for (int k = 0; ok && k < ri->nkeys; k++)
			ok = key_value_of(&ri->cols[ri->keycols[k]], &parts[k], &vals[k][nfound]);
		if (ok)
			pos[nfound++] = Int32GetDatum(nids);
		else
		{
			Datum		d = PointerGetDatum(cstring_to_text_with_len(idv[nids], idl[nids]));
			bool		isnull = false;

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &d, &isnull);
		}
		nids++;
	}
	if (nfound == 0)
		return (Datum) 0;

	n = ri->nkeys + 1;
	argtypes = palloc(sizeof(Oid) * n);
	args = palloc(sizeof(Datum) * n);
	query = absent_query_of(ri, argtypes);
	args[0] = PointerGetDatum(construct_array(pos, nfound, INT4OID, 4, true, TYPALIGN_INT));
	for (int k = 0; k < ri->nkeys; k++)
	{
		TypeEnc    *t = ri->cols[ri->keycols[k]].type;

		args[k + 1] = PointerGetDatum(construct_array(vals[k], nfound, t->typid, t->typlen,
													  t->typbyval, t->typalign));
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(query, n, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s", SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int			i = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
													SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d = PointerGetDatum(cstring_to_text_with_len(idv[i], idl[i]));

		isnull = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &d, &isnull);
	}
	SPI_finish();
	return (Datum) 0;
}

/*---- reindex.document_by_id: the current row of a document id ----*/

/*
 * reindex.document_by_id(rel regclass, id text, include_columns text[],
 *						  exclude_columns text[]) RETURNS text
 *
 * The current row whose document id is id (a dead letter's doc_id), as
 * reindex.document() renders it; NULL if there is none.  The id is split
 * into its key parts (split_id); each part is the key column's value as the
 * id renders it, which the key query reads back as document_by_key() does.
 * An id with another number of parts than the key has columns names no
 * row: NULL.
 */
Datum
reindex_document_by_id(PG_FUNCTION_ARGS)
{
	RelInfo    *ri;
	text	   *id;
	StringInfoData *parts;
	StringInfoData key;
	text	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	ri = relinfo_get_by_oid(PG_GETARG_OID(0));
	relinfo_require_key(ri);
	id = PG_GETARG_TEXT_PP(1);
	parts = palloc(sizeof(StringInfoData) * ri->nkeys);
	for (int k = 0; k < ri->nkeys; k++)
		initStringInfo(&parts[k]);
	if (split_id(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id), parts, ri->nkeys) != ri->nkeys)
		PG_RETURN_NULL();
	initStringInfo(&key);
	appendStringInfoChar(&key, '{');
	for (int k = 0; k < ri->nkeys; k++)
	{
		if (k > 0)
			appendStringInfoChar(&key, ',');
		escape_json(&key, ri->cols[ri->keycols[k]].name);
		appendStringInfoChar(&key, ':');
		escape_json(&key, parts[k].data);
	}
	appendStringInfoChar(&key, '}');
	result = document_for_key(fcinfo, ri,
							  DirectFunctionCall1(jsonb_in, CStringGetDatum(key.data)));
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}
