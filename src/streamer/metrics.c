/*
 * metrics.c: the Prometheus endpoint of reindex_streamer (see metrics.h).
 *
 * Owns: the listening socket, up to MAX_CLIENTS scrape connections (each
 * read until the end of its request head, answered, closed; one that is not
 * done within CLIENT_TIMEOUT_MS is dropped), and the process-wide counters.
 * Every socket is non-blocking and served from the main poll loop, so a slow
 * or hostile scraper can delay nothing but itself.
 *
 * Metric names (all prefixed reindex_streamer_, label index="<index name>",
 * escaped as the exposition format says) are listed in src/streamer/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "es_client.h"
#include "log.h"
#include "metrics.h"
#include "target.h"

#define MAX_CLIENTS 8
#define CLIENT_TIMEOUT_MS 5000
#define REQUEST_MAX 4096

typedef struct Client
{
	int			fd;				/* -1: free slot */
	char		in[REQUEST_MAX];
	size_t		inlen;
	Buf			out;			/* the answer, once the request is read */
	size_t		outoff;
	bool		answering;
	uint64_t	started_ms;
} Client;

static int	listen_fd = -1;
static Client clients[MAX_CLIENTS];

/* upper bounds of the bulk latency buckets, in seconds (+Inf implied) */
static const double bucket_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NBUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))
static atomic_ullong bucket_count[NBUCKETS + 1];
static atomic_ullong bulk_count;
static atomic_ullong bulk_sum_us;
static atomic_ullong reconnects;

/*---- counters ----*/

void
metrics_observe_bulk(double seconds)
{
	size_t		i = 0;

	while (i < NBUCKETS && seconds > bucket_le[i])
		i++;
	atomic_fetch_add(&bucket_count[i], 1);
	atomic_fetch_add(&bulk_count, 1);
	atomic_fetch_add(&bulk_sum_us, (unsigned long long) (seconds * 1e6));
}

void
metrics_count_reconnect(void)
{
	atomic_fetch_add(&reconnects, 1);
}

/*---- listening ----*/

