/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Table-driven parsing and validation of the `reindex` output plugin's
 *	  options (the DefElem list given to START_REPLICATION or to
 *	  pg_logical_slot_get_changes()).
 *
 *	  Invariants:
 *	  - Every option is in option_table; an unknown option, a repeated
 *		option or a bad value is an ERROR that names the option (and, for
 *		unknown ones, lists the valid names).
 *	  - Option values never reach SQL or the filesystem: table and column
 *		names are only compared with catalog names.
 *
 * IDENTIFICATION
 *	  src/plugin/options.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>

#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "plugin.h"
#include "wire_format.h"

typedef void (*OptionParser) (const char *name, const char *value,
							  PluginOptions *opts);

static void parse_format_version(const char *name, const char *value,
								 PluginOptions *opts);
static void parse_table(const char *name, const char *value,
						PluginOptions *opts);
static void parse_include_columns(const char *name, const char *value,
								  PluginOptions *opts);
static void parse_exclude_columns(const char *name, const char *value,
								  PluginOptions *opts);
static void parse_include_commit_time(const char *name, const char *value,
									  PluginOptions *opts);
static void parse_include_begin(const char *name, const char *value,
								PluginOptions *opts);
static void parse_batch_bytes(const char *name, const char *value,
							  PluginOptions *opts);
static void parse_targets(const char *name, const char *value,
						  PluginOptions *opts);

static const struct
{
	const char *name;
	OptionParser parse;
}			option_table[] =
{
	{"format_version", parse_format_version},
	{"table", parse_table},
	{"include_columns", parse_include_columns},
	{"exclude_columns", parse_exclude_columns},
	{"include_commit_time", parse_include_commit_time},
	{"include_begin", parse_include_begin},
	{"batch_bytes", parse_batch_bytes},
	{"targets", parse_targets},
};

#define NUM_OPTIONS lengthof(option_table)

static void
bad_value(const char *name, const char *value, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value \"%s\" for option \"%s\" of the reindex output plugin",
					value ? value : "", name),
			 errdetail("%s", detail)));
}

static void
parse_format_version(const char *name, const char *value, PluginOptions *opts)
{
	if (value == NULL || strcmp(value, "1") != 0)
		bad_value(name, value, "The only supported format version is 1.");
	opts->format_version = REINDEX_WIRE_FORMAT_VERSION;
}

/* an OID, or a table name, optionally schema-qualified, quoted as in SQL */
static void
parse_table(const char *name, const char *value, PluginOptions *opts)
{
	List	   *parts;
	char	   *copy;
	const char *p;

	if (value == NULL || value[0] == '\0')
		bad_value(name, value, "A table name or OID is required.");
	opts->has_table = true;

	for (p = value; *p >= '0' && *p <= '9'; p++)
		;
	if (*p == '\0' && p - value <= 10)
	{
		unsigned long oid = strtoul(value, NULL, 10);

		if (oid == 0 || oid > PG_UINT32_MAX)
			bad_value(name, value, "An OID must be between 1 and 4294967295.");
		opts->table_oid = (Oid) oid;
		return;
	}

	copy = pstrdup(value);
	if (!SplitIdentifierString(copy, '.', &parts) ||
		list_length(parts) < 1 || list_length(parts) > 2)
		bad_value(name, value,
				  "Give an OID or a table name, optionally schema-qualified.");
	if (list_length(parts) == 2)
	{
		opts->table_schema = pstrdup(linitial(parts));
		opts->table_name = pstrdup(lsecond(parts));
	}
	else
	{
		opts->table_schema = pstrdup("public");
		opts->table_name = pstrdup(linitial(parts));
	}
}

static List *
parse_column_list(const char *name, const char *value)
{
	List	   *raw;
	List	   *result = NIL;
	ListCell   *lc;
	char	   *copy;

	if (value == NULL)
		bad_value(name, value, "A comma-separated list of column names is required.");
	copy = pstrdup(value);
	if (!SplitIdentifierString(copy, ',', &raw))
		bad_value(name, value, "A comma-separated list of column names is required.");
	foreach(lc, raw)
		result = lappend(result, pstrdup(lfirst(lc)));
	return result;
}

static void
parse_include_columns(const char *name, const char *value, PluginOptions *opts)
{
	opts->include_columns = parse_column_list(name, value);
	if (opts->include_columns == NIL)
		bad_value(name, value, "At least one column must be included.");
}

static void
parse_exclude_columns(const char *name, const char *value, PluginOptions *opts)
{
	opts->exclude_columns = parse_column_list(name, value);
}

/* a bare option (no value) means true, as in test_decoding */
static void
parse_boolean(const char *name, const char *value, bool *result)
{
	if (value == NULL)
		*result = true;
	else if (!parse_bool(value, result))
		bad_value(name, value, "A boolean value is required.");
}

static void
parse_include_commit_time(const char *name, const char *value,
						  PluginOptions *opts)
{
	parse_boolean(name, value, &opts->include_commit_time);
}

