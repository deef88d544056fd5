/*
 * stream.c: applying one target's change stream to its index.
 *
 * Owns: the per-target replication connection after START_REPLICATION, the
 * lanes (one filling batch and at most one outstanding batch each), the queue
 * of received transactions with their unacknowledged event counts, the
 * TRUNCATE barrier, refetches, per-item retries and dead letters, and the
 * standby status updates.
 *
 * Invariants:
 *  I1  every action carries the transaction's end_lsn with external_gte.
 *  I3  the flush position sent to the server is the end_lsn of the newest
 *      transaction whose events and all earlier ones are acknowledged (OK,
 *      409 or dead-lettered); with nothing outstanding, the keepalive walEnd.
 *  I4  every event of one document id goes to the lane hash(id) % lanes; a
 *      lane has one batch outstanding at a time and retries its failed items
 *      before it sends the next batch, so one id's events arrive in order.
 *  I6  non-retryable items are written to reindex.dead_letter and counted.
 * TRUNCATE: a barrier; everything before it is acknowledged, then the index
 * is emptied with delete_by_query, and only then are later events (also the
 * rest of the TRUNCATE's own message, held meanwhile) added to batches.
 * Backpressure: when a lane is busy and its filling batch is full, or a
 * TRUNCATE barrier waits, no more messages are read from the server.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamer.h"

#define FEEDBACK_INTERVAL_MS 10000
#define FEEDBACK_MIN_GAP_MS 20
#define MAX_MESSAGES_PER_TURN 20000

typedef struct Lane
{
	struct Stream *s;
	Batch		fill;
	Batch		sent;
	EsRequest	req;
	bool		busy;			/* sent holds an outstanding batch */
	bool		in_flight;
	uint64_t	retry_at;
	int			attempt;
} Lane;

typedef struct Txn
{
	uint64_t	end_lsn;
	int64_t		pending;
	bool		committed;
	uint64_t	recv_ms;
} Txn;

struct Stream
{
	Target	   *t;
	PGconn	   *repl;
	Lane	   *lanes;
	int			nlanes;
	Txn		   *q;
	size_t		qcap;
	size_t		qhead;
	size_t		qlen;
	uint64_t	qbase;			/* seq of q[qhead] */
	bool		in_txn;
	uint64_t	cur_seq;
	uint64_t	cur_xid;		/* xid of the transaction being received */
	uint64_t	confirmed;
	uint64_t	written;
	uint64_t	keepalive_end;
	uint64_t	fb_sent;
	uint64_t	last_fb_ms;
	bool		reply_now;
	/* TRUNCATE barrier */
	bool		barrier;
	uint64_t	barrier_seq;
	bool		dbq_in_flight;
	bool		dbq_refreshed;	/* the barrier's _refresh is done */
	EsRequest	dbq;
	uint64_t	dbq_retry_at;
	int			dbq_attempt;
	bool		draining;
	bool		broken;
	bool		more;			/* stopped reading with data possibly buffered */
	/* lines after a TRUNCATE in the same message, held until its barrier ends */
	char	   *held;
	size_t		held_len;
};

static void lane_done(EsRequest *req);

/*---- transaction queue ----*/

static Txn *
txn_get(Stream *s, uint64_t seq)
{
	return &s->q[(s->qhead + (seq - s->qbase)) % s->qcap];
}

static uint64_t
txn_push(Stream *s)
{
	if (s->qlen == s->qcap)
	{
		size_t		ncap = s->qcap ? s->qcap * 2 : 1024;
		Txn		   *nq = malloc(sizeof(Txn) * ncap);
		size_t		i;

		if (!nq)
			fatal("out of memory");
		for (i = 0; i < s->qlen; i++)
			nq[i] = s->q[(s->qhead + i) % s->qcap];
		free(s->q);
		s->q = nq;
		s->qcap = ncap;
		s->qhead = 0;
	}
	s->q[(s->qhead + s->qlen) % s->qcap] = (Txn)
	{
		0, 0, false, now_ms()
	};
	s->qlen++;
	return s->qbase + s->qlen - 1;
}

