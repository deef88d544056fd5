/*
 * es_client.h: the HTTP client for Elasticsearch/OpenSearch (es_client.c):
 * asynchronous requests on the main thread's curl multi handle, blocking
 * requests for threads, the blocking _bulk send with retries, and backoff.
 *
 * Every socket is checked against reindex.allowed_hosts before it connects;
 * responses larger than ES_MAX_RESPONSE are transport errors.
 */
#ifndef REINDEX_STREAMER_ES_CLIENT_H
#define REINDEX_STREAMER_ES_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "bulk.h"
#include "endpoint.h"
#include "host_allow.h"

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
void		es_bulk_bytes(unsigned long long *sent, unsigned long long *raw);
uint64_t	backoff_ms(int attempt);
void		es_global_cleanup(void);

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

#endif							/* REINDEX_STREAMER_ES_CLIENT_H */
