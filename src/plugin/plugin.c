/*-------------------------------------------------------------------------
 *
 * plugin.c
 *	  The logical decoding output plugin `reindex`: turns committed row
 *	  changes into the index/delete/refetch/truncate events of the wire
 *	  format (src/plugin/WIRE-FORMAT.md), framed by begin and commit.
 *
 *	  Invariants:
 *	  - One OutputPluginPrepareWrite/OutputPluginWrite pair per message, one
 *		line per message (or, with batch_bytes, lines of one transaction
 *		up to about batch_bytes per message); never one buffer per
 *		transaction, and a message never outlives its transaction's commit.
 *	  - Every message of a transaction carries version = txn->end_lsn, the
 *		end of its commit record (DESIGN.md, invariant I1).
 *	  - begin (unless include_begin is false) is written lazily before the
 *		first event of a transaction, so a transaction without events writes
 *		nothing, not even its formatted version and commit time; commit is
 *		written iff an event was.
 *	  - All per-change allocations go to change_cxt, reset after every
 *		change, so a transaction of any size runs in constant memory.
 *	  - An unchanged TOASTed value (an on-disk pointer the WAL does not
 *		carry) is never detoasted: with REPLICA IDENTITY FULL it is taken
 *		from the old row, otherwise the row becomes a refetch event.
 *	  - With the option targets, a change is written once per set naming its
 *		table, each line prefixed "<set> " and rendered with that set's
 *		columns; a TRUNCATE likewise once per set.
 *	  - Changes filtered out (other tables, reindex's own tables) call
 *		OutputPluginUpdateProgress every PROGRESS_EVERY changes, so a long
 *		run of them never trips wal_sender_timeout on PostgreSQL 15.
 *
 * IDENTIFICATION
 *	  src/plugin/plugin.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "encoder.h"
#include "pg_compat.h"
#include "plugin.h"
#include "wire_format.h"

#define PROGRESS_EVERY 100

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

static uint64 session_counter = 0;

static void reindex_startup(LogicalDecodingContext *ctx,
							OutputPluginOptions *opt, bool is_init);
static void reindex_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn);
static void reindex_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
						   Relation relation, ReorderBufferChange *change);
static void reindex_truncate(LogicalDecodingContext *ctx,
							 ReorderBufferTXN *txn, int nrelations,
							 Relation relations[], ReorderBufferChange *change);
static void reindex_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
						   XLogRecPtr commit_lsn);
static void reindex_shutdown(LogicalDecodingContext *ctx);
static void format_tail(PluginState *state, ReorderBufferTXN *txn);

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = reindex_startup;
	cb->begin_cb = reindex_begin;
	cb->change_cb = reindex_change;
	cb->truncate_cb = reindex_truncate;
	cb->commit_cb = reindex_commit;
	cb->shutdown_cb = reindex_shutdown;
}

static void
reindex_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
				bool is_init)
{
	PluginState *state = MemoryContextAllocZero(ctx->context,
												sizeof(PluginState));
	MemoryContext old = MemoryContextSwitchTo(ctx->context);

	plugin_parse_options(ctx->output_plugin_options, &state->opts);

	state->scratch = makeStringInfo();
	MemoryContextSwitchTo(old);
	state->change_cxt = AllocSetContextCreate(ctx->context,
											  "reindex change",
											  ALLOCSET_DEFAULT_SIZES);
	state->session = ++session_counter;
	state->cur_set = -1;
	ctx->output_plugin_private = state;

	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;
}

static void
reindex_shutdown(LogicalDecodingContext *ctx)
{
	/* everything lives in ctx->context, which the caller deletes */
}

/*---- messages ----*/

/*
 * Lines and messages.  A line is one wire-format message; with the option
 * batch_bytes, the lines of one transaction share messages (joined by '\n')
 * until a message reaches batch_bytes, and commit always ends its message,
 * so nothing of a committed transaction waits for the next one.
 */
static StringInfo
line_start(LogicalDecodingContext *ctx, PluginState *state)
{
	if (state->batch_open)
		appendStringInfoChar(ctx->out, REINDEX_LINE_SEPARATOR);
	else
	{
		OutputPluginPrepareWrite(ctx, true);
		state->batch_open = state->opts.batch_bytes > 0;
	}
	return ctx->out;
}

