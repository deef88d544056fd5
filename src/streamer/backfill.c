/*
 * backfill.c: the consistent parallel backfill of one target (I1, I2).
 *
 * Owns: a coordinator thread per backfilling target that creates the target's
 * slot with an exported snapshot (or, when resuming, a temporary slot whose
 * snapshot is fresh), splits the source into ctid block ranges, starts N
 * worker threads that import the snapshot, claim chunks, read rows through
 * reindex.document() with COPY and send them with _bulk, then restores the
 * index settings and moves the target to streaming.  A backfill whose
 * refusal rate passes the job's threshold (refused_stop_sample,
 * refused_stop_fraction) stops itself: its job goes to needs_attention, the
 * chunks in hand are given back (their dead letters kept) and nothing more
 * is read until reindex_replay() lets it go on.
 *
 * Invariants:
 *  - every row is sent with version = the consistent point of the snapshot
 *    it was read under, version_type external (I1);
 *  - the exporting connection stays idle until every worker has imported the
 *    snapshot, then is closed (a temporary slot goes with it);
 *  - a chunk is marked done, in the transaction that holds its claim, only
 *    after the cluster acknowledged every row of it; a crash rolls the claim
 *    back and the chunk is read again from a fresh snapshot (I2);
 *  - the target's stream is not applied until every chunk is done (the
 *    caller starts it only when the catalog says streaming);
 *  - a chunk's refusals are counted only once its transaction committed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backfill.h"
#include "buf.h"
#include "bulk.h"
#include "catalog.h"
#include "clock.h"
#include "es_client.h"
#include "log.h"
#include "options.h"
#include "pg_text.h"
#include "replication.h"
#include "target.h"
#include "wire.h"

#define PAGES_PER_CHUNK 512
#define SLOT_LOCK_TIMEOUT "-c lock_timeout=30s -c idle_in_transaction_session_timeout=0"

struct Backfill
{
	Target	   *t;
	pthread_t	coordinator;
	int			nworkers;
	char	   *snapshot;
	uint64_t	version;
	atomic_int	imported;
	atomic_int	import_failed;
	atomic_bool stop;
	atomic_bool finished;
	bool		ok;				/* coordinator result */
	bool		completed;		/* target moved to streaming */
	atomic_llong chunks_done;
	int			chunks_total;
	atomic_llong answered;		/* documents the cluster answered, this run */
	atomic_llong refused;		/* of them refused (dead-lettered) */
	atomic_bool stopped_early;	/* the refusal rate passed the job's threshold */
};

typedef struct Worker
{
	Backfill   *b;
	int			no;
	bool		ok;
} Worker;

/*
 * Early stop (job options refused_stop_sample, refused_stop_fraction): once
 * the cluster answered at least the sample of documents in this run and the
 * refused share reached the fraction, the backfill stops instead of pushing
 * every row into dead_letter.
 */
static void
check_refusal_rate(Backfill *b)
{
	Target	   *t = b->t;
	long long	n = atomic_load(&b->answered);
	long long	bad = atomic_load(&b->refused);

	if (t->refused_stop_sample > 0 && n >= t->refused_stop_sample &&
		(double) bad >= t->refused_stop_fraction * (double) n &&
		!atomic_exchange(&b->stopped_early, true))
		atomic_store(&b->stop, true);
}

typedef struct ItemCtx
{
	Backfill   *b;
	PGconn	   *claim;
	long long  *chunk_refused;
} ItemCtx;

/* One answered item: dead letters go through the claim connection, inside the chunk's transaction. */
static void
item_done(void *arg, const char *item, size_t len, uint64_t seq, ItemOutcome out,
		  long status, const char *error)
{
	ItemCtx    *x = arg;
	Backfill   *b = x->b;
	Target	   *t = b->t;

	(void) seq;
	if (atomic_load(&b->stopped_early))
		return;					/* the chunk is given back and read again */
	atomic_fetch_add(&b->answered, 1);
	if (out == OUT_DEAD)
	{
		char	   *id = NULL;
		uint64_t	v = 0;
		const char *nl = memchr(item, '\n', len);
		char	   *doc = nl ? strndup(nl + 1, len - (nl - item) - 2) : NULL;

		bulk_item_meta(item, len, &id, &v);
		if (catalog_dead_letter(x->claim, t, v, id, "index", status, error, doc, false))
			(*x->chunk_refused)++;
		target_set_error(t, "backfilled document %s refused (dead-lettered): %.200s",
						 id ? id : "?", error ? error : "");
		atomic_fetch_add(&b->refused, 1);
		free(id);
		free(doc);
	}
	else if (out == OUT_STALE)
		atomic_fetch_add(&t->c.stale_rejected, 1);
	check_refusal_rate(b);
}

