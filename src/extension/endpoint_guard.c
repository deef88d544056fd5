/*-------------------------------------------------------------------------
 *
 * endpoint_guard.c
 *	  What protects search endpoints and their secrets in the backend:
 *	  the superuser-only settings reindex.allowed_hosts and
 *	  reindex.secret_directory, the checks endpoint_add/endpoint_alter run
 *	  with them, and the question "does the calling role have the privileges
 *	  of that role?" asked by SECURITY DEFINER functions.
 *
 * SQL (all internal, EXECUTE revoked from PUBLIC, called by the SECURITY
 * DEFINER API as the extension owner):
 *	reindex._endpoint_host_check(url)	 error unless reindex.allowed_hosts
 *										 allows the URL's host (a listed name,
 *										 or every address it resolves to)
 *	reindex._caller_has_privs_of(role)	 the outer user (not the definer)
 *										 has the privileges of role
 *	reindex._secret_from_file(path)		 a secret read from a file the server
 *										 can read, for callers allowed to
 *
 * Invariants: the connection-time check (host_allow_opensocket, installed
 * by http.c and the streamer) is what stops a request; the check here only
 * refuses early with a clear message.  No message repeats a URL (it might
 * carry credentials) or any byte of a secret file.
 *
 * IDENTIFICATION
 *	  src/extension/endpoint_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "extension.h"
#include "host_allow.h"

/* largest secret file read */
#define SECRET_FILE_MAX		65536

/*---- GUC variables ----*/

char	   *reindex_allowed_hosts = NULL;
char	   *reindex_secret_directory = NULL;

bool
reindex_allowed_hosts_check(char **newval, void **extra, GucSource source)
{
	char		err[300];

	if (!host_allow_list_valid(*newval, err, sizeof(err)))
	{
		GUC_check_errdetail("%s", err);
		return false;
	}
	return true;
}

/*---- the check of endpoint_add/endpoint_alter ----*/

PG_FUNCTION_INFO_V1(reindex_endpoint_host_check);

Datum
reindex_endpoint_host_check(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *list = reindex_allowed_hosts;
	char		host[256];
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	int			rc;

	if (host_allow_list_empty(list))
		PG_RETURN_VOID();		/* empty list: everything is allowed */
	if (!host_allow_url_host(url, host, sizeof(host)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search endpoint URL has no host")));
	if (host_allow_name(list, host))
		PG_RETURN_VOID();

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("search endpoint host \"%s\" is not in reindex.allowed_hosts and could not be resolved to check its addresses",
						host),
				 errdetail("%s", gai_strerror(rc)),
				 errhint("A superuser can list the host or its address range in reindex.allowed_hosts.")));
	for (ai = res; ai != NULL; ai = ai->ai_next)
	{
		if (!host_allow_addr(list, ai->ai_addr))
		{
			char		addr[64];

			host_allow_addr_text(ai->ai_addr, addr, sizeof(addr));
			freeaddrinfo(res);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("search endpoint host \"%s\" is not allowed by reindex.allowed_hosts", host),
					 errdetail("It resolves to %s, which no entry of the setting allows.", addr),
					 errhint("A superuser can list the host or its address range in reindex.allowed_hosts.")));
		}
	}
	freeaddrinfo(res);
	PG_RETURN_VOID();
}

/*---- who is calling ----*/

PG_FUNCTION_INFO_V1(reindex_caller_has_privs_of);

/*
 * reindex._caller_has_privs_of(regrole): does the role that called the SQL
 * API (the session user, or the role chosen with SET ROLE; a SECURITY
 * DEFINER call does not change it) have the privileges of role?  True for
 * superusers.
 */
Datum
reindex_caller_has_privs_of(PG_FUNCTION_ARGS)
{
	Oid			role = PG_GETARG_OID(0);

	PG_RETURN_BOOL(has_privs_of_role(GetOuterUserId(), role));
}

/*---- secrets read from files ----*/

/*
 * Is path a regular file directly inside reindex.secret_directory (after
 * resolving symbolic links on both sides)?
 */
static bool
in_secret_directory(const char *path)
{
	char	   *dir_real;
	char	   *file_real;
	char	   *slash;
	bool		inside = false;

	if (reindex_secret_directory == NULL || reindex_secret_directory[0] == '\0')
		return false;
	/* realpath(..., NULL) allocates with malloc: no ereport until freed */
	dir_real = realpath(reindex_secret_directory, NULL);
	file_real = realpath(path, NULL);
	if (dir_real && file_real && (slash = strrchr(file_real, '/')) != NULL)
	{
		*slash = '\0';
		inside = strcmp(file_real[0] ? file_real : "/", dir_real) == 0;
	}
	free(dir_real);
	free(file_real);
	return inside;
}

PG_FUNCTION_INFO_V1(reindex_secret_from_file);

/*
 * reindex._secret_from_file(path text) returns text
 *
 * The contents of a file the server can read, without one trailing line
 * break.  The calling role must have the privileges of pg_read_server_files,
 * or the file must lie directly in reindex.secret_directory (a superuser
 * chooses that directory and what it holds).
 */
Datum
reindex_secret_from_file(PG_FUNCTION_ARGS)
{
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	FILE	   *f;
	char	   *buf;
	size_t		n;
	struct stat st;
	text	   *result;

	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("secret_file must be an absolute path")));
	if (!has_privs_of_role(GetOuterUserId(), ROLE_PG_READ_SERVER_FILES) &&
		!in_secret_directory(path))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read secret file \"%s\"", path),
				 errdetail("Only roles with privileges of pg_read_server_files may name files outside reindex.secret_directory."),
				 errhint("A superuser can put the file into the directory named by reindex.secret_directory.")));
	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat secret file \"%s\": %m", path)));
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("secret file \"%s\" is not a regular file", path)));
	if (st.st_size > SECRET_FILE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("secret file \"%s\" is larger than %d bytes", path, SECRET_FILE_MAX)));

	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open secret file \"%s\" for reading: %m", path)));
	buf = palloc(SECRET_FILE_MAX + 1);
	n = fread(buf, 1, SECRET_FILE_MAX + 1, f);
	if (ferror(f))
	{
		explicit_bzero(buf, SECRET_FILE_MAX + 1);
		FreeFile(f);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read secret file \"%s\": %m", path)));
	}
	FreeFile(f);
	if (n > SECRET_FILE_MAX)
	{
		explicit_bzero(buf, SECRET_FILE_MAX + 1);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("secret file \"%s\" is larger than %d bytes", path, SECRET_FILE_MAX)));
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("secret file \"%s\" is empty", path)));
	if (memchr(buf, '\0', n) != NULL || !pg_verifymbstr(buf, (int) n, true))
	{
		explicit_bzero(buf, SECRET_FILE_MAX + 1);
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("secret file \"%s\" is not valid text in the database encoding", path)));
	}
	result = cstring_to_text_with_len(buf, (int) n);
	explicit_bzero(buf, SECRET_FILE_MAX + 1);
	pfree(buf);
	PG_RETURN_TEXT_P(result);
}
