/*
 * es_client.c: HTTP client for Elasticsearch/OpenSearch.
 *
 * Owns: the one libcurl multi handle of the main thread (keep-alive
 * connections are shared by all its requests), the poll that also waits on
 * the libpq sockets, blocking requests for backfill threads and one-off admin
 * calls (one kept-alive handle per thread), the blocking _bulk send with
 * retries that backfill and replay threads share, and retry backoff.  _bulk
 * responses are classified in bulk_response.c.
 *
 * Invariants: credentials come only from the Endpoint (catalog or
 * environment) and are never logged; TLS verification stays on unless the
 * endpoint explicitly turns it off; requests are never built through a JSON
 * library.  With --compress, _bulk bodies are sent gzipped
 * (Content-Encoding: gzip, level 1: most of the gain for little CPU).
 * 429, 5xx and transport errors are retryable.  Only http and
 * https are spoken and no redirect is followed; every socket is checked
 * against the server's reindex.allowed_hosts (src/common/host_allow.c)
 * before it connects, so the streamer reaches no address the backend could
 * not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <zlib.h>

#include "buf.h"
#include "bulk.h"
#include "bulk_response.h"
#include "clock.h"
#include "curl_setup.h"
#include "endpoint.h"
#include "es_client.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "target.h"

/*
 * Every request's time limit: --request-timeout (opt.request_timeout_ms),
 * or a caller's shorter one (alias checks, index creation).
 */
static long
request_timeout_ms(long timeout_ms)
{
	return timeout_ms > 0 && timeout_ms < opt.request_timeout_ms ? timeout_ms : opt.request_timeout_ms;
}

static CURLM *multi;
static int	n_inflight;

/*
 * The server's reindex.allowed_hosts, read with every catalog refresh.  Old
 * values are never freed: a transfer on another thread may still be reading
 * one, and the setting changes only when a superuser changes it.
 */
static _Atomic(const char *) allowed_hosts;

/*
 * When the setting changed: for FRESH_CONNECT_MS afterwards every request
 * opens a new (checked) connection, so kept-alive connections opened under
 * the old value go idle and are closed by libcurl (idle ones after 118 s).
 */
#define FRESH_CONNECT_MS 130000
static atomic_ullong allowed_changed_ms;

void
es_set_allowed_hosts(const char *list)
{
	const char *cur = atomic_load(&allowed_hosts);
	char	   *copy;

	if (list == NULL)
		list = "";
	if (cur && strcmp(cur, list) == 0)
		return;
	copy = strdup(list);
	if (copy == NULL)
		fatal("out of memory");
	if (!host_allow_list_valid(copy, NULL, 0))
		log_warn(NULL, "reindex.allowed_hosts does not parse: no search endpoint is reachable");
	else if (cur || *copy)
		log_info(NULL, "search endpoints restricted to reindex.allowed_hosts = '%s'", copy);
	if (cur)
		atomic_store(&allowed_changed_ms, now_ms());
	atomic_store(&allowed_hosts, copy);
}

const char *
es_allowed_hosts(void)
{
	return atomic_load(&allowed_hosts);
}

void
es_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_ALL) != 0)
		fatal("could not initialise libcurl");
	json_object_seed(0);
	multi = curl_multi_init();
	if (!multi)
		fatal("could not initialise libcurl");
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
}

void
es_global_cleanup(void)
{
	es_thread_cleanup();
	if (multi)
		curl_multi_cleanup(multi);
	multi = NULL;
	curl_global_cleanup();
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	EsResponse *r = userdata;

	if (r->body.len + size * nmemb > ES_MAX_RESPONSE)
	{
		r->too_big = true;
		return 0;
	}
	buf_append(&r->body, ptr, size * nmemb);
	return size * nmemb;
}

/*
 * gzip body into gz (reset first); false (gz empty) if zlib fails, and the
 * body is then sent as it is.
 */
static bool
gzip_body(const char *body, size_t len, Buf *gz)
{
	z_stream	z;
	int			rc;

	buf_reset(gz);
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	buf_reserve(gz, deflateBound(&z, (uLong) len) + 1);
	z.next_in = (Bytef *) body;
	z.avail_in = (uInt) len;
	z.next_out = (Bytef *) gz->data;
	z.avail_out = (uInt) (gz->cap - 1);
	rc = deflate(&z, Z_FINISH);
	gz->len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END)
	{
		buf_reset(gz);
		return false;
	}
	return true;
}

