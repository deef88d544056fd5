/*
 * main.c — command line and process lifecycle of devsearch, the development
 * search server.
 *
 * Owns: option parsing, the startup line ("devsearch listening on
 * http://HOST:PORT", flushed, first line on stdout) and clean exit (status
 * 0) on SIGTERM/SIGINT.  Invariants: listens on 127.0.0.1 unless --host.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devsearch.h"
#include "faults.h"
#include "http.h"

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	(void) sig;
	got_signal = 1;
}

static void
usage(FILE *out)
{
	fprintf(out,
			"Usage: devsearch --port N [options]\n"
			"An in-memory Elasticsearch/OpenSearch-compatible server for development and tests.\n\n"
			"Options:\n"
			"  --port N                 TCP port (0 = pick a free one)\n"
			"  --host ADDR              listen address (default 127.0.0.1)\n"
			"  --flavor NAME            elasticsearch (default) or opensearch\n"
			"  --gc-deletes TIME        default index.gc_deletes (default 60s)\n"
			"  --max-content-length SZ  http.max_content_length (default 100mb)\n"
			"  --fault SPEC             inject a fault, e.g. bulk_item_429:rate=0.1 (repeatable)\n"
			"  --seed N                 seed for fault decisions (default 1)\n"
			"  --no-auto-create-index   writes never create a missing index, as with\n"
			"                           action.auto_create_index: false\n"
			"  --quiet                  no log lines on stderr\n"
			"  --request-log FILE       append one JSON line per request to FILE (default:\n"
			"                           $DEVSEARCH_REQUEST_LOG when set)\n"
			"  --help                   show this help\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, 'H'},
		{"flavor", required_argument, NULL, 'f'},
		{"gc-deletes", required_argument, NULL, 'g'},
		{"max-content-length", required_argument, NULL, 'm'},
		{"fault", required_argument, NULL, 'F'},
		{"seed", required_argument, NULL, 's'},
		{"quiet", no_argument, NULL, 'q'},
		{"no-auto-create-index", no_argument, NULL, 'A'},
		{"request-log", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	ServerConfig cfg;
	Server	   *srv;
	HttpServer *http;
	const char *host = "127.0.0.1";
	long		port = -1;
	char	  **fault_specs = NULL;
	int			nfaults = 0,
				c,
				i;
	struct sigaction sa;
	sigset_t	mask,
				old;

	memset(&cfg, 0, sizeof(cfg));
	cfg.flavor = FLAVOR_ELASTICSEARCH;
	cfg.gc_deletes_ms = 60000;
	cfg.max_content_length = 100LL * 1024 * 1024;
	cfg.seed = 1;
	cfg.request_log = getenv("DEVSEARCH_REQUEST_LOG");
	if (cfg.request_log && cfg.request_log[0] == '\0')
		cfg.request_log = NULL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'p':
				port = strtol(optarg, NULL, 10);
				break;
			case 'H':
				host = optarg;
				break;
			case 'f':
				if (strcmp(optarg, "elasticsearch") == 0)
					cfg.flavor = FLAVOR_ELASTICSEARCH;
				else if (strcmp(optarg, "opensearch") == 0)
					cfg.flavor = FLAVOR_OPENSEARCH;
				else
				{
					fprintf(stderr, "devsearch: unknown flavor \"%s\"\n", optarg);
					return 2;
				}
				break;
			case 'g':
				if (parse_time_value(optarg, &cfg.gc_deletes_ms) < 0)
				{
					fprintf(stderr, "devsearch: invalid --gc-deletes \"%s\"\n", optarg);
					return 2;
				}
				break;
			case 'm':
				if (parse_byte_size(optarg, &cfg.max_content_length) < 0)
				{
					fprintf(stderr, "devsearch: invalid --max-content-length \"%s\"\n", optarg);
					return 2;
				}
				break;
			case 'F':
				fault_specs = realloc(fault_specs, sizeof(char *) * (size_t) (nfaults + 1));
				fault_specs[nfaults++] = optarg;
				break;
			case 's':
				cfg.seed = strtoull(optarg, NULL, 10);
				break;
			case 'q':
				cfg.quiet = true;
				break;
			case 'A':
				cfg.no_auto_create = true;
				break;
			case 'L':
				cfg.request_log = optarg;
				break;
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	}
	if (port < 0 || port > 65535)
	{
		usage(stderr);
		return 2;
	}
	srv = server_create(&cfg);
	for (i = 0; i < nfaults; i++)
	{
		char		err[200];

		if (faults_add_spec(srv->faults, fault_specs[i], err, sizeof(err)) < 0)
		{
			fprintf(stderr, "devsearch: invalid --fault \"%s\": %s\n", fault_specs[i], err);
			return 2;
		}
	}
	free(fault_specs);

	/* block the signals in every thread; the main thread waits for them */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);

	http = http_start(srv, host, (int) port);
	if (http == NULL)
		return 1;
	printf("devsearch listening on http://%s:%d\n", host, http_port(http));
	fflush(stdout);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* signals stay blocked except while waiting: no wake-up can be lost */
	while (!got_signal)
		sigsuspend(&old);
	if (!cfg.quiet)
		fprintf(stderr, "devsearch: shutting down\n");
	/* release stalled and delayed connections before stopping */
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	faults_clear(srv);
	pthread_mutex_unlock(&srv->lock);
	http_stop(http);
	server_destroy(srv);
	return 0;
}
