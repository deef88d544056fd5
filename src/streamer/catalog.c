/*
 * catalog.c: every SQL statement the streamer runs against the reindex
 * catalog (src/sql/10_catalog.sql) and the server, over ordinary libpq
 * connections.
 *
 * Owns: connecting (with reconnect left to the caller), reading targets with
 * their endpoint and newest job, chunk creation and claims, progress and
 * state writes, dead letters, refetch by key, slot housekeeping.
 *
 * Invariants: all values travel as parameters (PQexecParams), never spliced
 * into SQL text, except identifiers that go through PQescapeIdentifier;
 * endpoint secrets are read into memory only and never logged; counters are
 * written as deltas so several streamer processes can add to one row; a
 * target moves backfilling -> streaming (and its job to catching_up) only in
 * the transaction that sees every chunk done (I2).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "catalog.h"
#include "endpoint.h"
#include "es_client.h"
#include "log.h"
#include "pg_text.h"
#include "target.h"

static char *
dup_or_null(PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	return strdup(PQgetvalue(r, row, col));
}

PGconn *
catalog_connect(const char *conninfo, bool replication, const char *extra_options)
{
	const char *keys[5];
	const char *vals[5];
	int			n = 0;
	PGconn	   *c;

	keys[n] = "dbname";
	vals[n++] = conninfo;
	if (replication)
	{
		keys[n] = "replication";
		vals[n++] = "database";
	}
	if (extra_options)
	{
		keys[n] = "options";
		vals[n++] = extra_options;
	}
	keys[n] = "application_name";
	vals[n++] = "reindex_streamer";
	keys[n] = NULL;
	vals[n] = NULL;
	c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK)
	{
		log_warn(NULL, "could not connect to the database: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	if (!replication)
	{
		PGresult   *r = PQexec(c, "SET search_path = pg_catalog, pg_temp; SET application_name = 'reindex_streamer'");

		PQclear(r);
	}
	return c;
}

bool
catalog_exec_ok(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);
	bool		ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		log_warn(NULL, "query failed: %s", PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/*
 * Open a REPEATABLE READ READ ONLY transaction on c that reads in an
 * exported snapshot (backfill, replay and verify all read this way).  On
 * failure the caller reports PQerrorMessage(c).
 */
bool
catalog_import_snapshot(PGconn *c, const char *snapshot)
{
	Buf			q = {0};
	char	   *lit = PQescapeLiteral(c, snapshot, strlen(snapshot));
	bool		ok;

	if (!lit)
		return false;
	buf_printf(&q, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT %s", lit);
	PQfreemem(lit);
	ok = catalog_exec_ok(c, q.data);
	buf_free(&q);
	return ok;
}

static PGresult *
exec_params(PGconn *c, const char *sql, int n, const char *const *vals)
{
	PGresult   *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		log_warn(NULL, "catalog query failed: %s", PQerrorMessage(c));
		PQclear(r);
		return NULL;
	}
	return r;
}

static void
exec_params_void(PGconn *c, const char *sql, int n, const char *const *vals)
{
	PGresult   *r = exec_params(c, sql, n, vals);

	if (r)
		PQclear(r);
}

/* A statement changing at most one row: 1 it did, 0 it did not, -1 it failed. */
static int
exec_one_row(PGconn *c, const char *sql, int n, const char *const *vals)
{
	PGresult   *r = exec_params(c, sql, n, vals);
	int			done;

	if (!r)
		return -1;
	done = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	return done;
}

static bool
same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/*
 * The catalog's endpoint into *ep.  An unchanged endpoint keeps its storage:
 * backfill and verify threads send requests with these strings while the
 * main thread reloads the catalog (see set_str).
 */
static void
endpoint_fill(Endpoint *ep, PGresult *r, int row, int col)
{
	const char *auth = PQgetvalue(r, row, col + 1);
	Endpoint	e = {0};
	size_t		n;

	e.url = dup_or_null(r, row, col);
	n = e.url ? strlen(e.url) : 0;
	while (n > 0 && e.url[n - 1] == '/')
		e.url[--n] = '\0';
	if (strcmp(auth, "basic") == 0)
	{
		e.username = dup_or_null(r, row, col + 2);
		e.password = dup_or_null(r, row, col + 3);
	}
	else if (strcmp(auth, "api_key") == 0)
		e.api_key = dup_or_null(r, row, col + 3);
	e.ca_file = dup_or_null(r, row, col + 4);
	e.verify_tls = strcmp(PQgetvalue(r, row, col + 5), "t") == 0;
	/* the environment may supply a secret the catalog does not hold */
	if (!e.password && e.username && getenv("REINDEX_ES_PASSWORD"))
		e.password = strdup(getenv("REINDEX_ES_PASSWORD"));
	if (!e.api_key && !e.username && getenv("REINDEX_ES_API_KEY"))
		e.api_key = strdup(getenv("REINDEX_ES_API_KEY"));
	if (same_str(e.url, ep->url) && same_str(e.username, ep->username) &&
		same_str(e.password, ep->password) && same_str(e.api_key, ep->api_key) &&
		same_str(e.ca_file, ep->ca_file) && e.verify_tls == ep->verify_tls)
	{
		endpoint_free(&e);
		return;
	}
	endpoint_free(ep);
	*ep = e;
}