static void
advance_confirmed(Stream *s)
{
	while (s->qlen > 0)
	{
		Txn		   *x = &s->q[s->qhead];

		if (!x->committed || x->pending > 0)
			break;
		if (x->end_lsn > s->confirmed)
			s->confirmed = x->end_lsn;
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		s->qbase++;
	}
	if (s->qlen == 0 && !s->in_txn && s->keepalive_end > s->confirmed)
		s->confirmed = s->keepalive_end;
	if (s->confirmed > s->t->confirmed_lsn)
		s->t->confirmed_lsn = s->confirmed;
}

/*---- lanes ----*/

static bool
lane_full(const Lane *l)
{
	return l->fill.body.len >= opt.batch_bytes || l->fill.nitems >= opt.batch_docs;
}

static bool
lane_submit(Lane *l)
{
	Stream	   *s = l->s;
	Buf			path = {0};
	bool		ok;
	Buf			keep = l->req.resp.body;	/* reuse the response buffer */

	buf_puts(&path, "/_bulk");
	memset(&l->req, 0, sizeof(l->req));
	l->req.resp.body = keep;
	l->req.done = lane_done;
	l->req.arg = l;
	ok = es_submit(&l->req, &s->t->ep, "POST", path.data, l->sent.body.data, l->sent.body.len);
	buf_free(&path);
	l->in_flight = ok;
	if (!ok)
		l->retry_at = now_ms() + backoff_ms(l->attempt++);
	return ok;
}

static void
lane_send_fill(Lane *l)
{
	Batch		tmp = l->sent;

	l->sent = l->fill;
	l->fill = tmp;
	batch_clear(&l->fill);
	l->busy = true;
	l->attempt = 0;
	lane_submit(l);
}

static void
item_resolved(Stream *s, uint64_t seq)
{
	Txn		   *x = txn_get(s, seq);

	x->pending--;
}

static void
dead_letter_item(Stream *s, const char *item, size_t len, long status, const char *error)
{
	char	   *id = NULL;
	uint64_t	version = 0;
	const char *nl = memchr(item, '\n', len);
	char	   *doc = NULL;
	bool		is_delete = len > 10 && memcmp(item, "{\"delete\"", 9) == 0;

	bulk_item_meta(item, len, &id, &version);
	if (nl && (size_t) (nl - item) + 1 < len)
		doc = strndup(nl + 1, len - (nl - item) - 2);
	catalog_dead_letter(main_cat, s->t, version, id, is_delete ? "delete" : "index",
						status, error, doc, true);
	target_set_error(s->t, "document %s refused by the cluster (dead-lettered): %.200s",
					 id ? id : "?", error ? error : "");
	free(id);
	free(doc);
}

/* The id (JSON string with quotes) of an item's action line. */
static bool
item_id(const char *item, size_t len, const char **id, size_t *id_len)
{
	const char *nl = memchr(item, '\n', len);
	size_t		alen = nl ? (size_t) (nl - item) : len;
	const char *p = memmem(item, alen, ",\"_id\":", 7);
	size_t		e;

	if (!p)
		return false;
	p += 7;
	if (!wire_json_string_end(p, alen - (p - item), &e))
		return false;
	*id = p;
	*id_len = e;
	return true;
}

/*
 * I4 under partial failure: when an item is retried, every later item of the
 * batch for the same document is retried with it (even if it succeeded), so
 * the document's events are applied again in stream order.  Re-applying one
 * is harmless: same version, external_gte.
 */
