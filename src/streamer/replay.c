/*
 * replay.c: resending a target's dead letters (reindex_replay()).
 *
 * Owns: one thread per target with a pending request in reindex.replay.  It
 * claims the request (a session advisory lock on its id, so one streamer
 * does it and a crash leaves it pending),
 * creates a temporary slot with an exported snapshot, reads every dead
 * letter's row again by its document id under that snapshot
 * (reindex.document_by_id), sends it (or a delete when the row is gone) with
 * version = the snapshot's consistent point C, version_type external, and
 * then removes the dead letters the cluster accepted (or answered 409: it
 * already holds something newer) and records the new error of those it
 * refused again.
 *
 * Why the versions are right (I1): every transaction visible in the
 * snapshot has end_lsn <= C and every later one end_lsn > C, so a streamed
 * write the snapshot already reflects cannot replace the replayed document
 * (its version is lower: 409) and every newer one does (external_gte).  The
 * same holds while the target is still backfilling: backfill chunks carry
 * their own snapshot's point, and the newer snapshot wins either way.
 * A dead letter newer than C (refused again after the snapshot) is neither
 * resent nor removed: DELETE and UPDATE re-check lsn <= C at the time they
 * run, and a refusal recorded meanwhile raises the row's lsn above C.
 * Outcomes are written in their own short statements (a separate
 * connection), never in a long transaction, so the stream's dead letter
 * upserts never wait for a replay.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backfill.h"
#include "buf.h"
#include "bulk.h"
#include "catalog.h"
#include "clock.h"
#include "es_client.h"
#include "log.h"
#include "options.h"
#include "pg_text.h"
#include "replay.h"
#include "replication.h"
#include "target.h"
#include "wire.h"

#define REPLAY_FETCH 1000

struct Replay
{
	Target	   *t;
	pthread_t	th;
	atomic_bool stop;
	atomic_bool finished;
	bool		ok;
};

typedef struct ReplayRun
{
	Replay	   *rp;
	PGconn	   *out;			/* outcome statements, autocommit */
	uint64_t	cp;
	char		cp_text[32];
	Buf			resolved;		/* bigint[] literal of accepted dead letter ids */
	int			nresolved_batch;
	long long	resent;
	long long	nresolved;
	long long	refused;
	bool		failed;
} ReplayRun;