/*
 * *dst = src (malloc'ed or NULL), keeping *dst's storage when the value is
 * unchanged.  Backfill and verify threads read a target's strings
 * (index_json, source, the column lists) while the main thread reloads the
 * catalog; replacing an unchanged string freed memory a thread was still
 * reading, and the next allocation overwrote it (a _bulk body whose action
 * line was garbage: "Unexpected character in action/metadata line").
 */
static void
set_str(char **dst, char *src)
{
	if (same_str(*dst, src))
	{
		free(src);
		return;
	}
	free(*dst);
	*dst = src;
}

/*
 * Refresh the target list from the catalog.  Existing Target structs (with
 * their runtime state) are updated in place; new ones appended; targets no
 * longer active are left with seen = false for the caller to wind down.
 * Returns -1 on a query failure.
 */
int
catalog_load_targets(PGconn *c, Target ***targets, int *ntargets)
{
	PGresult   *r;
	int			i,
				j;

	/*
	 * The endpoints below are reached only where the server allows; calling
	 * reindex.version() first loads the library, so the value is the
	 * validated setting, never a placeholder a non-superuser could set.
	 */
	r = PQexec(c, "SELECT reindex.version(), current_setting('reindex.allowed_hosts', true)");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		log_warn(NULL, "could not read reindex.allowed_hosts: %s", PQerrorMessage(c));
		PQclear(r);
		return -1;
	}
	es_set_allowed_hosts(PQgetisnull(r, 0, 1) ? "" : PQgetvalue(r, 0, 1));
	PQclear(r);

	r = PQexec(c,
			   "SELECT t.id, t.state, t.index_name, t.source::oid::regclass::text, t.slot_name,"
			   "       t.include_columns::text, t.exclude_columns::text,"
			   "       t.consistent_point::text, t.confirmed_lsn::text, t.requested_settings::text,"
			   "       e.url, e.auth, e.username, e.secret, e.ca_file, e.verify_tls,"
			   "       j.id, j.state, j.lag_threshold_bytes, j.options->>'backfill_workers',"
			   "       t.drop_index, array_to_string(t.include_columns, ','),"
			   "       array_to_string(t.exclude_columns, ','), t.rows_estimated,"
			   "       j.options->>'refused_stop_sample', j.options->>'refused_stop_fraction',"
			   "       coalesce(j.options->>'dead_letter_documents', 'false'),"
			   "       EXISTS (SELECT 1 FROM reindex.replay r WHERE r.target_id = t.id AND r.state = 'pending'),"
			   "       t.feed, t.handover_lsn::text, t.source::oid::text,"
			   "       (SELECT string_agg(quote_ident(c), ',') FROM unnest(t.include_columns) c),"
			   "       (SELECT string_agg(quote_ident(c), ',') FROM unnest(t.exclude_columns) c)"
			   "  FROM reindex.target t JOIN reindex.endpoint e ON e.name = t.endpoint"
			   "  LEFT JOIN LATERAL (SELECT * FROM reindex.job j"
			   "                      WHERE j.new_target = t.id ORDER BY j.id DESC LIMIT 1) j ON true"
			   " WHERE t.state IN ('backfilling', 'streaming', 'retiring')"
			   " ORDER BY t.id");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		log_warn(NULL, "could not read the reindex catalog: %s", PQerrorMessage(c));
		PQclear(r);
		return -1;
	}
	for (j = 0; j < *ntargets; j++)
		(*targets)[j]->seen = false;
	for (i = 0; i < PQntuples(r); i++)
	{
		int64_t		id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		Target	   *t = NULL;
		Buf			b = {0};

		for (j = 0; j < *ntargets; j++)
			if ((*targets)[j]->id == id)
				t = (*targets)[j];
		if (!t)
		{
			t = calloc(1, sizeof(Target));
			t->id = id;
			pthread_mutex_init(&t->err_lock, NULL);
			*targets = realloc(*targets, sizeof(Target *) * (*ntargets + 1));
			(*targets)[(*ntargets)++] = t;
		}
		t->seen = true;
		snprintf(t->state, sizeof(t->state), "%s", PQgetvalue(r, i, 1));
		set_str(&t->index_name, dup_or_null(r, i, 2));
		buf_json_string(&b, t->index_name, strlen(t->index_name));
		set_str(&t->index_json, b.data);
		set_str(&t->source, dup_or_null(r, i, 3));
		set_str(&t->slot_name, dup_or_null(r, i, 4));
		set_str(&t->include_arr, dup_or_null(r, i, 5));
		set_str(&t->exclude_arr, dup_or_null(r, i, 6));
		t->consistent_point = 0;
		if (!PQgetisnull(r, i, 7))
			parse_lsn(PQgetvalue(r, i, 7), &t->consistent_point);
		if (!PQgetisnull(r, i, 8))
		{
			uint64_t	l = 0;

			parse_lsn(PQgetvalue(r, i, 8), &l);
			if (l > t->confirmed_lsn)
				t->confirmed_lsn = l;
		}
		set_str(&t->requested_settings, dup_or_null(r, i, 9));
		endpoint_fill(&t->ep, r, i, 10);
		t->job_id = PQgetisnull(r, i, 16) ? 0 : strtoll(PQgetvalue(r, i, 16), NULL, 10);
		snprintf(t->job_state, sizeof(t->job_state), "%s",
				 PQgetisnull(r, i, 17) ? "" : PQgetvalue(r, i, 17));
		t->ready_lag_bytes = PQgetisnull(r, i, 18) ? 1048576 : strtoll(PQgetvalue(r, i, 18), NULL, 10);
		t->job_workers = PQgetisnull(r, i, 19) ? 0 : atoi(PQgetvalue(r, i, 19));
		t->drop_index = strcmp(PQgetvalue(r, i, 20), "t") == 0;
		set_str(&t->include_cols, dup_or_null(r, i, 21));
		set_str(&t->exclude_cols, dup_or_null(r, i, 22));
		t->rows_estimated = PQgetisnull(r, i, 23) ? 0 : strtoll(PQgetvalue(r, i, 23), NULL, 10);
		/* defaults as in reindex._check_options, for jobs begun before 0.2 */
		t->refused_stop_sample = PQgetisnull(r, i, 24) ? 1000 : strtoll(PQgetvalue(r, i, 24), NULL, 10);
		t->refused_stop_fraction = PQgetisnull(r, i, 25) ? 0.5 : strtod(PQgetvalue(r, i, 25), NULL);
		t->dead_letter_documents = strcmp(PQgetvalue(r, i, 26), "true") == 0;
		t->replay_pending = strcmp(PQgetvalue(r, i, 27), "t") == 0;
		t->shared = strcmp(PQgetvalue(r, i, 28), "shared") == 0;
		t->handover_lsn = 0;
		if (!PQgetisnull(r, i, 29))
			parse_lsn(PQgetvalue(r, i, 29), &t->handover_lsn);
		set_str(&t->source_oid, dup_or_null(r, i, 30));
		set_str(&t->include_q, dup_or_null(r, i, 31));
		set_str(&t->exclude_q, dup_or_null(r, i, 32));
	}
	PQclear(r);
	return 0;
}

