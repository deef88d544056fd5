/*
 * main.c: reindex_streamer's command line, signals and main loop.
 *
 * Owns: option parsing (the contract in README.md), the catalog connection
 * with LISTEN reindex and its reconnects, the per-target state machine
 * (backfilling -> streaming -> retiring -> retired/dropped, plus cancelled
 * and failed jobs), the status tick (catalog progress, lag, job transitions
 * catching_up <-> ready <-> needs_attention), replays, the --once / --until-lsn exit conditions and the
 * clean shutdown (flush, confirm, exit 0).  reindex_verify runs are claimed
 * and reaped here (verify_tick) and run on threads of their own (verify.c).
 *
 * Invariants: one thread runs this loop and everything touching streams;
 * a target's stream is opened only when the catalog says streaming, i.e.
 * after its backfill completed (I2); the catalog is re-read on every NOTIFY
 * and at least every few seconds (I5: the catalog is the truth).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "backfill.h"
#include "buf.h"
#include "catalog.h"
#include "clock.h"
#include "endpoint.h"
#include "es_client.h"
#include "handover.h"
#include "log.h"
#include "main.h"
#include "metrics.h"
#include "options.h"
#include "pg_text.h"
#include "replay.h"
#include "status.h"
#include "stream.h"
#include "target.h"
#include "verify.h"

#define RELOAD_INTERVAL_MS 5000
#define SUMMARY_INTERVAL_MS 30000
#define SHUTDOWN_GRACE_MS 30000

Options		opt;
volatile sig_atomic_t shutdown_requested;
PGconn	   *main_cat;

static Target **targets;
static int	ntargets;

static void
on_signal(int sig)
{
	(void) sig;
	shutdown_requested = 1;
}

static void
usage(void)
{
	printf("reindex_streamer streams PostgreSQL changes into Elasticsearch/OpenSearch indexes\n"
		   "for the reindex extension: backfill, catch-up and dual feeding until the alias swap.\n\n"
		   "Usage:\n  reindex_streamer -d CONNINFO [OPTION]...\n\n"
		   "Options:\n"
		   "  -d, --dbname=CONNINFO      database to serve (libpq conninfo or URI)\n"
		   "      --once                 exit once every target is backfilled, caught up and acknowledged\n"
		   "      --until-lsn=LSN        exit once every target has confirmed at least LSN\n"
		   "      --backfill-workers=N   parallel backfill readers per target (default: job option, else 2)\n"
		   "      --batch-bytes=N        maximum _bulk body size (default 8388608)\n"
		   "      --batch-docs=N         maximum actions per _bulk request (default 5000)\n"
		   "      --flush-interval=MS    maximum time an action waits in a batch (default 50)\n"
		   "      --max-inflight=N       concurrent _bulk requests per target (default 2)\n"
		   "      --status-interval=MS   catalog progress write interval (default 1000)\n"
		   "      --alias-check-interval=MS  how often aliases are compared with the catalog and\n"
		   "                             repaired (default 5000; 0 = never)\n"
		   "      --request-timeout=SECONDS  time limit of every HTTP request to the cluster;\n"
		   "                             a request that exceeds it is retried (default 120)\n"
		   "      --detach-lag-bytes=N   detach a target from the shared slot when it is this far\n"
		   "                             behind the others (default 1073741824; 0 = never)\n"
		   "      --detach-after=MS      ... or when its oldest event has waited this long\n"
		   "                             (default 300000; 0 = never)\n"
		   "      --log-format=text|json log format (default text)\n"
		   "      --metrics-address=HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics\n"
		   "      --compress             gzip _bulk request bodies\n"
		   "      --id=NAME              streamer identity (default host:pid)\n"
		   "      --no-progress          no progress bar on a terminal\n"
		   "  -v, --verbose              debug logging\n"
		   "  -V, --version              print the version and exit\n"
		   "  -?, --help                 show this help and exit\n");
}

static long
parse_num(const char *name, const char *s, long min, long max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
	{
		fprintf(stderr, "reindex_streamer: invalid value \"%s\" for %s (expected %ld..%ld)\n",
				s, name, min, max);
		exit(2);
	}
	return v;
}

static void
parse_options(int argc, char **argv)
{
	static struct option longopts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"once", no_argument, NULL, 1},
		{"until-lsn", required_argument, NULL, 2},
		{"backfill-workers", required_argument, NULL, 3},
		{"batch-bytes", required_argument, NULL, 4},
		{"batch-docs", required_argument, NULL, 5},
		{"flush-interval", required_argument, NULL, 6},
		{"max-inflight", required_argument, NULL, 7},
		{"status-interval", required_argument, NULL, 8},
		{"log-format", required_argument, NULL, 9},
		{"id", required_argument, NULL, 10},
		{"no-progress", no_argument, NULL, 11},
		{"alias-check-interval", required_argument, NULL, 12},
		{"metrics-address", required_argument, NULL, 13},
		{"compress", no_argument, NULL, 14},
		{"request-timeout", required_argument, NULL, 15},
		{"detach-lag-bytes", required_argument, NULL, 16},
		{"detach-after", required_argument, NULL, 17},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	char		host[200];

	opt.batch_bytes = 8 * 1024 * 1024;
	opt.batch_docs = 5000;
	opt.flush_interval_ms = 50;
	opt.max_inflight = 2;
	opt.status_interval_ms = 1000;
	opt.alias_check_interval_ms = 5000;
	opt.request_timeout_ms = 120000;
	opt.detach_lag_bytes = 1073741824;
	opt.detach_after_ms = 300000;
	opt.progress = true;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(opt.id, sizeof(opt.id), "%s:%d", host, (int) getpid());

	while ((c = getopt_long(argc, argv, "d:vV?", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				opt.conninfo = optarg;
				break;
			case 1:
				opt.once = true;
				break;
			case 2:
				if (!parse_lsn(optarg, &opt.until_lsn))
				{
					fprintf(stderr, "reindex_streamer: invalid LSN \"%s\"\n", optarg);
					exit(2);
				}
				opt.has_until_lsn = true;
				break;
			case 3:
				opt.backfill_workers = (int) parse_num("--backfill-workers", optarg, 1, 64);
				break;
			case 4:
				opt.batch_bytes = (size_t) parse_num("--batch-bytes", optarg, 1024, 90L * 1024 * 1024);
				break;
			case 5:
				opt.batch_docs = (int) parse_num("--batch-docs", optarg, 1, 1000000);
				break;
			case 6:
				opt.flush_interval_ms = (int) parse_num("--flush-interval", optarg, 0, 600000);
				break;
			case 7:
				opt.max_inflight = (int) parse_num("--max-inflight", optarg, 1, 64);
				break;
			case 8:
				opt.status_interval_ms = (int) parse_num("--status-interval", optarg, 10, 3600000);
				break;
			case 9:
				if (strcmp(optarg, "json") == 0)
					opt.log_json = true;
				else if (strcmp(optarg, "text") == 0)
					opt.log_json = false;
				else
				{
					fprintf(stderr, "reindex_streamer: --log-format must be text or json\n");
					exit(2);
				}
				break;
			case 10:
				snprintf(opt.id, sizeof(opt.id), "%s", optarg);
				break;
			case 11:
				opt.progress = false;
				break;
			case 12:
				opt.alias_check_interval_ms = (int) parse_num("--alias-check-interval", optarg, 0, 86400000);
				break;
			case 13:
				opt.metrics_address = optarg;
				break;
			case 14:
				opt.compress = true;
				break;
			case 15:
				opt.request_timeout_ms = parse_num("--request-timeout", optarg, 1, 86400) * 1000;
				break;
			case 16:
				opt.detach_lag_bytes = parse_num("--detach-lag-bytes", optarg, 0, 0x7fffffffffffffffL);
				break;
			case 17:
				opt.detach_after_ms = (int) parse_num("--detach-after", optarg, 0, 86400000);
				break;
			case 'v':
				opt.verbose++;
				break;
			case 'V':
				printf("reindex_streamer %s\n", STREAMER_VERSION);
				exit(0);
			case '?':
				if (optopt)
				{
					fprintf(stderr, "Try \"reindex_streamer --help\" for more information.\n");
					exit(2);
				}
				usage();
				exit(0);
			default:
				fprintf(stderr, "Try \"reindex_streamer --help\" for more information.\n");
				exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "reindex_streamer: too many command-line arguments (first is \"%s\")\n",
				argv[optind]);
		exit(2);
	}
	if (!opt.conninfo)
	{
		fprintf(stderr, "reindex_streamer: no database given (-d CONNINFO)\n");
		exit(2);
	}
}

/*---- catalog connection ----*/

