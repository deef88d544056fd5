/*
 * handover.c: the database's shared slot, the handover of targets to it and
 * the detaching of targets that cannot keep up.
 *
 * Owns: the shared stream (slot reindex_shared_<database oid>, plugin option
 * targets: one set per distinct table and column selection, every member of
 * a set gets its lines), its (re)start, one handover at a time, and detach.
 * src/streamer/README.md ("Shared slot") has the argument that I1-I6 hold.
 *
 * Handover of target T (own slot, caught up) at LSN H:
 *  1. H >= the shared stream's position (a set exists already: T joins it
 *     between two transactions) or the shared stream is paused, drained and
 *     restarted at its confirmed position C with T's set added (H >= C);
 *     H >= T's own stream position.  T joins gated with skip_le = H: its
 *     shared events above H are queued, not sent, and hold the shared slot's
 *     confirmed position (I3).
 *  2. T's own stream applies nothing above H and stops once everything up
 *     to H has come and is acknowledged.
 *  3. One catalog statement: feed shared, handover_lsn H.  Only then is the
 *     gate opened and T's own slot dropped.
 * A crash before 3 leaves T on its own slot (confirmed <= H) and the shared
 * slot below T's first gated event; after 3, the shared slot restarts at or
 * below every transaction holding an event of T above H.
 *
 * Detach of member T (too far behind or its oldest event too old, with other
 * members): the shared slot is copied (its confirmed position is at or below
 * T's position D), the catalog says feed own from D, then T leaves the shared
 * stream.  T streams from its own slot again, retries its endpoint, and once
 * caught up is handed over like any other target.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "catalog.h"
#include "clock.h"
#include "es_client.h"
#include "handover.h"
#include "log.h"
#include "main.h"
#include "options.h"
#include "pg_text.h"
#include "replication.h"
#include "stream.h"
#include "target.h"

#define HANDOVER_TIMEOUT_MS 60000
#define HANDOVER_MAX_LAG 1048576
#define HANDOVER_RETRY_MS 5000
#define RELEASE_MS 10000

char		shared_slot_name[64];

static Stream *shared;
static PGconn *creating;		/* CREATE_REPLICATION_SLOT of the shared slot, sent */
static uint64_t shared_retry_at;
static int	shared_attempt;
static bool elsewhere;			/* another process streams the shared slot */
static char **set_keys;			/* sets of the running shared stream */
static int	nsets;

/* the handover in progress */
static Target *ho;
static int	ho_phase;			/* 1: shared paused for a restart; 2: own stops at H */
static uint64_t ho_lsn;
static uint64_t ho_started;
static bool fault_after_armed;
static Target *fault_after_target;

/* REINDEX_STREAMER_FAULT=handover_before|handover_at|handover_after: kill -9 there */
static void
fault_point(const char *name)
{
	const char *f = getenv("REINDEX_STREAMER_FAULT");

	if (f && strcmp(f, name) == 0)
	{
		log_warn(NULL, "fault injection: %s", name);
		raise(SIGKILL);
	}
}

/*
 * Test hooks: while the file named by the variable exists,
 * REINDEX_STREAMER_HOLD_HANDOVER holds a handover in step 2 (tests restart
 * Postgres there) and REINDEX_STREAMER_HOLD_SHARED_SLOT the shared slot's
 * creation (tests open a transaction first).
 */
static bool
held(const char *var)
{
	const char *f = getenv(var);

	return f && access(f, F_OK) == 0;
}

static bool
target_fed(const Target *t)
{
	return strcmp(t->state, "streaming") == 0 &&
		strcmp(t->job_state, "cancelled") != 0 && strcmp(t->job_state, "failed") != 0;
}

static char *
set_key(const Target *t)
{
	Buf			b = {0};

	buf_puts(&b, t->source_oid ? t->source_oid : "0");
	if (t->include_q)
		buf_printf(&b, "/include=%s", t->include_q);
	else if (t->exclude_q)
		buf_printf(&b, "/exclude=%s", t->exclude_q);
	return b.data;
}