/* bytes of _bulk bodies: as sent, and before compression */
static atomic_ullong bulk_bytes_sent;
static atomic_ullong bulk_bytes_raw;

void
es_bulk_bytes(unsigned long long *sent, unsigned long long *raw)
{
	*sent = atomic_load(&bulk_bytes_sent);
	*raw = atomic_load(&bulk_bytes_raw);
}

/* Configure an easy handle for one request; returns the header list. */
static struct curl_slist *
setup_easy(CURL *e, const Endpoint *ep, const char *method, const char *url,
		   const char *body, size_t len, EsResponse *resp, bool ndjson, Buf *gz,
		   long timeout_ms)
{
	struct curl_slist *h = NULL;
	bool		gzipped = false;

	if (ndjson && body && len > 0)
	{
		atomic_fetch_add(&bulk_bytes_raw, len);
		if (opt.compress && gz && gzip_body(body, len, gz))
		{
			gzipped = true;
			body = gz->data;
			len = gz->len;
		}
		atomic_fetch_add(&bulk_bytes_sent, len);
	}

	{
		CurlEndpoint cep = {
			.username = ep->username, .password = ep->password, .api_key = ep->api_key,
			.ca_file = ep->ca_file, .verify_tls = ep->verify_tls,
			.allowed_hosts = es_allowed_hosts(),
		};

		h = curl_setup_request(e, &cep, url, ndjson ? "application/x-ndjson" : "application/json",
							   &resp->allow);
	}
	if (gzipped)
		h = curl_slist_append(h, "Content-Encoding: gzip");
	if (atomic_load(&allowed_changed_ms) &&
		now_ms() - atomic_load(&allowed_changed_ms) < FRESH_CONNECT_MS)
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, resp->curl_error);
	resp->curl_error[0] = '\0';
	resp->too_big = false;
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else
	{
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (body ? len : 0));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	return h;
}

/* The error text of a failed transfer; a refused address says so. */
static void
transport_error(EsResponse *r, CURLcode rc)
{
	if (r->too_big)
		snprintf(r->curl_error, sizeof(r->curl_error),
				 "response larger than %d bytes", ES_MAX_RESPONSE);
	else if (r->allow.refused[0])
		snprintf(r->curl_error, sizeof(r->curl_error),
				 "connection refused by reindex.allowed_hosts: address %s is not allowed",
				 r->allow.refused);
	else if (!r->curl_error[0])
		snprintf(r->curl_error, sizeof(r->curl_error), "%s", curl_easy_strerror(rc));
}

static char *
make_url(const Endpoint *ep, const char *path)
{
	Buf			u = {0};

	buf_puts(&u, ep->url);
	if (path[0] != '/')
		buf_puts(&u, "/");
	buf_puts(&u, path);
	return u.data;
}

static bool
is_ndjson(const char *path)
{
	const char *q = strchr(path, '?');
	size_t		n = q ? (size_t) (q - path) : strlen(path);

	return n >= 5 && memcmp(path + n - 5, "_bulk", 5) == 0;
}

/*
 * Each thread keeps one easy handle for its blocking requests, so its
 * connection to the cluster stays open between them (keep-alive).
 */
static __thread CURL *thread_easy;
static __thread Buf thread_gz;

/* Release the calling thread's easy handle (threads call it before exiting). */
void
es_thread_cleanup(void)
{
	if (thread_easy)
		curl_easy_cleanup(thread_easy);
	thread_easy = NULL;
	buf_free(&thread_gz);
}