static void
retry_followers(Batch *b, ItemOutcome *out)
{
	int			i,
				j;

	for (i = 0; i < b->nitems; i++)
	{
		const char *id;
		size_t		id_len;

		if (out[i] != OUT_RETRY ||
			!item_id(b->body.data + b->items[i].off, b->items[i].len, &id, &id_len))
			continue;
		for (j = i + 1; j < b->nitems; j++)
		{
			const char *id2;
			size_t		id2_len;

			if ((out[j] == OUT_OK || out[j] == OUT_STALE) &&
				item_id(b->body.data + b->items[j].off, b->items[j].len, &id2, &id2_len) &&
				id2_len == id_len && memcmp(id, id2, id_len) == 0)
				out[j] = OUT_RETRY;
		}
	}
}

static void
lane_done(EsRequest *req)
{
	Lane	   *l = req->arg;
	Stream	   *s = l->s;
	Target	   *t = s->t;
	int			n = l->sent.nitems;
	ItemOutcome *out = malloc(sizeof(ItemOutcome) * (n ? n : 1));
	char	  **errs = malloc(sizeof(char *) * (n ? n : 1));
	long	   *sts = malloc(sizeof(long) * (n ? n : 1));
	Batch		retry = {0};
	int			i;
	bool		itemised;

	l->in_flight = false;
	itemised = es_bulk_outcomes(&req->resp, n, out, errs, sts);
	retry_followers(&l->sent, out);
	for (i = 0; i < n; i++)
	{
		BulkItem   *it = &l->sent.items[i];
		const char *item = l->sent.body.data + it->off;

		switch (out[i])
		{
			case OUT_OK:
				atomic_fetch_add(&t->c.events_applied, 1);
				item_resolved(s, it->seq);
				break;
			case OUT_STALE:
				atomic_fetch_add(&t->c.stale_rejected, 1);
				item_resolved(s, it->seq);
				break;
			case OUT_DEAD:
				atomic_fetch_add(&t->c.dead_lettered, 1);
				dead_letter_item(s, item, it->len, sts[i], errs[i]);
				item_resolved(s, it->seq);
				break;
			case OUT_GONE:		/* held unacknowledged: main.c fails the target */
				target_index_lost(t, errs[i]);
				/* fall through */
			case OUT_RETRY:
				batch_add_raw(&retry, item, it->len, it->seq);
				break;
		}
		free(errs[i]);
	}
	if (retry.nitems > 0)
	{
		Batch		tmp = l->sent;

		atomic_fetch_add(&t->c.retried, retry.nitems);
		if (!itemised)
		{
			char		why[320];

			es_bulk_failure(&req->resp, why, sizeof(why));
			target_set_error(t, "bulk request failed (%s), retrying", why);
		}
		l->sent = retry;
		batch_free(&tmp);
		l->retry_at = now_ms() + backoff_ms(l->attempt++);
		log_debug(t->index_name, "retrying %d items in %" PRIu64 " ms", retry.nitems,
				  l->retry_at - now_ms());
	}
	else
	{
		batch_clear(&l->sent);
		l->busy = false;
		l->attempt = 0;
	}
	free(out);
	free(errs);
	free(sts);
	advance_confirmed(s);
}

/*---- TRUNCATE barrier ----*/

static void
dbq_done(EsRequest *req)
{
	Stream	   *s = req->arg;
	long		st = req->resp.http_status;

	s->dbq_in_flight = false;
	if (st >= 200 && st < 300 && !s->dbq_refreshed)
	{
		/* documents are searchable now: delete_by_query sees all of them */
		s->dbq_refreshed = true;
		s->dbq_attempt = 0;
		s->dbq_retry_at = 0;
	}
	else if (st >= 200 && st < 300)
	{
		atomic_fetch_add(&s->t->c.events_applied, 1);
		item_resolved(s, s->barrier_seq);
		s->barrier = false;
		log_info(s->t->index_name, "truncate applied: all documents deleted");
	}
	else if (es_retryable_status(st))
	{
		atomic_fetch_add(&s->t->c.retried, 1);
		s->dbq_retry_at = now_ms() + backoff_ms(s->dbq_attempt++);
	}
	else
	{
		char		err[512];

		snprintf(err, sizeof(err), "delete_by_query for TRUNCATE failed with HTTP %ld: %.300s",
				 st, req->resp.body.data ? req->resp.body.data : "");
		atomic_fetch_add(&s->t->c.dead_lettered, 1);
		catalog_dead_letter(main_cat, s->t, txn_get(s, s->barrier_seq)->end_lsn, NULL,
							"truncate", st, err, NULL, true);
		target_set_error(s->t, "%s", err);
		item_resolved(s, s->barrier_seq);
		s->barrier = false;
	}
	buf_free(&req->resp.body);
	advance_confirmed(s);
}