static int
find_set(const char *key)
{
	int			i;

	for (i = 0; i < nsets; i++)
		if (strcmp(set_keys[i], key) == 0)
			return i;
	return -1;
}

static void
free_sets(void)
{
	while (nsets > 0)
		free(set_keys[--nsets]);
	free(set_keys);
	set_keys = NULL;
}

static int
add_set(char *key)
{
	int			k = find_set(key);

	if (k >= 0)
	{
		free(key);
		return k;
	}
	set_keys = realloc(set_keys, sizeof(char *) * (nsets + 1));
	if (!set_keys)
		fatal("out of memory");
	set_keys[nsets] = key;
	return nsets++;
}

static void
own_slot_name(const Target *t, char *out, size_t n)
{
	snprintf(out, n, "reindex_%" PRId64, t->id);
}

Stream *
shared_stream(void)
{
	return shared;
}

bool
shared_elsewhere(void)
{
	return elsewhere;
}

/* Is t fed by the shared stream of this process (gated or not)? */
bool
shared_feeds(const Target *t)
{
	return shared && stream_has_member(shared, t);
}

static void
close_shared(void)
{
	if (shared)
	{
		stream_close(shared);
		shared = NULL;
	}
	free_sets();
}

static void
abort_handover(const char *why)
{
	Target	   *t = ho;

	if (!t)
		return;
	log_info(t->index_name, "handover to the shared slot abandoned (%s); retrying later", why);
	if (shared)
	{
		stream_pause(shared, false);
		if (stream_has_member(shared, t))
			stream_remove_member(shared, t);
	}
	if (t->stream && ho_phase == 2)
	{
		/* it stopped reading at H: start it again from its confirmed position */
		stream_close(t->stream);
		t->stream = NULL;
	}
	t->retry_at_ms = now_ms() + 500;
	t->handover_retry_at = now_ms() + HANDOVER_RETRY_MS;
	ho = NULL;
	ho_phase = 0;
}

/*
 * Open the shared stream from the slot's confirmed position with every
 * target the catalog says is fed through it, plus extra (gated) if given.
 */
static bool
open_shared(Target **targets, int n, Target *extra, uint64_t extra_skip, uint64_t start)
{
	StreamMember *mem = calloc(n + 1, sizeof(StreamMember));
	int			nmem = 0,
				i;
	Buf			opts = {0};
	char	   *err = NULL;
	uint64_t	confirmed = 0;
	int			exists;

	if (!mem)
		fatal("out of memory");
	free_sets();
	exists = catalog_slot_exists(main_cat, shared_slot_name, &confirmed);
	if (exists != 1)
	{
		free(mem);
		return false;
	}
	if (start == 0)
		start = confirmed;
	for (i = 0; i < n; i++)
	{
		Target	   *t = targets[i];

		if (!t->shared || !target_fed(t))
			continue;
		mem[nmem].t = t;
		mem[nmem].set = add_set(set_key(t));
		mem[nmem].skip_le = t->handover_lsn > t->confirmed_lsn ? t->handover_lsn : t->confirmed_lsn;
		mem[nmem].gated = false;
		nmem++;
	}
	if (extra)
	{
		mem[nmem].t = extra;
		mem[nmem].set = add_set(set_key(extra));
		mem[nmem].skip_le = extra_skip;
		mem[nmem].gated = true;
		nmem++;
	}
	buf_puts(&opts, "");
	for (i = 0; i < nsets; i++)
		buf_printf(&opts, "%s%s", i ? " " : "", set_keys[i]);
	shared = stream_open(shared_slot_name, start, opts.data, mem, nmem, &err);
	if (!shared)
	{
		if (err && strstr(err, "is active for PID"))
		{
			if (!elsewhere)
				log_info(NULL, "the shared slot %s is streamed by another process", shared_slot_name);
			elsewhere = true;
		}
		else
			log_warn(NULL, "could not stream the shared slot %s: %s", shared_slot_name,
					 err ? err : "unknown error");
		if (slot_lost_error(err))
		{
			int			fed = 0;

			/* what the slot no longer has can never reach its targets' indexes */
			for (i = 0; i < nmem; i++)
				if (mem[i].t != extra)
				{
					slot_invalidated(mem[i].t);
					fed++;
				}

			/*
			 * Once no target is fed by it (their indexes were rebuilt and the
			 * old ones retired), the lost slot is dropped, so that the next
			 * handover creates it again: none of its events can be skipped,
			 * since nobody is left to miss them.
			 */
			if (fed == 0)
			{
				log_info(NULL, "dropping the shared slot %s: the server invalidated it and no target is "
						 "fed by it any more; it is created again for the next handover", shared_slot_name);
				catalog_drop_slot(main_cat, shared_slot_name);
			}
		}
		free_sets();
		shared_retry_at = now_ms() + backoff_ms(shared_attempt++);
		if (shared_retry_at < now_ms() + 1000)
			shared_retry_at = now_ms() + 1000;
	}
	else
	{
		char		l[32];

		format_lsn(start, l);
		if (elsewhere)
			log_info(NULL, "the shared slot %s is ours now", shared_slot_name);
		elsewhere = false;
		shared_attempt = 0;
		log_info(NULL, "streaming the shared slot %s from %s for %d targets in %d sets",
				 shared_slot_name, l, nmem, nsets);
	}
	free(err);
	buf_free(&opts);
	free(mem);
	return shared != NULL;
}