/* Blocking request; returns the HTTP status (0 on transport failure). */
int
es_request_sync(const Endpoint *ep, const char *method, const char *path,
				const char *body, size_t len, EsResponse *resp, long timeout_ms)
{
	CURL	   *e;
	struct curl_slist *h;
	char	   *url = make_url(ep, path);
	CURLcode	rc;
	uint64_t	started = now_ms();

	if (thread_easy)
		curl_easy_reset(thread_easy);
	else
		thread_easy = curl_easy_init();
	e = thread_easy;
	if (!e)
	{
		free(url);
		resp->http_status = 0;
		snprintf(resp->curl_error, sizeof(resp->curl_error), "could not create a curl handle");
		return 0;
	}
	buf_reset(&resp->body);
	resp->http_status = 0;
	h = setup_easy(e, ep, method, url, body, len, resp, is_ndjson(path), &thread_gz,
				   request_timeout_ms(timeout_ms));
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->http_status);
	else
		transport_error(resp, rc);
	if (is_ndjson(path))
		metrics_observe_bulk((now_ms() - started) / 1000.0);
	/* the handle keeps pointers to these: clear them before freeing */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_URL, "");
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	curl_setup_free_headers(h);
	free(url);
	return (int) resp->http_status;
}

void
es_response_free(EsResponse *r)
{
	buf_free(&r->body);
}

/* Start an asynchronous request on the main thread's multi handle. */
bool
es_submit(EsRequest *req, const Endpoint *ep, const char *method,
		  const char *path, const char *body, size_t len)
{
	CURL	   *e = curl_easy_init();

	if (!e)
		return false;
	req->easy = e;
	req->ep = ep;
	req->url = make_url(ep, path);
	req->body = body;
	req->body_len = len;
	req->resp.http_status = 0;
	buf_reset(&req->resp.body);
	req->headers = setup_easy(e, ep, method, req->url, body, len, &req->resp,
							  is_ndjson(path), &req->gz, request_timeout_ms(0));
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	req->started_ms = now_ms();
	req->bulk = is_ndjson(path);
	if (curl_multi_add_handle(multi, e) != CURLM_OK)
	{
		es_request_cleanup(req);
		return false;
	}
	n_inflight++;
	return true;
}

void
es_request_cleanup(EsRequest *req)
{
	if (req->easy)
		curl_easy_cleanup(req->easy);
	if (req->headers)
		curl_setup_free_headers(req->headers);
	free(req->url);
	buf_free(&req->gz);
	req->easy = NULL;
	req->headers = NULL;
	req->url = NULL;
}

/* Abandon an in-flight request (its callback is not called). */
void
es_cancel(EsRequest *req)
{
	if (req->easy)
	{
		curl_multi_remove_handle(multi, req->easy);
		n_inflight--;
	}
	es_request_cleanup(req);
}

int
es_inflight(void)
{
	return n_inflight;
}

/*
 * Wait up to timeout_ms for curl activity or one of the extra fds, drive the
 * transfers and run the callbacks of finished requests.  revents of the extra
 * fds are returned in events[] (overwritten).  Returns the number of requests
 * completed.
 */
int
es_poll(int *fds, short *events, int nfds, int timeout_ms)
{
	struct curl_waitfd wfd[64];
	int			i,
				running,
				numfds,
				completed = 0;
	CURLMsg    *msg;
	int			left;

	if (nfds > 64)
		nfds = 64;
	for (i = 0; i < nfds; i++)
	{
		wfd[i].fd = fds[i];
		wfd[i].events = events[i];
		wfd[i].revents = 0;
	}
	if (timeout_ms < 0)
		timeout_ms = 0;
	curl_multi_poll(multi, wfd, nfds, timeout_ms, &numfds);
	for (i = 0; i < nfds; i++)
		events[i] = wfd[i].revents;
	curl_multi_perform(multi, &running);
	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		EsRequest  *req = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
							  &req->resp.http_status);
		else
		{
			req->resp.http_status = 0;
			transport_error(&req->resp, msg->data.result);
		}
		curl_multi_remove_handle(multi, msg->easy_handle);
		n_inflight--;
		if (req->bulk)
			metrics_observe_bulk((now_ms() - req->started_ms) / 1000.0);
		es_request_cleanup(req);
		completed++;
		if (req->done)
			req->done(req);
	}
	return completed;
}

bool
es_retryable_status(long status)
{
	return status == 0 || status == 429 || status >= 500;
}