static bool
connect_catalog(void)
{
	static bool versions_logged = false;
	PGresult   *r;

	main_cat = catalog_connect(opt.conninfo, false, NULL);
	if (!main_cat)
		return false;
	/* a session lost right away (a server going down) has no version: retry */
	if (PQstatus(main_cat) != CONNECTION_OK || PQserverVersion(main_cat) == 0)
	{
		log_warn(NULL, "the catalog session was lost at once: %s", PQerrorMessage(main_cat));
		PQfinish(main_cat);
		main_cat = NULL;
		return false;
	}
	/* the replication commands used need 15's syntax; libpq itself may be older or newer */
	if (PQserverVersion(main_cat) < 150000)
		fatal("PostgreSQL %s is not supported: reindex_streamer needs PostgreSQL 15 or later",
			  PQparameterStatus(main_cat, "server_version"));
	if (!versions_logged)
		log_info(NULL, "connected to PostgreSQL %s with libpq %d.%d",
				 PQparameterStatus(main_cat, "server_version"),
				 PQlibVersion() / 10000, PQlibVersion() % 10000);
	versions_logged = true;
	r = PQexec(main_cat, "SELECT 1 FROM pg_extension WHERE extname = 'reindex'");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		/* a failed query is not a missing extension: reconnect and ask again */
		log_warn(NULL, "could not check for the extension: %s", PQerrorMessage(main_cat));
		PQclear(r);
		PQfinish(main_cat);
		main_cat = NULL;
		return false;
	}
	if (PQntuples(r) != 1)
	{
		PQclear(r);
		PQfinish(main_cat);
		main_cat = NULL;
		fatal("the extension \"reindex\" is not installed in this database (CREATE EXTENSION reindex)");
	}
	PQclear(r);
	if (!catalog_exec_ok(main_cat, "LISTEN reindex"))
	{
		PQfinish(main_cat);
		main_cat = NULL;
		return false;
	}
	PQsetnonblocking(main_cat, 0);
	return true;
}