/*
 * Creating the shared slot waits for every transaction running at that
 * moment, for instance a DBA's reindex_swap_alias() waiting for this very
 * streamer to confirm a target's position.  So it is sent without waiting:
 * every stream goes on meanwhile, and create_shared_slot_poll() takes the
 * answer when it comes (the main loop polls shared_creating_socket()).  A lock
 * timeout ends a wait that lasts too long; it is tried again later.
 */
static void
create_shared_slot_start(void)
{
	char	   *err = NULL;

	creating = catalog_connect(opt.conninfo, true, "-c lock_timeout=30s");
	if (!creating)
	{
		shared_retry_at = now_ms() + 1000;
		return;
	}
	if (!repl_send_create_slot(creating, shared_slot_name, false, false, &err))
	{
		log_warn(NULL, "could not create the shared slot %s: %s", shared_slot_name,
				 err ? err : "unknown error");
		free(err);
		PQfinish(creating);
		creating = NULL;
		shared_retry_at = now_ms() + backoff_ms(shared_attempt++);
		return;
	}
	log_debug(NULL, "creating the shared slot %s", shared_slot_name);
}

/* -1 while the creation runs; 1 once it created the slot; 0 otherwise */
static int
create_shared_slot_poll(void)
{
	uint64_t	cp = 0;
	char	   *err = NULL;
	int			rc;

	if (!creating)
		return 0;
	rc = repl_create_slot_answer(creating, false, &cp, NULL, &err);
	if (rc == 0)
		return -1;
	if (rc == 1)
	{
		char		l[32];

		format_lsn(cp, l);
		log_info(NULL, "shared slot %s created at %s", shared_slot_name, l);
	}
	else if (!err || !strstr(err, "already exists"))
	{
		log_warn(NULL, "could not create the shared slot %s: %s", shared_slot_name,
				 err ? err : "unknown error");
		shared_retry_at = now_ms() + backoff_ms(shared_attempt++);
	}
	free(err);
	PQfinish(creating);
	creating = NULL;
	return rc == 1 ? 1 : 0;
}

/* The socket of the shared slot's creation in progress, or -1. */
int
shared_creating_socket(void)
{
	return creating ? PQsocket(creating) : -1;
}

/* Left over by a crash between a handover's commit and the drop, or a detach. */
static void
drop_leftover_own_slots(Target **targets, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		char		own[64];

		if (!targets[i]->shared)
			continue;
		own_slot_name(targets[i], own, sizeof(own));
		if (catalog_slot_exists(main_cat, own, NULL) == 1)
		{
			log_info(targets[i]->index_name, "dropping slot %s: the target is fed by the shared slot",
					 own);
			catalog_drop_slot(main_cat, own);
		}
	}
}

