/*
 * verify.c: reindex_verify runs (src/sql/16_verify.sql), one at a time per
 * streamer, on a thread of their own with their own connections.
 *
 * Owns: claiming a queued run of a target this streamer serves (FOR UPDATE
 * SKIP LOCKED; a running run with a heartbeat older than 15 s is claimed
 * again and starts over), the comparison, the repair and the run's row.
 * The main loop calls verify_tick() (claim, reap) and verify_stop().
 *
 * A run, all inside one snapshot with a known LSN:
 *  1. a temporary logical slot with an exported snapshot gives C: every
 *     transaction visible in the snapshot has end_lsn <= C, every later one
 *     > C (I1); a REPEATABLE READ transaction imports the snapshot and the
 *     slot is dropped at once;
 *  2. wait until the target has acknowledged C (I3: every change up to C is
 *     in the index), so that a document with a version <= C must equal the
 *     snapshot's row;
 *  3. rows: COPY every row of the snapshot through reindex.document() (the
 *     one encoder) with its tableoid, ctid and xmin; per batch, one _mget of
 *     the ids.  A document above C changed later and is not judged; no
 *     document = missing; a version below the target's consistent point =
 *     stale; another _source = mismatched (option content);
 *  4. documents: scroll the index in _doc order (_source off, versions on);
 *     ids with a version <= C that reindex.absent_ids() finds no row for in
 *     the snapshot are extra (after a realtime _mget shows them unchanged);
 *  5. a difference counts only if it survives a recheck made after the
 *     document was read: the row is still the same tuple (ctid and xmin) in
 *     a fresh snapshot, i.e. no transaction touched it after C; otherwise it
 *     is counted as changed (the writer's own event will be judged by I1);
 *  6. repair: rows re-sent with version C, external_gte (a later write has
 *     a version > C and wins; C >= any version <= C), extras deleted with
 *     version C; 409 means a newer write won (changed).
 * Memory is bounded by one batch.  Writers are never blocked: the snapshot
 * only holds back vacuum while the run reads (as pg_dump does).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "bulk.h"
#include "catalog.h"
#include "clock.h"
#include "endpoint.h"
#include "es_client.h"
#include "json_scan.h"
#include "log.h"
#include "options.h"
#include "pg_text.h"
#include "replication.h"
#include "target.h"
#include "verify.h"
#include "wire.h"

#define CLAIM_INTERVAL_MS 1000
#define PROGRESS_INTERVAL_MS 1000
#define MAX_ATTEMPTS 3
#define ES_ATTEMPTS 12
#define SCROLL_KEEP "5m"

enum
{
	K_MISSING, K_EXTRA, K_STALE, K_MISMATCHED, NKINDS
};
static const char *const kind_name[NKINDS] = {"missing", "extra", "stale", "mismatched"};

typedef struct Row
{
	uint32_t	id_off,
				id_len;			/* the id as a JSON string, in rows.data */
	uint32_t	doc_off,
				doc_len;
	char		tableoid[16];
	char		ctid[24];
	char		xmin[16];
	int			kind;			/* candidate difference, or -1 */
} Row;

typedef struct Run
{
	int64_t		id;
	int64_t		target_id;
	bool		repair;
	bool		content;
	int			batch_size;
	int			sample_size;
	int			wait_seconds;
	/* copied from the Target: the thread never touches it */
	char	   *index_name;
	char	   *index_json;
	char	   *source;
	char	   *include_arr;
	char	   *exclude_arr;
	uint64_t	floor;			/* the target's consistent point */
	Endpoint	ep;
	bool		partitioned;
	/* state of the run */
	PGconn	   *cat;
	PGconn	   *snap;
	uint64_t	C;
	const char *phase;
	long long	rows,
				docs,
				found[NKINDS],
				changed,
				repaired,
				repair_failed;
	Buf			samples[NKINDS];
	int			nsamples[NKINDS];
	char		error[512];
	uint64_t	last_progress_ms;
	EsResponse	resp;
	Buf			rowbuf;
	Row		   *batch;
	int			nbatch;
	atomic_bool stop;
	atomic_bool finished;
	pthread_t	th;
} Run;

static Run *current;
static uint64_t last_claim_ms;

static void
run_free(Run *r)
{
	free(r->index_name);
	free(r->index_json);
	free(r->source);
	free(r->include_arr);
	free(r->exclude_arr);
	endpoint_free(&r->ep);
	for (int k = 0; k < NKINDS; k++)
		buf_free(&r->samples[k]);
	es_response_free(&r->resp);
	buf_free(&r->rowbuf);
	free(r->batch);
	free(r);
}