/* the line is complete: write the message unless the batch takes more */
static void
line_end(LogicalDecodingContext *ctx, PluginState *state, bool last)
{
	if (state->batch_open && !last && ctx->out->len < state->opts.batch_bytes)
		return;
	OutputPluginWrite(ctx, true);
	state->batch_open = false;
}

static inline void
put_bytes(StringInfo out, const char *s, int len)
{
	memcpy(out->data + out->len, s, len);
	out->len += len;
}

/* "<op> <tail>": a begin or commit line */
static void
write_begin_or_commit(LogicalDecodingContext *ctx, PluginState *state,
					  const char *op, int oplen, bool last)
{
	StringInfo	out = line_start(ctx, state);

	enlargeStringInfo(out, oplen + 1 + state->tail_len);
	put_bytes(out, op, oplen);
	out->data[out->len++] = ' ';
	put_bytes(out, state->tail, state->tail_len);
	out->data[out->len] = '\0';
	line_end(ctx, state, last);
}

/*
 * Start an event line: "<op> <version> <relation>" (begin first if due);
 * the caller appends the rest and calls line_end().
 */
static StringInfo
start_event(LogicalDecodingContext *ctx, PluginState *state,
			ReorderBufferTXN *txn, const char *op, int oplen, RelInfo *ri)
{
	StringInfo	out;

	if (!state->txn_written)
	{
		format_tail(state, txn);
		if (state->opts.include_begin)
			write_begin_or_commit(ctx, state, REINDEX_OP_BEGIN,
								  strlen(REINDEX_OP_BEGIN), false);
		state->txn_written = true;
	}
	out = line_start(ctx, state);
	if (state->cur_set >= 0)
	{
		/* option targets: "<set> " tags the line with its set */
		char		num[12];
		int			n = pg_ultoa_n((uint32) state->cur_set, num);

		enlargeStringInfo(out, n + 1);
		put_bytes(out, num, n);
		out->data[out->len++] = ' ';
	}
	enlargeStringInfo(out, oplen + state->version_len + ri->json_relation_len + 2);
	put_bytes(out, op, oplen);
	out->data[out->len++] = ' ';
	put_bytes(out, state->tail, state->version_len);
	out->data[out->len++] = ' ';
	put_bytes(out, ri->json_relation, ri->json_relation_len);
	out->data[out->len] = '\0';
	return out;
}

#define START_EVENT(ctx, state, txn, op, ri) \
	start_event(ctx, state, txn, op, sizeof(op) - 1, ri)

/*
 * The begin/commit tail, formatted once per transaction, and only for a
 * transaction that writes something: with a table option most transactions
 * a slot decodes write nothing.
 */
static void
format_tail(PluginState *state, ReorderBufferTXN *txn)
{
	char	   *p = state->tail;

	p += pg_ulltoa_n((uint64) txn->end_lsn, p);
	state->version_len = p - state->tail;
	*p++ = ' ';
	p += pg_ultoa_n(txn->xid, p);
	*p = '\0';
	state->tail_len = p - state->tail;
	if (state->opts.include_commit_time)
	{
		StringInfo	buf = state->scratch;

		resetStringInfo(buf);
		appendStringInfoChar(buf, ' ');
		encoder_append_iso_timestamp(buf, txn->xact_time.commit_time, true);
		if (state->tail_len + buf->len >= sizeof(state->tail))
			elog(ERROR, "commit time \"%s\" is too long", buf->data);
		memcpy(p, buf->data, buf->len + 1);
		state->tail_len += buf->len;
	}
}

static void
reindex_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	PluginState *state = ctx->output_plugin_private;

	state->txn_written = false;
}

static void
reindex_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			   XLogRecPtr commit_lsn)
{
	PluginState *state = ctx->output_plugin_private;

	if (!state->txn_written)
	{
		/* nothing written: still let the walsender report progress */
		OutputPluginUpdateProgress(ctx, true);
		return;
	}
	write_begin_or_commit(ctx, state, REINDEX_OP_COMMIT,
						  strlen(REINDEX_OP_COMMIT), true);
	state->txn_written = false;
	state->skipped = 0;
}

/*---- filtering ----*/