/*
 * A worker's sender thread: the reader fills one batch while the previous one
 * is in flight (double buffering).  The claim connection is used by the
 * sender (dead letters) only while the reader is busy with its snapshot
 * connection, and by the reader only when the sender is idle.
 */
typedef struct Sender
{
	Backfill   *b;
	PGconn	   *claim;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	Batch		pending;
	bool		has_pending;
	bool		busy;
	bool		quit;
	bool		failed;
	long long	chunk_refused;	/* dead letters recorded in the open chunk */
	pthread_t	th;
} Sender;

static void *
sender_main(void *arg)
{
	Sender	   *sd = arg;
	Batch		work = {0};
	EsResponse	resp = {0};		/* reused: its buffer keeps its size */

	for (;;)
	{
		Batch		tmp;
		int			k;
		bool		ok;

		pthread_mutex_lock(&sd->mu);
		while (!sd->has_pending && !sd->quit)
			pthread_cond_wait(&sd->cv, &sd->mu);
		if (!sd->has_pending)
		{
			pthread_mutex_unlock(&sd->mu);
			break;
		}
		tmp = work;
		work = sd->pending;
		sd->pending = tmp;
		sd->has_pending = false;
		sd->busy = true;
		pthread_cond_broadcast(&sd->cv);
		pthread_mutex_unlock(&sd->mu);

		k = work.nitems;
		{
			Target	   *t = sd->b->t;
			ItemCtx		x = {sd->b, sd->claim, &sd->chunk_refused};
			BulkSync	s = {.ep = &t->ep, .stop = &sd->b->stop, .retried = &t->c.retried,
				.retrying = bulk_retrying_target, .gone = bulk_index_lost_target, .owner = t,
			.done = item_done, .arg = &x};

			ok = es_bulk_sync(&s, &work, &resp);
		}
		if (ok)
			atomic_fetch_add(&sd->b->t->c.rows_backfilled, k);

		pthread_mutex_lock(&sd->mu);
		sd->busy = false;
		if (!ok)
			sd->failed = true;
		pthread_cond_broadcast(&sd->cv);
		pthread_mutex_unlock(&sd->mu);
	}
	batch_free(&work);
	es_response_free(&resp);
	es_thread_cleanup();
	return NULL;
}

static bool
sender_start(Sender *sd, Backfill *b, PGconn *claim)
{
	memset(sd, 0, sizeof(*sd));
	sd->b = b;
	sd->claim = claim;
	pthread_mutex_init(&sd->mu, NULL);
	pthread_cond_init(&sd->cv, NULL);
	return pthread_create(&sd->th, NULL, sender_main, sd) == 0;
}

/* Hand a full batch over (waits while the previous one is still queued). */
static bool
sender_submit(Sender *sd, Batch *batch)
{
	Batch		tmp;
	bool		ok;

	pthread_mutex_lock(&sd->mu);
	while (sd->has_pending && !sd->failed)
		pthread_cond_wait(&sd->cv, &sd->mu);
	ok = !sd->failed;
	if (ok)
	{
		tmp = sd->pending;
		sd->pending = *batch;
		*batch = tmp;
		sd->has_pending = true;
		pthread_cond_broadcast(&sd->cv);
	}
	pthread_mutex_unlock(&sd->mu);
	batch_clear(batch);
	return ok;
}

/* Wait until everything handed over is acknowledged; false if it failed. */
static bool
sender_wait_idle(Sender *sd)
{
	bool		ok;

	pthread_mutex_lock(&sd->mu);
	while ((sd->has_pending || sd->busy) && !sd->failed)
		pthread_cond_wait(&sd->cv, &sd->mu);
	while (sd->busy)
		pthread_cond_wait(&sd->cv, &sd->mu);
	ok = !sd->failed;
	sd->failed = false;
	sd->has_pending = false;
	batch_clear(&sd->pending);
	pthread_mutex_unlock(&sd->mu);
	return ok;
}

static void
sender_stop(Sender *sd)
{
	pthread_mutex_lock(&sd->mu);
	sd->quit = true;
	pthread_cond_broadcast(&sd->cv);
	pthread_mutex_unlock(&sd->mu);
	pthread_join(sd->th, NULL);
	batch_free(&sd->pending);
	pthread_mutex_destroy(&sd->mu);
	pthread_cond_destroy(&sd->cv);
}