static bool
fail(Run *r, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static bool
fail(Run *r, const char *fmt,...)
{
	va_list		ap;

	if (r->error[0])
		return false;			/* keep the first cause */
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return false;
}

static PGresult *
query(Run *r, PGconn *c, const char *sql, int n, const char *const *vals)
{
	PGresult   *res = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fail(r, "query failed: %s", PQerrorMessage(c));
		PQclear(res);
		return NULL;
	}
	return res;
}

/*---- the run's row ----*/

static void
samples_json(Run *r, Buf *out)
{
	buf_puts(out, "{");
	for (int k = 0, first = 1; k < NKINDS; k++)
	{
		if (r->nsamples[k] == 0)
			continue;
		buf_printf(out, "%s\"%s\":[", first ? "" : ",", kind_name[k]);
		buf_append(out, r->samples[k].data, r->samples[k].len);
		buf_puts(out, "]");
		first = 0;
	}
	buf_puts(out, "}");
}

/* Write counters (and the final state); false if the run is no longer ours. */
static bool
write_row(Run *r, const char *state)
{
	char		v[16][64];
	const char *p[16];
	char		lsn[32];
	Buf			samples = {0};
	PGresult   *res;
	bool		ours;

	samples_json(r, &samples);
	format_lsn(r->C, lsn);
	snprintf(v[0], 64, "%" PRId64, r->id);
	snprintf(v[1], 64, "%lld", r->rows);
	snprintf(v[2], 64, "%lld", r->docs);
	for (int k = 0; k < NKINDS; k++)
		snprintf(v[3 + k], 64, "%lld", r->found[k]);
	snprintf(v[7], 64, "%lld", r->changed);
	snprintf(v[8], 64, "%lld", r->repaired);
	snprintf(v[9], 64, "%lld", r->repair_failed);
	for (int i = 0; i < 10; i++)
		p[i] = v[i];
	p[10] = r->C ? lsn : NULL;
	p[11] = r->phase;
	p[12] = state;
	p[13] = samples.data;
	p[14] = r->error[0] ? r->error : NULL;
	p[15] = opt.id;
	res = PQexecParams(r->cat,
					   "UPDATE reindex.verify_run SET rows_checked = $2, docs_checked = $3,"
					   " missing = $4, extra = $5, stale = $6, mismatched = $7, changed = $8,"
					   " repaired = $9, repair_failed = $10, snapshot_lsn = $11::pg_lsn,"
					   " phase = $12, state = coalesce($13, state), samples = $14::jsonb,"
					   " error = $15, heartbeat_at = now(),"
					   " finished_at = CASE WHEN $13 IN ('done', 'failed') THEN now() END"
					   " WHERE id = $1 AND streamer_id = $16 AND state = 'running'",
					   16, NULL, p, NULL, NULL, 0);
	ours = PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(res), "1") == 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_warn(r->index_name, "verify run %" PRId64 ": could not write progress: %s",
				 r->id, PQerrorMessage(r->cat));
	PQclear(res);
	buf_free(&samples);
	r->last_progress_ms = now_ms();
	return ours;
}

static bool
progress(Run *r, const char *phase)
{
	if (phase)
		r->phase = phase;
	if (!phase && now_ms() - r->last_progress_ms < PROGRESS_INTERVAL_MS)
		return !atomic_load(&r->stop);
	if (!write_row(r, NULL))
	{
		atomic_store(&r->stop, true);
		return fail(r, "the run was taken over by another streamer");
	}
	return !atomic_load(&r->stop);
}

static void
note(Run *r, int kind, const char *id_json, size_t len)
{
	r->found[kind]++;
	if (r->nsamples[kind] >= r->sample_size)
		return;
	if (r->nsamples[kind]++)
		buf_puts(&r->samples[kind], ",");
	buf_append(&r->samples[kind], id_json, len);
}

/*---- requests to the cluster ----*/

/* A read request with retries (transport errors, 429, 5xx); the status. */
static long
es_read(Run *r, const char *method, const char *path, const char *body, size_t len)
{
	for (int attempt = 0; attempt < ES_ATTEMPTS && !atomic_load(&r->stop); attempt++)
	{
		r->resp.curl_error[0] = '\0';
		es_request_sync(&r->ep, method, path, body, len, &r->resp, 0);
		if (r->resp.http_status != 0 && !es_retryable_status(r->resp.http_status))
			return r->resp.http_status;
		sleep_ms(backoff_ms(attempt));
	}
	fail(r, "%s %s failed: %s", method, path,
		 r->resp.http_status ? "the cluster kept answering with a retryable status" : r->resp.curl_error);
	return 0;
}