/*
 * Record the slot's consistent point and split the source into chunks, in one
 * transaction.  Block counts are taken now, after the snapshot was exported:
 * every tuple visible to it lies in an existing block.
 */
int
catalog_create_chunks(PGconn *c, Target *t, uint64_t cp, int pages_per_chunk)
{
	char		lsn[32],
				id[24],
				ppc[16];
	const char *v[3];
	PGresult   *r;
	int			n;

	format_lsn(cp, lsn);
	snprintf(id, sizeof(id), "%" PRId64, t->id);
	snprintf(ppc, sizeof(ppc), "%d", pages_per_chunk);
	if (!catalog_exec_ok(c, "BEGIN"))
		return -1;
	v[0] = id;
	v[1] = lsn;
	exec_params_void(c,
					 "UPDATE reindex.target SET consistent_point = $2::pg_lsn,"
					 " confirmed_lsn = $2::pg_lsn, backfill_started_at = coalesce(backfill_started_at, now())"
					 " WHERE id = $1", 2, v);
	exec_params_void(c, "DELETE FROM reindex.backfill_chunk WHERE target_id = $1", 1, v);
	v[1] = ppc;
	r = exec_params(c,
					"WITH leaves AS ("
					"  SELECT r.rel FROM reindex.target t,"
					"         LATERAL (SELECT p.relid AS rel FROM pg_partition_tree(t.source) p"
					"                   WHERE p.isleaf"
					"                  UNION SELECT t.source::oid::regclass) r"
					"   WHERE t.id = $1"
					"     AND (SELECT relkind FROM pg_class WHERE oid = r.rel) IN ('r', 'm')"
					"), sized AS ("
					"  SELECT rel, greatest(1, ceil(pg_relation_size(rel)::numeric"
					"         / current_setting('block_size')::int))::bigint AS nblocks FROM leaves"
					"), ranges AS ("
					"  SELECT rel, s AS start_block, least(s + $2::int, nblocks) AS end_block"
					"    FROM sized, generate_series(0::bigint, nblocks - 1, $2::int) s"
					") INSERT INTO reindex.backfill_chunk (target_id, chunk_no, relation, start_block, end_block)"
					"  SELECT $1, row_number() OVER (ORDER BY rel::oid, start_block), rel, start_block, end_block"
					"    FROM ranges", 2, v);
	if (!r)
	{
		catalog_exec_ok(c, "ROLLBACK");
		return -1;
	}
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	if (!catalog_exec_ok(c, "COMMIT"))
		return -1;
	t->consistent_point = cp;
	t->confirmed_lsn = cp;
	return n;
}