static bool
lanes_quiet(Stream *s)
{
	int			i;

	for (i = 0; i < s->nlanes; i++)
		if (s->lanes[i].busy || s->lanes[i].fill.nitems > 0)
			return false;
	return true;
}

static void
barrier_step(Stream *s)
{
	Buf			path = {0};
	static const char body[] = "{\"query\":{\"match_all\":{}}}";

	if (!s->barrier || s->dbq_in_flight || !lanes_quiet(s) || now_ms() < s->dbq_retry_at)
		return;
	/*
	 * delete_by_query only finds searchable documents: refresh first, so
	 * documents indexed since the last refresh (or during a backfill with
	 * refresh_interval -1) are deleted too.
	 */
	if (!s->dbq_refreshed)
		buf_printf(&path, "/%s/_refresh", s->t->index_name);
	else
		buf_printf(&path, "/%s/_delete_by_query?conflicts=proceed&refresh=true", s->t->index_name);
	buf_free(&s->dbq.resp.body);
	memset(&s->dbq, 0, sizeof(s->dbq));
	s->dbq.done = dbq_done;
	s->dbq.arg = s;
	s->dbq_in_flight = es_submit(&s->dbq, &s->t->ep, "POST", path.data,
								 s->dbq_refreshed ? body : NULL,
								 s->dbq_refreshed ? sizeof(body) - 1 : 0);
	if (!s->dbq_in_flight)
		s->dbq_retry_at = now_ms() + backoff_ms(s->dbq_attempt++);
	buf_free(&path);
}

/*
 * A TRUNCATE wipes what its own transaction wrote before it: such events
 * still waiting in a batch are dropped, not sent.  (Sent, they would leave
 * the document at the transaction's version, and the delete_by_query
 * tombstone one above it would then refuse the same transaction's re-insert
 * after the TRUNCATE as stale.)
 */
static void
drop_unsent_of_txn(Stream *s, uint64_t seq)
{
	int			i,
				j;

	for (i = 0; i < s->nlanes; i++)
	{
		Batch	   *f = &s->lanes[i].fill;
		Batch		kept = {0};
		int			dropped = 0;

		for (j = 0; j < f->nitems; j++)
			if (f->items[j].seq == seq)
				dropped++;
		if (dropped == 0)
			continue;
		for (j = 0; j < f->nitems; j++)
			if (f->items[j].seq != seq)
				batch_add_raw(&kept, f->body.data + f->items[j].off, f->items[j].len,
							  f->items[j].seq);
		if (kept.nitems > 0)
			kept.first_ms = f->first_ms;
		batch_free(f);
		*f = kept;
		txn_get(s, seq)->pending -= dropped;
	}
}

/*---- messages ----*/

static void
add_event(Stream *s, ItemOp op, uint64_t version, const char *id, size_t id_len,
		  const char *doc, size_t doc_len)
{
	Lane	   *l = &s->lanes[bulk_lane_of(id, id_len, s->nlanes)];

	if (!s->in_txn)
	{
		/* defensive: an event outside begin/commit gets its own entry */
		s->cur_seq = txn_push(s);
		s->in_txn = true;
	}
	txn_get(s, s->cur_seq)->pending++;
	batch_add(&l->fill, op, s->t->index_json, version, true, id, id_len, doc, doc_len, s->cur_seq);
}