/*
 * BulkSync.done for repairs: counts each item's final outcome (OUT_DEAD and
 * OUT_GONE, the index deleted under the run, are failed repairs).
 */
static void
repair_done(void *arg, const char *item, size_t len, uint64_t seq, ItemOutcome out,
			long status, const char *error)
{
	Run		   *r = arg;

	(void) item;
	(void) len;
	(void) seq;
	if (out == OUT_OK)
		r->repaired++;
	else if (out == OUT_STALE)
		r->changed++;			/* a newer write won */
	else
	{
		r->repair_failed++;
		log_warn(r->index_name, "verify run %" PRId64 ": repair refused (HTTP %ld): %.200s",
				 r->id, status, error ? error : "");
	}
}

/* Send a repair batch until every item is done (ES_ATTEMPTS requests at most). */
static void
send_repairs(Run *r, Batch *b)
{
	BulkSync	s = {.ep = &r->ep, .stop = &r->stop, .max_attempts = ES_ATTEMPTS,
	.done = repair_done, .arg = r};

	es_bulk_sync(&s, b, &r->resp);
}

/*
 * One document of an _mget answer: found, _version and the raw _source.
 * False when the answer does not scan or the item is an error.
 */
static bool
scan_mget_doc(JsonScan *s, bool *found, uint64_t *version, const char **src, size_t *src_len,
			  const char **err, size_t *err_len)
{
	*found = false;
	*version = 0;
	*src = NULL;
	*src_len = 0;
	*err = NULL;
	if (!js_eat(s, '{'))
		return false;
	if (js_eat(s, '}'))
		return true;
	for (;;)
	{
		const char *k;
		size_t		klen;
		const char *start;

		if (!js_string(s, &k, &klen) || !js_eat(s, ':'))
			return false;
		js_ws(s);
		start = s->p;
		if (!js_skip(s))
			return false;
		if (js_key_is(k, klen, "found"))
			*found = s->p - start == 4 && memcmp(start, "true", 4) == 0;
		else if (js_key_is(k, klen, "_version"))
			*version = strtoull(start, NULL, 10);
		else if (js_key_is(k, klen, "_source"))
		{
			*src = start;
			*src_len = s->p - start;
		}
		else if (js_key_is(k, klen, "error"))
		{
			*err = start;
			*err_len = s->p - start;
		}
		if (js_eat(s, ','))
			continue;
		return js_eat(s, '}');
	}
}

/* Position s at the first element of the array under key (top level). */
static bool
seek_array(JsonScan *s, const char *key)
{
	if (!js_eat(s, '{'))
		return false;
	for (;;)
	{
		const char *k;
		size_t		klen;

		if (!js_string(s, &k, &klen) || !js_eat(s, ':'))
			return false;
		if (js_key_is(k, klen, key))
			return js_eat(s, '[');
		if (!js_skip(s) || !js_eat(s, ','))
			return false;
	}
}

/*---- rows ----*/

/* Rows still the same tuple as in the snapshot: mark the others changed. */
static bool
recheck_rows(Run *r)
{
	Buf			tids = {0};
	const char *p[2];
	PGresult   *res;
	Buf			q = {0};
	int			n = 0;

	buf_puts(&tids, "{");
	for (int i = 0; i < r->nbatch; i++)
		if (r->batch[i].kind >= 0)
			buf_printf(&tids, "%s\"%s\"", n++ ? "," : "", r->batch[i].ctid);
	buf_puts(&tids, "}");
	if (n == 0)
	{
		buf_free(&tids);
		return true;
	}
	buf_printf(&q, "SELECT x.tableoid::oid::text, x.ctid::text, x.xmin::text FROM %s%s x"
			   " WHERE x.ctid = ANY ($1::tid[])", r->partitioned ? "" : "ONLY ", r->source);
	p[0] = tids.data;
	res = query(r, r->cat, q.data, 1, p);
	buf_free(&q);
	buf_free(&tids);
	if (!res)
		return false;
	for (int i = 0; i < r->nbatch; i++)
	{
		Row		   *row = &r->batch[i];
		bool		same = false;

		if (row->kind < 0)
			continue;
		for (int j = 0; j < PQntuples(res) && !same; j++)
			same = strcmp(PQgetvalue(res, j, 0), row->tableoid) == 0 &&
				strcmp(PQgetvalue(res, j, 1), row->ctid) == 0 &&
				strcmp(PQgetvalue(res, j, 2), row->xmin) == 0;
		if (!same)
		{
			row->kind = -1;
			r->changed++;
		}
	}
	PQclear(res);
	return true;
}