/*---- per-target state machine ----*/

static void
stop_target(Target *t)
{
	shared_forget(t);
	if (t->stream)
	{
		stream_close(t->stream);
		t->stream = NULL;
	}
	if (t->bf)
	{
		backfill_free(t->bf);
		t->bf = NULL;
	}
	if (t->replay)
	{
		replay_free(t->replay);
		t->replay = NULL;
	}
}

static void
free_target(Target *t)
{
	stop_target(t);
	free(t->index_name);
	free(t->index_json);
	free(t->source);
	free(t->slot_name);
	free(t->source_oid);
	free(t->include_q);
	free(t->exclude_q);
	free(t->include_cols);
	free(t->exclude_cols);
	free(t->include_arr);
	free(t->exclude_arr);
	free(t->requested_settings);
	endpoint_free(&t->ep);
	pthread_mutex_destroy(&t->err_lock);
	free(t);
}

static void
retry_later(Target *t, uint64_t min_ms)
{
	uint64_t	d = backoff_ms(t->attempt++);

	t->retry_at_ms = now_ms() + (d > min_ms ? d : min_ms);
}

static bool
retiring(Target *t)
{
	return strcmp(t->state, "retiring") == 0 ||
		strcmp(t->job_state, "cancelled") == 0 || strcmp(t->job_state, "failed") == 0;
}