static bool
refetch(Stream *s, const WireMsg *m)
{
	bool		failed;
	char	   *row = catalog_document_by_key(main_cat, s->t, s->cur_xid, m->body, m->body_len, &failed);
	size_t		e;

	if (failed)
	{
		target_set_error(s->t, "could not read the current row for a refetch event");
		return false;
	}
	if (!row)
		return true;			/* row is gone: a later delete event follows */
	if (wire_json_string_end(row, strlen(row), &e) && row[e] == ' ')
		add_event(s, ITEM_INDEX, m->version, row, e, row + e + 1, strlen(row + e + 1));
	else
		target_set_error(s->t, "reindex.document_by_key returned a malformed result");
	free(row);
	return true;
}

static bool
handle_payload(Stream *s, const char *p, size_t n)
{
	WireMsg		m;
	const char *err;

	if (!wire_parse(p, n, &m, &err))
	{
		target_set_error(s->t, "malformed message from the output plugin (%s): %.120s", err, p);
		return false;
	}
	switch (m.type)
	{
		case WIRE_BEGIN:
			s->cur_xid = m.xid;
			s->cur_seq = txn_push(s);
			s->in_txn = true;
			break;
		case WIRE_COMMIT:
			if (s->in_txn)
			{
				Txn		   *x = txn_get(s, s->cur_seq);

				x->end_lsn = m.version;
				x->committed = true;
			}
			s->in_txn = false;
			advance_confirmed(s);
			break;
		case WIRE_INDEX:
			add_event(s, ITEM_INDEX, m.version, m.id, m.id_len, m.body, m.body_len);
			break;
		case WIRE_DELETE:
			add_event(s, ITEM_DELETE, m.version, m.id, m.id_len, NULL, 0);
			break;
		case WIRE_REFETCH:
			return refetch(s, &m);
		case WIRE_TRUNCATE:
			if (!s->in_txn)
			{
				s->cur_seq = txn_push(s);
				s->in_txn = true;
			}
			drop_unsent_of_txn(s, s->cur_seq);
			txn_get(s, s->cur_seq)->pending++;
			s->barrier = true;
			s->barrier_seq = s->cur_seq;
			s->dbq_refreshed = false;
			s->dbq_attempt = 0;
			s->dbq_retry_at = 0;
			break;
		case WIRE_TRUNCATE_PARTITION:

			/*
			 * Documents do not say which partition they came from, so the
			 * truncated partition's documents cannot be deleted alone, and
			 * emptying the index would lose the other partitions' documents.
			 * Record it (I6) and go on; the documents stay until the target
			 * is rebuilt.
			 */
			{
				char	   *part = wire_json_string_decode(m.id, m.id_len);
				char		err[512];

				snprintf(err, sizeof(err),
						 "TRUNCATE of partition %s of the source is not applied: its documents stay in the index until it is rebuilt",
						 part ? part : "?");
				atomic_fetch_add(&s->t->c.dead_lettered, 1);
				catalog_dead_letter(main_cat, s->t, m.version, part, "truncate_partition",
									0, err, NULL, true);
				target_set_error(s->t, "%s", err);
				free(part);
			}
			break;
	}
	return true;
}

/*
 * Handle the lines of one payload (batch_bytes packs several lines of one
 * transaction into one message).  Lines after a TRUNCATE must not be sent
 * before its delete_by_query, so once a barrier is raised the rest of the
 * payload is held and handled when the barrier is gone.
 */
static bool
handle_lines(Stream *s, const char *p, const char *end)
{
	while (p < end)
	{
		const char *nl = memchr(p, '\n', end - p);
		const char *le = nl ? nl : end;

		if (le > p && !handle_payload(s, p, le - p))
			return false;
		p = le + 1;
		if (s->barrier && p < end)
		{
			s->held_len = end - p;
			s->held = malloc(s->held_len);
			if (!s->held)
				fatal("out of memory");
			memcpy(s->held, p, s->held_len);
			break;
		}
	}
	return true;
}