static bool
check_rows(Run *r)
{
	Buf			body = {0};
	Buf			path = {0};
	Batch		fix = {0};
	JsonScan	s;
	long		st;
	int			i;
	bool		ok = true;

	if (r->nbatch == 0)
		return true;
	buf_puts(&body, "{\"ids\":[");
	for (i = 0; i < r->nbatch; i++)
	{
		if (i)
			buf_puts(&body, ",");
		buf_append(&body, r->rowbuf.data + r->batch[i].id_off, r->batch[i].id_len);
	}
	buf_puts(&body, "]}");
	buf_printf(&path, "/%s/_mget?realtime=true%s", r->index_name, r->content ? "" : "&_source=false");
	st = es_read(r, "POST", path.data, body.data, body.len);
	buf_free(&body);
	buf_free(&path);
	if (st != 200)
	{
		batch_free(&fix);
		return st ? fail(r, "_mget on index %s answered HTTP %ld: %.300s", r->index_name, st,
						 r->resp.body.data ? r->resp.body.data : "") : false;
	}
	s.p = r->resp.body.data;
	s.end = s.p + r->resp.body.len;
	if (!seek_array(&s, "docs"))
		return fail(r, "_mget on index %s: the answer has no docs", r->index_name);
	for (i = 0; i < r->nbatch; i++)
	{
		Row		   *row = &r->batch[i];
		bool		found;
		uint64_t	v;
		const char *src,
				   *err;
		size_t		src_len,
					err_len;

		if ((i > 0 && !js_eat(&s, ',')) ||
			!scan_mget_doc(&s, &found, &v, &src, &src_len, &err, &err_len))
			return fail(r, "_mget on index %s: the answer does not scan", r->index_name);
		if (err)
			return fail(r, "_mget on index %s: %.*s", r->index_name, (int) (err_len > 300 ? 300 : err_len), err);
		row->kind = -1;
		if (!found)
			row->kind = K_MISSING;
		else if (v > r->C)
			r->changed++;		/* written after the snapshot: not judged */
		else if (v < r->floor)
			row->kind = K_STALE;
		else if (r->content && (src_len != row->doc_len ||
								memcmp(src, r->rowbuf.data + row->doc_off, src_len) != 0))
			row->kind = K_MISMATCHED;
	}
	if (!recheck_rows(r))
		return false;
	for (i = 0; i < r->nbatch; i++)
	{
		Row		   *row = &r->batch[i];

		if (row->kind < 0)
			continue;
		note(r, row->kind, r->rowbuf.data + row->id_off, row->id_len);
		if (r->repair)
			batch_add(&fix, ITEM_INDEX, r->index_json, r->C, true,
					  r->rowbuf.data + row->id_off, row->id_len,
					  r->rowbuf.data + row->doc_off, row->doc_len, 0);
	}
	if (fix.nitems > 0)
		send_repairs(r, &fix);
	batch_free(&fix);
	r->rows += r->nbatch;
	r->nbatch = 0;
	buf_reset(&r->rowbuf);
	return ok && progress(r, NULL);
}

/* One COPY line: tableoid, ctid, xmin, "<id> <document>". */
static bool
add_row(Run *r, char *line, size_t len)
{
	char	   *f[3];
	char	   *p = line;
	Row		   *row;
	size_t		e,
				rest;

	for (int i = 0; i < 3; i++)
	{
		char	   *tab = memchr(p, '\t', len - (p - line));

		if (!tab)
			return fail(r, "the row query returned a malformed line");
		*tab = '\0';
		f[i] = p;
		p = tab + 1;
	}
	rest = copy_unescape(p, len - (p - line));
	if (!wire_json_string_end(p, rest, &e) || e >= rest || p[e] != ' ')
		return fail(r, "reindex.document returned a malformed row: %.100s", p);
	if (r->nbatch == r->batch_size)
		return fail(r, "internal error: batch overflow");
	row = &r->batch[r->nbatch++];
	row->id_off = (uint32_t) r->rowbuf.len;
	row->id_len = (uint32_t) e;
	row->doc_off = (uint32_t) (r->rowbuf.len + e + 1);
	row->doc_len = (uint32_t) (rest - e - 1);
	buf_append(&r->rowbuf, p, rest);
	snprintf(row->tableoid, sizeof(row->tableoid), "%s", f[0]);
	snprintf(row->ctid, sizeof(row->ctid), "%s", f[1]);
	snprintf(row->xmin, sizeof(row->xmin), "%s", f[2]);
	row->kind = -1;
	return true;
}