static bool
handover_candidate(Target *t, uint64_t now)
{
	uint64_t	limit = t->ready_lag_bytes > 0 && t->ready_lag_bytes < HANDOVER_MAX_LAG ?
		(uint64_t) t->ready_lag_bytes : HANDOVER_MAX_LAG;

	return !t->shared && t->stream && target_fed(t) &&
		strcmp(t->job_state, "backfilling") != 0 && now >= t->handover_retry_at &&
		t->server_wal_end > 0 && t->server_wal_end <= t->confirmed_lsn + limit;
}

/* Step 1 with the set in the running stream: T joins it at once. */
static bool
begin_in_place(Target *t)
{
	int			k;
	char	   *key = set_key(t);
	StreamMember sm;
	uint64_t	a = stream_position(shared),
				b = stream_position(t->stream);

	k = find_set(key);
	free(key);
	if (k < 0 || !stream_between_txns(shared))
		return false;
	ho_lsn = a > b ? a : b;
	sm.t = t;
	sm.set = k;
	sm.skip_le = ho_lsn;
	sm.gated = true;
	stream_add_member(shared, &sm);
	stream_set_stop(t->stream, ho_lsn);
	ho_phase = 2;
	return true;
}

static void
start_handover(Target *t)
{
	char		l[32];

	ho = t;
	ho_started = now_ms();
	if (!begin_in_place(t))
	{
		stream_pause(shared, true);
		ho_phase = 1;
		log_info(t->index_name, "handover to the shared slot: draining it to add a set");
		return;
	}
	format_lsn(ho_lsn, l);
	log_info(t->index_name, "handover to the shared slot at %s (joins set of the running stream)", l);
}

static void
restart_for_handover(Target **targets, int n)
{
	Target	   *t = ho;
	uint64_t	c = stream_confirmed(shared);
	uint64_t	b = stream_position(t->stream);
	char		l[32];

	ho_lsn = c > b ? c : b;
	close_shared();
	if (!open_shared(targets, n, t, ho_lsn, c))
	{
		abort_handover("could not restart the shared stream");
		return;
	}
	stream_set_stop(t->stream, ho_lsn);
	ho_phase = 2;
	format_lsn(ho_lsn, l);
	log_info(t->index_name, "handover to the shared slot at %s (shared stream restarted with its set)", l);
}

static void
finish_handover(void)
{
	Target	   *t = ho;
	char		own[64],
				l[32];
	int			rc;

	fault_point("handover_before");
	rc = catalog_commit_handover(main_cat, t, shared_slot_name, ho_lsn);
	if (rc < 0 && PQstatus(main_cat) != CONNECTION_OK)
	{
		/*
		 * Committed or not, we cannot tell: keep the gate shut (the shared
		 * slot stays below T's first gated event) and let the lost-catalog
		 * path close every stream; the catalog decides after the reconnect.
		 */
		ho = NULL;
		ho_phase = 0;
		return;
	}
	if (rc != 1)
	{
		abort_handover("the catalog row changed");
		return;
	}
	fault_point("handover_at");
	t->shared = true;
	free(t->slot_name);
	t->slot_name = strdup(shared_slot_name);
	t->handover_lsn = ho_lsn;
	if (ho_lsn > t->confirmed_lsn)
		t->confirmed_lsn = ho_lsn;
	stream_set_gate(shared, t, false);
	stream_close(t->stream);
	t->stream = NULL;
	own_slot_name(t, own, sizeof(own));
	catalog_drop_slot(main_cat, own);
	format_lsn(ho_lsn, l);
	log_info(t->index_name, "handed over to the shared slot at %s; slot %s dropped", l, own);
	target_set_error(t, "%s", "");
	catalog_clear_error(main_cat, t);
	if (getenv("REINDEX_STREAMER_FAULT") && strcmp(getenv("REINDEX_STREAMER_FAULT"), "handover_after") == 0)
	{
		fault_after_armed = true;
		fault_after_target = t;
	}
	ho = NULL;
	ho_phase = 0;
}