/* Stop feeding, drop the slot, optionally delete the index, mark retired. */
static void
retire_target(Target *t)
{
	int			exists;

	stop_target(t);
	/* the shared slot feeds others: only a slot of its own is dropped */
	exists = t->shared ? 0 : catalog_slot_exists(main_cat, t->slot_name, NULL);
	if (exists == 1 && !catalog_drop_slot(main_cat, t->slot_name))
	{
		retry_later(t, 1000);
		return;
	}
	if (exists < 0)
		return;
	if (t->drop_index)
	{
		EsResponse	resp = {0};
		Buf			path = {0};

		buf_printf(&path, "/%s", t->index_name);
		es_request_sync(&t->ep, "DELETE", path.data, NULL, 0, &resp, 30000);
		if (resp.http_status != 200 && resp.http_status != 404)
		{
			target_set_error(t, "could not delete index (HTTP %ld)", resp.http_status);
			buf_free(&path);
			es_response_free(&resp);
			retry_later(t, 1000);
			return;
		}
		buf_free(&path);
		es_response_free(&resp);
	}
	if (strcmp(t->state, "retiring") == 0 || strcmp(t->state, "streaming") == 0 ||
		strcmp(t->state, "backfilling") == 0)
	{
		catalog_set_target_state(main_cat, t, t->drop_index ? "dropped" : "retired");
		log_info(t->index_name, "target %" PRId64 " %s%s%s", t->id, t->state,
				 t->shared ? "" : "; slot dropped: ", t->shared ? "" : t->slot_name);
	}
}

/*
 * A stream broke (or could not start): remember the note it left.  Once a
 * stream of the target confirms past where this one stopped, the trouble
 * is over and the note is cleared (recovered_stream_error), so that
 * reindex_status does not show a past error as the present one.
 */
static void
note_stream_error(Target *t)
{
	pthread_mutex_lock(&t->err_lock);
	snprintf(t->stream_error, sizeof(t->stream_error), "%s", t->last_error);
	pthread_mutex_unlock(&t->err_lock);
	if (t->stream_error[0] && t->confirmed_lsn > t->stream_error_lsn)
		t->stream_error_lsn = t->confirmed_lsn;
}

static void
recovered_stream_error(Target *t)
{
	bool		same;

	if (!t->stream_error[0] || t->confirmed_lsn <= t->stream_error_lsn)
		return;
	pthread_mutex_lock(&t->err_lock);
	same = strcmp(t->last_error, t->stream_error) == 0;
	pthread_mutex_unlock(&t->err_lock);
	if (same)
	{
		log_info(t->index_name, "streaming again; cleared the note \"%s\"", t->stream_error);
		target_set_error(t, "%s", "");
		catalog_clear_error(main_cat, t);
	}
	t->stream_error[0] = '\0';
}

/*
 * Changes can no longer reach the target's index and nothing may pretend
 * otherwise: msg becomes the target's note and, when its job is active, the
 * job fails with it (its slot is then dropped by retire_target).
 */
static bool
job_active(const Target *t)
{
	return strcmp(t->job_state, "backfilling") == 0 || strcmp(t->job_state, "catching_up") == 0 ||
		strcmp(t->job_state, "ready") == 0 || strcmp(t->job_state, "swapped") == 0 ||
		strcmp(t->job_state, "rolled_back") == 0 || strcmp(t->job_state, "needs_attention") == 0;
}

static void
fail_target(Target *t, const char *msg)
{
	target_set_error(t, "%s", msg);
	catalog_write_note(main_cat, t);
	if (job_active(t))
	{
		char		from[32];

		snprintf(from, sizeof(from), "%s", t->job_state);
		if (catalog_set_job_state(main_cat, t, from, "failed", msg))
			log_error(t->index_name, "job %" PRId64 " failed: %s", t->job_id, msg);
	}
}

bool
slot_lost_error(const char *err)
{
	return err && (strstr(err, "can no longer get changes from replication slot") ||
				   strstr(err, "has been invalidated"));
}

/*
 * The server invalidated the target's slot (max_slot_wal_keep_size): the
 * WAL it still needed is gone.  For the shared slot (handover.c) every
 * target it feeds is failed so.
 */
void
slot_invalidated(Target *t)
{
	char		msg[400];

	snprintf(msg, sizeof(msg), "slot %s was invalidated by the server (max_slot_wal_keep_size): changes "
			 "since it fell behind can no longer reach index %s; a new snapshot is needed: cancel the "
			 "job and reindex again with reindex_begin()", t->slot_name, t->index_name);
	fail_target(t, msg);
}