static bool
blocked(Stream *s)
{
	int			i;

	if (s->barrier || s->draining)
		return true;
	for (i = 0; i < s->nlanes; i++)
		if (s->lanes[i].busy && lane_full(&s->lanes[i]))
			return true;
	return false;
}

/*---- public ----*/

Stream *
stream_open(Target *t, char **err)
{
	Stream	   *s;
	PGconn	   *repl;
	uint64_t	start = t->confirmed_lsn > t->consistent_point ? t->confirmed_lsn : t->consistent_point;
	int			i;

	repl = catalog_connect(opt.conninfo, true, "-c idle_in_transaction_session_timeout=0");
	if (!repl)
	{
		*err = strdup("could not open a replication connection");
		return NULL;
	}
	if (!repl_start(repl, t, start, err))
	{
		PQfinish(repl);
		return NULL;
	}
	s = calloc(1, sizeof(Stream));
	s->t = t;
	s->repl = repl;
	s->nlanes = opt.max_inflight > 0 ? opt.max_inflight : 1;
	s->lanes = calloc(s->nlanes, sizeof(Lane));
	for (i = 0; i < s->nlanes; i++)
		s->lanes[i].s = s;
	s->confirmed = start;
	s->fb_sent = start;
	s->last_fb_ms = now_ms();
	return s;
}

void
stream_close(Stream *s)
{
	int			i;

	if (!s)
		return;
	for (i = 0; i < s->nlanes; i++)
	{
		if (s->lanes[i].in_flight)
			es_cancel(&s->lanes[i].req);
		batch_free(&s->lanes[i].fill);
		batch_free(&s->lanes[i].sent);
		buf_free(&s->lanes[i].req.resp.body);
	}
	if (s->dbq_in_flight)
		es_cancel(&s->dbq);
	buf_free(&s->dbq.resp.body);
	if (!s->broken)
	{
		advance_confirmed(s);
		repl_send_feedback(s->repl, s->written > s->confirmed ? s->written : s->confirmed,
						   s->confirmed, false);
		repl_finish(s->repl);
	}
	PQfinish(s->repl);
	free(s->lanes);
	free(s->q);
	free(s->held);
	free(s);
}

int
stream_socket(Stream *s)
{
	return PQsocket(s->repl);
}

void
stream_set_draining(Stream *s)
{
	s->draining = true;
}

/* Draining: nothing outstanding at the cluster any more. */
bool
stream_drained(Stream *s)
{
	return lanes_quiet(s) && !s->dbq_in_flight;
}

/* Nothing received is unacknowledged. */
bool
stream_idle(Stream *s)
{
	return s->qlen == 0 && !s->in_txn && lanes_quiet(s) && !s->barrier;
}

uint64_t
stream_confirmed(Stream *s)
{
	return s->confirmed;
}

uint64_t
stream_oldest_unacked_ms(Stream *s)
{
	return s->qlen > 0 ? s->q[s->qhead].recv_ms : 0;
}

/* Ask the server for a keepalive now (used to learn its position). */
void
stream_request_reply(Stream *s)
{
	s->reply_now = true;
}

/*
 * One turn of work: retries due, reading what the server sent (unless
 * blocked), sending batches, the barrier and feedback.  Returns false when
 * the connection is lost or the stream is in error; the caller closes it and
 * reconnects later from the confirmed position.
 */