static bool
detach(Target *t, const char *reason)
{
	char		own[64];
	uint64_t	d = t->confirmed_lsn;
	char		l[32];
	int			rc;

	own_slot_name(t, own, sizeof(own));
	if (catalog_slot_exists(main_cat, own, NULL) == 1)
		catalog_drop_slot(main_cat, own);
	if (!catalog_copy_slot(main_cat, shared_slot_name, own))
	{
		t->handover_retry_at = now_ms() + HANDOVER_RETRY_MS;
		return false;
	}
	rc = catalog_commit_detach(main_cat, t, own, d, reason);
	if (rc < 0 && PQstatus(main_cat) != CONNECTION_OK)
		return false;			/* the catalog decides after the reconnect */
	if (rc != 1)
	{
		catalog_drop_slot(main_cat, own);
		return false;
	}
	stream_remove_member(shared, t);
	t->shared = false;
	free(t->slot_name);
	t->slot_name = strdup(own);
	t->confirmed_lsn = d;
	t->retry_at_ms = 0;
	t->handover_retry_at = now_ms() + HANDOVER_RETRY_MS;
	target_set_error(t, "detached from the shared slot: %s", reason);
	format_lsn(d, l);
	log_warn(t->index_name, "detached from the shared slot at %s (%s); streaming from slot %s",
			 l, reason, own);
	return true;
}

bool
shared_detach(Target *t, const char *why)
{
	if (!t->shared || !shared_feeds(t))
		return false;
	return detach(t, why);
}

static void
check_detach(Target **targets, int n)
{
	uint64_t	now = now_ms(),
				pos = stream_position(shared);
	int			i,
				members = 0;

	for (i = 0; i < n; i++)
		if (stream_has_member(shared, targets[i]))
			members++;
	if (members < 2)
		return;
	for (i = 0; i < n; i++)
	{
		Target	   *t = targets[i];
		uint64_t	oldest;
		char		reason[200];

		if (!t->shared || !stream_has_member(shared, t))
			continue;
		oldest = stream_member_oldest_ms(shared, t);
		reason[0] = '\0';
		if (opt.detach_lag_bytes > 0 && pos > t->confirmed_lsn &&
			(int64_t) (pos - t->confirmed_lsn) > opt.detach_lag_bytes)
			snprintf(reason, sizeof(reason), "%" PRIu64 " bytes behind the shared slot (limit %" PRId64 ")",
					 pos - t->confirmed_lsn, opt.detach_lag_bytes);
		else if (opt.detach_after_ms > 0 && oldest && now - oldest > (uint64_t) opt.detach_after_ms)
			snprintf(reason, sizeof(reason), "its oldest event waited %" PRIu64 " ms (limit %d ms)",
					 now - oldest, opt.detach_after_ms);
		if (reason[0])
		{
			detach(t, reason);
			return;				/* one at a time: positions moved */
		}
	}
}

/* Own streams of caught-up targets go to the process holding the shared slot. */
static void
release_to_holder(Target **targets, int n)
{
	uint64_t	now = now_ms();
	int			i;

	for (i = 0; i < n; i++)
	{
		Target	   *t = targets[i];

		if (handover_candidate(t, now))
		{
			log_info(t->index_name, "releasing slot %s to the process streaming the shared slot",
					 t->slot_name);
			stream_close(t->stream);
			t->stream = NULL;
			t->retry_at_ms = now + RELEASE_MS;
		}
	}
}

/* Step 2 learns the own walsender's position from keepalives: ask, 10/s. */
static void
ask_own_position(uint64_t now)
{
	static uint64_t last;

	if (now - last >= 100)
	{
		stream_request_reply(ho->stream);
		last = now;
	}
}