/*
 * A write was answered index_not_found_exception: the index was deleted
 * behind our back, or the server restarted without it.  Its writes were
 * held unacknowledged (the slot never passed them, nothing was
 * dead-lettered) and the streamer never recreates an index: one created by
 * a write would have dynamic mappings and none of the backfilled rows.
 * A target without an active job (the live index of a finished job) keeps
 * its slot and tries again every minute, failing the same way until the
 * index is back.  On the shared slot its held changes would pin the slot
 * for every other target: it is detached first (its own slot, a copy of
 * the shared one at or below its position), and they are held there.  A
 * target whose job fails just leaves the shared stream, which goes on.
 */
static void
index_lost(Target *t)
{
	char		msg[512];

	snprintf(msg, sizeof(msg), "index %s no longer exists on the search cluster (deleted, or the server "
			 "restarted without it): its changes are held, nothing was dead-lettered and the streamer "
			 "does not recreate it; build it again from the table with reindex_begin() (cancel this "
			 "job first if it is still active)", t->index_name);
	if (!job_active(t) && t->shared)
	{
		char		why[200];

		/*
		 * Not fed at this moment (the shared stream is restarting, or it
		 * ended): stopping the target here would keep it out of the shared
		 * stream for a minute with nothing detached.  Its events come again
		 * when the stream includes it, fail again, and it is detached then.
		 */
		snprintf(why, sizeof(why), "index %s no longer exists", t->index_name);
		if (!shared_feeds(t) || !shared_detach(t, why))
		{
			/* still held by the shared stream; its retried writes say so again */
			atomic_store(&t->index_lost, false);
			return;
		}
	}
	if (job_active(t) && t->shared)
	{
		/*
		 * The job is failed before the target leaves the shared stream.  If
		 * that did not take (the job was finished meanwhile and the reload
		 * has not told us yet, or a DBA's call holds its row), the target
		 * stays: its retried writes fail again and it is decided then, by
		 * the job's state as the catalog has it (detached if finished).
		 */
		fail_target(t, msg);
		atomic_store(&t->index_lost, false);
		if (strcmp(t->job_state, "failed") == 0)
			stop_target(t);
		return;
	}
	stop_target(t);
	atomic_store(&t->index_lost, false);
	fail_target(t, msg);
	if (strcmp(t->job_state, "failed") != 0)
		t->retry_at_ms = now_ms() + 60000;
}

static void
drive_target(Target *t)
{
	uint64_t	now = now_ms();

	if (atomic_load(&t->index_lost))
		index_lost(t);
	if (retiring(t))
	{
		if (now >= t->retry_at_ms && strcmp(t->state, "retired") != 0 &&
			strcmp(t->state, "dropped") != 0)
			retire_target(t);
		return;
	}
	if (t->bf && strcmp(t->state, "backfilling") != 0)
	{
		bool		ok,
					completed;

		if (backfill_done(t->bf, &ok, &completed))
		{
			log_info(t->index_name, "backfill complete (%lld rows by this streamer)",
					 (long long) atomic_load(&t->c.rows_backfilled));
			backfill_free(t->bf);
			t->bf = NULL;
		}
	}
	if (strcmp(t->state, "backfilling") == 0)
	{
		bool		ok,
					completed;

		if (t->stream)
		{
			stream_close(t->stream);
			t->stream = NULL;
		}
		if (!t->bf && now >= t->retry_at_ms && !shutdown_requested &&
			strcmp(t->job_state, "needs_attention") != 0)	/* stopped early */
		{
			log_info(t->index_name, "backfill of %s starting", t->source);
			t->bf = backfill_start(t);
		}
		else if (t->bf && backfill_done(t->bf, &ok, &completed))
		{
			bool		stopped = !completed && backfill_stopped_early(t->bf);

			backfill_free(t->bf);
			if (stopped)
			{
				snprintf(t->job_state, sizeof(t->job_state), "needs_attention");
				/* no status tick writes for it until replayed: its counters now */
				catalog_write_status(main_cat, t, opt.id, false);
			}
			t->bf = NULL;
			if (completed)
			{
				log_info(t->index_name, "backfill complete (%lld rows by this streamer); streaming from %X/%X",
						 (long long) atomic_load(&t->c.rows_backfilled),
						 (unsigned int) (t->consistent_point >> 32),
						 (unsigned int) t->consistent_point);
				t->attempt = 0;
				t->retry_at_ms = 0;
			}
			else if (ok)
				t->retry_at_ms = now + 500;	/* others hold chunks: check again */
			else
				retry_later(t, 1000);
		}
	}
	replay_drive(t);
	if (strcmp(t->state, "streaming") == 0 && !t->shared && !t->stream && now >= t->retry_at_ms &&
		!shutdown_requested)
	{
		char	   *err = NULL;

		t->stream = stream_open_own(t, &err);
		if (t->stream)
		{
			char		lsn[32];

			format_lsn(t->confirmed_lsn, lsn);
			log_info(t->index_name, "streaming slot %s from %s", t->slot_name, lsn);
			t->attempt = 0;
		}
		else
		{
			if (err && strstr(err, "is active for PID"))
				log_debug(t->index_name, "slot %s is streamed by another process", t->slot_name);
			else if (slot_lost_error(err))
				slot_invalidated(t);
			else
			{
				target_set_error(t, "could not start streaming: %s", err ? err : "unknown error");
				note_stream_error(t);
			}
			retry_later(t, 1000);
		}
		free(err);
	}
}

