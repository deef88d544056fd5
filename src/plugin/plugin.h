/*-------------------------------------------------------------------------
 *
 * plugin.h
 *	  State of one decoding session of the `reindex` output plugin: its
 *	  validated options (options.c) and its per-transaction state
 *	  (plugin.c).  Kept in ctx->output_plugin_private.
 *
 *	  Invariant: options are validated completely in the startup callback;
 *	  nothing later re-reads ctx->output_plugin_options.
 *
 * IDENTIFICATION
 *	  src/plugin/plugin.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef REINDEX_PLUGIN_H
#define REINDEX_PLUGIN_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* one entry of the option targets: a table and the columns of its documents */
typedef struct PluginSet
{
	Oid			table_oid;		/* the root table */
	List	   *include_columns;	/* of char *, NIL: all */
	List	   *exclude_columns;	/* of char * */
} PluginSet;

typedef struct PluginOptions
{
	int			format_version;
	bool		include_commit_time;
	bool		include_begin;	/* write a begin message per transaction */
	int			batch_bytes;	/* 0: one line per message */
	/* the one table to decode (table option); all tables if !has_table */
	bool		has_table;
	Oid			table_oid;		/* valid if given as an OID */
	char	   *table_schema;	/* else its (unquoted) schema and name */
	char	   *table_name;
	List	   *include_columns;	/* of char *, NIL: all */
	List	   *exclude_columns;	/* of char * */
	/* option targets: several tables and column sets, lines tagged by set */
	bool		has_targets;	/* option targets given (with 0 sets: no table) */
	int			nsets;
	PluginSet  *sets;
} PluginOptions;

typedef struct PluginState
{
	PluginOptions opts;
	MemoryContext change_cxt;	/* reset after every change */
	uint64		session;		/* tags this session's RelInfo plugin slots */
	StringInfo	scratch;		/* reused by the per-transaction formatting */

	/* the current transaction */
	bool		txn_written;	/* its first event (and begin) is written */
	bool		batch_open;		/* ctx->out holds a message taking more lines */
	/* "<version> <xid>[ <commit-time>]": the tail of begin and commit */
	char		tail[96];
	int			tail_len;
	int			version_len;	/* tail[0..version_len) is the version */
	int			skipped;		/* changes filtered since the last progress update */
	int			cur_set;		/* set being written (option targets), else -1 */
} PluginState;

/* options.c */
extern void plugin_parse_options(List *options, PluginOptions *opts);

#endif							/* REINDEX_PLUGIN_H */