static void
parse_include_begin(const char *name, const char *value, PluginOptions *opts)
{
	parse_boolean(name, value, &opts->include_begin);
}

/* 0, or up to MAX_BATCH_BYTES: a message stays small next to the reorder buffer */
#define MAX_BATCH_BYTES (1024 * 1024)

static void
parse_batch_bytes(const char *name, const char *value, PluginOptions *opts)
{
	const char *p = value;
	long		n = 0;

	if (value == NULL || *value == '\0')
		bad_value(name, value, "A number of bytes between 0 and 1048576 is required.");
	for (; *p >= '0' && *p <= '9' && n <= MAX_BATCH_BYTES; p++)
		n = n * 10 + (*p - '0');
	if (*p != '\0' || n > MAX_BATCH_BYTES)
		bad_value(name, value, "A number of bytes between 0 and 1048576 is required.");
	opts->batch_bytes = (int) n;
}

/*
 * targets: entries separated by spaces, each "<oid>", "<oid>/include=<cols>"
 * or "<oid>/exclude=<cols>", the columns in SQL identifier syntax separated by
 * commas (double quotes protect spaces, commas and slashes).  Entry k is set
 * k: every event line of its table is written once per set, prefixed "k ".
 */
#define MAX_SETS 65536

static void
parse_targets(const char *name, const char *value, PluginOptions *opts)
{
	const char *p = value;
	int			cap = 8;

	if (value == NULL)
		bad_value(name, value, "A list of table OIDs, each with optional /include= or /exclude= columns, is required.");
	opts->sets = palloc0(sizeof(PluginSet) * cap);
	opts->nsets = 0;
	opts->has_targets = true;
	while (*p)
	{
		const char *start;
		bool		quoted = false;
		char	   *entry;
		char	   *slash;
		PluginSet  *set;
		unsigned long oid;
		char	   *end;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		start = p;
		for (; *p && (quoted || *p != ' '); p++)
			if (*p == '"')
				quoted = !quoted;
		if (quoted)
			bad_value(name, value, "A quoted column name is not closed.");
		entry = pnstrdup(start, p - start);
		if (opts->nsets == MAX_SETS)
			bad_value(name, value, "At most 65536 entries are allowed.");
		if (opts->nsets == cap)
		{
			cap *= 2;
			opts->sets = repalloc(opts->sets, sizeof(PluginSet) * cap);
		}
		set = &opts->sets[opts->nsets++];
		memset(set, 0, sizeof(PluginSet));
		errno = 0;
		oid = strtoul(entry, &end, 10);
		if (end == entry || errno != 0 || oid == 0 || oid > PG_UINT32_MAX ||
			(*end != '\0' && *end != '/'))
			bad_value(name, value, "Each entry starts with the OID of a table.");
		set->table_oid = (Oid) oid;
		slash = end;
		if (*slash == '/')
		{
			if (strncmp(slash + 1, "include=", 8) == 0)
			{
				set->include_columns = parse_column_list(name, slash + 9);
				if (set->include_columns == NIL)
					bad_value(name, value, "At least one column must be included.");
			}
			else if (strncmp(slash + 1, "exclude=", 8) == 0)
				set->exclude_columns = parse_column_list(name, slash + 9);
			else
				bad_value(name, value, "After a table OID, only /include= or /exclude= may follow.");
		}
	}
}

static char *
valid_option_names(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < NUM_OPTIONS; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", option_table[i].name);
	return buf.data;
}

/* parse the DefElem list into opts; ERROR on anything invalid */
void
plugin_parse_options(List *options, PluginOptions *opts)
{
	ListCell   *lc;
	bool		seen[NUM_OPTIONS] = {false};

	memset(opts, 0, sizeof(PluginOptions));
	opts->format_version = REINDEX_WIRE_FORMAT_VERSION;
	opts->include_commit_time = true;
	opts->include_begin = true;
	opts->table_oid = InvalidOid;

	foreach(lc, options)
	{
		DefElem    *elem = lfirst(lc);
		const char *value = elem->arg ? strVal(elem->arg) : NULL;
		int			i;

		for (i = 0; i < NUM_OPTIONS; i++)
			if (strcmp(elem->defname, option_table[i].name) == 0)
				break;
		if (i == NUM_OPTIONS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" is not recognized by the reindex output plugin",
							elem->defname),
					 errhint("Valid options are: %s.", valid_option_names())));
		if (seen[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" of the reindex output plugin is given more than once",
							elem->defname)));
		seen[i] = true;
		option_table[i].parse(elem->defname, value, opts);
	}

	if ((opts->include_columns != NIL || opts->exclude_columns != NIL) &&
		!opts->has_table)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options \"include_columns\" and \"exclude_columns\" of the reindex output plugin require option \"table\"")));
	if (opts->has_targets && opts->has_table)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options \"table\" and \"targets\" of the reindex output plugin cannot be used together")));
}