static void
set_nonblocking(int fd)
{
	int			fl = fcntl(fd, F_GETFL, 0);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void
metrics_listen(const char *address)
{
	char		host[256];
	const char *port;
	const char *colon = strrchr(address, ':');
	struct addrinfo hints,
			   *res = NULL,
			   *ai;
	int			rc,
				one = 1;
	struct sockaddr_storage ss;
	socklen_t	sslen = sizeof(ss);
	char		shost[NI_MAXHOST],
				sport[NI_MAXSERV];

	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	if (colon == NULL || (size_t) (colon - address) >= sizeof(host) || colon[1] == '\0')
		fatal("--metrics-address must be HOST:PORT (e.g. 127.0.0.1:9187), not \"%s\"", address);
	memcpy(host, address, colon - address);
	host[colon - address] = '\0';
	port = colon + 1;
	/* [v6 address] */
	if (host[0] == '[' && host[strlen(host) - 1] == ']')
	{
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0)
		fatal("--metrics-address %s: %s", address, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next)
	{
		listen_fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (listen_fd < 0)
			continue;
		setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(listen_fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(listen_fd, 16) == 0)
			break;
		close(listen_fd);
		listen_fd = -1;
	}
	freeaddrinfo(res);
	if (listen_fd < 0)
		fatal("--metrics-address %s: could not listen: %s", address, strerror(errno));
	set_nonblocking(listen_fd);
	if (getsockname(listen_fd, (struct sockaddr *) &ss, &sslen) == 0 &&
		getnameinfo((struct sockaddr *) &ss, sslen, shost, sizeof(shost), sport, sizeof(sport),
					NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		log_info(NULL, "metrics on http://%s%s%s:%s/metrics", strchr(shost, ':') ? "[" : "",
				 shost, strchr(shost, ':') ? "]" : "", sport);
}

void
metrics_close(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
		{
			close(clients[i].fd);
			buf_free(&clients[i].out);
			clients[i].fd = -1;
		}
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
}

/*---- the answer ----*/

/* a label value, escaped: backslash, double quote and line feed */
static void
put_label(Buf *b, const char *v)
{
	buf_puts(b, "{index=\"");
	for (; v && *v; v++)
	{
		if (*v == '\\')
			buf_puts(b, "\\\\");
		else if (*v == '"')
			buf_puts(b, "\\\"");
		else if (*v == '\n')
			buf_puts(b, "\\n");
		else
			buf_append(b, v, 1);
	}
	buf_puts(b, "\"}");
}

static void
head(Buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP reindex_streamer_%s %s\n# TYPE reindex_streamer_%s %s\n",
			   name, help, name, type);
}

typedef enum
{
	M_LAG_BYTES, M_LAG_SECONDS, M_APPLIED, M_STALE, M_RETRIED, M_DEAD, M_ROWS_DONE, M_ROWS_EST
} PerTarget;

static const struct
{
	const char *name;
	const char *type;
	const char *help;
}			per_target[] = {
	{"lag_bytes", "gauge", "WAL bytes between the server's position and what the target confirmed."},
	{"lag_seconds", "gauge", "Age of the oldest change not yet acknowledged by the cluster."},
	{"events_applied_total", "counter", "Streamed changes the cluster acknowledged."},
	{"stale_rejected_total", "counter", "Writes the cluster refused as older than the document (version conflict: normal)."},
	{"retried_total", "counter", "Bulk items sent again after a 429, 5xx or transport error."},
	{"dead_lettered_total", "counter", "Changes refused for good and recorded in reindex.dead_letter."},
	{"backfill_rows_done", "gauge", "Rows backfilled by this streamer."},
	{"backfill_rows_estimated", "gauge", "Rows the backfill expects (the table's estimate at reindex_begin)."},
};

static void
put_value(Buf *b, Target *t, PerTarget m)
{
	switch (m)
	{
		case M_LAG_BYTES:
			buf_printf(b, " %" PRIu64 "\n", t->lag_bytes);
			break;
		case M_LAG_SECONDS:
			buf_printf(b, " %.3f\n", t->lag_seconds);
			break;
		case M_APPLIED:
			buf_printf(b, " %lld\n", (long long) atomic_load(&t->c.events_applied));
			break;
		case M_STALE:
			buf_printf(b, " %lld\n", (long long) atomic_load(&t->c.stale_rejected));
			break;
		case M_RETRIED:
			buf_printf(b, " %lld\n", (long long) atomic_load(&t->c.retried));
			break;
		case M_DEAD:
			buf_printf(b, " %lld\n", (long long) atomic_load(&t->c.dead_lettered));
			break;
		case M_ROWS_DONE:
			buf_printf(b, " %lld\n", (long long) atomic_load(&t->c.rows_backfilled));
			break;
		case M_ROWS_EST:
			buf_printf(b, " %lld\n", (long long) t->rows_estimated);
			break;
	}
}

static long long
rss_bytes(void)
{
	FILE	   *f = fopen("/proc/self/statm", "r");
	long long	size = 0,
				resident = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lld %lld", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static void
render(Buf *b, Target **targets, int n)
{
	unsigned long long cum = 0;

	for (size_t m = 0; m < sizeof(per_target) / sizeof(per_target[0]); m++)
	{
		head(b, per_target[m].name, per_target[m].type, per_target[m].help);
		for (int i = 0; i < n; i++)
		{
			buf_printf(b, "reindex_streamer_%s", per_target[m].name);
			put_label(b, targets[i]->index_name);
			put_value(b, targets[i], (PerTarget) m);
		}
	}
	head(b, "bulk_request_duration_seconds", "histogram", "Time from sending a _bulk request to its answer.");
	for (size_t i = 0; i <= NBUCKETS; i++)
	{
		cum += atomic_load(&bucket_count[i]);
		if (i < NBUCKETS)
			buf_printf(b, "reindex_streamer_bulk_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
					   bucket_le[i], cum);
		else
			buf_printf(b, "reindex_streamer_bulk_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
	}
	buf_printf(b, "reindex_streamer_bulk_request_duration_seconds_sum %.6f\n",
			   atomic_load(&bulk_sum_us) / 1e6);
	buf_printf(b, "reindex_streamer_bulk_request_duration_seconds_count %llu\n",
			   (unsigned long long) atomic_load(&bulk_count));
	{
		unsigned long long sent,
					raw;

		es_bulk_bytes(&sent, &raw);
		head(b, "bulk_body_bytes_total", "counter", "Bytes of _bulk request bodies as sent (gzipped with --compress).");
		buf_printf(b, "reindex_streamer_bulk_body_bytes_total %llu\n", sent);
		head(b, "bulk_body_uncompressed_bytes_total", "counter", "Bytes of _bulk request bodies before compression.");
		buf_printf(b, "reindex_streamer_bulk_body_uncompressed_bytes_total %llu\n", raw);
	}
	head(b, "inflight_requests", "gauge", "Asynchronous _bulk requests in flight.");
	buf_printf(b, "reindex_streamer_inflight_requests %d\n", es_inflight());
	head(b, "reconnects_total", "counter", "Catalog sessions and replication streams lost and opened again.");
	buf_printf(b, "reindex_streamer_reconnects_total %llu\n", (unsigned long long) atomic_load(&reconnects));
	head(b, "targets", "gauge", "Targets this streamer serves.");
	buf_printf(b, "reindex_streamer_targets %d\n", n);
	buf_puts(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
			 "# TYPE process_resident_memory_bytes gauge\n");
	buf_printf(b, "process_resident_memory_bytes %lld\n", rss_bytes());
}

static void
answer(Client *c, Target **targets, int n)
{
	Buf			body = {0};
	bool		ok = strncmp(c->in, "GET /metrics ", 13) == 0 || strncmp(c->in, "GET /metrics?", 13) == 0;

	if (ok)
		render(&body, targets, n);
	else
		buf_puts(&body, "not found: the metrics are at /metrics\n");
	buf_printf(&c->out, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			   ok ? "200 OK" : "404 Not Found", body.len);
	buf_append(&c->out, body.data ? body.data : "", body.len);
	buf_free(&body);
	c->answering = true;
	c->outoff = 0;
}

static void
drop(Client *c)
{
	close(c->fd);
	buf_free(&c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/*---- the poll loop's side ----*/

int
metrics_poll_fds(int *fds, short *events, int room)
{
	int			n = 0;
	uint64_t	now = now_ms();

	if (listen_fd < 0 || room <= 0)
		return 0;
	fds[n] = listen_fd;
	events[n++] = POLLIN;
	for (int i = 0; i < MAX_CLIENTS && n < room; i++)
	{
		Client	   *c = &clients[i];

		if (c->fd < 0)
			continue;
		if (now - c->started_ms > CLIENT_TIMEOUT_MS)
		{
			drop(c);
			continue;
		}
		fds[n] = c->fd;
		events[n++] = c->answering ? POLLOUT : POLLIN;
	}
	return n;
}

static Client *
client_of(int fd)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd == fd)
			return &clients[i];
	return NULL;
}

void
metrics_serve(const int *fds, const short *revents, int n, Target **targets, int ntargets)
{
	for (int k = 0; k < n; k++)
	{
		Client	   *c;

		if (revents[k] == 0)
			continue;
		if (fds[k] == listen_fd)
		{
			int			fd;

			while ((fd = accept(listen_fd, NULL, NULL)) >= 0)
			{
				Client	   *slot = client_of(-1);

				if (slot == NULL)
				{
					close(fd);	/* too many scrapers at once */
					continue;
				}
				set_nonblocking(fd);
				memset(slot, 0, sizeof(*slot));
				slot->fd = fd;
				slot->started_ms = now_ms();
			}
			continue;
		}
		if ((c = client_of(fds[k])) == NULL)
			continue;
		if (!c->answering)
		{
			ssize_t		r = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);

			if (r <= 0)
			{
				if (r == 0 || (errno != EAGAIN && errno != EINTR))
					drop(c);
				continue;
			}
			c->inlen += (size_t) r;
			c->in[c->inlen] = '\0';
			if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
				answer(c, targets, ntargets);
			else if (c->inlen >= sizeof(c->in) - 1)
				drop(c);		/* no request head fits: not a scraper */
			continue;
		}
		{
			ssize_t		w = write(c->fd, c->out.data + c->outoff, c->out.len - c->outoff);

			if (w < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (w <= 0)
			{
				drop(c);
				continue;
			}
			c->outoff += (size_t) w;
			if (c->outoff == c->out.len)
				drop(c);
		}
	}
}