static void
flush_resolved(ReplayRun *run)
{
	const char *v[2];
	PGresult   *r;

	if (run->nresolved_batch == 0)
		return;
	buf_puts(&run->resolved, "}");
	v[0] = run->resolved.data;
	v[1] = run->cp_text;
	r = PQexecParams(run->out,
					 "DELETE FROM reindex.dead_letter WHERE id = ANY ($1::bigint[])"
					 " AND (lsn IS NULL OR lsn <= $2::pg_lsn)", 2, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		run->nresolved += atoll(PQcmdTuples(r));
	else
	{
		log_warn(run->rp->t->index_name, "could not remove replayed dead letters: %s",
				 PQerrorMessage(run->out));
		run->failed = true;
	}
	PQclear(r);
	buf_reset(&run->resolved);
	run->nresolved_batch = 0;
}

static void
replay_item_done(void *arg, const char *item, size_t len, uint64_t seq, ItemOutcome out,
				 long status, const char *error)
{
	ReplayRun  *run = arg;
	Target	   *t = run->rp->t;

	if (out == OUT_OK || out == OUT_STALE)
	{
		buf_printf(&run->resolved, "%s%" PRIu64, run->nresolved_batch ? "," : "{", seq);
		run->nresolved_batch++;
	}
	else
	{
		char		id[24],
					st[16];
		const char *v[5];
		const char *nl = memchr(item, '\n', len);
		char	   *doc = (nl && t->dead_letter_documents) ?
			strndup(nl + 1, len - (nl - item) - 2) : NULL;
		Buf			e = {0};
		PGresult   *r;

		catalog_error_json(&e, error);
		snprintf(id, sizeof(id), "%" PRIu64, seq);
		snprintf(st, sizeof(st), "%ld", status);
		v[0] = id;
		v[1] = run->cp_text;
		v[2] = status > 0 ? st : NULL;
		v[3] = e.data;
		v[4] = doc;
		r = PQexecParams(run->out,
						 "UPDATE reindex.dead_letter SET lsn = greatest(lsn, $2::pg_lsn),"
						 " http_status = $3::int, error = $4::jsonb, document = coalesce($5, document),"
						 " created_at = now()"
						 " WHERE id = $1::bigint AND (lsn IS NULL OR lsn <= $2::pg_lsn)",
						 5, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			run->failed = true;
		PQclear(r);
		buf_free(&e);
		free(doc);
		run->refused++;
		target_set_error(t, "replayed document refused again: %.200s", error ? error : "");
	}
}

/* Send what one FETCH returned: (dead letter id, doc_id, "<id> <document>" or NULL). */
static bool
send_rows(ReplayRun *run, PGresult *rows, Batch *batch, EsResponse *resp)
{
	Target	   *t = run->rp->t;
	int			i;

	for (i = 0; i < PQntuples(rows); i++)
	{
		uint64_t	dl = strtoull(PQgetvalue(rows, i, 0), NULL, 10);
		const char *docid = PQgetvalue(rows, i, 1);

		if (!PQgetisnull(rows, i, 2))
		{
			const char *line = PQgetvalue(rows, i, 2);
			size_t		len = strlen(line),
						e;

			if (!wire_json_string_end(line, len, &e) || e >= len || line[e] != ' ')
			{
				target_set_error(t, "reindex.document_by_id returned a malformed row: %.100s", line);
				return false;
			}
			batch_add(batch, ITEM_INDEX, t->index_json, run->cp, false, line, e,
					  line + e + 1, len - e - 1, dl);
		}
		else
		{
			Buf			id = {0};

			buf_json_string(&id, docid, strlen(docid));
			batch_add(batch, ITEM_DELETE, t->index_json, run->cp, false, id.data, id.len,
					  NULL, 0, dl);
			buf_free(&id);
		}
		run->resent++;
	}
	if (batch->nitems == 0)
		return true;
	{
		BulkSync	s = {.ep = &t->ep, .stop = &run->rp->stop, .retried = &t->c.retried,
			.retrying = bulk_retrying_target, .gone = bulk_index_lost_target, .owner = t,
		.done = replay_item_done, .arg = run};

		if (!es_bulk_sync(&s, batch, resp))
			return false;
	}
	flush_resolved(run);
	return !run->failed;
}

/*
 * Claim the oldest pending request of the target: a session advisory lock on
 * its id (not a row lock: a transaction holding an xid would make the slot
 * creation below wait for itself).  A crash releases it with the session.
 * Returns the request's id, or 0 (none, someone else has it, or *failed).
 */
static int64_t
claim_request(PGconn *c, Target *t, bool *failed)
{
	char		id[24];
	const char *v[1];
	PGresult   *r;
	int64_t		req = 0;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	r = PQexecParams(c,
					 "SELECT r.id FROM (SELECT id FROM reindex.replay WHERE target_id = $1"
					 "                   AND state = 'pending' ORDER BY id LIMIT 1) r"
					 " WHERE pg_try_advisory_lock(hashtext('reindex_streamer.replay'), r.id::int)"
					 "   AND (SELECT state FROM reindex.replay x WHERE x.id = r.id) = 'pending'",
					 1, NULL, v, NULL, NULL, 0);
	*failed = PQresultStatus(r) != PGRES_TUPLES_OK;
	if (!*failed && PQntuples(r) == 1)
		req = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return req;
}

static bool
finish_request(PGconn *c, int64_t req, ReplayRun *run)
{
	char		id[24],
				a[24],
				b[24],
				d[24];
	const char *v[5];
	PGresult   *r;
	bool		ok;

	snprintf(id, sizeof(id), "%" PRId64, req);
	snprintf(a, sizeof(a), "%lld", run->resent);
	snprintf(b, sizeof(b), "%lld", run->nresolved);
	snprintf(d, sizeof(d), "%lld", run->refused);
	v[0] = id;
	v[1] = run->cp_text;
	v[2] = a;
	v[3] = b;
	v[4] = d;
	r = PQexecParams(c,
					 "WITH d AS (UPDATE reindex.replay SET state = 'done', snapshot_lsn = $2::pg_lsn,"
					 " resent = $3, resolved = $4, refused = $5, done_at = now() WHERE id = $1"
					 " RETURNING id) SELECT pg_notify('reindex', 'replay') FROM d",
					 5, NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	return ok;
}

/* Read the dead letters again under the snapshot, in pieces, and send them. */
static bool
replay_under_snapshot(ReplayRun *run, PGconn *snap)
{
	Target	   *t = run->rp->t;
	char		id[24];
	const char *v[5];
	PGresult   *r;
	Batch		batch = {0};
	EsResponse	resp = {0};
	bool		ok = true;

	snprintf(id, sizeof(id), "%" PRId64, t->id);
	v[0] = id;
	v[1] = t->source;
	v[2] = t->include_arr;
	v[3] = t->exclude_arr;
	v[4] = run->cp_text;
	r = PQexecParams(snap,
					 "DECLARE replay_rows NO SCROLL CURSOR FOR"
					 " SELECT d.id, d.doc_id,"
					 "        reindex.document_by_id($2::regclass, d.doc_id, $3::text[], $4::text[])"
					 "   FROM reindex.dead_letter d"
					 "  WHERE d.target_id = $1 AND d.op IN ('index', 'delete') AND d.doc_id IS NOT NULL"
					 "    AND (d.lsn IS NULL OR d.lsn <= $5::pg_lsn)"
					 "  ORDER BY d.id", 5, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		target_set_error(t, "replay could not read the dead letters: %s", PQerrorMessage(snap));
		PQclear(r);
		return false;
	}
	PQclear(r);
	while (ok && !atomic_load(&run->rp->stop))
	{
		int			n;
		char		fetch[48];

		snprintf(fetch, sizeof(fetch), "FETCH %d FROM replay_rows", REPLAY_FETCH);
		r = PQexec(snap, fetch);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			target_set_error(t, "replay could not read the rows again: %s", PQerrorMessage(snap));
			PQclear(r);
			ok = false;
			break;
		}
		n = PQntuples(r);
		if (n > 0)
			ok = send_rows(run, r, &batch, &resp);
		PQclear(r);
		if (n < REPLAY_FETCH)
			break;
	}
	batch_free(&batch);
	es_response_free(&resp);
	return ok && !atomic_load(&run->rp->stop);
}

static void *
replay_main(void *arg)
{
	Replay	   *rp = arg;
	Target	   *t = rp->t;
	PGconn	   *claim = catalog_connect(opt.conninfo, false, NULL);
	PGconn	   *out = catalog_connect(opt.conninfo, false, NULL);
	PGconn	   *snap = catalog_connect(opt.conninfo, false, NULL);
	PGconn	   *repl = NULL;
	ReplayRun	run = {0};
	char		slot[128];
	char	   *snapshot = NULL;
	char	   *err = NULL;
	int64_t		req;
	bool		failed;

	rp->ok = false;
	if (!claim || !out || !snap)
		goto done;
	req = claim_request(claim, t, &failed);
	if (req == 0)
	{
		rp->ok = !failed;
		goto done;
	}
	repl = catalog_connect(opt.conninfo, true, NULL);
	if (!repl)
		goto done;
	snprintf(slot, sizeof(slot), "%.40s_rp_%d_%d", t->slot_name, (int) getpid(),
			 (int) (now_ms() % 100000));
	if (!repl_create_slot(repl, slot, true, true, &run.cp, &snapshot, &err))
	{
		target_set_error(t, "replay could not create a snapshot: %s", err ? err : "unknown error");
		goto done;
	}
	if (!backfill_import_snapshot(snap, t, snapshot))
		goto done;
	/* imported: the temporary slot (and the exporting session) can go */
	PQfinish(repl);
	repl = NULL;
	run.rp = rp;
	run.out = out;
	format_lsn(run.cp, run.cp_text);
	log_info(t->index_name, "replaying dead letters from a snapshot at %s", run.cp_text);
	if (!replay_under_snapshot(&run, snap))
		goto done;
	catalog_exec_ok(snap, "COMMIT");
	if (!finish_request(claim, req, &run))
		goto done;
	log_info(t->index_name, "replay at %s: %lld resent, %lld accepted and removed, %lld refused again",
			 run.cp_text, run.resent, run.nresolved, run.refused);
	if (run.refused == 0)
		target_set_error(t, "%s", "");
	rp->ok = true;
	goto done;

done:
	if (repl)
		PQfinish(repl);
	if (snap)
		PQfinish(snap);
	if (out)
		PQfinish(out);
	if (claim)
		PQfinish(claim);
	buf_free(&run.resolved);
	free(snapshot);
	free(err);
	es_thread_cleanup();
	atomic_store(&rp->finished, true);
	return NULL;
}

/*
 * Main thread, every turn: start a replay when the catalog has a request
 * for this target, reap a finished one.
 */
void
replay_drive(Target *t)
{
	uint64_t	now = now_ms();

	if (t->replay)
	{
		if (!atomic_load(&t->replay->finished))
			return;
		if (!t->replay->ok)
			t->replay_retry_at_ms = now + 2000;
		else
			t->replay_pending = false;	/* the next catalog read says if more wait */
		replay_free(t->replay);
		t->replay = NULL;
		return;
	}
	if (!t->replay_pending || shutdown_requested || now < t->replay_retry_at_ms || !t->ep.url)
		return;
	t->replay = calloc(1, sizeof(Replay));
	t->replay->t = t;
	if (pthread_create(&t->replay->th, NULL, replay_main, t->replay) != 0)
	{
		free(t->replay);
		t->replay = NULL;
		t->replay_retry_at_ms = now + 2000;
	}
}

/* Stop (if running), wait for the thread and free. */
void
replay_free(Replay *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->th, NULL);
	free(r);
}
