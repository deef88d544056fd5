/*
 * http.c — libmicrohttpd glue for devsearch.
 *
 * Owns: the MHD daemon (one thread per connection, keep-alive), reading
 * request bodies with the http.max_content_length limit (413 with an empty
 * body, decided from Content-Length before the body is read), gzip request
 * bodies, and carrying out the transport faults a Response asks for (delay,
 * stall, reset mid-body).  Invariants: the raw request target is taken from
 * the URI log callback so percent-decoding happens once, per path segment,
 * in request.c; Server.lock is never held here except to wait for a stall
 * to be cleared or a delay to pass (shutdown ends both), and that wait
 * releases it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "http.h"

struct HttpServer
{
	struct MHD_Daemon *d;
	Server	   *srv;
	int			port;
};

typedef struct ConnCtx
{
	char	   *uri;
	JsonBuf		body;
	bool		started;
	bool		too_large;
} ConnCtx;

/* response body for a reset fault: send `limit` bytes then fail */
typedef struct ResetBody
{
	char	   *data;
	size_t		len;
	size_t		limit;
} ResetBody;

static void *
uri_log_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
	ConnCtx    *c = calloc(1, sizeof(ConnCtx));

	(void) cls;
	(void) con;
	if (c == NULL)
		abort();
	c->uri = strdup(uri ? uri : "/");
	jb_init(&c->body);
	return c;
}

static void
completed_cb(void *cls, struct MHD_Connection *con, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	ConnCtx    *c = *req_cls;

	(void) cls;
	(void) con;
	(void) toe;
	if (c)
	{
		free(c->uri);
		jb_free(&c->body);
		free(c);
		*req_cls = NULL;
	}
}

static enum MHD_Result
header_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void) kind;
	request_add_header((Request *) cls, key, value ? value : "");
	return MHD_YES;
}

static ssize_t
reset_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	ResetBody  *r = cls;
	size_t		n;

	if (pos >= r->limit)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = r->limit - (size_t) pos;
	if (n > max)
		n = max;
	memcpy(buf, r->data + pos, n);
	return (ssize_t) n;
}

static void
reset_free(void *cls)
{
	ResetBody  *r = cls;

	free(r->data);
	free(r);
}

static enum MHD_Result
queue_empty(struct MHD_Connection *con, unsigned status)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* gunzip into out; 0 ok, -1 corrupt, -2 too large */
static int
gunzip(const char *in, size_t len, int64_t max, JsonBuf *out)
{
	z_stream	z;
	int			rc;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -1;
	z.next_in = (Bytef *) in;
	z.avail_in = (uInt) len;
	do
	{
		jb_reserve(out, 65536);
		z.next_out = (Bytef *) out->data + out->len;
		z.avail_out = 65536;
		rc = inflate(&z, Z_NO_FLUSH);
		out->len = (size_t) ((char *) z.next_out - out->data);
		out->data[out->len] = '\0';
		if (rc != Z_OK && rc != Z_STREAM_END)
		{
			inflateEnd(&z);
			return -1;
		}
		if ((int64_t) out->len > max)
		{
			inflateEnd(&z);
			return -2;
		}
		if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)
		{
			inflateEnd(&z);
			return -1;			/* truncated stream */
		}
	} while (rc != Z_STREAM_END);
	inflateEnd(&z);
	return 0;
}

