/*
 * stream.c: applying one replication stream to the indexes of its members.
 *
 * A stream is one replication connection after START_REPLICATION.  A
 * target's own slot gives a stream with one member (the plugin's table
 * option, untagged lines); the database's shared slot gives a stream with
 * many members (the plugin's targets option: every line is tagged with its
 * set, and a set's lines go to every member of that set).
 *
 * Owns: the replication connection, the queue of received transactions with
 * their unacknowledged item counts (all members together), and per member:
 * its lanes (one filling batch and at most one outstanding batch each), its
 * own queue of transactions it has items in, its TRUNCATE barrier, refetches,
 * per-item retries and dead letters; the standby status updates.
 *
 * Invariants:
 *  I1  every action carries the transaction's end_lsn with external_gte.
 *  I3  the flush position sent to the server is the end_lsn of the newest
 *      transaction whose items for every member, and all earlier ones, are
 *      acknowledged (OK, 409 or dead-lettered); with nothing outstanding, the
 *      keepalive walEnd.  So the shared slot confirms the minimum over its
 *      members.  A member's own position (its target's confirmed_lsn) is the
 *      newest point before its oldest unacknowledged transaction.
 *  I4  every event of one document id goes to the member's lane
 *      hash(id) % lanes; a lane has one batch outstanding at a time and
 *      retries its failed items before it sends the next batch.
 *  I6  non-retryable items are written to reindex.dead_letter and counted.
 * Handover (handover.c): a member's events with version <= its skip_le are
 * not applied (they came through its own slot); a gated member's events are
 * queued but not sent, and hold the stream's confirmed position, until its
 * own slot has delivered everything up to the handover LSN.  A stream with a
 * stop LSN applies nothing above it: at the first transaction above it, or a
 * keepalive at or past it, it stops reading.
 * TRUNCATE: a barrier for the members of its set: everything before it is
 * acknowledged, then each such index is emptied with delete_by_query, and
 * only then are later lines (also the rest of the TRUNCATE's own message,
 * held meanwhile) handled.
 * Backpressure: when a lane is busy and its filling batch is full, a gated
 * member's batch is full, or a barrier waits, no more messages are read.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bulk.h"
#include "bulk_response.h"
#include "catalog.h"
#include "clock.h"
#include "es_client.h"
#include "log.h"
#include "main.h"
#include "options.h"
#include "replication.h"
#include "stream.h"
#include "target.h"
#include "wire.h"

#define FEEDBACK_INTERVAL_MS 10000
#define FEEDBACK_MIN_GAP_MS 20
#define MAX_MESSAGES_PER_TURN 20000

struct Member;

typedef struct Lane
{
	struct Member *m;
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
	uint64_t	prev_end;		/* everything up to here was received before it */
	int64_t		pending;		/* unresolved items, all members */
	bool		committed;
	uint64_t	recv_ms;
} Txn;

typedef struct MTxn
{
	uint64_t	seq;
	int64_t		pending;
} MTxn;

typedef struct Member
{
	struct Stream *s;
	Target	   *t;
	int			set;			/* the line tag it receives; -1 untagged */
	uint64_t	skip_le;		/* events at or below this version are not applied */
	bool		gated;			/* queued, not sent (handover in progress) */
	Lane	   *lanes;
	MTxn	   *q;				/* transactions it has unresolved items in */
	size_t		qcap;
	size_t		qhead;
	size_t		qlen;
	/* TRUNCATE barrier */
	bool		trunc;
	uint64_t	trunc_seq;
	bool		dbq_in_flight;
	bool		dbq_refreshed;	/* the barrier's _refresh is done */
	EsRequest	dbq;
	uint64_t	dbq_retry_at;
	int			dbq_attempt;
} Member;