/* does this session emit events for ri's table? */
static bool
plugin_wants(PluginState *state, RelInfo *ri)
{
	PluginOptions *opts = &state->opts;

	if (ri->plugin_gen != state->session)
	{
		bool		wanted = !ri->skip;

		ri->plugin_nsets = 0;
		if (wanted && opts->has_targets)
		{
			/* option targets: the sets naming this table, with their columns */
			ri->plugin_set_ids = MemoryContextAlloc(ri->cxt, sizeof(int) * opts->nsets);
			ri->plugin_set_selected = MemoryContextAlloc(ri->cxt, sizeof(bool *) * opts->nsets);
			for (int k = 0; k < opts->nsets; k++)
			{
				PluginSet  *set = &opts->sets[k];

				if (set->table_oid != ri->rootid)
					continue;
				ri->plugin_set_ids[ri->plugin_nsets] = k;
				ri->plugin_set_selected[ri->plugin_nsets] =
					(set->include_columns != NIL || set->exclude_columns != NIL) ?
					relinfo_select_columns(ri, set->include_columns,
										   set->exclude_columns, ri->cxt) : NULL;
				ri->plugin_nsets++;
			}
			wanted = ri->plugin_nsets > 0;
		}
		else if (wanted && opts->has_table)
		{
			if (OidIsValid(opts->table_oid))
				wanted = ri->rootid == opts->table_oid;
			else
				wanted = strcmp(ri->relname, opts->table_name) == 0 &&
					strcmp(ri->nspname, opts->table_schema) == 0;
		}
		ri->plugin_selected = NULL;
		if (wanted && !opts->has_targets && (opts->include_columns != NIL ||
					   opts->exclude_columns != NIL))
			ri->plugin_selected = relinfo_select_columns(ri,
														 opts->include_columns,
														 opts->exclude_columns,
														 ri->cxt);
		ri->plugin_wanted = wanted;
		ri->plugin_gen = state->session;
	}
	return ri->plugin_wanted;
}

static void
note_skipped(LogicalDecodingContext *ctx, PluginState *state)
{
	if (++state->skipped >= PROGRESS_EVERY)
	{
		OutputPluginUpdateProgress(ctx, false);
		state->skipped = 0;
	}
}

/*---- changes ----*/

static void
deform(HeapTuple tuple, TupleDesc desc, Datum **values, bool **nulls)
{
	*values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	*nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	heap_deform_tuple(tuple, desc, *values, *nulls);
}

static inline bool
is_unchanged_toast(TypeEnc *type, Datum value)
{
	return type->typisvarlena &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value));
}

/*
 * Replace unchanged TOASTed values of the new row by the old row's (RI
 * FULL).  Returns false if some rendered column still lacks its value.
 */
static bool
fill_unchanged_toast(RelInfo *ri, const bool *selected, Datum *nvalues,
					 bool *nnulls, const Datum *ovalues, const bool *onulls)
{
	bool		complete = true;

	for (int c = 0; c < ri->ncols; c++)
	{
		int			v = ri->cols[c].attnum - 1;

		if (nnulls[v] || !is_unchanged_toast(ri->cols[c].type, nvalues[v]))
			continue;
		if (ovalues != NULL && ri->replident == REPLICA_IDENTITY_FULL &&
			!onulls[v] && !is_unchanged_toast(ri->cols[c].type, ovalues[v]))
			nvalues[v] = ovalues[v];
		else if (selected == NULL || selected[c])
			complete = false;
	}
	return complete;
}

/* " <id> ": the id already rendered, or rendered from the row */
static void
append_id_field(StringInfo out, RelInfo *ri, const char *id,
				const Datum *values, const bool *nulls)
{
	appendStringInfoChar(out, ' ');
	if (id)
		appendStringInfoString(out, id);
	else
		encoder_append_id(out, ri, values, nulls, NULL);
	appendStringInfoChar(out, ' ');
}

static void
emit_index(LogicalDecodingContext *ctx, PluginState *state,
		   ReorderBufferTXN *txn, RelInfo *ri, const char *id,
		   const Datum *values, const bool *nulls)
{
	START_EVENT(ctx, state, txn, REINDEX_OP_INDEX, ri);
	append_id_field(ctx->out, ri, id, values, nulls);
	encoder_append_document(ctx->out, ri, values, nulls, NULL,
							ri->plugin_selected);
	line_end(ctx, state, false);
}

static void
emit_delete(LogicalDecodingContext *ctx, PluginState *state,
			ReorderBufferTXN *txn, RelInfo *ri, const char *id)
{
	START_EVENT(ctx, state, txn, REINDEX_OP_DELETE, ri);
	appendStringInfoChar(ctx->out, ' ');
	appendStringInfoString(ctx->out, id);
	line_end(ctx, state, false);
}

