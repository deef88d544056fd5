/*
 * bulkbench.c — _bulk ingest benchmark (devsearch, or any Elasticsearch/
 * OpenSearch HTTP endpoint: the ingest ceiling of test/bench/engine_*.sh).
 *
 * Sends documents in bulk requests of B documents over C keep-alive TCP
 * connections (raw sockets, HTTP/1.1, one thread and one request in flight
 * per connection, requests taken in order from a shared counter), checks
 * every response is 200 with "errors":false, and prints docs/s.  Requests are
 * built before the clock starts.  The documents are N generated ~100 byte
 * documents, or with --file the NDJSON of a file (pairs of an action line and
 * a source line, e.g. the very documents of a benchmark, pre-rendered).  With
 * --pid it also prints the server's CPU time (user+system) over the run, docs
 * per server-CPU second and the server's peak RSS (VmHWM from /proc/PID/status).
 * Usage: bulkbench --port P [--host 127.0.0.1] [--docs 1000000] [--batch 10000]
 *                  [--conns 1] [--file NDJSON] [--pid PID]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
send_all(int fd, const char *p, size_t n)
{
	while (n > 0)
	{
		ssize_t		w = write(fd, p, n);

		if (w <= 0)
		{
			perror("write");
			exit(1);
		}
		p += w;
		n -= (size_t) w;
	}
}

/* read one HTTP response; returns status, checks for "errors":false */
static int
read_response(int fd, char **buf, size_t *cap, int *errors)
{
	size_t		len = 0;
	long		hdr_off = -1;	/* offset of the body (buf may move) */
	long		clen = -1;
	int			status;

	for (;;)
	{
		ssize_t		r;

		if (len + 65536 > *cap)
		{
			*cap = (*cap + 65536) * 2;
			*buf = realloc(*buf, *cap);
		}
		r = read(fd, *buf + len, *cap - len - 1);
		if (r <= 0)
		{
			fprintf(stderr, "connection closed\n");
			exit(1);
		}
		len += (size_t) r;
		(*buf)[len] = '\0';
		if (hdr_off < 0 && strstr(*buf, "\r\n\r\n") != NULL)
		{
			char	   *hdr_end = strstr(*buf, "\r\n\r\n");
			char	   *cl = strcasestr(*buf, "\r\nContent-Length:");

			hdr_off = hdr_end + 4 - *buf;
			if (cl == NULL || cl > hdr_end)
			{
				fprintf(stderr, "no content-length\n");
				exit(1);
			}
			clen = strtol(cl + 17, NULL, 10);
		}
		if (hdr_off >= 0 && (long) len - hdr_off >= clen)
			break;
	}
	status = atoi(*buf + 9);
	*errors = strstr(*buf + hdr_off, "\"errors\":false") == NULL;
	return status;
}