/*
 * Claim one unfinished chunk: the row lock taken here is held by an open
 * transaction on this connection until catalog_finish_chunk commits, so other
 * streamers skip it, and a crash releases it (the chunk is read again).
 */
bool
catalog_claim_chunk(PGconn *c, Target *t, const char *who, int *chunk_no, char **rel,
					int64_t *first_block, int64_t *end_block)
{
	char		id[24];
	const char *v[2];
	PGresult   *r;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	v[1] = who;
	if (!catalog_exec_ok(c, "BEGIN"))
		return false;
	r = exec_params(c,
					"UPDATE reindex.backfill_chunk b SET state = 'running', claimed_by = $2,"
					"       claimed_at = now()"
					"  FROM (SELECT chunk_no FROM reindex.backfill_chunk"
					"         WHERE target_id = $1 AND state <> 'done'"
					"         ORDER BY chunk_no LIMIT 1 FOR UPDATE SKIP LOCKED) c"
					" WHERE b.target_id = $1 AND b.chunk_no = c.chunk_no"
					" RETURNING b.chunk_no, b.relation::oid::regclass::text, b.start_block, b.end_block",
					2, v);
	if (!r || PQntuples(r) == 0)
	{
		if (r)
			PQclear(r);
		catalog_exec_ok(c, "ROLLBACK");
		return false;
	}
	*chunk_no = atoi(PQgetvalue(r, 0, 0));
	*rel = strdup(PQgetvalue(r, 0, 1));
	*first_block = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	*end_block = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	PQclear(r);
	return true;
}

/* Mark the claimed chunk done and commit the claim transaction. */
bool
catalog_finish_chunk(PGconn *c, Target *t, int chunk_no, int64_t rows, uint64_t snapshot_lsn)
{
	char		id[24],
				no[16],
				nrows[24],
				lsn[32];
	const char *v[4];
	PGresult   *r;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	snprintf(no, sizeof(no), "%d", chunk_no);
	snprintf(nrows, sizeof(nrows), "%" PRId64, rows);
	format_lsn(snapshot_lsn, lsn);
	v[0] = id;
	v[1] = no;
	v[2] = nrows;
	v[3] = lsn;
	r = exec_params(c,
					"UPDATE reindex.backfill_chunk SET state = 'done', done_at = now(), rows = $3,"
					" snapshot_lsn = $4::pg_lsn WHERE target_id = $1 AND chunk_no = $2", 4, v);
	if (!r)
	{
		catalog_exec_ok(c, "ROLLBACK");
		return false;
	}
	PQclear(r);
	return catalog_exec_ok(c, "COMMIT");
}

void
catalog_abort_claim(PGconn *c)
{
	catalog_exec_ok(c, "ROLLBACK");
}

/* Number of chunks not done (-1 on error); *total gets all chunks. */
int
catalog_pending_chunks(PGconn *c, Target *t, int *total, int64_t *rows_done)
{
	char		id[24];
	const char *v[1];
	PGresult   *r;
	int			n;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	r = exec_params(c,
					"SELECT count(*) FILTER (WHERE state <> 'done'), count(*),"
					"       coalesce(sum(rows), 0)"
					"  FROM reindex.backfill_chunk WHERE target_id = $1", 1, v);
	if (!r)
		return -1;
	n = atoi(PQgetvalue(r, 0, 0));
	if (total)
		*total = atoi(PQgetvalue(r, 0, 1));
	if (rows_done)
		*rows_done = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	PQclear(r);
	return n;
}

/*
 * If every chunk of a backfilling target is done, move it to streaming and its
 * job to catching_up, atomically.  Returns true when this call (or an earlier
 * one by anyone) completed the backfill.
 */
bool
catalog_complete_backfill(PGconn *c, Target *t)
{
	char		id[24];
	const char *v[1];
	PGresult   *r;
	bool		done;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	if (!catalog_exec_ok(c, "BEGIN"))
		return false;
	r = exec_params(c,
					"UPDATE reindex.target t SET state = 'streaming', backfill_done_at = now(),"
					"       rows_backfilled = (SELECT coalesce(sum(rows), 0) FROM reindex.backfill_chunk"
					"                          WHERE target_id = t.id)"
					" WHERE id = $1 AND state = 'backfilling'"
					"   AND NOT EXISTS (SELECT 1 FROM reindex.backfill_chunk"
					"                    WHERE target_id = $1 AND state <> 'done')"
					" RETURNING id", 1, v);
	done = r && PQntuples(r) == 1;
	if (r)
		PQclear(r);
	if (done)
		exec_params_void(c,
						 "UPDATE reindex.job SET state = 'catching_up'"
						 " WHERE new_target = $1 AND state = 'backfilling'", 1, v);
	if (!catalog_exec_ok(c, "COMMIT"))
		return false;
	if (done)
		snprintf(t->state, sizeof(t->state), "streaming");
	return done;
}