/*---- status tick ----*/

/* The stream feeding t in this process: its own, the shared one, or none. */
static Stream *
feeding(Target *t)
{
	if (t->stream)
		return t->stream;
	if (shared_feeds(t))
		return shared_stream();
	return NULL;
}

static void
status_tick(bool final)
{
	uint64_t	cur = catalog_current_wal_lsn(main_cat);
	int			i;

	for (i = 0; i < ntargets; i++)
	{
		Target	   *t = targets[i];
		Stream	   *s = feeding(t);

		if (s)
		{
			uint64_t	oldest = t->stream ? stream_oldest_unacked_ms(s) :
				stream_member_oldest_ms(s, t);

			recovered_stream_error(t);
			t->lag_bytes = cur > t->confirmed_lsn ? cur - t->confirmed_lsn : 0;
			t->lag_seconds = oldest ? (now_ms() - oldest) / 1000.0 : 0;
			catalog_write_status(main_cat, t, opt.id, true);
			if (!final)
			{
				char		was[32];

				/* ready needs lag under the threshold and refusals within the budget */
				snprintf(was, sizeof(was), "%s", t->job_state);
				if (catalog_update_readiness(main_cat, t,
											 (int64_t) t->lag_bytes < t->ready_lag_bytes))
					log_info(t->index_name, "job %" PRId64 " %s -> %s (lag %" PRIu64
							 " bytes, threshold %" PRId64 ")", t->job_id, was, t->job_state,
							 t->lag_bytes, t->ready_lag_bytes);
			}
		}
		else if (t->bf)
			catalog_write_status(main_cat, t, opt.id, false);
	}
}

/*
 * --once: every active target streams with nothing unacknowledged and has
 * confirmed the WAL position taken when all of them first looked idle.
 */
static bool
once_satisfied(uint64_t *mark)
{
	int			i;

	for (i = 0; i < ntargets; i++)
	{
		Target	   *t = targets[i];
		Stream	   *s = feeding(t);

		if (retiring(t))
			return false;	/* still to retire (seen again after it is done) */
		if (t->replay || t->replay_pending)
			return false;
		if (strcmp(t->state, "backfilling") == 0 && !t->bf &&
			strcmp(t->job_state, "needs_attention") == 0)
			continue;		/* stopped early: waits for reindex_replay() */
		if (strcmp(t->state, "streaming") != 0 || !s || !stream_idle(s))
		{
			*mark = 0;
			return false;
		}
		if (strcmp(t->job_state, "backfilling") == 0)
			return false;
	}
	if (*mark == 0)
	{
		*mark = catalog_current_wal_lsn(main_cat);
		for (i = 0; i < ntargets; i++)
			if (feeding(targets[i]))
				stream_request_reply(feeding(targets[i]));
		return false;
	}
	for (i = 0; i < ntargets; i++)
		if (feeding(targets[i]) && targets[i]->confirmed_lsn < *mark)
		{
			stream_request_reply(feeding(targets[i]));
			return false;
		}
	for (i = 0; i < ntargets; i++)
	{
		Target	   *t = targets[i];

		if (strcmp(t->job_state, "catching_up") == 0)
		{
			status_tick(false);
			if (strcmp(t->job_state, "catching_up") == 0)
				return false;
		}
	}
	return true;
}

