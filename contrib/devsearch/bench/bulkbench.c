/*
 * bulkbench.c — _bulk ingest benchmark for devsearch.
 *
 * Sends N small (~100 byte) documents in bulk requests of B documents over
 * ONE keep-alive TCP connection (raw sockets, HTTP/1.1), checks every
 * response is 200 with "errors":false, and prints docs/s.  Requests are
 * built before the clock starts.  With --pid it also prints the server's CPU
 * time (user+system) over the run and docs per server-CPU second.  With --pid it
 * also prints the server's peak RSS (VmHWM from /proc/PID/status).
 * Usage: bulkbench --port P [--docs 1000000] [--batch 10000] [--pid PID]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

int
main(int argc, char **argv)
{
	int			port = 9200,
				pid = 0,
				i;
	long		ndocs = 1000000,
				batch = 10000;
	int			fd,
				one = 1;
	struct sockaddr_in addr;
	char	   *body,
			   *resp = NULL;
	size_t		cap = 0;
	double		t0,
				t,
				cpu0,
				cpu1;
	long		sent = 0;
	char		hdr[256];
	char	  **reqs;
	size_t	   *reqlen;
	long		nreq,
				r;

	for (i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--docs") == 0)
			ndocs = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--batch") == 0)
			batch = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--pid") == 0)
			pid = atoi(argv[i + 1]);
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
	{
		perror("connect");
		return 1;
	}
	/*
	 * Build every request (headers and NDJSON body in one buffer) before the
	 * clock starts: the figure is the server's ingest rate, not the speed of
	 * this client's sprintf.
	 */
	nreq = (ndocs + batch - 1) / batch;
	reqs = calloc((size_t) nreq, sizeof(char *));
	reqlen = calloc((size_t) nreq, sizeof(size_t));
	body = malloc((size_t) batch * 200 + 1);
	for (r = 0; r < nreq; r++)
	{
		size_t		len = 0;
		long		first = r * batch;
		long		n = ndocs - first < batch ? ndocs - first : batch;
		long		k;
		int			hl;

		for (k = 0; k < n; k++)
		{
			long		id = first + k;

			/* ~100 byte source */
			len += (size_t) sprintf(body + len,
									"{\"index\":{\"_index\":\"bench\",\"_id\":\"%ld\"}}\n"
									"{\"id\":%ld,\"name\":\"user-%08ld\",\"email\":\"user%08ld@example.com\",\"score\":%ld.5,\"active\":true}\n",
									id, id, id, id, id % 1000);
		}
		hl = snprintf(hdr, sizeof(hdr),
					  "POST /_bulk HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\n"
					  "Content-Length: %zu\r\n\r\n", len);
		reqs[r] = malloc((size_t) hl + len);
		memcpy(reqs[r], hdr, (size_t) hl);
		memcpy(reqs[r] + hl, body, len);
		reqlen[r] = (size_t) hl + len;
	}
	cpu0 = proc_cpu_s(pid);
	t0 = now_s();
	for (r = 0; r < nreq; r++)
	{
		long		n = ndocs - r * batch < batch ? ndocs - r * batch : batch;
		int			status,
					errors;

		send_all(fd, reqs[r], reqlen[r]);
		status = read_response(fd, &resp, &cap, &errors);
		if (status != 200 || errors)
		{
			fprintf(stderr, "bulk failed: status %d errors %d\n", status, errors);
			return 1;
		}
		sent += n;
	}
	t = now_s() - t0;
	cpu1 = proc_cpu_s(pid);
	printf("docs=%ld batch=%ld seconds=%.3f docs_per_sec=%.0f\n", sent, batch, t, sent / t);
	if (cpu0 >= 0 && cpu1 > cpu0)
		printf("server_cpu_seconds=%.2f docs_per_server_cpu_sec=%.0f\n", cpu1 - cpu0,
			   sent / (cpu1 - cpu0));
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
	close(fd);
	for (r = 0; r < nreq; r++)
		free(reqs[r]);
	free(reqs);
	free(reqlen);
	free(body);
	free(resp);
	return 0;
}