/* Progress of one target we feed; counters are written as deltas. */
void
catalog_write_status(PGconn *c, Target *t, const char *streamer_id, bool streaming)
{
	char		id[24],
				d[5][24],
				lsn[32],
				lagb[24],
				lags[32];
	const char *v[11];
	long long	cur[5];
	char		err[512];
	PGresult   *r;
	int			k;

	cur[0] = 0;
	cur[1] = atomic_load(&t->c.events_applied);
	cur[2] = atomic_load(&t->c.stale_rejected);
	cur[3] = atomic_load(&t->c.retried);
	cur[4] = atomic_load(&t->c.dead_lettered_uncounted);
	for (k = 0; k < 5; k++)
		snprintf(d[k], sizeof(d[k]), "%lld", cur[k] - t->written[k]);
	snprintf(id, sizeof(id), "%" PRId64, t->id);
	format_lsn(t->confirmed_lsn, lsn);
	snprintf(lagb, sizeof(lagb), "%" PRIu64, t->lag_bytes);
	snprintf(lags, sizeof(lags), "%.3f", t->lag_seconds);
	pthread_mutex_lock(&t->err_lock);
	snprintf(err, sizeof(err), "%s", t->last_error);
	pthread_mutex_unlock(&t->err_lock);
	v[0] = id;
	v[1] = d[1];
	v[2] = d[2];
	v[3] = d[3];
	v[4] = d[4];
	v[5] = streaming ? lsn : NULL;
	v[6] = streaming ? lagb : NULL;
	v[7] = streaming ? lags : NULL;
	v[8] = err[0] ? err : NULL;
	v[9] = streamer_id;
	v[10] = streaming ? "t" : "f";
	r = exec_params(c,
					"UPDATE reindex.target SET"
					"  events_applied = events_applied + $2, stale_rejected = stale_rejected + $3,"
					"  retried = retried + $4, dead_lettered = dead_lettered + $5,"
					"  confirmed_lsn = CASE WHEN $11::bool THEN greatest(confirmed_lsn, $6::pg_lsn) ELSE confirmed_lsn END,"
					"  lag_bytes = CASE WHEN $11::bool THEN $7::bigint ELSE lag_bytes END,"
					"  lag_seconds = CASE WHEN $11::bool THEN $8::float8 ELSE lag_seconds END,"
					"  rows_backfilled = CASE WHEN state = 'backfilling' THEN"
					"     (SELECT coalesce(sum(rows), 0) FROM reindex.backfill_chunk WHERE target_id = $1)"
					"     ELSE rows_backfilled END,"
					"  last_error = coalesce($9, last_error), streamer_id = $10, heartbeat_at = now()"
					" WHERE id = $1", 11, v);
	if (r)
	{
		for (k = 0; k < 5; k++)
			t->written[k] = cur[k];
		PQclear(r);
	}
}

void
catalog_set_target_state(PGconn *c, Target *t, const char *state)
{
	char		id[24];
	const char *v[2];

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	v[1] = state;
	exec_params_void(c, "UPDATE reindex.target SET state = $2 WHERE id = $1", 2, v);
	snprintf(t->state, sizeof(t->state), "%s", state);
}

/* Move the target's job from one state to another (no-op if it moved on). */
bool
catalog_set_job_state(PGconn *c, Target *t, const char *from, const char *to,
					  const char *error)
{
	char		id[24];
	const char *v[4];
	PGresult   *r;
	bool		ok;

	if (!t->job_id)
		return false;
	snprintf(id, sizeof(id), "%" PRId64, t->job_id);
	v[0] = id;
	v[1] = from;
	v[2] = to;
	v[3] = error;
	/*
	 * SKIP LOCKED: a job row locked by a DBA's call (a swap in progress) is
	 * never waited for, let alone overridden; the caller tries again later.
	 */
	r = exec_params(c,
					"UPDATE reindex.job SET state = $3, error = coalesce($4, error)"
					" WHERE id = (SELECT id FROM reindex.job WHERE id = $1 AND state = $2"
					"             FOR UPDATE SKIP LOCKED)", 4, v);
	ok = r && strcmp(PQcmdTuples(r), "1") == 0;
	if (r)
		PQclear(r);
	if (ok)
		snprintf(t->job_state, sizeof(t->job_state), "%s", to);
	return ok;
}

/*
 * Where a streaming target's job stands, in one statement (I5: the catalog
 * decides): more refused documents (dead letters) than the job's budget
 * max_refused -> needs_attention; else lag under the threshold -> ready;
 * else catching_up.  Only catching_up, ready and needs_attention move here,
 * and a job row locked by a DBA's call is skipped (tried again next tick).
 * Returns true when the state changed (t->job_state has the new one).
 */
