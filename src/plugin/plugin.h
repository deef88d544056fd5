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

#include "nodes/pg_list.h"

typedef struct PluginOptions
{
	int			format_version;
	bool		include_commit_time;
	/* the one table to decode (table option); all tables if !has_table */
	bool		has_table;
	Oid			table_oid;		/* valid if given as an OID */
	char	   *table_schema;	/* else its (unquoted) schema and name */
	char	   *table_name;
	List	   *include_columns;	/* of char *, NIL: all */
	List	   *exclude_columns;	/* of char * */
} PluginOptions;

typedef struct PluginState
{
	PluginOptions opts;
	MemoryContext change_cxt;	/* reset after every change */
	uint64		session;		/* tags this session's RelInfo plugin slots */

	/* the current transaction */
	bool		begin_sent;
	char		version[24];	/* txn->end_lsn in decimal */
	int			version_len;
	char		commit_time[40];	/* " <ISO 8601 commit time>" or "" */
	int			skipped;		/* changes filtered since the last progress update */
} PluginState;

/* options.c */
extern void plugin_parse_options(List *options, PluginOptions *opts);

#endif							/* REINDEX_PLUGIN_H */
