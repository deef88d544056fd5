/*-------------------------------------------------------------------------
 *
 * extension.h
 *	  Declarations shared by the SQL-callable side of reindex.so
 *	  (src/extension): GUC variables and the backend HTTP client.
 *
 * IDENTIFICATION
 *	  src/extension/extension.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef REINDEX_EXTENSION_H
#define REINDEX_EXTENSION_H

#ifndef REINDEX_VERSION
#error "REINDEX_VERSION must be defined by the build (see the top Makefile)"
#endif

#include "utils/guc.h"

/* GUCs, defined in module.c */
extern int	reindex_http_timeout_ms;
extern int	reindex_http_connect_timeout_ms;

/* GUCs, defined in endpoint_guard.c */
extern char *reindex_allowed_hosts;
extern char *reindex_secret_directory;
extern bool reindex_allowed_hosts_check(char **newval, void **extra, GucSource source);

/* http.c */
extern void reindex_http_init(void);

#endif							/* REINDEX_EXTENSION_H */