static bool
until_satisfied(void)
{
	int			i;

	for (i = 0; i < ntargets; i++)
	{
		Target	   *t = targets[i];
		Stream	   *s = feeding(t);

		if (retiring(t))
			continue;
		if (!s || t->confirmed_lsn < opt.until_lsn)
		{
			if (s)
				stream_request_reply(s);
			return false;
		}
	}
	return true;
}

static void
reload_targets(void)
{
	int			i,
				j;

	if (catalog_load_targets(main_cat, &targets, &ntargets) < 0)
		return;
	for (i = 0, j = 0; i < ntargets; i++)
	{
		if (targets[i]->seen)
			targets[j++] = targets[i];
		else
		{
			log_info(targets[i]->index_name, "target %" PRId64 " is no longer active",
					 targets[i]->id);
			free_target(targets[i]);
		}
	}
	ntargets = j;
}

static void
shutdown_streams(void)
{
	uint64_t	deadline = now_ms() + SHUTDOWN_GRACE_MS;
	int			i;
	bool		busy = true;

	for (i = 0; i < ntargets; i++)
	{
		if (targets[i]->bf)
		{
			backfill_free(targets[i]->bf);
			targets[i]->bf = NULL;
		}
		if (targets[i]->stream)
			stream_set_draining(targets[i]->stream);
	}
	if (shared_stream())
		stream_set_draining(shared_stream());
	while (busy && now_ms() < deadline)
	{
		busy = false;
		if (shared_stream() && shared_work() && !stream_drained(shared_stream()))
			busy = true;
		for (i = 0; i < ntargets; i++)
		{
			Target	   *t = targets[i];

			if (!t->stream)
				continue;
			if (!stream_work(t->stream))
			{
				stream_close(t->stream);
				t->stream = NULL;
				continue;
			}
			if (!stream_drained(t->stream))
				busy = true;
		}
		if (busy)
			es_poll(NULL, NULL, 0, 20);
	}
	if (main_cat)
		status_tick(true);
	shared_close();
	for (i = 0; i < ntargets; i++)
		stop_target(targets[i]);
}

/* Wait ms with nothing to stream (catalog unreachable): metrics stay served. */
static void
poll_idle(int ms)
{
	int			fds[16];
	short		ev[16];
	int			n = metrics_poll_fds(fds, ev, 16);

	es_poll(fds, ev, n, ms);
	metrics_serve(fds, ev, n, targets, ntargets);
}