/* Read one chunk with COPY and send its rows; true when all are acknowledged. */
static bool
read_chunk(Backfill *b, PGconn *snap, Sender *sd, Batch *batch, const char *rel,
		   int64_t first, int64_t end, int64_t *rows)
{
	Target	   *t = b->t;
	Buf			q = {0};
	char	   *src = PQescapeLiteral(snap, t->source, strlen(t->source));
	char	   *inc = t->include_arr ? PQescapeLiteral(snap, t->include_arr, strlen(t->include_arr)) : NULL;
	char	   *exc = t->exclude_arr ? PQescapeLiteral(snap, t->exclude_arr, strlen(t->exclude_arr)) : NULL;
	PGresult   *r;
	bool		ok = true;
	char	   *line;
	int			n;

	buf_printf(&q, "COPY (SELECT reindex.document(%s::regclass, x, %s::text[], %s::text[])"
			   " FROM ONLY %s x WHERE x.ctid >= '(%" PRId64 ",0)'::tid AND x.ctid < '(%" PRId64 ",0)'::tid)"
			   " TO STDOUT",
			   src, inc ? inc : "NULL", exc ? exc : "NULL", rel, first, end);
	PQfreemem(src);
	if (inc)
		PQfreemem(inc);
	if (exc)
		PQfreemem(exc);
	r = PQexec(snap, q.data);
	buf_free(&q);
	if (PQresultStatus(r) != PGRES_COPY_OUT)
	{
		target_set_error(t, "backfill read of %s failed: %s", rel, PQerrorMessage(snap));
		PQclear(r);
		return false;
	}
	PQclear(r);
	*rows = 0;
	while ((n = PQgetCopyData(snap, &line, 0)) > 0)
	{
		size_t		len = copy_unescape(line, n > 0 && line[n - 1] == '\n' ? n - 1 : n);
		size_t		e;

		if (ok && wire_json_string_end(line, len, &e) && e < len && line[e] == ' ')
		{
			batch_add(batch, ITEM_INDEX, t->index_json, b->version, false,
					  line, e, line + e + 1, len - e - 1, 0);
			(*rows)++;
			if (batch->body.len >= opt.batch_bytes || batch->nitems >= opt.batch_docs)
				ok = sender_submit(sd, batch);
		}
		else if (ok && !(len == 2 && line[0] == '\\' && line[1] == 'N'))
		{
			target_set_error(t, "reindex.document returned a malformed row: %.100s", line);
			ok = false;
		}
		PQfreemem(line);
	}
	while ((r = PQgetResult(snap)) != NULL)
	{
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
		{
			target_set_error(t, "backfill read of %s failed: %s", rel, PQresultErrorMessage(r));
			ok = false;
		}
		PQclear(r);
	}
	if (ok && batch->nitems > 0)
		ok = sender_submit(sd, batch);
	if (!sender_wait_idle(sd))
		ok = false;
	batch_clear(batch);
	return ok;
}

/* A committed chunk's refusals go into the counters (the status delta writes them). */
static void
count_refused(Target *t, long long n)
{
	atomic_fetch_add(&t->c.dead_lettered, n);
	atomic_fetch_add(&t->c.dead_lettered_uncounted, n);
}

/* catalog_import_snapshot(), the failure recorded on the target */
bool
backfill_import_snapshot(PGconn *c, Target *t, const char *snapshot)
{
	if (catalog_import_snapshot(c, snapshot))
		return true;
	target_set_error(t, "could not import the exported snapshot: %s", PQerrorMessage(c));
	return false;
}

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	Backfill   *b = w->b;
	Target	   *t = b->t;
	PGconn	   *snap = catalog_connect(opt.conninfo, false, NULL);
	PGconn	   *claim = catalog_connect(opt.conninfo, false, NULL);
	char		who[300];
	Sender		sd;
	Batch		batch = {0};	/* the batch being filled, kept across chunks */
	bool		sender_running = false;

	snprintf(who, sizeof(who), "%s", opt.id);
	w->ok = false;
	if (!snap || !claim)
	{
		atomic_fetch_add(&b->import_failed, 1);
		goto out;
	}
	if (!backfill_import_snapshot(snap, t, b->snapshot))
	{
		atomic_fetch_add(&b->import_failed, 1);
		goto out;
	}
	atomic_fetch_add(&b->imported, 1);
	if (!sender_start(&sd, b, claim))
		goto out;
	sender_running = true;
	w->ok = true;
	while (!atomic_load(&b->stop))
	{
		int			chunk_no;
		char	   *rel;
		int64_t		first,
					end,
					rows = 0;

		if (!catalog_claim_chunk(claim, t, who, &chunk_no, &rel, &first, &end))
			break;
		log_debug(t->index_name, "worker %d reads chunk %d (%s blocks %" PRId64 "..%" PRId64 ")",
				  w->no, chunk_no, rel, first, end);
		sd.chunk_refused = 0;
		if (!read_chunk(b, snap, &sd, &batch, rel, first, end, &rows))
		{
			/*
			 * Stopped early: keep the dead letters as evidence (the chunk is
			 * read again when the backfill goes on; they do not duplicate).
			 */
			if (atomic_load(&b->stopped_early) && catalog_release_claim(claim, t, chunk_no))
				count_refused(t, sd.chunk_refused);
			else
			{
				catalog_abort_claim(claim);
				w->ok = false;
			}
			free(rel);
			break;
		}
		if (!catalog_finish_chunk(claim, t, chunk_no, rows, b->version))
		{
			catalog_abort_claim(claim);
			free(rel);
			w->ok = false;
			break;
		}
		count_refused(t, sd.chunk_refused);
		atomic_fetch_add(&b->chunks_done, 1);
		free(rel);
	}
	catalog_exec_ok(snap, "COMMIT");