bool
stream_work(Stream *s)
{
	uint64_t	now = now_ms();
	int			i,
				nmsg = 0;
	bool		drained = false;

	s->more = false;
	for (i = 0; i < s->nlanes; i++)
	{
		Lane	   *l = &s->lanes[i];

		if (l->busy && !l->in_flight && now >= l->retry_at)
			lane_submit(l);
	}
	if (s->held && !s->barrier)
	{
		char	   *h = s->held;
		bool		ok;

		s->held = NULL;
		ok = handle_lines(s, h, h + s->held_len);
		free(h);
		if (!ok)
			return false;
	}

	while (!blocked(s) && nmsg < MAX_MESSAGES_PER_TURN)
	{
		char	   *buf;
		int			n = repl_read(s->repl, &buf);

		if (n == 0)
		{
			drained = true;
			break;
		}
		if (n < 0)
		{
			PGresult   *r = PQgetResult(s->repl);

			target_set_error(s->t, "replication stream ended: %s",
							 n == -2 ? PQerrorMessage(s->repl) :
							 (r ? PQresultErrorMessage(r) : "server closed the stream"));
			if (r)
				PQclear(r);
			s->broken = true;
			return false;
		}
		nmsg++;
		if (buf[0] == 'w' && n >= 25)
		{
			uint64_t	start = fe_recvint64(buf + 1);

			if (start > s->written)
				s->written = start;
			if (!handle_lines(s, buf + 25, buf + n))
			{
				PQfreemem(buf);
				return false;
			}
			/* a full batch goes out at once: fills stay bounded (RSS) */
			for (i = 0; i < s->nlanes; i++)
				if (!s->lanes[i].busy && lane_full(&s->lanes[i]))
					lane_send_fill(&s->lanes[i]);
		}
		else if (buf[0] == 'k' && n >= 18)
		{
			uint64_t	end = fe_recvint64(buf + 1);

			if (end > s->keepalive_end)
				s->keepalive_end = end;
			if (end > s->written)
				s->written = end;
			s->t->server_wal_end = end;
			if (buf[17])
				s->reply_now = true;
			advance_confirmed(s);
		}
		PQfreemem(buf);
	}

	if (!drained && !blocked(s))
		s->more = true;
	now = now_ms();
	for (i = 0; i < s->nlanes; i++)
	{
		Lane	   *l = &s->lanes[i];

		if (l->busy || l->fill.nitems == 0)
			continue;
		if (drained || s->draining || s->barrier || lane_full(l) ||
			now - l->fill.first_ms >= (uint64_t) opt.flush_interval_ms)
			lane_send_fill(l);
	}
	barrier_step(s);
	advance_confirmed(s);

	if (s->reply_now || now - s->last_fb_ms >= FEEDBACK_INTERVAL_MS ||
		(s->confirmed > s->fb_sent && now - s->last_fb_ms >= FEEDBACK_MIN_GAP_MS))
	{
		bool		ask = (s->reply_now || now - s->last_fb_ms >= FEEDBACK_INTERVAL_MS) &&
			s->qlen == 0 && !s->in_txn;

		if (!repl_send_feedback(s->repl, s->written > s->confirmed ? s->written : s->confirmed,
								s->confirmed, ask))
		{
			target_set_error(s->t, "could not send feedback: %s", PQerrorMessage(s->repl));
			s->broken = true;
			return false;
		}
		s->fb_sent = s->confirmed;
		s->last_fb_ms = now;
		s->reply_now = false;
	}
	return true;
}

/* Milliseconds until this stream needs a turn without socket activity. */
int
stream_timeout_ms(Stream *s)
{
	uint64_t	now = now_ms();
	int64_t		best = FEEDBACK_INTERVAL_MS;
	int			i;

	for (i = 0; i < s->nlanes; i++)
	{
		Lane	   *l = &s->lanes[i];

		int64_t		d = best;

		if (l->busy && !l->in_flight)
			d = l->retry_at > now ? (int64_t) (l->retry_at - now) : 0;
		else if (!l->busy && l->fill.nitems > 0)
			d = 0;
		if (d < best)
			best = d;
	}
	if (s->barrier && !s->dbq_in_flight)
	{
		int64_t		d = s->dbq_retry_at > now ? (int64_t) (s->dbq_retry_at - now) : 0;

		if (d < best)
			best = d;
	}
	if (s->more)
		best = 0;
	if (s->confirmed > s->fb_sent)
		best = best < FEEDBACK_MIN_GAP_MS ? best : FEEDBACK_MIN_GAP_MS;
	return (int) (best < 0 ? 0 : best);
}