static bool
pass_rows(Run *r)
{
	Buf			q = {0};
	char	   *src = PQescapeLiteral(r->snap, r->source, strlen(r->source));
	char	   *inc = r->include_arr ? PQescapeLiteral(r->snap, r->include_arr, strlen(r->include_arr)) : NULL;
	char	   *exc = r->exclude_arr ? PQescapeLiteral(r->snap, r->exclude_arr, strlen(r->exclude_arr)) : NULL;
	PGresult   *res;
	char	   *line;
	int			n;
	bool		ok = true;

	buf_printf(&q, "COPY (SELECT x.tableoid::oid, x.ctid, x.xmin,"
			   " reindex.document(%s::regclass, x, %s::text[], %s::text[]) FROM %s%s x) TO STDOUT",
			   src, inc ? inc : "NULL", exc ? exc : "NULL", r->partitioned ? "" : "ONLY ", r->source);
	PQfreemem(src);
	if (inc)
		PQfreemem(inc);
	if (exc)
		PQfreemem(exc);
	res = PQexec(r->snap, q.data);
	buf_free(&q);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		fail(r, "reading %s failed: %s", r->source, PQerrorMessage(r->snap));
		PQclear(res);
		return false;
	}
	PQclear(res);
	while ((n = PQgetCopyData(r->snap, &line, 0)) > 0)
	{
		if (ok)
			ok = add_row(r, line, line[n - 1] == '\n' ? (size_t) n - 1 : (size_t) n);
		PQfreemem(line);
		if (ok && (r->nbatch >= r->batch_size || r->rowbuf.len >= opt.batch_bytes))
			ok = check_rows(r);
	}
	while ((res = PQgetResult(r->snap)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			ok = fail(r, "reading %s failed: %s", r->source, PQresultErrorMessage(res));
		PQclear(res);
	}
	return ok && check_rows(r);
}

/*---- documents ----*/

/* ids (JSON strings) of a page that the snapshot has no row for: extras */
static bool
check_docs(Run *r, Buf *ids, int nids)
{
	const char *p[2];
	Buf			arr = {0};
	Buf			mget = {0};
	Buf			path = {0};
	Batch		fix = {0};
	PGresult   *res;
	JsonScan	s;
	int			n,
				i;

	if (nids == 0)
		return true;
	buf_puts(&arr, "[");
	buf_append(&arr, ids->data, ids->len);
	buf_puts(&arr, "]");
	p[0] = r->source;
	p[1] = arr.data;
	res = query(r, r->snap, "SELECT reindex.absent_ids($1::regclass, $2::jsonb)", 2, p);
	buf_free(&arr);
	if (!res)
		return false;
	n = PQntuples(res);
	if (n == 0)
	{
		PQclear(res);
		return true;
	}
	/* still there, unchanged (version <= C), right now? */
	buf_puts(&mget, "{\"ids\":[");
	for (i = 0; i < n; i++)
	{
		if (i)
			buf_puts(&mget, ",");
		buf_json_string(&mget, PQgetvalue(res, i, 0), PQgetlength(res, i, 0));
	}
	buf_puts(&mget, "]}");
	buf_printf(&path, "/%s/_mget?realtime=true&_source=false", r->index_name);
	if (es_read(r, "POST", path.data, mget.data, mget.len) != 200)
	{
		PQclear(res);
		buf_free(&mget);
		buf_free(&path);
		return fail(r, "_mget on index %s answered HTTP %ld", r->index_name, r->resp.http_status);
	}
	s.p = r->resp.body.data;
	s.end = s.p + r->resp.body.len;
	if (!seek_array(&s, "docs"))
		n = 0;
	for (i = 0; i < n; i++)
	{
		bool		found;
		uint64_t	v;
		const char *src,
				   *err;
		size_t		sl,
					el;
		Buf			id = {0};

		if ((i > 0 && !js_eat(&s, ',')) || !scan_mget_doc(&s, &found, &v, &src, &sl, &err, &el))
		{
			PQclear(res);
			buf_free(&mget);
			buf_free(&path);
			return fail(r, "_mget on index %s: the answer does not scan", r->index_name);
		}
		if (!found || v > r->C)
		{
			r->changed++;
			continue;
		}
		buf_json_string(&id, PQgetvalue(res, i, 0), PQgetlength(res, i, 0));
		note(r, K_EXTRA, id.data, id.len);
		if (r->repair)
			batch_add(&fix, ITEM_DELETE, r->index_json, r->C, true, id.data, id.len, NULL, 0, 0);
		buf_free(&id);
	}
	PQclear(res);
	buf_free(&mget);
	buf_free(&path);
	if (fix.nitems > 0)
		send_repairs(r, &fix);
	batch_free(&fix);
	return true;
}