/* Exponential backoff with full jitter between half and the whole step. */
uint64_t
backoff_ms(int attempt)
{
	uint64_t	base = 100;
	uint64_t	cap = 30000;
	uint64_t	step;

	if (attempt > 20)
		attempt = 20;
	step = base << attempt;
	if (step > cap)
		step = cap;
	return step / 2 + (uint64_t) (rand() % (int) (step / 2 + 1));
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* A deep copy of an endpoint (for a thread that outlives the Target). */
void
endpoint_copy(Endpoint *dst, const Endpoint *src)
{
	dst->url = dup_or_null(src->url);
	dst->username = dup_or_null(src->username);
	dst->password = dup_or_null(src->password);
	dst->api_key = dup_or_null(src->api_key);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->verify_tls = src->verify_tls;
}

void
endpoint_free(Endpoint *ep)
{
	free(ep->url);
	free(ep->username);
	free(ep->password);
	free(ep->api_key);
	free(ep->ca_file);
	memset(ep, 0, sizeof(*ep));
}

/* BulkSync.retrying for a Target: the whole request failed, shown in reindex_status. */
void
bulk_retrying_target(void *target, const char *why)
{
	target_set_error((Target *) target, "bulk request failed (%s), retrying", why);
}

/* BulkSync.gone for a Target: its index no longer exists (main.c fails it). */
void
bulk_index_lost_target(void *target, const char *error)
{
	target_index_lost((Target *) target, error);
}

/*
 * Send a batch with blocking requests until no item is left to retry: 429,
 * 5xx and transport failures are sent again after a backoff (counted in
 * *s->retried when set; s->retrying is told why a whole request failed).
 * s->done() is called once per item with its final outcome (OUT_OK,
 * OUT_STALE or OUT_DEAD), its HTTP status and error text (may be NULL);
 * items still to retry after s->max_attempts requests (0: no limit) are
 * given up as OUT_DEAD.  An item answered index_not_found (OUT_GONE) goes to
 * s->gone() when set, never to done(), and sets *s->stop (its write stays
 * unanswered); without s->gone it reaches done() as OUT_GONE.  Returns false
 * when *s->stop was set before everything was answered (or done() set it).
 * The batch is empty afterwards.
 */
bool
es_bulk_sync(const BulkSync *s, Batch *batch, EsResponse *resp)
{
	int			attempt = 0;

	while (batch->nitems > 0)
	{
		int			n = batch->nitems,
					i;
		ItemOutcome *out;
		char	  **errs;
		long	   *sts;
		Batch		retry = {0};
		bool		itemised,
					give_up;

		if (atomic_load(s->stop))
		{
			batch_clear(batch);
			return false;
		}
		es_request_sync(s->ep, "POST", "/_bulk", batch->body.data, batch->body.len, resp, 0);
		out = malloc(sizeof(ItemOutcome) * n);
		errs = malloc(sizeof(char *) * n);
		sts = malloc(sizeof(long) * n);
		itemised = es_bulk_outcomes(resp, n, out, errs, sts);
		give_up = s->max_attempts > 0 && attempt + 1 >= s->max_attempts;
		for (i = 0; i < n; i++)
		{
			BulkItem   *it = &batch->items[i];
			const char *item = batch->body.data + it->off;

			if (out[i] == OUT_RETRY && !give_up)
				batch_add_raw(&retry, item, it->len, it->seq);
			else if (out[i] == OUT_RETRY)
				s->done(s->arg, item, it->len, it->seq, OUT_DEAD, sts[i],
						errs[i] ? errs[i] : "still failing after the last retry");
			else if (out[i] == OUT_GONE && s->gone)
			{
				/* the index is gone: the owner fails the target; nothing is answered */
				s->gone(s->owner, errs[i]);
				atomic_store(s->stop, true);
			}
			else
				s->done(s->arg, item, it->len, it->seq, out[i], sts[i], errs[i]);
			free(errs[i]);
		}
		free(out);
		free(errs);
		free(sts);
		if (retry.nitems > 0)
		{
			if (s->retried)
				atomic_fetch_add(s->retried, retry.nitems);
			if (!itemised && s->retrying)
			{
				char		why[320];

				es_bulk_failure(resp, why, sizeof(why));
				s->retrying(s->owner, why);
			}
			sleep_ms(backoff_ms(attempt++));
		}
		batch_free(batch);
		*batch = retry;
	}
	batch_clear(batch);
	return !atomic_load(s->stop);
}