static void
deadline_in(struct timespec *deadline, long ms)
{
	clock_gettime(CLOCK_REALTIME, deadline);
	deadline->tv_sec += ms / 1000;
	deadline->tv_nsec += (ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L)
	{
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

/*
 * A delayed answer waits its time, or until the server shuts down (a delay
 * of 20 s must not hold SIGTERM's exit for 20 s).
 */
static void
wait_delay(Server *srv, long ms)
{
	struct timespec deadline;

	deadline_in(&deadline, ms);
	pthread_mutex_lock(&srv->lock);
	while (!srv->stopping)
		if (pthread_cond_timedwait(&srv->faults_changed, &srv->lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&srv->lock);
}

static void
wait_stall(Server *srv, long ms)
{
	struct timespec deadline;
	uint64_t	gen;

	if (ms > 0)
		deadline_in(&deadline, ms);
	pthread_mutex_lock(&srv->lock);
	gen = srv->fault_generation;
	while (srv->fault_generation == gen)
	{
		if (ms > 0)
		{
			if (pthread_cond_timedwait(&srv->faults_changed, &srv->lock, &deadline) == ETIMEDOUT)
				break;
		}
		else
			pthread_cond_wait(&srv->faults_changed, &srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
		const char *version, const char *upload_data, size_t *upload_data_size,
		void **req_cls)
{
	HttpServer *h = cls;
	Server	   *srv = h->srv;
	ConnCtx    *c = *req_cls;
	Request		req;
	Response	resp;
	struct MHD_Response *mr;
	enum MHD_Result ret;
	const char *enc;
	int			i;
	char	   *data;
	size_t		len;

	(void) url;
	(void) version;
	if (c == NULL)
		return MHD_NO;
	if (!c->started)
	{
		const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
													 MHD_HTTP_HEADER_CONTENT_LENGTH);

		long long	n = cl ? strtoll(cl, NULL, 10) : 0;

		c->started = true;
		if (n > srv->cfg.max_content_length)
			return queue_empty(con, 413);
		/* one allocation for the whole body: no regrowth copies */
		if (n > 0)
			jb_reserve(&c->body, (size_t) n + 1);
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		if (!c->too_large)
		{
			if ((int64_t) (c->body.len + *upload_data_size) > srv->cfg.max_content_length)
			{
				c->too_large = true;
				jb_free(&c->body);
			}
			else
				jb_raw(&c->body, upload_data, *upload_data_size);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (c->too_large)
		return queue_empty(con, 413);

	request_init(&req);
	response_init(&resp);
	if (request_set_target(&req, method, c->uri) < 0)
	{
		es_respond_simple_error(&resp, 400, "invalid request target");
		goto send;
	}
	MHD_get_connection_values(con, MHD_HEADER_KIND, header_cb, &req);
	enc = req_header(&req, "Content-Encoding");
	if (c->body.len > 0 && enc && (strcasecmp(enc, "gzip") == 0 || strcasecmp(enc, "deflate") == 0))
	{
		JsonBuf		out;
		int			rc;

		jb_init(&out);
		rc = gunzip(c->body.data, c->body.len, srv->cfg.max_content_length, &out);
		if (rc == -2)
		{
			jb_free(&out);
			request_free(&req);
			response_free(&resp);
			return queue_empty(con, 413);
		}
		if (rc < 0)
		{
			jb_free(&out);
			es_respond_error(&resp, 400, "illegal_argument_exception",
							 "failed to decompress the request body: not valid gzip data");
			goto send;
		}
		jb_free(&c->body);
		c->body = out;
	}
	else if (enc && strcasecmp(enc, "identity") != 0 && c->body.len > 0)
	{
		es_respond_error(&resp, 400, "illegal_argument_exception",
						 "unsupported Content-Encoding [%s]", enc);
		goto send;
	}
	if (c->body.len > 0 || MHD_lookup_connection_value(con, MHD_HEADER_KIND,
													   MHD_HTTP_HEADER_CONTENT_LENGTH))
	{
		req.has_body = true;
		req.body_len = c->body.len;
		if (c->body.data == NULL)
			jb_reserve(&c->body, 1);
		req.body = jb_steal(&c->body, NULL);
	}
	server_dispatch(srv, &req, &resp);

send:
	if (resp.delay_ms > 0)
		wait_delay(srv, resp.delay_ms);
	if (resp.stall_ms >= 0)
		wait_stall(srv, resp.stall_ms);

	if (resp.head)
		jb_reset(&resp.body);
	data = jb_steal(&resp.body, &len);
	if (data == NULL)
	{
		data = strdup("");
		len = 0;
	}
	if (resp.reset_after >= 0 || resp.reset_after == -2)
	{
		ResetBody  *r = malloc(sizeof(ResetBody));

		r->data = data;
		r->len = len;
		r->limit = resp.reset_after >= 0 ? (size_t) resp.reset_after : len / 2;
		if (r->limit > len)
			r->limit = len;
		mr = MHD_create_response_from_callback(len, 4096, reset_reader, r, reset_free);
	}
	else
		mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type);
	for (i = 0; i < resp.nheaders; i++)
		MHD_add_response_header(mr, resp.header_name[i], resp.header_value[i]);
	ret = MHD_queue_response(con, (unsigned) resp.status, mr);
	MHD_destroy_response(mr);
	request_free(&req);
	response_free(&resp);
	return ret;
}

static void
log_cb(void *cls, const char *fmt, va_list ap)
{
	HttpServer *h = cls;

	if (h->srv->cfg.quiet)
		return;
	fprintf(stderr, "devsearch: ");
	vfprintf(stderr, fmt, ap);
}

HttpServer *
http_start(Server *srv, const char *host, int port)
{
	HttpServer *h = calloc(1, sizeof(HttpServer));
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;

	if (h == NULL)
		abort();
	h->srv = srv;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
	{
		fprintf(stderr, "devsearch: invalid --host \"%s\" (an IPv4 address is expected)\n", host);
		free(h);
		return NULL;
	}
	h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
							MHD_USE_ERROR_LOG,
							(uint16_t) port, NULL, NULL, handler, h,
							MHD_OPTION_EXTERNAL_LOGGER, log_cb, h,
							MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
							MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, h,
							MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 0,
							/* bigger read buffer: fewer, larger upload chunks */
							MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (1024 * 1024),
							MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
							MHD_OPTION_END);
	if (h->d == NULL)
	{
		fprintf(stderr, "devsearch: could not listen on %s:%d: %s\n", host, port, strerror(errno));
		free(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	return h;
}

int
http_port(const HttpServer *h)
{
	return h->port;
}

void
http_stop(HttpServer *h)
{
	MHD_stop_daemon(h->d);
	free(h);
}