int
main(int argc, char **argv)
{
	uint64_t	last_reload = 0,
				last_status = 0,
				last_summary = 0,
				last_alias_check = 0,
				once_mark = 0;
	int			cat_attempt = 0;
	bool		need_reload = true;
	struct sigaction sa;

	parse_options(argc, argv);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned int) (getpid() ^ now_ms()));
	es_global_init();
	log_info(NULL, "reindex_streamer %s starting as %s", STREAMER_VERSION, opt.id);
	if (opt.metrics_address)
		metrics_listen(opt.metrics_address);

	while (!shutdown_requested)
	{
		int			fds[64];
		short		ev[64];
		Target	   *owner[64];
		int			nfds = 0,
					i,
					mfirst,
					timeout = 100;
		uint64_t	now;

		if (!main_cat || PQstatus(main_cat) != CONNECTION_OK)
		{
			if (main_cat)
			{
				log_warn(NULL, "lost the catalog connection; reconnecting");
				metrics_count_reconnect();
				PQfinish(main_cat);
				main_cat = NULL;

				/*
				 * The server is most likely going down.  Its walsenders wait
				 * for us to confirm everything they sent before they exit, so
				 * a stream left unserviced while we retry would hold a
				 * shutdown for wal_sender_timeout.  Drain, confirm and close
				 * every stream now; reload_targets() restarts them.
				 */
				shutdown_streams();
			}
			if (!connect_catalog())
			{
				uint64_t	wait = backoff_ms(cat_attempt++);
				uint64_t	until = now_ms() + wait;

				while (!shutdown_requested && now_ms() < until)
					poll_idle(50);
				continue;
			}
			cat_attempt = 0;
			need_reload = true;
		}
		now = now_ms();
		if (need_reload || now - last_reload >= RELOAD_INTERVAL_MS)
		{
			reload_targets();
			last_reload = now;
			need_reload = false;
		}
		for (i = 0; i < ntargets; i++)
			drive_target(targets[i]);
		shared_drive(targets, ntargets);

		fds[nfds] = PQsocket(main_cat);
		ev[nfds] = POLLIN;
		owner[nfds++] = NULL;
		if (shared_stream())
		{
			int			to = stream_timeout_ms(shared_stream());

			fds[nfds] = stream_socket(shared_stream());
			ev[nfds] = stream_poll_events(shared_stream());
			owner[nfds++] = NULL;
			if (to < timeout)
				timeout = to;
		}
		if (shared_creating_socket() >= 0)
		{
			fds[nfds] = shared_creating_socket();
			ev[nfds] = POLLIN;
			owner[nfds++] = NULL;
		}
		for (i = 0; i < ntargets && nfds < 64; i++)
		{
			Target	   *t = targets[i];

			if (t->stream)
			{
				int			to = stream_timeout_ms(t->stream);

				fds[nfds] = stream_socket(t->stream);
				ev[nfds] = stream_poll_events(t->stream);
				owner[nfds++] = t;
				if (to < timeout)
					timeout = to;
			}
		}
		mfirst = nfds;
		nfds += metrics_poll_fds(fds + nfds, ev + nfds, 64 - nfds);
		es_poll(fds, ev, nfds, timeout);
		metrics_serve(fds + mfirst, ev + mfirst, nfds - mfirst, targets, ntargets);

		if (PQconsumeInput(main_cat))
		{
			PGnotify   *n;

			while ((n = PQnotifies(main_cat)) != NULL)
			{
				need_reload = true;
				PQfreemem(n);
			}
		}
		if (shared_stream() && !stream_work(shared_stream()))
		{
			/* every member keeps the note until a new stream confirms past it */
			for (i = 0; i < ntargets; i++)
				if (shared_feeds(targets[i]))
					note_stream_error(targets[i]);
			shared_broken();
			metrics_count_reconnect();
		}
		for (i = 0; i < ntargets; i++)
		{
			Target	   *t = targets[i];

			if (t->stream && !stream_work(t->stream))
			{
				stream_close(t->stream);
				t->stream = NULL;
				note_stream_error(t);
				retry_later(t, 500);
				metrics_count_reconnect();
			}
		}
		(void) owner;

		now = now_ms();
		if (now - last_status >= (uint64_t) opt.status_interval_ms)
		{
			status_tick(false);
			last_status = now;
		}
		verify_tick(main_cat, targets, ntargets);
		if (opt.alias_check_interval_ms > 0 &&
			now - last_alias_check >= (uint64_t) opt.alias_check_interval_ms)
		{
			alias_repair(main_cat, targets, ntargets);
			last_alias_check = now_ms();
		}
		if (opt.progress && isatty(2))
			status_progress_bar(targets, ntargets);
		else if (now - last_summary >= SUMMARY_INTERVAL_MS && ntargets > 0)
		{
			if (last_summary)
				status_summary(targets, ntargets);
			last_summary = now;
		}
		if (opt.once && once_satisfied(&once_mark))
		{
			log_info(NULL, "--once: every target is backfilled and caught up");
			break;
		}
		if (opt.has_until_lsn && until_satisfied())
		{
			log_info(NULL, "--until-lsn: every target confirmed the position");
			break;
		}
	}
	if (shutdown_requested)
		log_info(NULL, "shutting down: flushing and confirming");
	verify_stop();
	shutdown_streams();
	status_summary(targets, ntargets);
	{
		unsigned long long sent,
					raw;

		es_bulk_bytes(&sent, &raw);
		log_info(NULL, "_bulk bodies: %llu bytes sent, %llu before compression", sent, raw);
	}
	while (ntargets > 0)
		free_target(targets[--ntargets]);
	free(targets);
	if (main_cat)
		PQfinish(main_cat);
	metrics_close();
	es_global_cleanup();
	return 0;
}