/* One page of hits: count them, collect ids with a version <= C; more? */
static bool
scan_page(Run *r, Buf *ids, int *nids, int *nhits, char **scroll_id)
{
	JsonScan	s = {r->resp.body.data, r->resp.body.data + r->resp.body.len};
	const char *k;
	size_t		klen;

	*nhits = 0;
	*nids = 0;
	buf_reset(ids);
	if (!js_eat(&s, '{'))
		return false;
	for (;;)
	{
		if (!js_string(&s, &k, &klen) || !js_eat(&s, ':'))
			return false;
		if (js_key_is(k, klen, "_scroll_id"))
		{
			const char *v;
			size_t		vl;

			if (!js_string(&s, &v, &vl))
				return false;
			free(*scroll_id);
			*scroll_id = wire_json_string_decode(v - 1, vl + 2);
		}
		else if (js_key_is(k, klen, "hits"))
		{
			if (!seek_array(&s, "hits"))
				return false;
			if (js_eat(&s, ']'))
				return true;
			do
			{
				const char *idp = NULL;
				size_t		idl = 0;
				uint64_t	v = UINT64_MAX;

				if (!js_eat(&s, '{'))
					return false;
				do
				{
					const char *start;

					if (!js_string(&s, &k, &klen) || !js_eat(&s, ':'))
						return false;
					js_ws(&s);
					start = s.p;
					if (!js_skip(&s))
						return false;
					if (js_key_is(k, klen, "_id"))
					{
						idp = start;
						idl = s.p - start;
					}
					else if (js_key_is(k, klen, "_version"))
						v = strtoull(start, NULL, 10);
				} while (js_eat(&s, ','));
				if (!js_eat(&s, '}') || !idp)
					return false;
				(*nhits)++;
				if (v <= r->C)
				{
					if ((*nids)++)
						buf_puts(ids, ",");
					buf_append(ids, idp, idl);
				}
			} while (js_eat(&s, ','));
			return js_eat(&s, ']');
		}
		else if (!js_skip(&s))
			return false;
		if (!js_eat(&s, ','))
			return true;
	}
}

static bool
pass_docs(Run *r)
{
	Buf			path = {0};
	Buf			body = {0};
	Buf			ids = {0};
	char	   *scroll_id = NULL;
	bool		ok = true;
	long		st;

	buf_printf(&path, "/%s/_refresh", r->index_name);
	es_read(r, "POST", path.data, NULL, 0);
	buf_reset(&path);
	buf_printf(&path, "/%s/_search?scroll=" SCROLL_KEEP, r->index_name);
	buf_printf(&body, "{\"size\":%d,\"sort\":[\"_doc\"],\"_source\":false,\"version\":true,"
			   "\"query\":{\"match_all\":{}}}", r->batch_size);
	st = es_read(r, "POST", path.data, body.data, body.len);
	for (;;)
	{
		int			nids,
					nhits;

		if (st != 200)
		{
			ok = st ? fail(r, "scrolling index %s answered HTTP %ld: %.300s", r->index_name, st,
						   r->resp.body.data ? r->resp.body.data : "") : false;
			break;
		}
		if (!scan_page(r, &ids, &nids, &nhits, &scroll_id) || !scroll_id)
		{
			ok = fail(r, "scrolling index %s: the answer does not scan", r->index_name);
			break;
		}
		if (nhits == 0)
			break;
		r->docs += nhits;
		if (!check_docs(r, &ids, nids) || !progress(r, NULL))
		{
			ok = false;
			break;
		}
		buf_reset(&body);
		buf_puts(&body, "{\"scroll\":\"" SCROLL_KEEP "\",\"scroll_id\":");
		buf_json_string(&body, scroll_id, strlen(scroll_id));
		buf_puts(&body, "}");
		st = es_read(r, "POST", "/_search/scroll", body.data, body.len);
	}
	if (scroll_id)
	{
		buf_reset(&body);
		buf_puts(&body, "{\"scroll_id\":[");
		buf_json_string(&body, scroll_id, strlen(scroll_id));
		buf_puts(&body, "]}");
		r->resp.curl_error[0] = '\0';
		es_request_sync(&r->ep, "DELETE", "/_search/scroll", body.data, body.len, &r->resp, 10000);
	}
	free(scroll_id);
	buf_free(&path);
	buf_free(&body);
	buf_free(&ids);
	return ok;
}

/*---- the run ----*/