bool
catalog_update_readiness(PGconn *c, Target *t, bool lag_ok)
{
	char		id[24];
	const char *v[4];
	PGresult   *r;
	char		want[32];
	char	   *why = NULL;
	bool		changed = false;

	if (!t->job_id)
		return false;
	snprintf(id, sizeof(id), "%" PRId64, t->job_id);
	v[0] = id;
	v[1] = lag_ok ? "t" : "f";
	/* what the state should be: a plain read, no lock (this runs every tick) */
	r = exec_params(c,
					"SELECT s.state, CASE WHEN s.state = 'needs_attention'"
					"                     THEN reindex._refusal_summary(j.new_target) END"
					"  FROM reindex.job j, LATERAL (SELECT CASE"
					"         WHEN reindex._refused_documents(j.new_target, b.budget) > b.budget"
					"         THEN 'needs_attention' WHEN $2::bool THEN 'ready' ELSE 'catching_up' END"
					"         AS state FROM (SELECT coalesce((j.options->>'max_refused')::bigint, 0)"
					"                        AS budget) b) s"
					" WHERE j.id = $1 AND j.state IN ('catching_up', 'ready', 'needs_attention')"
					"   AND j.state <> s.state", 2, v);
	if (!r || PQntuples(r) != 1)
	{
		if (r)
			PQclear(r);
		return false;
	}
	snprintf(want, sizeof(want), "%s", PQgetvalue(r, 0, 0));
	if (!PQgetisnull(r, 0, 1))
		why = strdup(PQgetvalue(r, 0, 1));
	PQclear(r);
	v[1] = want;
	v[2] = why;
	/*
	 * SKIP LOCKED: a job row locked by a DBA's call (a swap in progress) is
	 * never waited for; the next tick decides again.  The error is the
	 * refusal summary in needs_attention, cleared otherwise.
	 */
	r = exec_params(c,
					"UPDATE reindex.job SET state = $2, error = $3"
					" WHERE id = (SELECT id FROM reindex.job WHERE id = $1"
					"              AND state IN ('catching_up', 'ready', 'needs_attention')"
					"              AND state <> $2 FOR UPDATE SKIP LOCKED)"
					" RETURNING state", 3, v);
	if (r && PQntuples(r) == 1)
	{
		snprintf(t->job_state, sizeof(t->job_state), "%s", want);
		changed = true;
	}
	if (r)
		PQclear(r);
	free(why);
	return changed;
}

/*
 * A backfill that met too many refusals stops: its job goes to
 * needs_attention with the reason; the target stays backfilling, so its
 * stream is not applied (I2) until reindex_replay() lets the backfill go on.
 */
bool
catalog_stop_backfill(PGconn *c, Target *t, const char *why)
{
	char		id[24];
	const char *v[2];
	PGresult   *r;

	snprintf(id, sizeof(id), "%" PRId64, t->job_id);
	v[0] = id;
	v[1] = why;
	/* not through catalog_set_job_state: t->job_state belongs to the main thread */
	r = exec_params(c,
					"UPDATE reindex.job SET state = 'needs_attention', error = $2"
					" WHERE id = $1 AND state = 'backfilling'", 2, v);
	if (r)
		PQclear(r);
	return r != NULL;
}

/*
 * Give a claimed chunk back without marking it done, committing what its
 * transaction recorded (dead letters): the chunk is read again later.
 */
bool
catalog_release_claim(PGconn *c, Target *t, int chunk_no)
{
	char		id[24],
				no[16];
	const char *v[2];
	PGresult   *r;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	snprintf(no, sizeof(no), "%d", chunk_no);
	v[0] = id;
	v[1] = no;
	r = exec_params(c,
					"UPDATE reindex.backfill_chunk SET state = 'pending', claimed_by = NULL,"
					" claimed_at = NULL WHERE target_id = $1 AND chunk_no = $2", 2, v);
	if (!r)
	{
		catalog_exec_ok(c, "ROLLBACK");
		return false;
	}
	PQclear(r);
	return catalog_exec_ok(c, "COMMIT");
}

/* A refusal as dead_letter.error stores it: the cluster's error object, else {"reason": text}. */
void
catalog_error_json(Buf *e, const char *error)
{
	json_t	   *parsed = (error && error[0] == '{') ? json_loads(error, 0, NULL) : NULL;

	if (parsed)
	{
		buf_puts(e, error);
		json_decref(parsed);
	}
	else
	{
		buf_puts(e, "{\"reason\":");
		buf_json_string(e, error ? error : "", error ? strlen(error) : 0);
		buf_puts(e, "}");
	}
}

static const char dead_letter_insert[] =
"INSERT INTO reindex.dead_letter AS d (target_id, lsn, doc_id, op, http_status, error, document)"
" VALUES ($1, $2::pg_lsn, $3, $4, $7::int, $5::jsonb, $6)"
" ON CONFLICT (target_id, doc_id) WHERE op IN ('index', 'delete') DO UPDATE SET"
"  lsn = excluded.lsn, op = excluded.op, http_status = excluded.http_status,"
"  error = excluded.error, document = excluded.document, created_at = now()"
" WHERE d.lsn IS NULL OR d.lsn <= excluded.lsn"
" RETURNING d.target_id";