void
shared_drive(Target **targets, int n)
{
	uint64_t	now = now_ms();
	int			i;
	bool		want = false;

	if (!shared_slot_name[0] &&
		!catalog_shared_slot_name(main_cat, shared_slot_name, sizeof(shared_slot_name)))
		return;
	if (fault_after_armed && fault_after_target->confirmed_lsn > fault_after_target->handover_lsn)
		fault_point("handover_after");
	for (i = 0; i < n; i++)
		if (targets[i]->shared && target_fed(targets[i]))
			want = true;

	if (shared)
	{
		/* a catalog-shared target we do not feed: restart to include it */
		for (i = 0; i < n && ho_phase != 1; i++)
			if (targets[i]->shared && target_fed(targets[i]) &&
				!stream_has_member(shared, targets[i]))
			{
				log_info(targets[i]->index_name, "restarting the shared stream to include it");
				if (ho)
					abort_handover("shared stream restart");
				close_shared();
				break;
			}
	}
	if (!shared && !shutdown_requested)
	{
		int			created = create_shared_slot_poll();
		bool		candidate = false;

		for (i = 0; i < n; i++)
			if (handover_candidate(targets[i], now))
				candidate = true;
		if (created > 0 || (created == 0 && now_ms() >= shared_retry_at && (want || candidate)))
		{
			/*
			 * A slot just created is streamed even if its candidate went
			 * away meanwhile (cancelled): a slot nobody reads holds WAL.
			 */
			int			exists = created ? 1 : catalog_slot_exists(main_cat, shared_slot_name, NULL);

			if (exists == 0 && candidate && !held("REINDEX_STREAMER_HOLD_SHARED_SLOT"))
				create_shared_slot_start();
			else if (exists == 1 || (exists == 0 && want))
			{
				drop_leftover_own_slots(targets, n);
				open_shared(targets, n, NULL, 0, 0);
			}
		}
	}
	if (elsewhere)
	{
		release_to_holder(targets, n);
		return;
	}
	if (!shared || shutdown_requested)
		return;

	if (ho)
	{
		if (!ho->stream)
			abort_handover("its own stream ended");
		else if (ho_phase == 2 && held("REINDEX_STREAMER_HOLD_HANDOVER"))
			ask_own_position(now);
		else if (now - ho_started > HANDOVER_TIMEOUT_MS)
			abort_handover("timed out");
		else if (ho_phase == 1 && stream_idle(shared))
			restart_for_handover(targets, n);
		else if (ho_phase == 2 && stream_stop_done(ho->stream))
			finish_handover();
		else if (ho_phase == 2)
			ask_own_position(now);
		return;
	}
	for (i = 0; i < n; i++)
		if (handover_candidate(targets[i], now))
		{
			start_handover(targets[i]);
			return;
		}
	check_detach(targets, n);
}

/* t stops being fed (retired, gone): out of the shared stream and any handover. */
void
shared_forget(Target *t)
{
	if (ho == t)
		abort_handover("the target is retiring");
	if (fault_after_target == t)
	{
		fault_after_armed = false;
		fault_after_target = NULL;
	}
	if (shared && stream_has_member(shared, t))
		stream_remove_member(shared, t);
}

/* The shared stream ended (stream_work said so): close it, retry later. */
void
shared_broken(void)
{
	if (ho)
		abort_handover("the shared stream ended");
	close_shared();
	shared_retry_at = now_ms() + backoff_ms(shared_attempt++);
}

/* Work of the shared stream; false when it ended (it is closed, retried later). */
bool
shared_work(void)
{
	if (!shared)
		return true;
	if (stream_work(shared))
		return true;
	shared_broken();
	return false;
}

void
shared_close(void)
{
	if (creating)
	{
		/* the server drops a slot whose creation did not end */
		PQfinish(creating);
		creating = NULL;
	}
	if (ho)
	{
		/* gate kept shut: the shared slot stays below the handover's events */
		ho = NULL;
		ho_phase = 0;
	}
	close_shared();
}