/* Snapshot with a known LSN: a temporary slot's exported snapshot. */
static bool
take_snapshot(Run *r)
{
	PGconn	   *repl = catalog_connect(opt.conninfo, true, NULL);
	char		slot[64];
	char	   *snapshot = NULL,
			   *err = NULL;
	bool		ok;

	if (!repl)
		return fail(r, "could not open a replication connection");
	snprintf(slot, sizeof(slot), "reindex_verify_%" PRId64 "_%d", r->id, (int) getpid());
	if (!repl_create_slot(repl, slot, true, true, &r->C, &snapshot, &err))
	{
		fail(r, "could not create the temporary slot %s: %s", slot, err ? err : "unknown error");
		free(err);
		PQfinish(repl);
		return false;
	}
	ok = catalog_import_snapshot(r->snap, snapshot);
	if (!ok)
		fail(r, "could not import the snapshot: %s", PQerrorMessage(r->snap));
	free(snapshot);
	PQfinish(repl);				/* the temporary slot goes with it */
	return ok;
}

/* Wait until the target has acknowledged C (I3: all of it is indexed). */
static bool
wait_acknowledged(Run *r)
{
	uint64_t	deadline = now_ms() + (uint64_t) r->wait_seconds * 1000;
	char		id[32];
	const char *p[1] = {id};
	uint64_t	acked = 0;

	snprintf(id, sizeof(id), "%" PRId64, r->target_id);
	while (!atomic_load(&r->stop))
	{
		PGresult   *res = query(r, r->cat,
								"SELECT greatest(t.confirmed_lsn, s.confirmed_flush_lsn)::text, t.state"
								"  FROM reindex.target t"
								"  LEFT JOIN pg_replication_slots s ON s.slot_name = t.slot_name"
								" WHERE t.id = $1::bigint", 1, p);

		if (!res)
			return false;
		if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 1), "streaming") != 0)
		{
			PQclear(res);
			return fail(r, "index %s is no longer fed", r->index_name);
		}
		acked = 0;
		if (!PQgetisnull(res, 0, 0))
			parse_lsn(PQgetvalue(res, 0, 0), &acked);
		PQclear(res);
		if (acked >= r->C)
			return true;
		if (now_ms() >= deadline)
		{
			char		a[32],
						c[32];

			format_lsn(acked, a);
			format_lsn(r->C, c);
			return fail(r, "the target of index %s did not acknowledge the snapshot's LSN %s within %d s"
						" (it acknowledged %s); is it streaming?", r->index_name, c, r->wait_seconds, a);
		}
		if (!progress(r, NULL))
			return false;
		sleep_ms(100);
	}
	return false;
}

static void *
run_main(void *arg)
{
	Run		   *r = arg;
	const char *state;

	r->cat = catalog_connect(opt.conninfo, false, NULL);
	r->snap = catalog_connect(opt.conninfo, false, NULL);
	r->batch = calloc((size_t) r->batch_size, sizeof(Row));
	if (r->cat && r->snap)
	{
		const char *p[1] = {r->source};
		PGresult   *res = query(r, r->cat, "SELECT c.relkind = 'p' FROM pg_class c"
								" WHERE c.oid = $1::regclass", 1, p);

		if (res && PQntuples(res) == 1)
			r->partitioned = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		if (res)
			PQclear(res);
		log_info(r->index_name, "verify run %" PRId64 " starting%s", r->id,
				 r->repair ? " (with repair)" : "");
		if (!r->error[0] && progress(r, "snapshot") && take_snapshot(r) &&
			progress(r, "waiting") && wait_acknowledged(r) &&
			progress(r, "rows") && pass_rows(r) &&
			progress(r, "documents") && pass_docs(r))
			r->phase = "done";
	}
	else
		fail(r, "could not connect to the database");
	if (r->snap)
		PQfinish(r->snap);
	if (atomic_load(&r->stop) && !r->error[0])
		state = "queued";		/* shutting down: the next streamer starts over */
	else
		state = r->error[0] ? "failed" : "done";
	if (r->cat)
	{
		if (strcmp(state, "queued") == 0)
		{
			char		id[32];
			const char *p[1] = {id};
			PGresult   *res;

			snprintf(id, sizeof(id), "%" PRId64, r->id);
			res = PQexecParams(r->cat, "UPDATE reindex.verify_run SET state = 'queued', phase = NULL"
							   " WHERE id = $1::bigint AND state = 'running'", 1, NULL, p, NULL, NULL, 0);
			PQclear(res);
		}
		else
			write_row(r, state);
		PQfinish(r->cat);
	}
	if (strcmp(state, "done") == 0)
		log_info(r->index_name, "verify run %" PRId64 " done: %lld rows, %lld documents, %lld missing,"
				 " %lld extra, %lld stale, %lld mismatched, %lld changed while running, %lld repaired",
				 r->id, r->rows, r->docs, r->found[K_MISSING], r->found[K_EXTRA], r->found[K_STALE],
				 r->found[K_MISMATCHED], r->changed, r->repaired);
	else if (strcmp(state, "failed") == 0)
		log_warn(r->index_name, "verify run %" PRId64 " failed: %s", r->id, r->error);
	es_thread_cleanup();
	atomic_store(&r->finished, true);
	return NULL;
}

