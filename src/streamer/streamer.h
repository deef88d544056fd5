/*
 * streamer.h: shared types and entry points of reindex_streamer.
 *
 * One process serves one database and every target in its catalog.  The main
 * thread runs a single event loop (curl_multi_poll plus the libpq sockets) for
 * discovery, streaming and status; backfill workers are threads, each with its
 * own libpq connections and a blocking curl handle.  Counters that backfill
 * threads touch are atomics; everything else belongs to the main thread.
 *
 * Invariants (DESIGN.md): I1 versions (backfill = consistent point with
 * external, stream = end_lsn with external_gte), I2 backfill before a target's
 * stream is applied, I3 confirm only acknowledged transactions, I4 one lane per
 * document id, I6 nothing silently dropped.
 */
#ifndef REINDEX_STREAMER_H
#define REINDEX_STREAMER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <libpq-fe.h>

#include "host_allow.h"

#define STREAMER_VERSION "0.1"

/*---- options ----*/
typedef struct Options
{
	const char *conninfo;
	bool		once;
	uint64_t	until_lsn;
	bool		has_until_lsn;
	int			backfill_workers;	/* 0 = job option, else 2 */
	size_t		batch_bytes;
	int			batch_docs;
	int			flush_interval_ms;
	int			max_inflight;
	int			status_interval_ms;
	int			alias_check_interval_ms;	/* 0 = no alias drift repair */
	long		request_timeout_ms;	/* --request-timeout: every HTTP request */
	int64_t		detach_lag_bytes;	/* shared slot: detach a target this far behind */
	int			detach_after_ms;	/* ... or whose oldest event waits this long */
	bool		log_json;
	const char *metrics_address;	/* --metrics-address, or NULL */
	bool		compress;		/* --compress: gzip _bulk bodies */
	char		id[256];
	bool		progress;
	int			verbose;
} Options;

extern Options opt;
#include <signal.h>
extern volatile sig_atomic_t shutdown_requested;

/*---- logging (status.c) ----*/
typedef enum LogLevel
{
	LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR
} LogLevel;