out:
	if (sender_running)
		sender_stop(&sd);
	batch_free(&batch);
	if (snap)
		PQfinish(snap);
	if (claim)
		PQfinish(claim);
	return NULL;
}

/* PUT /<index>/_settings with a JSON object (logged on failure only). */
static void
put_settings(Target *t, const char *json)
{
	EsResponse	resp = {0};
	Buf			path = {0};

	buf_printf(&path, "/%s/_settings", t->index_name);
	es_request_sync(&t->ep, "PUT", path.data, json, strlen(json), &resp, 30000);
	if (resp.http_status < 200 || resp.http_status >= 300)
		log_warn(t->index_name, "could not update index settings (HTTP %ld): %.200s",
				 resp.http_status, resp.body.data ? resp.body.data : resp.curl_error);
	buf_free(&path);
	es_response_free(&resp);
}

static void
restore_settings(Target *t)
{
	json_t	   *s = json_object();
	json_t	   *req = NULL;
	json_error_t jerr;
	char	   *out;

	json_object_set_new(s, "index.refresh_interval", json_null());
	json_object_set_new(s, "index.number_of_replicas", json_null());
	if (t->requested_settings)
		req = json_loads(t->requested_settings, 0, &jerr);
	if (json_is_object(req))
		json_object_update(s, req);
	out = json_dumps(s, JSON_COMPACT);
	put_settings(t, out);
	free(out);
	json_decref(req);
	json_decref(s);
}