/*---- the main loop's side ----*/

static Run *
claim(PGconn *c, Target **targets, int n)
{
	Buf			ids = {0};
	const char *p[3];
	char		max[16];
	PGresult   *res;
	Run		   *r = NULL;
	Target	   *t = NULL;
	int			i;

	buf_puts(&ids, "{");
	for (i = 0; i < n; i++)
		if (strcmp(targets[i]->state, "streaming") == 0)
			buf_printf(&ids, "%s%" PRId64, ids.len > 1 ? "," : "", targets[i]->id);
	buf_puts(&ids, "}");
	if (ids.len == 2)
	{
		buf_free(&ids);
		return NULL;
	}
	snprintf(max, sizeof(max), "%d", MAX_ATTEMPTS);
	p[0] = opt.id;
	p[1] = ids.data;
	p[2] = max;
	res = PQexecParams(c,
					   "UPDATE reindex.verify_run v SET state = CASE WHEN v.attempts >= $3::int"
					   "   THEN 'failed' ELSE 'running' END,"
					   " error = CASE WHEN v.attempts >= $3::int THEN format('interrupted %s times', v.attempts) END,"
					   " phase = NULL, streamer_id = $1, started_at = now(), heartbeat_at = now(),"
					   " finished_at = CASE WHEN v.attempts >= $3::int THEN now() END,"
					   " attempts = v.attempts + 1, rows_checked = 0, docs_checked = 0, missing = 0,"
					   " extra = 0, stale = 0, mismatched = 0, changed = 0, repaired = 0,"
					   " repair_failed = 0, samples = '{}'"
					   " WHERE v.id = (SELECT x.id FROM reindex.verify_run x"
					   "   WHERE x.target_id = ANY ($2::bigint[])"
					   "     AND (x.state = 'queued' OR (x.state = 'running'"
					   "          AND x.heartbeat_at < now() - interval '15 seconds'))"
					   "   ORDER BY x.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
					   " RETURNING v.id, v.target_id, v.repair, v.options->>'content',"
					   "   v.options->>'batch_size', v.options->>'sample_size',"
					   "   v.options->>'wait_seconds', v.state",
					   3, NULL, p, NULL, NULL, 0);
	buf_free(&ids);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		log_warn(NULL, "could not claim a verify run: %s", PQerrorMessage(c));
		PQclear(res);
		return NULL;
	}
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 7), "running") != 0)
	{
		PQclear(res);
		return NULL;
	}
	r = calloc(1, sizeof(Run));
	r->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	r->target_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	r->repair = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	r->content = strcmp(PQgetvalue(res, 0, 3), "false") != 0;
	r->batch_size = atoi(PQgetvalue(res, 0, 4));
	r->sample_size = atoi(PQgetvalue(res, 0, 5));
	r->wait_seconds = atoi(PQgetvalue(res, 0, 6));
	if (r->batch_size < 1)
		r->batch_size = 1000;
	if (r->wait_seconds < 1)
		r->wait_seconds = 300;
	PQclear(res);
	for (i = 0; i < n && !t; i++)
		if (targets[i]->id == r->target_id)
			t = targets[i];
	if (!t)
	{
		free(r);
		return NULL;			/* cannot happen: the id came from targets */
	}
	r->index_name = strdup(t->index_name);
	r->index_json = strdup(t->index_json);
	r->source = strdup(t->source);
	r->include_arr = t->include_arr ? strdup(t->include_arr) : NULL;
	r->exclude_arr = t->exclude_arr ? strdup(t->exclude_arr) : NULL;
	r->floor = t->consistent_point;
	endpoint_copy(&r->ep, &t->ep);
	return r;
}

void
verify_tick(PGconn *c, Target **targets, int n)
{
	uint64_t	now = now_ms();

	if (current && atomic_load(&current->finished))
	{
		pthread_join(current->th, NULL);
		run_free(current);
		current = NULL;
	}
	if (current || shutdown_requested || now - last_claim_ms < CLAIM_INTERVAL_MS)
		return;
	last_claim_ms = now;
	current = claim(c, targets, n);
	if (current && pthread_create(&current->th, NULL, run_main, current) != 0)
	{
		log_error(current->index_name, "could not start a thread for verify run %" PRId64, current->id);
		run_free(current);
		current = NULL;
	}
}

void
verify_stop(void)
{
	if (!current)
		return;
	atomic_store(&current->stop, true);
	pthread_join(current->th, NULL);
	run_free(current);
	current = NULL;
}
