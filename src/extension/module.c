/*-------------------------------------------------------------------------
 *
 * module.c
 *	  Module entry points of reindex.so: PG_MODULE_MAGIC, _PG_init (the
 *	  reindex.* GUCs) and reindex.version().
 *
 * This is the only file of the library that may define PG_MODULE_MAGIC or
 * _PG_init; the output plugin (src/plugin) registers itself through
 * _PG_output_plugin_init and must not define either.  The version reported
 * here comes from reindex.control through -DREINDEX_VERSION, so the SQL
 * functions, the plugin and the streamer agree on one number.
 *
 * IDENTIFICATION
 *	  src/extension/module.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "extension.h"
#include "pg_compat.h"

PG_MODULE_MAGIC;

/*---- GUC variables ----*/

int			reindex_http_timeout_ms = 30000;
int			reindex_http_connect_timeout_ms = 5000;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("reindex.http_timeout_ms",
							"Total time limit of one HTTP request made by a backend to a search cluster.",
							NULL,
							&reindex_http_timeout_ms,
							30000, 100, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("reindex.http_connect_timeout_ms",
							"Time limit for connecting to a search cluster.",
							NULL,
							&reindex_http_connect_timeout_ms,
							5000, 100, 600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("reindex.allowed_hosts",
							   "Hosts and address ranges search endpoints may use (empty: any).",
							   "Comma-separated host names (\"*.example.com\" for a domain), addresses and"
							   " address/prefix ranges. Checked by endpoint_add and endpoint_alter, and on the"
							   " address of every connection the backend and the streamer open.",
							   &reindex_allowed_hosts,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   reindex_allowed_hosts_check, NULL, NULL);
	DefineCustomStringVariable("reindex.secret_directory",
							   "Directory whose files any reindex administrator may name as secret_file.",
							   "Empty: only roles with privileges of pg_read_server_files may use secret_file.",
							   &reindex_secret_directory,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("reindex");

	reindex_http_init();
}

PG_FUNCTION_INFO_V1(reindex_version);

/*
 * reindex.version(): the version of the loaded library.
 */
Datum
reindex_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(REINDEX_VERSION));
}

PG_FUNCTION_INFO_V1(reindex_caller_may_read);

/*
 * reindex._caller_may_read(regclass): may the role that called the SQL API
 * read this table?  SECURITY DEFINER functions run as the extension owner,
 * so they ask about the outer user (the session user, or the role chosen
 * with SET ROLE), which a SECURITY DEFINER call does not change.
 */
Datum
reindex_caller_may_read(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	PG_RETURN_BOOL(pg_class_aclcheck(relid, GetOuterUserId(), ACL_SELECT) == ACLCHECK_OK);
}

PG_FUNCTION_INFO_V1(reindex_caller_may_execute);

/*
 * reindex._caller_may_execute(regprocedure): may the role that called the
 * SQL API (the outer user, as above) execute this function?
 */
Datum
reindex_caller_may_execute(PG_FUNCTION_ARGS)
{
	Oid			funcid = PG_GETARG_OID(0);

	PG_RETURN_BOOL(reindex_function_aclcheck(funcid, GetOuterUserId()) == ACLCHECK_OK);
}