struct Stream
{
	PGconn	   *repl;
	char	   *label;			/* for log lines: index name or slot */
	Member	  **members;
	int			nmembers;
	int			nlanes;
	Txn		   *q;
	size_t		qcap;
	size_t		qhead;
	size_t		qlen;
	uint64_t	qbase;			/* seq of q[qhead] */
	bool		in_txn;
	uint64_t	cur_seq;		/* queue entry of the transaction being received, or */
	bool		cur_pushed;		/* not yet (no item so far) */
	uint64_t	cur_xid;
	uint64_t	cur_version;
	uint64_t	confirmed;
	uint64_t	written;
	uint64_t	recv_pos;		/* every transaction ending at or below was received */
	uint64_t	fb_sent;
	uint64_t	last_fb_ms;
	bool		reply_now;
	bool		ask_pending;	/* a caller wants a keepalive (rate-limited) */
	uint64_t	stop_at;		/* 0: none */
	bool		stop_reached;
	bool		paused;
	bool		barrier;		/* some member has a TRUNCATE barrier */
	bool		draining;
	bool		broken;
	bool		more;			/* stopped reading with data possibly buffered */
	/* lines after a TRUNCATE in the same message, held until its barrier ends */
	char	   *held;
	size_t		held_len;
};

static void lane_done(EsRequest *req);
static void advance_confirmed(Stream *s);

/*---- the stream's transaction queue ----*/

static Txn *
txn_get(Stream *s, uint64_t seq)
{
	return &s->q[(s->qhead + (seq - s->qbase)) % s->qcap];
}

/* Make room for one more element in a full ring buffer (elements unrolled). */
static void *
ring_grow(void *q, size_t elem, size_t *cap, size_t *head, size_t len, size_t first)
{
	size_t		ncap = *cap ? *cap * 2 : first;
	char	   *nq = malloc(elem * ncap);
	size_t		i;

	if (!nq)
		fatal("out of memory");
	for (i = 0; i < len; i++)
		memcpy(nq + i * elem, (char *) q + ((*head + i) % *cap) * elem, elem);
	free(q);
	*cap = ncap;
	*head = 0;
	return nq;
}

static uint64_t
txn_push(Stream *s)
{
	if (s->qlen == s->qcap)
		s->q = ring_grow(s->q, sizeof(Txn), &s->qcap, &s->qhead, s->qlen, 1024);
	s->q[(s->qhead + s->qlen) % s->qcap] = (Txn)
	{
		0, s->recv_pos, 0, false, now_ms()
	};
	s->qlen++;
	return s->qbase + s->qlen - 1;
}

/* The current transaction's queue entry, created at its first item. */
static uint64_t
cur_txn(Stream *s)
{
	if (!s->in_txn)
	{
		/* defensive: an event outside begin/commit gets its own entry */
		s->in_txn = true;
		s->cur_pushed = false;
	}
	if (!s->cur_pushed)
	{
		s->cur_seq = txn_push(s);
		s->cur_pushed = true;
	}
	return s->cur_seq;
}

/*---- a member's queue ----*/

static MTxn *
mtxn_at(Member *m, size_t i)
{
	return &m->q[(m->qhead + i) % m->qcap];
}

/* One more unresolved item of transaction seq (always the newest). */
static void
member_add_item(Member *m, uint64_t seq)
{
	if (m->qlen == 0 || mtxn_at(m, m->qlen - 1)->seq != seq)
	{
		if (m->qlen == m->qcap)
			m->q = ring_grow(m->q, sizeof(MTxn), &m->qcap, &m->qhead, m->qlen, 256);
		*mtxn_at(m, m->qlen) = (MTxn)
		{
			seq, 0
		};
		m->qlen++;
	}
	mtxn_at(m, m->qlen - 1)->pending++;
	txn_get(m->s, seq)->pending++;
}