/* CPU seconds (user + system) used so far by process pid, -1 if unknown */
static double
proc_cpu_s(int pid)
{
	char		path[64],
				buf[1024];
	FILE	   *f;
	size_t		n;
	char	   *p;
	unsigned long ut,
				st;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields after the parenthesised command name; utime/stime are 14/15 */
	p = strrchr(buf, ')');
	if (p == NULL ||
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

/* the requests, shared by the connection threads */
static char **reqs;
static size_t *reqlen;
static long *reqdocs;
static long nreq;
static atomic_long next_req;
static atomic_long docs_done;
static struct sockaddr_in addr;

static int
connect_server(void)
{
	int			fd = socket(AF_INET, SOCK_STREAM, 0),
				one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
	{
		perror("connect");
		exit(1);
	}
	return fd;
}

static void *
conn_main(void *arg)
{
	int			fd = connect_server();
	char	   *resp = NULL;
	size_t		cap = 0;

	(void) arg;
	for (;;)
	{
		long		r = atomic_fetch_add(&next_req, 1);
		int			status,
					errors;

		if (r >= nreq)
			break;
		send_all(fd, reqs[r], reqlen[r]);
		status = read_response(fd, &resp, &cap, &errors);
		if (status != 200 || errors)
		{
			fprintf(stderr, "bulk failed: status %d errors %d: %.300s\n", status, errors,
					resp ? strstr(resp, "\r\n\r\n") : "");
			exit(1);
		}
		atomic_fetch_add(&docs_done, reqdocs[r]);
	}
	close(fd);
	free(resp);
	return NULL;
}

static void
add_request(const char *body, size_t len, long ndocs)
{
	char		hdr[256];
	int			hl = snprintf(hdr, sizeof(hdr),
							  "POST /_bulk HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\n"
							  "Content-Length: %zu\r\n\r\n", len);

	reqs = realloc(reqs, sizeof(char *) * (size_t) (nreq + 1));
	reqlen = realloc(reqlen, sizeof(size_t) * (size_t) (nreq + 1));
	reqdocs = realloc(reqdocs, sizeof(long) * (size_t) (nreq + 1));
	reqs[nreq] = malloc((size_t) hl + len);
	memcpy(reqs[nreq], hdr, (size_t) hl);
	memcpy(reqs[nreq] + hl, body, len);
	reqlen[nreq] = (size_t) hl + len;
	reqdocs[nreq] = ndocs;
	nreq++;
}

/* requests of `batch` action/source pairs from an NDJSON file */
static void
build_from_file(const char *path, long batch)
{
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL,
			   *body = NULL;
	size_t		lcap = 0,
				len = 0,
				bcap = 0;
	ssize_t		n;
	long		lines = 0;

	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	while ((n = getline(&line, &lcap, f)) > 0)
	{
		if (len + (size_t) n + 1 > bcap)
		{
			bcap = (len + (size_t) n + 1) * 2;
			body = realloc(body, bcap);
		}
		memcpy(body + len, line, (size_t) n);
		len += (size_t) n;
		if (line[n - 1] != '\n')
			body[len++] = '\n';
		if (++lines == 2 * batch)
		{
			add_request(body, len, batch);
			len = 0;
			lines = 0;
		}
	}
	if (lines % 2)
	{
		fprintf(stderr, "%s: an odd number of lines (action and source pairs expected)\n", path);
		exit(1);
	}
	if (lines)
		add_request(body, len, lines / 2);
	fclose(f);
	free(line);
	free(body);
}

/* requests of `batch` generated ~100 byte documents */
static void
build_generated(long ndocs, long batch)
{
	char	   *body = malloc((size_t) batch * 200 + 1);
	long		first;

	for (first = 0; first < ndocs; first += batch)
	{
		size_t		len = 0;
		long		n = ndocs - first < batch ? ndocs - first : batch;
		long		k;

		for (k = 0; k < n; k++)
		{
			long		id = first + k;

			len += (size_t) sprintf(body + len,
									"{\"index\":{\"_index\":\"bench\",\"_id\":\"%ld\"}}\n"
									"{\"id\":%ld,\"name\":\"user-%08ld\",\"email\":\"user%08ld@example.com\",\"score\":%ld.5,\"active\":true}\n",
									id, id, id, id, id % 1000);
		}
		add_request(body, len, n);
	}
	free(body);
}

int
main(int argc, char **argv)
{
	int			port = 9200,
				pid = 0,
				conns = 1,
				i;
	long		ndocs = 1000000,
				batch = 10000;
	const char *file = NULL,
			   *host = "127.0.0.1";
	double		t0,
				t,
				cpu0,
				cpu1;
	pthread_t  *th;
	long		r;

	for (i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--host") == 0)
			host = argv[i + 1];
		else if (strcmp(argv[i], "--docs") == 0)
			ndocs = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--batch") == 0)
			batch = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--conns") == 0)
			conns = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--file") == 0)
			file = argv[i + 1];
		else if (strcmp(argv[i], "--pid") == 0)
			pid = atoi(argv[i + 1]);
	}
	if (batch < 1 || conns < 1)
	{
		fprintf(stderr, "bulkbench: --batch and --conns must be positive\n");
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
	{
		fprintf(stderr, "bulkbench: --host must be an IPv4 address\n");
		return 2;
	}

	/*
	 * Build every request (headers and NDJSON body in one buffer) before the
	 * clock starts: the figure is the server's ingest rate, not the speed of
	 * this client's sprintf or file reading.
	 */
	if (file)
		build_from_file(file, batch);
	else
		build_generated(ndocs, batch);
	th = calloc((size_t) conns, sizeof(pthread_t));
	cpu0 = proc_cpu_s(pid);
	t0 = now_s();
	for (i = 0; i < conns; i++)
		pthread_create(&th[i], NULL, conn_main, NULL);
	for (i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	t = now_s() - t0;
	cpu1 = proc_cpu_s(pid);
	printf("docs=%ld batch=%ld conns=%d seconds=%.3f docs_per_sec=%.0f\n", (long) docs_done, batch,
		   conns, t, docs_done / t);
	if (cpu0 >= 0 && cpu1 > cpu0)
		printf("server_cpu_seconds=%.2f docs_per_server_cpu_sec=%.0f\n", cpu1 - cpu0,
			   docs_done / (cpu1 - cpu0));
	if (pid)
	{
		char		path[64],
					line[256];
		FILE	   *f;

		snprintf(path, sizeof(path), "/proc/%d/status", pid);
		if ((f = fopen(path, "r")) != NULL)
		{
			while (fgets(line, sizeof(line), f))
				if (strncmp(line, "VmHWM:", 6) == 0)
					printf("server_peak_rss %s", line + 6);
			fclose(f);
		}
	}
	for (r = 0; r < nreq; r++)
		free(reqs[r]);
	free(reqs);
	free(reqlen);
	free(reqdocs);
	free(th);
	return 0;
}