static void
emit_refetch(LogicalDecodingContext *ctx, PluginState *state,
			 ReorderBufferTXN *txn, RelInfo *ri, const char *id,
			 const Datum *values, const bool *nulls)
{
	START_EVENT(ctx, state, txn, REINDEX_OP_REFETCH, ri);
	append_id_field(ctx->out, ri, id, values, nulls);
	encoder_append_key(ctx->out, ri, values, nulls, NULL);
	line_end(ctx, state, false);
}

static char *
id_of(RelInfo *ri, const Datum *values, const bool *nulls)
{
	StringInfoData buf;

	/* ids are short: start small rather than with initStringInfo's 1 kB */
	buf.maxlen = 64;
	buf.data = palloc(buf.maxlen);
	buf.len = 0;
	buf.data[0] = '\0';
	buf.cursor = 0;
	encoder_append_id(&buf, ri, values, nulls, NULL);
	return buf.data;
}

static void
missing_old_key(RelInfo *ri)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("row deleted from table \"%s.%s\" carries no key",
					ri->nspname, ri->relname),
			 errdetail("The WAL record holds no old key for this change.")));
}

static void
decode_update(LogicalDecodingContext *ctx, PluginState *state,
			  ReorderBufferTXN *txn, Relation relation, RelInfo *ri,
			  ReorderBufferChange *change)
{
	TupleDesc	desc = RelationGetDescr(relation);
	Datum	   *nvalues;
	bool	   *nnulls;
	Datum	   *ovalues = NULL;
	bool	   *onulls = NULL;
	char	   *newid;

	if (change->data.tp.newtuple == NULL)
		return;
	deform(REINDEX_CHANGE_TUPLE(change->data.tp.newtuple), desc, &nvalues, &nnulls);
	if (change->data.tp.oldtuple != NULL)
		deform(REINDEX_CHANGE_TUPLE(change->data.tp.oldtuple), desc, &ovalues, &onulls);

	/* a key column itself cannot be an unchanged TOAST pointer here */
	for (int k = 0; k < ri->nkeys; k++)
	{
		int			v = ri->cols[ri->keycols[k]].attnum - 1;

		if (!nnulls[v] &&
			is_unchanged_toast(ri->cols[ri->keycols[k]].type, nvalues[v]))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("key column \"%s\" of table \"%s.%s\" is stored out of line",
							ri->cols[ri->keycols[k]].name, ri->nspname,
							ri->relname),
					 errdetail("The WAL does not carry unchanged out-of-line values, so no document id can be built.")));
	}

	/* without an old tuple the key did not change: ids are written directly */
	newid = NULL;
	if (ovalues != NULL)
	{
		char	   *oldid = id_of(ri, ovalues, onulls);

		newid = id_of(ri, nvalues, nnulls);
		/* the key changed: the old document goes away */
		if (strcmp(oldid, newid) != 0)
			emit_delete(ctx, state, txn, ri, oldid);
	}

	if (fill_unchanged_toast(ri, ri->plugin_selected, nvalues, nnulls,
							 ovalues, onulls))
		emit_index(ctx, state, txn, ri, newid, nvalues, nnulls);
	else
		emit_refetch(ctx, state, txn, ri, newid, nvalues, nnulls);
}

/* one change as the events of the current set (or of the session's table) */
static void
decode_change(LogicalDecodingContext *ctx, PluginState *state,
			  ReorderBufferTXN *txn, Relation relation, RelInfo *ri,
			  ReorderBufferChange *change)
{
	TupleDesc	desc = RelationGetDescr(relation);
	Datum	   *values;
	bool	   *nulls;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			if (change->data.tp.newtuple == NULL)
				break;
			deform(REINDEX_CHANGE_TUPLE(change->data.tp.newtuple), desc, &values, &nulls);
			emit_index(ctx, state, txn, ri, NULL, values, nulls);
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			decode_update(ctx, state, txn, relation, ri, change);
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			if (change->data.tp.oldtuple == NULL)
				missing_old_key(ri);
			deform(REINDEX_CHANGE_TUPLE(change->data.tp.oldtuple), desc, &values, &nulls);
			emit_delete(ctx, state, txn, ri, id_of(ri, values, nulls));
			break;
		default:
			Assert(false);
	}
}