/* The member's entry of transaction seq (binary search: seqs increase). */
static MTxn *
member_entry(Member *m, uint64_t seq)
{
	size_t		lo = 0,
				hi = m->qlen;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (mtxn_at(m, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->qlen && mtxn_at(m, lo)->seq == seq)
		return mtxn_at(m, lo);
	fatal("internal error: no queue entry for an item");
}

static void
item_resolved(Member *m, uint64_t seq, int64_t n)
{
	member_entry(m, seq)->pending -= n;
	txn_get(m->s, seq)->pending -= n;
}

/* The member's position: the newest point before its oldest unresolved item. */
static uint64_t
member_acked(Member *m)
{
	Stream	   *s = m->s;

	while (m->qlen > 0 && m->q[m->qhead].pending <= 0)
	{
		m->qhead = (m->qhead + 1) % m->qcap;
		m->qlen--;
	}
	if (m->qlen > 0)
		return txn_get(s, m->q[m->qhead].seq)->prev_end;
	return s->in_txn && s->cur_pushed ? txn_get(s, s->cur_seq)->prev_end : s->recv_pos;
}

static void
advance_confirmed(Stream *s)
{
	int			i;

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
	if (s->qlen == 0 && !s->in_txn && s->recv_pos > s->confirmed)
		s->confirmed = s->recv_pos;
	for (i = 0; i < s->nmembers; i++)
	{
		Member	   *m = s->members[i];
		uint64_t	a;

		if (m->gated)
			continue;
		a = member_acked(m);
		if (a > m->t->confirmed_lsn)
			m->t->confirmed_lsn = a;
	}
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
	Buf			keep = l->req.resp.body;	/* reuse the response buffer */
	bool		ok;

	memset(&l->req, 0, sizeof(l->req));
	l->req.resp.body = keep;
	l->req.done = lane_done;
	l->req.arg = l;
	ok = es_submit(&l->req, &l->m->t->ep, "POST", "/_bulk", l->sent.body.data, l->sent.body.len);
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
dead_letter_item(Member *m, const char *item, size_t len, long status, const char *error)
{
	char	   *id = NULL;
	uint64_t	version = 0;
	const char *nl = memchr(item, '\n', len);
	char	   *doc = NULL;
	bool		is_delete = len > 10 && memcmp(item, "{\"delete\"", 9) == 0;

	bulk_item_meta(item, len, &id, &version);
	if (nl && (size_t) (nl - item) + 1 < len)
		doc = strndup(nl + 1, len - (nl - item) - 2);
	catalog_dead_letter(main_cat, m->t, version, id, is_delete ? "delete" : "index",
						status, error, doc, true);
	target_set_error(m->t, "document %s refused by the cluster (dead-lettered): %.200s",
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
	Member	   *m = l->m;
	Target	   *t = m->t;
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
				item_resolved(m, it->seq, 1);
				break;
			case OUT_STALE:
				atomic_fetch_add(&t->c.stale_rejected, 1);
				item_resolved(m, it->seq, 1);
				break;
			case OUT_DEAD:
				atomic_fetch_add(&t->c.dead_lettered, 1);
				dead_letter_item(m, item, it->len, sts[i], errs[i]);
				item_resolved(m, it->seq, 1);
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
	advance_confirmed(m->s);
}

/*---- TRUNCATE barriers ----*/

static void
update_barrier(Stream *s)
{
	int			i;

	s->barrier = false;
	for (i = 0; i < s->nmembers; i++)
		if (s->members[i]->trunc)
			s->barrier = true;
}

static void
dbq_done(EsRequest *req)
{
	Member	   *m = req->arg;
	Stream	   *s = m->s;
	long		st = req->resp.http_status;

	m->dbq_in_flight = false;
	if (st >= 200 && st < 300 && !m->dbq_refreshed)
	{
		/* documents are searchable now: delete_by_query sees all of them */
		m->dbq_refreshed = true;
		m->dbq_attempt = 0;
		m->dbq_retry_at = 0;
	}
	else if (st >= 200 && st < 300)
	{
		atomic_fetch_add(&m->t->c.events_applied, 1);
		item_resolved(m, m->trunc_seq, 1);
		m->trunc = false;
		log_info(m->t->index_name, "truncate applied: all documents deleted");
	}
	else if (es_retryable_status(st))
	{
		atomic_fetch_add(&m->t->c.retried, 1);
		m->dbq_retry_at = now_ms() + backoff_ms(m->dbq_attempt++);
	}
	else
	{
		char		err[512];

		snprintf(err, sizeof(err), "delete_by_query for TRUNCATE failed with HTTP %ld: %.300s",
				 st, req->resp.body.data ? req->resp.body.data : "");
		atomic_fetch_add(&m->t->c.dead_lettered, 1);
		catalog_dead_letter(main_cat, m->t, txn_get(s, m->trunc_seq)->end_lsn, NULL,
							"truncate", st, err, NULL, true);
		target_set_error(m->t, "%s", err);
		item_resolved(m, m->trunc_seq, 1);
		m->trunc = false;
	}
	buf_free(&req->resp.body);
	update_barrier(s);
	advance_confirmed(s);
}

static bool
member_quiet(Member *m)
{
	int			i;

	for (i = 0; i < m->s->nlanes; i++)
		if (m->lanes[i].busy || m->lanes[i].fill.nitems > 0)
			return false;
	return true;
}

static void
barrier_step(Stream *s)
{
	static const char body[] = "{\"query\":{\"match_all\":{}}}";
	int			i;

	for (i = 0; i < s->nmembers; i++)
	{
		Member	   *m = s->members[i];
		Buf			path = {0};

		if (!m->trunc || m->gated || m->dbq_in_flight || !member_quiet(m) ||
			now_ms() < m->dbq_retry_at)
			continue;

		/*
		 * delete_by_query only finds searchable documents: refresh first, so
		 * documents indexed since the last refresh (or during a backfill with
		 * refresh_interval -1) are deleted too.
		 */
		if (!m->dbq_refreshed)
			buf_printf(&path, "/%s/_refresh", m->t->index_name);
		else
			buf_printf(&path, "/%s/_delete_by_query?conflicts=proceed&refresh=true",
					   m->t->index_name);
		buf_free(&m->dbq.resp.body);
		memset(&m->dbq, 0, sizeof(m->dbq));
		m->dbq.done = dbq_done;
		m->dbq.arg = m;
		m->dbq_in_flight = es_submit(&m->dbq, &m->t->ep, "POST", path.data,
									 m->dbq_refreshed ? body : NULL,
									 m->dbq_refreshed ? sizeof(body) - 1 : 0);
		if (!m->dbq_in_flight)
			m->dbq_retry_at = now_ms() + backoff_ms(m->dbq_attempt++);
		buf_free(&path);
	}
}

/*
 * A TRUNCATE wipes what its own transaction wrote before it: such events
 * still waiting in a batch are dropped, not sent.  (Sent, they would leave
 * the document at the transaction's version, and the delete_by_query
 * tombstone one above it would then refuse the same transaction's re-insert
 * after the TRUNCATE as stale.)
 */
static void
drop_unsent_of_txn(Member *m, uint64_t seq)
{
	int			i,
				j;

	for (i = 0; i < m->s->nlanes; i++)
	{
		Batch	   *f = &m->lanes[i].fill;
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
		item_resolved(m, seq, dropped);
	}
}

/*---- messages ----*/

static void
add_event(Member *m, ItemOp op, uint64_t version, const char *id, size_t id_len,
		  const char *doc, size_t doc_len)
{
	Lane	   *l = &m->lanes[bulk_lane_of(id, id_len, m->s->nlanes)];
	uint64_t	seq = cur_txn(m->s);

	member_add_item(m, seq);
	batch_add(&l->fill, op, m->t->index_json, version, true, id, id_len, doc, doc_len, seq);
}

static bool
refetch(Member *m, const WireMsg *w)
{
	bool		failed;
	char	   *row = catalog_document_by_key(main_cat, m->t, m->s->cur_xid, w->body, w->body_len,
											  &failed);
	size_t		e;

	if (failed)
	{
		target_set_error(m->t, "could not read the current row for a refetch event");
		return false;
	}
	if (!row)
		return true;			/* row is gone: a later delete event follows */
	if (wire_json_string_end(row, strlen(row), &e) && row[e] == ' ')
		add_event(m, ITEM_INDEX, w->version, row, e, row + e + 1, strlen(row + e + 1));
	else
		target_set_error(m->t, "reindex.document_by_key returned a malformed result");
	free(row);
	return true;
}

/* One event for one member. */
static bool
member_event(Member *m, const WireMsg *w)
{
	Stream	   *s = m->s;

	switch (w->type)
	{
		case WIRE_INDEX:
			add_event(m, ITEM_INDEX, w->version, w->id, w->id_len, w->body, w->body_len);
			break;
		case WIRE_DELETE:
			add_event(m, ITEM_DELETE, w->version, w->id, w->id_len, NULL, 0);
			break;
		case WIRE_REFETCH:
			return refetch(m, w);
		case WIRE_TRUNCATE:
			{
				uint64_t	seq = cur_txn(s);

				drop_unsent_of_txn(m, seq);
				member_add_item(m, seq);
				m->trunc = true;
				m->trunc_seq = seq;
				m->dbq_refreshed = false;
				m->dbq_attempt = 0;
				m->dbq_retry_at = 0;
				s->barrier = true;
			}
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
				char	   *part = wire_json_string_decode(w->id, w->id_len);
				char		err[512];

				snprintf(err, sizeof(err),
						 "TRUNCATE of partition %s of the source is not applied: its documents stay in the index until it is rebuilt",
						 part ? part : "?");
				atomic_fetch_add(&m->t->c.dead_lettered, 1);
				catalog_dead_letter(main_cat, m->t, w->version, part, "truncate_partition",
									0, err, NULL, true);
				target_set_error(m->t, "%s", err);
				free(part);
			}
			break;
		default:
			break;
	}
	return true;
}

/* Handling of one line: 1 go on, 0 error, 2 the stop LSN is reached. */
static int
handle_payload(Stream *s, const char *p, size_t n)
{
	WireMsg		w;
	const char *err;
	int			set = -1;
	int			i;

	if (n > 0 && p[0] >= '0' && p[0] <= '9')
	{
		/* option targets: "<set> " first */
		set = 0;
		while (n > 0 && p[0] >= '0' && p[0] <= '9' && set < 1000000)
		{
			set = set * 10 + (p[0] - '0');
			p++;
			n--;
		}
		if (n == 0 || p[0] != ' ')
		{
			log_error(s->label, "malformed set tag from the output plugin: %.120s", p);
			return 0;
		}
		p++;
		n--;
	}
	if (!wire_parse(p, n, &w, &err))
	{
		log_error(s->label, "malformed message from the output plugin (%s): %.120s", err, p);
		if (s->nmembers > 0)
			target_set_error(s->members[0]->t, "malformed message from the output plugin (%s): %.120s",
							 err, p);
		return 0;
	}
	if (s->stop_at && w.version > s->stop_at)
	{
		/* everything up to the stop LSN was received (commit order) */
		s->stop_reached = true;
		if (s->recv_pos < s->stop_at)
			s->recv_pos = s->stop_at;
		return 2;
	}
	switch (w.type)
	{
		case WIRE_BEGIN:
			s->cur_xid = w.xid;
			s->cur_version = w.version;
			s->in_txn = true;
			s->cur_pushed = false;
			break;
		case WIRE_COMMIT:
			if (s->in_txn && s->cur_pushed)
			{
				Txn		   *x = txn_get(s, s->cur_seq);

				x->end_lsn = w.version;
				x->committed = true;
			}
			if (w.version > s->recv_pos)
				s->recv_pos = w.version;
			s->in_txn = false;
			s->cur_pushed = false;
			advance_confirmed(s);
			break;
		default:
			if (!s->in_txn)
			{
				s->in_txn = true;
				s->cur_pushed = false;
			}
			s->cur_version = w.version;
			for (i = 0; i < s->nmembers; i++)
			{
				Member	   *m = s->members[i];

				if (m->set != set || w.version <= m->skip_le)
					continue;
				if (!member_event(m, &w))
					return 0;
			}
			break;
	}
	return 1;
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

		if (le > p)
		{
			int			r = handle_payload(s, p, le - p);

			if (r == 0)
				return false;
			if (r == 2)
				return true;	/* the rest is above the stop LSN */
		}
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
	int			i,
				j;

	if (s->barrier || s->draining || s->paused || s->stop_reached)
		return true;
	for (i = 0; i < s->nmembers; i++)
	{
		Member	   *m = s->members[i];

		for (j = 0; j < s->nlanes; j++)
			if ((m->lanes[j].busy || m->gated) && lane_full(&m->lanes[j]))
				return true;
	}
	return false;
}

static Member *
member_new(Stream *s, const StreamMember *sm)
{
	Member	   *m = calloc(1, sizeof(Member));
	int			i;

	if (!m)
		fatal("out of memory");
	m->s = s;
	m->t = sm->t;
	m->set = sm->set;
	m->skip_le = sm->skip_le;
	m->gated = sm->gated;
	m->lanes = calloc(s->nlanes, sizeof(Lane));
	if (!m->lanes)
		fatal("out of memory");
	for (i = 0; i < s->nlanes; i++)
		m->lanes[i].m = m;
	return m;
}

/* Cancel what the member has at the cluster and forget its items. */
static void
member_free(Member *m, bool abandon)
{
	Stream	   *s = m->s;
	size_t		i;
	int			k;

	for (k = 0; k < s->nlanes; k++)
	{
		if (m->lanes[k].in_flight)
			es_cancel(&m->lanes[k].req);
		batch_free(&m->lanes[k].fill);
		batch_free(&m->lanes[k].sent);
		buf_free(&m->lanes[k].req.resp.body);
	}
	if (m->dbq_in_flight)
		es_cancel(&m->dbq);
	buf_free(&m->dbq.resp.body);
	if (abandon)
		for (i = 0; i < m->qlen; i++)
			txn_get(s, mtxn_at(m, i)->seq)->pending -= mtxn_at(m, i)->pending;
	free(m->lanes);
	free(m->q);
	free(m);
}

static Member *
find_member(Stream *s, const Target *t)
{
	int			i;

	for (i = 0; i < s->nmembers; i++)
		if (s->members[i]->t == t)
			return s->members[i];
	return NULL;
}

/*---- public ----*/

/*
 * START_REPLICATION on slot from start with these members.  With targets NULL
 * the stream is a target's own (one member, the plugin's table option);
 * otherwise targets is the plugin's targets option.
 */
Stream *
stream_open(const char *slot, uint64_t start, const char *targets,
			const StreamMember *members, int nmembers, char **err)
{
	Stream	   *s;
	PGconn	   *repl;
	int			i;

	repl = catalog_connect(opt.conninfo, true, "-c idle_in_transaction_session_timeout=0");
	if (!repl)
	{
		*err = strdup("could not open a replication connection");
		return NULL;
	}
	if (!repl_start(repl, slot, start, targets ? NULL : members[0].t, targets, err))
	{
		PQfinish(repl);
		return NULL;
	}
	s = calloc(1, sizeof(Stream));
	if (!s)
		fatal("out of memory");
	s->repl = repl;
	s->label = strdup(targets ? slot : members[0].t->index_name);
	s->nlanes = opt.max_inflight > 0 ? opt.max_inflight : 1;
	for (i = 0; i < nmembers; i++)
		stream_add_member(s, &members[i]);
	s->confirmed = start;
	s->recv_pos = start;
	s->fb_sent = start;
	s->last_fb_ms = now_ms();
	return s;
}

/* A target's own slot, from its confirmed position. */
Stream *
stream_open_own(Target *t, char **err)
{
	uint64_t	start = t->confirmed_lsn > t->consistent_point ? t->confirmed_lsn : t->consistent_point;
	StreamMember sm = {t, -1, 0, false};

	return stream_open(t->slot_name, start, NULL, &sm, 1, err);
}

void
stream_add_member(Stream *s, const StreamMember *sm)
{
	s->members = realloc(s->members, sizeof(Member *) * (s->nmembers + 1));
	if (!s->members)
		fatal("out of memory");
	s->members[s->nmembers++] = member_new(s, sm);
}

/*
 * Take a member out: what it has at the cluster is cancelled and its
 * unacknowledged items no longer hold the stream's position (the caller has
 * made sure its events are delivered another way, or not needed).
 */
void
stream_remove_member(Stream *s, const Target *t)
{
	int			i;

	for (i = 0; i < s->nmembers; i++)
		if (s->members[i]->t == t)
		{
			member_free(s->members[i], true);
			memmove(&s->members[i], &s->members[i + 1],
					sizeof(Member *) * (s->nmembers - i - 1));
			s->nmembers--;
			break;
		}
	update_barrier(s);
	advance_confirmed(s);
}

bool
stream_has_member(Stream *s, const Target *t)
{
	return find_member(s, t) != NULL;
}

void
stream_set_gate(Stream *s, const Target *t, bool gated)
{
	Member	   *m = find_member(s, t);

	if (m)
		m->gated = gated;
	advance_confirmed(s);
}

/* Oldest unacknowledged transaction of one member (0: none), its time. */
uint64_t
stream_member_oldest_ms(Stream *s, const Target *t)
{
	Member	   *m = find_member(s, t);

	if (!m)
		return 0;
	member_acked(m);
	return m->qlen > 0 ? txn_get(s, m->q[m->qhead].seq)->recv_ms : 0;
}

/* Apply nothing above lsn; stop reading once everything up to it came. */
void
stream_set_stop(Stream *s, uint64_t lsn)
{
	s->stop_at = lsn;
	if (s->recv_pos >= lsn && !s->in_txn)
		s->stop_reached = true;
	s->reply_now = true;
}

/* Everything up to the stop LSN was received and acknowledged. */
bool
stream_stop_done(Stream *s)
{
	if (s->stop_at && !s->stop_reached && !s->in_txn && s->recv_pos >= s->stop_at)
		s->stop_reached = true;
	return s->stop_reached && stream_idle(s);
}

void
stream_pause(Stream *s, bool paused)
{
	s->paused = paused;
}

/* The position a member joining now must take over from. */
uint64_t
stream_position(Stream *s)
{
	return s->in_txn && s->cur_version > s->recv_pos ? s->cur_version : s->recv_pos;
}

/* Between transactions, no barrier and nothing held: members may change. */
bool
stream_between_txns(Stream *s)
{
	return !s->in_txn && !s->barrier && !s->held;
}

void
stream_close(Stream *s)
{
	int			i;

	if (!s)
		return;
	for (i = 0; i < s->nmembers; i++)
		member_free(s->members[i], false);
	s->nmembers = 0;
	if (!s->broken)
	{
		repl_send_feedback(s->repl, s->written > s->confirmed ? s->written : s->confirmed,
						   s->confirmed, false);
		repl_finish(s->repl);
	}
	PQfinish(s->repl);
	free(s->members);
	free(s->label);
	free(s->q);
	free(s->held);
	free(s);
}

int
stream_socket(Stream *s)
{
	return PQsocket(s->repl);
}

/*
 * What to wait for on stream_socket(): its input only while the stream
 * reads.  A blocked stream (lanes busy and full, a barrier, paused, drained,
 * stopped) leaves its data in the socket, which would end every wait at
 * once: the loop spun until a lane's answer came (half the streamer's CPU
 * in a 1M-row transaction).  Its turn comes with the answer.
 */
short
stream_poll_events(Stream *s)
{
	return blocked(s) ? 0 : POLLIN;
}

void
stream_set_draining(Stream *s)
{
	s->draining = true;
}

/* Draining: nothing outstanding at the cluster any more (gated members aside). */
bool
stream_drained(Stream *s)
{
	int			i;

	for (i = 0; i < s->nmembers; i++)
		if ((!s->members[i]->gated && !member_quiet(s->members[i])) ||
			s->members[i]->dbq_in_flight)
			return false;
	return true;
}

/* Nothing received is unacknowledged. */
bool
stream_idle(Stream *s)
{
	int			i;

	if (s->qlen > 0 || s->in_txn || s->barrier)
		return false;
	for (i = 0; i < s->nmembers; i++)
		if (!member_quiet(s->members[i]))
			return false;
	return true;
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

/*
 * Ask the server for a keepalive (used to learn its position).  Callers ask
 * on every turn of the main loop while they wait (--once, --until-lsn): the
 * request goes out at most every FEEDBACK_MIN_GAP_MS, not on every turn
 * (a status update per turn took half the streamer's CPU in a 1M-row
 * transaction).
 */
void
stream_request_reply(Stream *s)
{
	s->ask_pending = true;
}

static void
member_set_error(Stream *s, const char *fmt, const char *detail)
{
	int			i;

	for (i = 0; i < s->nmembers; i++)
		target_set_error(s->members[i]->t, fmt, detail);
	if (s->nmembers == 0)
		log_warn(s->label, fmt, detail);
}

/*
 * One turn of work: retries due, reading what the server sent (unless
 * blocked), sending batches, barriers and feedback.  Returns false when the
 * connection is lost or the stream is in error; the caller closes it and
 * reconnects later from the confirmed position.
 */
bool
stream_work(Stream *s)
{
	uint64_t	now = now_ms();
	int			i,
				j,
				nmsg = 0;
	bool		drained = false,
				ask_due;

	s->more = false;
	for (i = 0; i < s->nmembers; i++)
		for (j = 0; j < s->nlanes; j++)
		{
			Lane	   *l = &s->members[i]->lanes[j];

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

			member_set_error(s, "replication stream ended: %s",
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

			if (start > s->written && (!s->stop_at || start <= s->stop_at))
				s->written = start;
			if (!handle_lines(s, buf + 25, buf + n))
			{
				PQfreemem(buf);
				return false;
			}
			/* a full batch goes out at once: fills stay bounded (RSS) */
			for (i = 0; i < s->nmembers; i++)
				for (j = 0; j < s->nlanes && !s->members[i]->gated; j++)
					if (!s->members[i]->lanes[j].busy && lane_full(&s->members[i]->lanes[j]))
						lane_send_fill(&s->members[i]->lanes[j]);
		}
		else if (buf[0] == 'k' && n >= 18)
		{
			uint64_t	end = fe_recvint64(buf + 1);

			if (s->stop_at && end >= s->stop_at)
			{
				end = s->stop_at;
				if (!s->in_txn)
					s->stop_reached = true;
			}
			if (!s->in_txn && end > s->recv_pos)
				s->recv_pos = end;
			if (end > s->written)
				s->written = end;
			for (i = 0; i < s->nmembers; i++)
				s->members[i]->t->server_wal_end = end;
			if (buf[17])
				s->reply_now = true;
			advance_confirmed(s);
		}
		PQfreemem(buf);
	}

	if (!drained && !blocked(s))
		s->more = true;
	now = now_ms();
	for (i = 0; i < s->nmembers; i++)
	{
		Member	   *m = s->members[i];

		if (m->gated)
			continue;
		for (j = 0; j < s->nlanes; j++)
		{
			Lane	   *l = &m->lanes[j];

			if (l->busy || l->fill.nitems == 0)
				continue;
			if (drained || s->draining || m->trunc || s->stop_reached || lane_full(l) ||
				now - l->fill.first_ms >= (uint64_t) opt.flush_interval_ms)
				lane_send_fill(l);
		}
	}
	barrier_step(s);
	advance_confirmed(s);

	ask_due = s->ask_pending && now - s->last_fb_ms >= FEEDBACK_MIN_GAP_MS;
	if (s->reply_now || ask_due || now - s->last_fb_ms >= FEEDBACK_INTERVAL_MS ||
		(s->confirmed > s->fb_sent && now - s->last_fb_ms >= FEEDBACK_MIN_GAP_MS))
	{
		bool		ask = (s->reply_now || ask_due || now - s->last_fb_ms >= FEEDBACK_INTERVAL_MS) &&
			s->qlen == 0 && !s->in_txn;

		if (!repl_send_feedback(s->repl, s->written > s->confirmed ? s->written : s->confirmed,
								s->confirmed, ask))
		{
			member_set_error(s, "could not send feedback: %s", PQerrorMessage(s->repl));
			s->broken = true;
			return false;
		}
		s->fb_sent = s->confirmed;
		s->last_fb_ms = now;
		s->reply_now = false;
		s->ask_pending = false;
	}
	return true;
}

/* Milliseconds until this stream needs a turn without socket activity. */
int
stream_timeout_ms(Stream *s)
{
	uint64_t	now = now_ms();
	int64_t		best = FEEDBACK_INTERVAL_MS;
	int			i,
				j;

	for (i = 0; i < s->nmembers; i++)
	{
		Member	   *m = s->members[i];

		for (j = 0; j < s->nlanes && !m->gated; j++)
		{
			Lane	   *l = &m->lanes[j];
			int64_t		d = best;

			if (l->busy && !l->in_flight)
				d = l->retry_at > now ? (int64_t) (l->retry_at - now) : 0;
			else if (!l->busy && l->fill.nitems > 0)
			{
				/* stream_work() sent it unless it waits for more events */
				uint64_t	due = l->fill.first_ms + (uint64_t) opt.flush_interval_ms;

				d = due > now ? (int64_t) (due - now) : 0;
			}
			if (d < best)
				best = d;
		}
		if (m->trunc && !m->dbq_in_flight && !m->gated)
		{
			int64_t		d = m->dbq_retry_at > now ? (int64_t) (m->dbq_retry_at - now) : 0;

			if (d < best)
				best = d;
		}
	}
	if (s->more || (s->held && !s->barrier))
		best = 0;
	if (s->confirmed > s->fb_sent)
		best = best < FEEDBACK_MIN_GAP_MS ? best : FEEDBACK_MIN_GAP_MS;
	if (s->reply_now)
		best = 0;
	else if (s->ask_pending)
	{
		int64_t		d = (int64_t) (s->last_fb_ms + FEEDBACK_MIN_GAP_MS) - (int64_t) now;

		if (d < best)
			best = d;
	}
	return (int) (best < 0 ? 0 : best);
}
