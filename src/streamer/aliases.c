/*
 * aliases.c: alias drift repair (I5: the catalog is the truth, the cluster is
 * converged to it).
 *
 * Owns: the periodic check that every alias whose catalog row names a
 * current target points, in the cluster, at exactly that target's index and
 * at no other index; a difference (someone changed the alias by hand) is
 * repaired with one atomic POST /_aliases (removes plus the add) and logged.
 *
 * Invariants:
 *  - the alias row is locked FOR UPDATE SKIP LOCKED for the whole check, so
 *    a swap or rollback in progress (which holds that lock from its catalog
 *    change until its commit, with its own _aliases request in between) is
 *    never fought: its alias is skipped until the next check;
 *  - an alias with no current target (an initial build not swapped yet) is
 *    left alone: the catalog claims nothing about it;
 *  - only the alias's membership is converged; nothing but the _aliases
 *    request is ever sent, and a failed check changes nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aliases.h"
#include "buf.h"
#include "catalog.h"
#include "es_client.h"
#include "log.h"
#include "target.h"

#define ALIAS_HTTP_TIMEOUT_MS 5000

static Target *
find_target(Target **targets, int n, int64_t id)
{
	int			i;

	for (i = 0; i < n; i++)
		if (targets[i]->id == id)
			return targets[i];
	return NULL;
}

/*
 * Converge one alias to point at exactly t's index.  Returns true when the
 * cluster already agreed or was repaired.
 */
static bool
repair_one(const char *alias, Target *t)
{
	EsResponse	resp = {0};
	Buf			path = {0},
				body = {0},
				found = {0};
	json_t	   *root = NULL;
	json_error_t jerr;
	const char *idx;
	json_t	   *v;
	bool		has_target = false,
				ok = false;
	int			nremove = 0;

	buf_puts(&path, "/_alias/");
	buf_puts(&path, alias);		/* alias names cannot hold URL metacharacters */
	es_request_sync(&t->ep, "GET", path.data, NULL, 0, &resp, ALIAS_HTTP_TIMEOUT_MS);
	if (resp.http_status == 200 || resp.http_status == 404)
		root = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
	if (!json_is_object(root))
	{
		log_debug(t->index_name, "alias %s: could not read it from the cluster (HTTP %ld)",
				  alias, resp.http_status);
		goto out;
	}

	/* {"<index>": {"aliases": {"<alias>": {...}}}, ...}; a 404 has "error" */
	buf_puts(&body, "{\"actions\":[");
	json_object_foreach(root, idx, v)
	{
		json_t	   *aliases = json_object_get(v, "aliases");

		if (!json_is_object(aliases) || !json_object_get(aliases, alias))
			continue;
		if (strcmp(idx, t->index_name) == 0)
		{
			has_target = true;
			continue;
		}
		buf_puts(&body, nremove ? "," : "");
		buf_puts(&body, "{\"remove\":{\"index\":");
		buf_json_string(&body, idx, strlen(idx));
		buf_puts(&body, ",\"alias\":");
		buf_json_string(&body, alias, strlen(alias));
		buf_puts(&body, "}}");
		buf_puts(&found, found.len ? ", " : "");
		buf_puts(&found, idx);
		nremove++;
	}
	/* a 404 ({"error": ..., "status": 404}) lists no index: the add restores it */
	if (has_target && nremove == 0)
	{
		ok = true;
		goto out;
	}
	if (!has_target)
	{
		buf_puts(&body, nremove ? "," : "");
		buf_puts(&body, "{\"add\":{\"index\":");
		buf_json_string(&body, t->index_name, strlen(t->index_name));
		buf_puts(&body, ",\"alias\":");
		buf_json_string(&body, alias, strlen(alias));
		buf_puts(&body, "}}");
	}
	buf_puts(&body, "]}");
	es_request_sync(&t->ep, "POST", "/_aliases", body.data, body.len, &resp,
					ALIAS_HTTP_TIMEOUT_MS);
	if (resp.http_status >= 200 && resp.http_status < 300)
	{
		log_warn(t->index_name, "alias %s had drifted (pointed at %s%s); repaired: it points at %s only, as the catalog says",
				 alias, found.len ? found.data : "no index", has_target ? " besides it" : "",
				 t->index_name);
		ok = true;
	}
	else
		log_warn(t->index_name, "alias %s has drifted, but the repair failed (HTTP %ld): %.200s",
				 alias, resp.http_status,
				 resp.http_status ? (resp.body.data ? resp.body.data : "") : resp.curl_error);
out:
	if (root)
		json_decref(root);
	buf_free(&path);
	buf_free(&body);
	buf_free(&found);
	es_response_free(&resp);
	return ok;
}

/*
 * Check every alias with a current target this process knows (its endpoint
 * comes from the target); aliases locked by a swap in progress are skipped.
 */
void
alias_repair(PGconn *c, Target **targets, int n)
{
	PGresult   *r;
	int			i;

	if (!catalog_exec_ok(c, "BEGIN"))
		return;
	r = PQexec(c, "SELECT a.name, a.current_target FROM reindex.alias a"
			   " WHERE a.current_target IS NOT NULL ORDER BY a.name"
			   " FOR UPDATE OF a SKIP LOCKED");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		log_warn(NULL, "could not read the aliases: %s", PQerrorMessage(c));
		PQclear(r);
		catalog_exec_ok(c, "ROLLBACK");
		return;
	}
	for (i = 0; i < PQntuples(r); i++)
	{
		Target	   *t = find_target(targets, n,
									strtoll(PQgetvalue(r, i, 1), NULL, 10));

		if (t && t->ep.url)
			repair_one(PQgetvalue(r, i, 0), t);
	}
	PQclear(r);
	/* the locks end here: a swap waiting for them goes ahead */
	catalog_exec_ok(c, "COMMIT");
}