bool
catalog_dead_letter(PGconn *c, Target *t, uint64_t lsn, const char *doc_id,
					const char *op, long http_status, const char *error, const char *document,
					bool count)
{
	char		id[24],
				l[32],
				st[16];
	const char *v[7];
	Buf			e = {0};
	Buf			q = {0};
	PGresult   *r;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	format_lsn(lsn, l);
	catalog_error_json(&e, error);
	v[0] = id;
	v[1] = l;
	v[2] = doc_id;
	v[3] = op;
	v[4] = e.data;
	v[5] = t->dead_letter_documents ? document : NULL;
	snprintf(st, sizeof(st), "%ld", http_status);
	v[6] = http_status > 0 ? st : NULL;
	/*
	 * count: the target's count goes up in the same statement, so it is in
	 * the catalog before the item counts as acknowledged (before its LSN is
	 * confirmed).  Backfill threads pass false (their statement runs in the
	 * chunk's transaction, which must not hold the target row's lock) and
	 * add their chunk's refusals to the status delta once it committed.
	 */
	if (count)
		buf_printf(&q, "WITH d AS (%s)"
				   " UPDATE reindex.target t SET dead_lettered = t.dead_lettered + 1"
				   " WHERE t.id = $1::bigint AND EXISTS (SELECT 1 FROM d)", dead_letter_insert);
	else
		buf_puts(&q, dead_letter_insert);
	r = exec_params(c, q.data, 7, v);
	if (r)
		PQclear(r);
	buf_free(&e);
	buf_free(&q);
	return r != NULL;
}

/*
 * Wait until transaction xid (32 bits, from the stream) is visible to new
 * snapshots.  Logical decoding can emit a commit before the committing
 * backend has left the proc array, so a read right away could still see the
 * row as it was before (and index old content under the new version).
 */
static bool
wait_xid_visible(PGconn *c, uint64_t xid)
{
	char		x[24];
	const char *v[1];
	int			i;

	snprintf(x, sizeof(x), "%" PRIu64, xid & 0xFFFFFFFFu);
	v[0] = x;
	for (i = 0; i < 10000; i++)
	{
		PGresult   *r = exec_params(c,
									"SELECT ((($1::bigint - (pg_snapshot_xmax(s)::text::bigint % 4294967296))"
									"         + 4294967296) % 4294967296) >= 2147483648"
									"   AND NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(s) x"
									"                    WHERE x::text::bigint % 4294967296 = $1::bigint)"
									"  FROM pg_current_snapshot() s", 1, v);
		bool		visible;

		if (!r)
			return false;
		visible = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
		if (visible)
			return true;
	}
	return false;
}

/*
 * Read the current document of the row with this key (a JSON object), once
 * the event's transaction xid is visible.
 * Returns "<id> <document>" (malloc'd) or NULL when the row is gone;
 * *failed is set on a query error.
 */
char *
catalog_document_by_key(PGconn *c, Target *t, uint64_t xid, const char *key, size_t key_len,
						bool *failed)
{
	const char *v[4];
	char	   *k;
	PGresult   *r;
	char	   *out = NULL;

	if (!wait_xid_visible(c, xid))
	{
		*failed = true;
		return NULL;
	}
	k = strndup(key, key_len);
	v[0] = t->source;
	v[1] = k;
	v[2] = t->include_arr;
	v[3] = t->exclude_arr;
	r = exec_params(c,
					"SELECT reindex.document_by_key($1::regclass, $2::jsonb, $3::text[], $4::text[])",
					4, v);
	free(k);
	*failed = r == NULL;
	if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		out = strdup(PQgetvalue(r, 0, 0));
	if (r)
		PQclear(r);
	return out;
}

uint64_t
catalog_current_wal_lsn(PGconn *c)
{
	PGresult   *r = PQexec(c, "SELECT pg_current_wal_lsn()::text");
	uint64_t	l = 0;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		parse_lsn(PQgetvalue(r, 0, 0), &l);
	PQclear(r);
	return l;
}

/* Does the slot exist?  *confirmed gets its confirmed_flush_lsn. */
int
catalog_slot_exists(PGconn *c, const char *slot, uint64_t *confirmed)
{
	const char *v[1] = {slot};
	PGresult   *r = exec_params(c,
								"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
								1, v);
	int			found;

	if (!r)
		return -1;
	found = PQntuples(r) == 1;
	if (found && confirmed && !PQgetisnull(r, 0, 0))
		parse_lsn(PQgetvalue(r, 0, 0), confirmed);
	PQclear(r);
	return found;
}

/* Drop a slot unless it is in use; true when it is gone. */
bool
catalog_drop_slot(PGconn *c, const char *slot)
{
	const char *v[1] = {slot};
	PGresult   *r = exec_params(c,
								"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
								" WHERE slot_name = $1", 1, v);

	if (!r)
		return false;
	PQclear(r);
	return true;
}

