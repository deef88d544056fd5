/*
 * faults.h — deterministic fault injection for tests (devsearch, dev-only).
 *
 * Owns: the fault rules set by --fault and POST/GET/DELETE /_dev/faults, and
 * the per-endpoint counters of GET /_dev/stats.
 *
 * A rule: {"type": "bulk_item_429"|"http_429"|"http_503"|"delay"|"reset"|
 *          "stall", "rate": 0..1 (default 1), "path": "substring" (optional),
 *          "ms": N (delay/stall length; stall 0 = until cleared),
 *          "count": N (fire at most N times; default unlimited),
 *          "after_bytes": N (reset: bytes sent before closing; default half)}
 * Command-line form: TYPE[:key=value[,key=value]...], e.g.
 *   --fault bulk_item_429:rate=0.1  --fault delay:ms=200,path=_bulk
 * Invariants: all decisions draw from one xorshift generator seeded by
 * --seed (and reseeded on every change), under Server.lock, so a given
 * request sequence gets the same faults on every run.
 */
#ifndef DEVSEARCH_FAULTS_H
#define DEVSEARCH_FAULTS_H

#include "devsearch.h"

struct Faults *faults_create(uint64_t seed);
void		faults_destroy(struct Faults *f);
/* parse one --fault SPEC; 0 ok, -1 bad (message in errbuf) */
int			faults_add_spec(struct Faults *f, const char *spec, char *errbuf, size_t errlen);

/* dev endpoints (lock held) */
void		faults_handle_post(Server *srv, const Request *req, Response *resp);
void		faults_handle_get(Server *srv, Response *resp);
void		faults_clear(Server *srv);

/*
 * Called by the dispatcher for every non-/_dev request (lock held).
 * Returns true when a whole-request fault (429/503) answered the request.
 * Sets resp->delay_ms / stall_ms / reset_after for transport faults.
 */
bool		faults_on_request(Server *srv, const Request *req, Response *resp);
/* per bulk item: true = reject this item with 429 */
bool		faults_bulk_item(Server *srv, const Request *req);
/* write the flavor's 429 item error object for a rejected bulk item */
void		faults_item_rejection(const Server *srv, EsError *err);

/* ---- stats ---- */
struct Stats *stats_create(void);
void		stats_destroy(struct Stats *s);
void		stats_reset(struct Stats *s);
/* count one request (endpoint = a short route name) and n bulk items */
void		stats_count(struct Stats *s, const char *endpoint, int status, uint64_t items);
void		stats_write(struct Stats *s, Response *resp);
/* one document operation, from _bulk or a single-document API:
 * op 0..3 = index, create, delete, update (OpType order), 4 = get */
#define STATS_OP_GET 4
void		stats_doc_op(struct Stats *s, int op, bool ok);

#endif