void		log_msg(LogLevel level, const char *target, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
#define log_debug(t, ...) do { if (opt.verbose) log_msg(LOG_DEBUG, t, __VA_ARGS__); } while (0)
#define log_info(t, ...) log_msg(LOG_INFO, t, __VA_ARGS__)
#define log_warn(t, ...) log_msg(LOG_WARN, t, __VA_ARGS__)
#define log_error(t, ...) log_msg(LOG_ERROR, t, __VA_ARGS__)
void		fatal(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

#include "buf.h"
#include "clock.h"
#include "pg_text.h"

/*---- JSON response scanner (json_scan.c) ----*/
typedef struct JsonScan
{
	const char *p;
	const char *end;
} JsonScan;

void		js_ws(JsonScan *s);
bool		js_eat(JsonScan *s, char c);
bool		js_string(JsonScan *s, const char **str, size_t *len);
bool		js_skip(JsonScan *s);
bool		js_key_is(const char *k, size_t klen, const char *name);
bool		js_member(const char *obj, size_t len, const char *name, const char **val,
					  size_t *vlen);

/*---- wire format v1 (wire.c) ----*/
typedef enum WireType
{
	WIRE_BEGIN, WIRE_INDEX, WIRE_DELETE, WIRE_REFETCH, WIRE_TRUNCATE,
	WIRE_TRUNCATE_PARTITION, WIRE_COMMIT
} WireType;

typedef struct WireMsg
{
	WireType	type;
	uint64_t	version;
	const char *rel;			/* JSON string, quotes included */
	size_t		rel_len;
	const char *id;				/* JSON string, quotes included; the partition
								 * for truncate_partition */
	size_t		id_len;
	const char *body;			/* document (index) or key object (refetch) */
	size_t		body_len;
	uint64_t	xid;			/* begin/commit */
} WireMsg;

bool		wire_parse(const char *line, size_t len, WireMsg *m, const char **err);
bool		wire_json_string_end(const char *s, size_t len, size_t *end);
char	   *wire_json_string_decode(const char *s, size_t len);

/*---- _bulk bodies (bulk.c) ----*/
typedef enum ItemOp
{
	ITEM_INDEX, ITEM_DELETE
} ItemOp;

typedef struct BulkItem
{
	uint32_t	off;			/* start of the action line in body */
	uint32_t	len;			/* action line plus source line */
	uint64_t	seq;			/* transaction sequence (stream) or chunk */
} BulkItem;

typedef struct Batch
{
	Buf			body;
	BulkItem   *items;
	int			nitems;
	int			cap;
	uint64_t	first_ms;		/* when the first item was added */
} Batch;

void		batch_add(Batch *b, ItemOp op, const char *index_json, uint64_t version,
					  bool external_gte, const char *id, size_t id_len,
					  const char *doc, size_t doc_len, uint64_t seq);
void		batch_add_raw(Batch *b, const char *item, size_t len, uint64_t seq);
void		batch_clear(Batch *b);
void		batch_free(Batch *b);
uint32_t	bulk_lane_of(const char *id, size_t id_len, int lanes);
bool		bulk_item_meta(const char *item, size_t len, char **id, uint64_t *version);

/*---- Elasticsearch client (es_client.c) ----*/
typedef struct Endpoint
{
	char	   *url;			/* base, without trailing slash */
	char	   *username;
	char	   *password;
	char	   *api_key;
	char	   *ca_file;
	bool		verify_tls;
} Endpoint;

typedef enum ItemOutcome
{
	OUT_OK, OUT_STALE, OUT_RETRY, OUT_DEAD,
	OUT_GONE					/* index_not_found: the index itself is gone */
} ItemOutcome;

typedef struct EsResponse
{
	long		http_status;	/* 0 when the transport failed */
	char		curl_error[256];
	Buf			body;
	bool		too_big;		/* body passed ES_MAX_RESPONSE: transfer aborted */
	HostAllowCheck allow;		/* reindex.allowed_hosts on every socket */
} EsResponse;

/* largest response body read (a bigger or endless answer is a transport error) */
#define ES_MAX_RESPONSE (64 * 1024 * 1024)

struct EsRequest;
typedef void (*EsCallback) (struct EsRequest *req);

typedef struct EsRequest
{
	void	   *easy;			/* CURL * */
	void	   *headers;		/* struct curl_slist * */
	const Endpoint *ep;
	char	   *url;
	const char *body;
	size_t		body_len;
	EsResponse	resp;
	EsCallback	done;
	void	   *arg;
	uint64_t	started_ms;
	bool		bulk;			/* a _bulk request (latency histogram) */
	Buf			gz;				/* the gzipped body (--compress) */
} EsRequest;

void		es_global_init(void);
void		es_set_allowed_hosts(const char *list);
const char *es_allowed_hosts(void);
int			es_request_sync(const Endpoint *ep, const char *method, const char *path,
							const char *body, size_t len, EsResponse *resp, long timeout_ms);
void		es_response_free(EsResponse *r);
void		es_thread_cleanup(void);
bool		es_submit(EsRequest *req, const Endpoint *ep, const char *method,
					  const char *path, const char *body, size_t len);
void		es_request_cleanup(EsRequest *req);
void		es_cancel(EsRequest *req);
int			es_poll(int *fds, short *events, int nfds, int timeout_ms);
int			es_inflight(void);
bool		es_retryable_status(long status);
bool		es_bulk_outcomes(const EsResponse *r, int nitems, ItemOutcome *out,
							 char **errors, long *statuses);
void		es_bulk_failure(const EsResponse *r, char *out, size_t len);
void		es_bulk_bytes(unsigned long long *sent, unsigned long long *raw);
uint64_t	backoff_ms(int attempt);
void		es_global_cleanup(void);
void		endpoint_copy(Endpoint *dst, const Endpoint *src);
void		endpoint_free(Endpoint *ep);

/*---- target and catalog (catalog.c) ----*/
typedef struct Counters
{
	atomic_llong rows_backfilled;
	atomic_llong events_applied;
	atomic_llong stale_rejected;
	atomic_llong retried;
	atomic_llong dead_lettered;
	atomic_llong dead_lettered_uncounted;	/* backfill: for the status delta */
} Counters;

struct Stream;
struct Backfill;
struct Replay;

typedef struct Target
{
	int64_t		id;
	int64_t		job_id;			/* newest job with this target as new_target, or 0 */
	char		state[32];		/* catalog target state */
	char		job_state[32];
	char	   *index_name;
	char	   *index_json;		/* index name as a JSON string */
	char	   *source;			/* regclass text */
	char	   *slot_name;		/* the slot feeding it: its own, or the shared one */
	bool		shared;			/* catalog feed = 'shared' */
	uint64_t	handover_lsn;	/* shared: events above this come from the shared slot */
	char	   *source_oid;
	char	   *include_q;		/* quoted identifiers, comma-separated, or NULL */
	char	   *exclude_q;
	char	   *include_cols;	/* comma-separated or NULL */
	char	   *exclude_cols;
	char	   *include_arr;	/* text[] literal or NULL */
	char	   *exclude_arr;
	uint64_t	consistent_point;
	uint64_t	confirmed_lsn;
	int64_t		rows_estimated; /* catalog estimate (metrics) */
	int64_t		ready_lag_bytes;	/* job threshold */
	int			job_workers;
	int64_t		refused_stop_sample;	/* job option (0: no early stop) */
	double		refused_stop_fraction;	/* job option */
	bool		dead_letter_documents;	/* job option: keep refused bodies */
	bool		replay_pending; /* a reindex_replay() request waits */
	uint64_t	replay_retry_at_ms;
	bool		drop_index;
	char	   *requested_settings; /* JSON of index settings to restore */
	Endpoint	ep;
	Counters	c;
	long long	written[5];		/* counter values already added to the catalog */
	pthread_mutex_t err_lock;
	char		last_error[512];
	char		stream_error[512];	/* the note left when its stream broke */
	uint64_t	stream_error_lsn;	/* confirmed LSN then: progress past it
									 * after a reopen clears that note */
	bool		seen;			/* present in the last catalog read */
	uint64_t	retry_at_ms;
	uint64_t	handover_retry_at;
	int			attempt;
	struct Stream *stream;
	struct Backfill *bf;
	struct Replay *replay;
	uint64_t	lag_bytes;
	double		lag_seconds;
	uint64_t	server_wal_end;
	atomic_bool index_lost;		/* a write answered index_not_found (main.c) */
} Target;

extern PGconn *main_cat;

void		target_set_error(Target *t, const char *fmt,...) __attribute__((format(printf, 2, 3)));
void		target_index_lost(Target *t, const char *error);
/* the server invalidated the slot t is fed by: t's job fails, saying why (main.c) */
void		slot_invalidated(Target *t);
/* is err a slot's "invalidated" / "can no longer get changes" error */
bool		slot_lost_error(const char *err);

PGconn	   *catalog_connect(const char *conninfo, bool replication, const char *extra_options);
bool		catalog_exec_ok(PGconn *c, const char *sql);
/* BEGIN REPEATABLE READ READ ONLY in an exported snapshot; false: see PQerrorMessage */
bool		catalog_import_snapshot(PGconn *c, const char *snapshot);
int			catalog_load_targets(PGconn *c, Target ***targets, int *ntargets);
int			catalog_create_chunks(PGconn *c, Target *t, uint64_t cp, int pages_per_chunk);
bool		catalog_claim_chunk(PGconn *c, Target *t, const char *who, int *chunk_no,
								char **rel, int64_t *first_block, int64_t *end_block);
bool		catalog_finish_chunk(PGconn *c, Target *t, int chunk_no, int64_t rows,
								 uint64_t snapshot_lsn);
void		catalog_abort_claim(PGconn *c);
int			catalog_pending_chunks(PGconn *c, Target *t, int *total, int64_t *rows_done);
int			catalog_claimable_chunks(PGconn *c, Target *t);
bool		catalog_complete_backfill(PGconn *c, Target *t);
void		catalog_write_status(PGconn *c, Target *t, const char *streamer_id, bool streaming);
void		catalog_write_note(PGconn *c, Target *t);
void		catalog_clear_error(PGconn *c, Target *t);
void		catalog_set_target_state(PGconn *c, Target *t, const char *state);
bool		catalog_set_job_state(PGconn *c, Target *t, const char *from, const char *to,
								  const char *error);
bool		catalog_dead_letter(PGconn *c, Target *t, uint64_t lsn, const char *doc_id,
								const char *op, long http_status, const char *error,
								const char *document, bool count);
void		catalog_error_json(Buf *e, const char *error);
bool		catalog_release_claim(PGconn *c, Target *t, int chunk_no);
bool		catalog_update_readiness(PGconn *c, Target *t, bool lag_ok);
bool		catalog_stop_backfill(PGconn *c, Target *t, const char *why);
char	   *catalog_document_by_key(PGconn *c, Target *t, uint64_t xid, const char *key,
									size_t key_len, bool *failed);
uint64_t	catalog_current_wal_lsn(PGconn *c);
int			catalog_slot_exists(PGconn *c, const char *slot, uint64_t *confirmed);
bool		catalog_drop_slot(PGconn *c, const char *slot);
int			catalog_try_slot_lock(PGconn *c, Target *t, bool unlock);
uint64_t	catalog_read_consistent_point(PGconn *c, Target *t);
bool		catalog_shared_slot_name(PGconn *c, char *out, size_t n);
int			catalog_commit_handover(PGconn *c, Target *t, const char *shared_slot, uint64_t lsn);
int			catalog_commit_detach(PGconn *c, Target *t, const char *own_slot, uint64_t lsn,
								  const char *reason);
bool		catalog_copy_slot(PGconn *c, const char *src, const char *dst);

/* blocking _bulk with retries (es_client.c), for backfill and replay threads */
typedef void (*BulkItemDone) (void *arg, const char *item, size_t len, uint64_t seq,
							  ItemOutcome out, long status, const char *error);
typedef struct BulkSync
{
	const Endpoint *ep;
	atomic_bool *stop;
	atomic_llong *retried;		/* items sent again; may be NULL */
	void		(*retrying) (void *owner, const char *why); /* may be NULL */
	void		(*gone) (void *owner, const char *error);	/* index_not_found; may be NULL */
	void	   *owner;			/* passed to retrying and gone */
	int			max_attempts;	/* 0: retry until stopped */
	BulkItemDone done;
	void	   *arg;
} BulkSync;
bool		es_bulk_sync(const BulkSync *s, Batch *batch, EsResponse *resp);
void		bulk_retrying_target(void *target, const char *why);
void		bulk_index_lost_target(void *target, const char *error);

/*---- replication protocol (replication.c) ----*/
bool		repl_create_slot(PGconn *repl, const char *slot, bool temporary, bool export,
							 uint64_t *cp, char **snapshot, char **err);
bool		repl_start(PGconn *repl, const char *slot, uint64_t start, const Target *own,
					   const char *targets, char **err);
bool		repl_send_feedback(PGconn *repl, uint64_t write, uint64_t flush, bool reply);
int			repl_read(PGconn *repl, char **buf);
void		repl_finish(PGconn *repl);
uint64_t	fe_recvint64(const char *p);

/*---- streaming (stream.c) ----*/
typedef struct Stream Stream;
typedef struct StreamMember
{
	Target	   *t;
	int			set;			/* line tag (plugin option targets), -1: untagged */
	uint64_t	skip_le;		/* events at or below this version are not applied */
	bool		gated;			/* queued but not sent until the gate opens */
} StreamMember;
Stream	   *stream_open(const char *slot, uint64_t start, const char *targets,
						const StreamMember *members, int nmembers, char **err);
Stream	   *stream_open_own(Target *t, char **err);
void		stream_add_member(Stream *s, const StreamMember *sm);
void		stream_remove_member(Stream *s, const Target *t);
bool		stream_has_member(Stream *s, const Target *t);
void		stream_set_gate(Stream *s, const Target *t, bool gated);
uint64_t	stream_member_oldest_ms(Stream *s, const Target *t);
void		stream_set_stop(Stream *s, uint64_t lsn);
bool		stream_stop_done(Stream *s);
void		stream_pause(Stream *s, bool paused);
uint64_t	stream_position(Stream *s);
bool		stream_between_txns(Stream *s);
void		stream_close(Stream *s);
int			stream_socket(Stream *s);
bool		stream_work(Stream *s);
bool		stream_idle(Stream *s);
bool		stream_drained(Stream *s);
void		stream_set_draining(Stream *s);
void		stream_request_reply(Stream *s);
uint64_t	stream_confirmed(Stream *s);
uint64_t	stream_oldest_unacked_ms(Stream *s);
int			stream_timeout_ms(Stream *s);

/*---- the shared slot: fan-out, handover, detach (handover.c) ----*/
extern char shared_slot_name[64];
void		shared_drive(Target **targets, int n);
Stream	   *shared_stream(void);
bool		shared_feeds(const Target *t);
void		shared_forget(Target *t);
/* t, a member of the shared stream, gets a slot of its own from its position (why: its note) */
bool		shared_detach(Target *t, const char *why);
bool		shared_work(void);
void		shared_broken(void);
void		shared_close(void);
bool		shared_elsewhere(void);

/*---- backfill (backfill.c) ----*/
typedef struct Backfill Backfill;
Backfill   *backfill_start(Target *t);
bool		backfill_done(Backfill *b, bool *ok, bool *completed);
bool		backfill_stopped_early(Backfill *b);
void		backfill_free(Backfill *b);
void		backfill_progress(Backfill *b, int64_t *done_chunks, int64_t *total_chunks);

/* the exported snapshot in a REPEATABLE READ READ ONLY transaction (backfill.c) */
bool		backfill_import_snapshot(PGconn *c, Target *t, const char *snapshot);

/*---- replay of dead letters (replay.c) ----*/
typedef struct Replay Replay;
void		replay_drive(Target *t);
void		replay_free(Replay *r);

/*---- alias drift repair (aliases.c) ----*/
void		alias_repair(PGconn *c, Target **targets, int n);

/*---- reindex_verify runs (verify.c) ----*/
void		verify_tick(PGconn *c, Target **targets, int n);
void		verify_stop(void);

/*---- status and progress (status.c) ----*/
void		status_progress_bar(Target **targets, int n);
void		status_summary(Target **targets, int n);

#endif							/* REINDEX_STREAMER_H */