/* Unfinished chunks nobody holds a claim on (-1 on error). */
int
catalog_claimable_chunks(PGconn *c, Target *t)
{
	char		id[24];
	const char *v[1];
	PGresult   *r;
	int			n;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	if (!catalog_exec_ok(c, "BEGIN"))
		return -1;
	r = exec_params(c,
					"SELECT count(*) FROM (SELECT 1 FROM reindex.backfill_chunk"
					" WHERE target_id = $1 AND state <> 'done' FOR UPDATE SKIP LOCKED) s", 1, v);
	n = r ? atoi(PQgetvalue(r, 0, 0)) : -1;
	if (r)
		PQclear(r);
	catalog_exec_ok(c, "ROLLBACK");
	return n;
}

/* Write the target's current note (last_error) right away. */
void
catalog_write_note(PGconn *c, Target *t)
{
	char		id[24];
	char		err[512];
	const char *v[2];

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	pthread_mutex_lock(&t->err_lock);
	snprintf(err, sizeof(err), "%s", t->last_error);
	pthread_mutex_unlock(&t->err_lock);
	v[0] = id;
	v[1] = err;
	exec_params_void(c, "UPDATE reindex.target SET last_error = nullif($2, ''), heartbeat_at = now()"
					 " WHERE id = $1", 2, v);
}

void
catalog_clear_error(PGconn *c, Target *t)
{
	char		id[24];
	const char *v[1];

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	exec_params_void(c, "UPDATE reindex.target SET last_error = NULL WHERE id = $1", 1, v);
}

/*
 * Session advisory lock serializing slot creation for one target across
 * streamer processes (two processes must not both create, or drop each
 * other's, slot).  Returns 1 when held, 0 when someone else holds it.
 */
int
catalog_try_slot_lock(PGconn *c, Target *t, bool unlock)
{
	char		id[24];
	const char *v[1];
	PGresult   *r;
	int			got;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	r = exec_params(c, unlock ?
					"SELECT pg_advisory_unlock(hashtext('reindex_streamer.slot'), $1::int)" :
					"SELECT pg_try_advisory_lock(hashtext('reindex_streamer.slot'), $1::int)", 1, v);
	if (!r)
		return -1;
	got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return got;
}

/* The target's consistent point as the catalog has it now (0: none). */
uint64_t
catalog_read_consistent_point(PGconn *c, Target *t)
{
	char		id[24];
	const char *v[1];
	PGresult   *r;
	uint64_t	cp = 0;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	r = exec_params(c, "SELECT consistent_point::text FROM reindex.target WHERE id = $1", 1, v);
	if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		parse_lsn(PQgetvalue(r, 0, 0), &cp);
	if (r)
		PQclear(r);
	return cp;
}

/* The database's shared slot: reindex_shared_<database oid>. */
bool
catalog_shared_slot_name(PGconn *c, char *out, size_t n)
{
	PGresult   *r = PQexec(c, "SELECT oid FROM pg_database WHERE datname = current_database()");
	bool		ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

	if (ok)
		snprintf(out, n, "reindex_shared_%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return ok;
}

/*
 * The handover of a target to the shared slot at lsn, in one statement: from
 * now on events above lsn come from the shared slot.  1: done; 0: the row
 * moved on (no handover); -1: the statement failed (the caller cannot know
 * whether it committed when the connection is gone).
 */
int
catalog_commit_handover(PGconn *c, Target *t, const char *shared_slot, uint64_t lsn)
{
	char		id[24],
				l[32];
	const char *v[3];

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	format_lsn(lsn, l);
	v[0] = id;
	v[1] = shared_slot;
	v[2] = l;
	return exec_one_row(c,
						"UPDATE reindex.target SET feed = 'shared', slot_name = $2, handover_lsn = $3::pg_lsn,"
						"       confirmed_lsn = greatest(confirmed_lsn, $3::pg_lsn),"
						"       detached_at = NULL, detached_reason = NULL"
						" WHERE id = $1 AND feed = 'own' AND state = 'streaming'", 3, v);
}

/*
 * A target leaves the shared slot for its own (a copy of the shared slot made
 * just before, at or below lsn): it streams from lsn.  Same returns as above.
 */
int
catalog_commit_detach(PGconn *c, Target *t, const char *own_slot, uint64_t lsn,
					  const char *reason)
{
	char		id[24],
				l[32];
	const char *v[4];

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	format_lsn(lsn, l);
	v[0] = id;
	v[1] = own_slot;
	v[2] = l;
	v[3] = reason;
	return exec_one_row(c,
						"UPDATE reindex.target SET feed = 'own', slot_name = $2, confirmed_lsn = $3::pg_lsn,"
						"       detached_at = now(), detached_reason = $4,"
						"       last_error = 'detached from the shared slot: ' || $4"
						" WHERE id = $1 AND feed = 'shared'", 4, v);
}

/* A new slot dst with src's position (pg_copy_logical_replication_slot). */
bool
catalog_copy_slot(PGconn *c, const char *src, const char *dst)
{
	const char *v[2] = {src, dst};
	PGresult   *r = exec_params(c, "SELECT pg_copy_logical_replication_slot($1, $2)", 2, v);

	if (!r)
		return false;
	PQclear(r);
	return true;
}