static void
reindex_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			   Relation relation, ReorderBufferChange *change)
{
	PluginState *state = ctx->output_plugin_private;
	MemoryContext old = MemoryContextSwitchTo(state->change_cxt);
	RelInfo    *ri = relinfo_get(relation);

	if (!plugin_wants(state, ri))
	{
		note_skipped(ctx, state);
		goto done;
	}
	relinfo_require_key(ri);

	if (!state->opts.has_targets)
		decode_change(ctx, state, txn, relation, ri, change);
	else
	{
		/* option targets: the change once per set naming its table */
		for (int i = 0; i < ri->plugin_nsets; i++)
		{
			state->cur_set = ri->plugin_set_ids[i];
			ri->plugin_selected = ri->plugin_set_selected[i];
			decode_change(ctx, state, txn, relation, ri, change);
		}
		state->cur_set = -1;
	}

done:
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_cxt);
}

/* are all leaf partitions of root in relids[0..n)? */
static bool
covers_all_leaves(Oid root, const Oid *relids, int n)
{
	List	   *all = find_all_inheritors(root, NoLock, NULL);
	ListCell   *lc;

	foreach(lc, all)
	{
		Oid			relid = lfirst_oid(lc);
		bool		found = false;

		if (get_rel_relkind(relid) != RELKIND_RELATION)
			continue;
		for (int i = 0; i < n && !found; i++)
			found = relids[i] == relid;
		if (!found)
			return false;
	}
	return true;
}

/* option targets: does the set being written name ri's table? */
static bool
in_current_set(PluginState *state, RelInfo *ri)
{
	if (state->cur_set < 0)
		return true;
	for (int i = 0; i < ri->plugin_nsets; i++)
		if (ri->plugin_set_ids[i] == state->cur_set)
			return true;
	return false;
}

/* the truncate events of one set (or of the session's table) */
static void
truncate_set(LogicalDecodingContext *ctx, PluginState *state,
			 ReorderBufferTXN *txn, int nrelations, Relation relations[],
			 const Oid *relids, Oid *done)
{
	int			ndone = 0;

	for (int i = 0; i < nrelations; i++)
	{
		RelInfo    *ri = relinfo_get(relations[i]);
		bool		seen = false;

		if (!plugin_wants(state, ri) || !in_current_set(state, ri))
		{
			note_skipped(ctx, state);
			continue;
		}
		if (ri->rootid != ri->relid &&
			!covers_all_leaves(ri->rootid, relids, nrelations))
		{
			char	   *leaf;

			if (relations[i]->rd_rel->relkind != RELKIND_RELATION)
				continue;		/* its leaves are in the list */
			leaf = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(relations[i])),
											  RelationGetRelationName(relations[i]));
			START_EVENT(ctx, state, txn, REINDEX_OP_TRUNCATE_PARTITION, ri);
			appendStringInfoChar(ctx->out, ' ');
			encoder_append_json_string(ctx->out, leaf, strlen(leaf));
			line_end(ctx, state, false);
			continue;
		}
		for (int j = 0; j < ndone; j++)
			if (done[j] == ri->rootid)
				seen = true;
		if (seen)
			continue;
		done[ndone++] = ri->rootid;
		START_EVENT(ctx, state, txn, REINDEX_OP_TRUNCATE, ri);
		line_end(ctx, state, false);
	}
}

/*
 * One truncate event per affected table: partitions map to their root, each
 * root once (once per set with option targets).  Truncating only some
 * partitions of a table cannot be expressed as a truncate of the table: it
 * becomes one truncate_partition event per truncated partition.
 */
static void
reindex_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				 int nrelations, Relation relations[],
				 ReorderBufferChange *change)
{
	PluginState *state = ctx->output_plugin_private;
	MemoryContext old = MemoryContextSwitchTo(state->change_cxt);
	Oid		   *relids = palloc(sizeof(Oid) * Max(nrelations, 1));
	Oid		   *done = palloc(sizeof(Oid) * Max(nrelations, 1));

	for (int i = 0; i < nrelations; i++)
		relids[i] = RelationGetRelid(relations[i]);

	if (!state->opts.has_targets)
		truncate_set(ctx, state, txn, nrelations, relations, relids, done);
	for (int k = 0; k < state->opts.nsets; k++)
	{
		state->cur_set = k;
		truncate_set(ctx, state, txn, nrelations, relations, relids, done);
	}
	state->cur_set = -1;

	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_cxt);
}