static void *
coordinator_main(void *arg)
{
	Backfill   *b = arg;
	Target	   *t = b->t;
	PGconn	   *cat = catalog_connect(opt.conninfo, false, NULL);
	PGconn	   *repl = NULL;
	char	   *err = NULL;
	int			slot,
				i,
				claimable;
	uint64_t	cp = 0;
	Worker	   *workers = NULL;
	pthread_t  *th = NULL;
	bool		fresh;
	int			locked = 0;

	b->ok = false;
	if (!cat)
		goto out;
	locked = catalog_try_slot_lock(cat, t, false);
	if (locked < 0)
		goto out;
	if (locked == 0)
	{
		/* another streamer is creating the slot: look again soon */
		b->ok = true;
		goto out;
	}
	t->consistent_point = catalog_read_consistent_point(cat, t);
	slot = catalog_slot_exists(cat, t->slot_name, NULL);
	if (slot < 0)
		goto out;
	fresh = (slot == 0 || t->consistent_point == 0);
	if (!fresh)
	{
		claimable = catalog_claimable_chunks(cat, t);
		if (claimable < 0)
			goto out;
		if (claimable == 0)
		{
			/* nothing left for us: done, or other streamers hold the rest */
			b->ok = true;
			b->completed = catalog_complete_backfill(cat, t);
			goto out;
		}
	}
	else if (slot == 1)
	{
		log_info(t->index_name, "dropping slot %s: it has no recorded consistent point", t->slot_name);
		catalog_drop_slot(cat, t->slot_name);
	}

	repl = catalog_connect(opt.conninfo, true, SLOT_LOCK_TIMEOUT);
	if (!repl)
		goto out;
	target_set_error(t, "creating slot %s: waiting for transactions older than the snapshot to finish",
					 t->slot_name);
	catalog_write_note(cat, t);
	if (fresh)
	{
		if (!repl_create_slot(repl, t->slot_name, false, true, &cp, &b->snapshot, &err))
			goto slot_failed;
		if (catalog_create_chunks(cat, t, cp, PAGES_PER_CHUNK) < 0)
		{
			err = strdup("could not record the consistent point and chunks");
			goto slot_failed;
		}
		log_info(t->index_name, "slot %s created, consistent point %X/%X",
				 t->slot_name, (unsigned int) (cp >> 32), (unsigned int) cp);
	}
	else
	{
		char		tmp[128];

		snprintf(tmp, sizeof(tmp), "%.40s_bf_%d_%d", t->slot_name, (int) getpid(),
				 (int) (now_ms() % 100000));
		if (!repl_create_slot(repl, tmp, true, true, &cp, &b->snapshot, &err))
			goto slot_failed;
		log_info(t->index_name, "resuming backfill from a fresh snapshot at %X/%X",
				 (unsigned int) (cp >> 32), (unsigned int) cp);
	}
	catalog_try_slot_lock(cat, t, true);
	locked = 0;
	target_set_error(t, "%s", "");
	catalog_clear_error(cat, t);
	b->version = cp;
	catalog_pending_chunks(cat, t, &b->chunks_total, NULL);

	put_settings(t, "{\"index.refresh_interval\":\"-1\",\"index.number_of_replicas\":0}");

	b->nworkers = opt.backfill_workers > 0 ? opt.backfill_workers :
		(t->job_workers > 0 ? t->job_workers : 2);
	workers = calloc(b->nworkers, sizeof(Worker));
	th = calloc(b->nworkers, sizeof(pthread_t));
	for (i = 0; i < b->nworkers; i++)
	{
		workers[i].b = b;
		workers[i].no = i;
		pthread_create(&th[i], NULL, worker_main, &workers[i]);
	}
	/* keep the exporter idle until every worker imported the snapshot */
	while (atomic_load(&b->imported) + atomic_load(&b->import_failed) < b->nworkers)
		sleep_ms(2);
	PQfinish(repl);
	repl = NULL;
	b->ok = atomic_load(&b->import_failed) == 0;
	for (i = 0; i < b->nworkers; i++)
	{
		pthread_join(th[i], NULL);
		if (!workers[i].ok)
			b->ok = false;
	}
	if (atomic_load(&b->stopped_early))
	{
		char		why[300];

		snprintf(why, sizeof(why),
				 "backfill stopped early: %lld of the first %lld documents were refused"
				 " (options refused_stop_sample %lld, refused_stop_fraction %g)",
				 (long long) atomic_load(&b->refused), (long long) atomic_load(&b->answered),
				 (long long) t->refused_stop_sample, t->refused_stop_fraction);
		log_warn(t->index_name, "%s", why);
		b->ok = catalog_stop_backfill(cat, t, why);
	}
	else if (b->ok && !atomic_load(&b->stop))
	{
		int			pending = catalog_pending_chunks(cat, t, NULL, NULL);

		if (pending == 0)
		{
			restore_settings(t);
			b->completed = catalog_complete_backfill(cat, t);
		}
	}
	goto out;

slot_failed:
	target_set_error(t, "could not create slot %s: %s", t->slot_name, err ? err : "unknown error");
	catalog_write_note(cat, t);
out:
	if (repl)
		PQfinish(repl);
	if (cat)
		PQfinish(cat);
	free(err);
	free(workers);
	free(th);
	es_thread_cleanup();
	atomic_store(&b->finished, true);
	return NULL;
}

Backfill *
backfill_start(Target *t)
{
	Backfill   *b = calloc(1, sizeof(Backfill));

	b->t = t;
	if (pthread_create(&b->coordinator, NULL, coordinator_main, b) != 0)
	{
		free(b);
		return NULL;
	}
	return b;
}

/* Has the coordinator finished?  Then *ok and *completed describe it. */
bool
backfill_done(Backfill *b, bool *ok, bool *completed)
{
	if (!atomic_load(&b->finished))
		return false;
	*ok = b->ok;
	*completed = b->completed;
	return true;
}

/* Did the backfill stop itself because too many documents were refused? */
bool
backfill_stopped_early(Backfill *b)
{
	return atomic_load(&b->stopped_early);
}

/* Stop (if running), wait for the threads and free. */
void
backfill_free(Backfill *b)
{
	if (!b)
		return;
	atomic_store(&b->stop, true);
	pthread_join(b->coordinator, NULL);
	free(b->snapshot);
	free(b);
}

void
backfill_progress(Backfill *b, int64_t *done_chunks, int64_t *total_chunks)
{
	*done_chunks = atomic_load(&b->chunks_done);
	*total_chunks = b->chunks_total;
}
