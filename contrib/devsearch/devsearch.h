/*
 * devsearch.h — core types of the development search server.
 *
 * Owns: Request and Response (transport independent), Server (all state,
 * guarded by Server.lock) and the dispatcher entry point.
 *
 * Invariants:
 *  - server_dispatch() never touches the network: http.c (libmicrohttpd glue)
 *    and fuzz harnesses build a Request, call server_dispatch(), and send or
 *    inspect the Response.  The dispatcher takes Server.lock itself.
 *  - A Request's body is already gzip-decoded and NUL-terminated (body[len]
 *    == '\0'), so parsers may rely on a terminator but must use body_len.
 *  - Transport faults (delay, stall, reset) are decided by the dispatcher and
 *    only described in the Response; the transport carries them out without
 *    holding the lock, so they never block other connections.
 */
#ifndef DEVSEARCH_H
#define DEVSEARCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "jsonbuf.h"

#define DEVSEARCH_VERSION "0.1.0"

typedef struct KeyValue
{
	char	   *name;
	char	   *value;			/* "" when given without '=' */
} KeyValue;

typedef enum HttpMethod
{
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OTHER
} HttpMethod;

typedef struct Request
{
	HttpMethod	method;
	char	   *method_name;	/* as sent, e.g. "GET" */
	char	   *path;			/* raw (still percent-encoded), no query */
	int			nseg;			/* path segments, percent-decoded */
	char	  **seg;
	int			nparams;		/* query parameters, percent-decoded */
	KeyValue   *params;
	int			nheaders;
	KeyValue   *headers;
	char	   *body;			/* decoded body, NUL-terminated; NULL if none */
	size_t		body_len;
	bool		has_body;		/* a body was sent (even if empty) */
} Request;

/* Request construction (used by http.c and by fuzz harnesses) */
void		request_init(Request *req);
/* method ("GET"...) and target ("/a/b?x=1&y"); 0 ok, -1 malformed target */
int			request_set_target(Request *req, const char *method, const char *target);
void		request_add_header(Request *req, const char *name, const char *value);
/* copies the bytes; body_len may be 0 */
void		request_set_body(Request *req, const char *body, size_t len);
void		request_free(Request *req);
/* query parameter value, NULL if absent ("" if present without value) */
const char *req_param(const Request *req, const char *name);
/* header value (case-insensitive name), NULL if absent */
const char *req_header(const Request *req, const char *name);
/* boolean parameter: absent -> dflt; "" or "true" -> true; "false" -> false;
 * anything else -> -1 (caller reports illegal_argument) */
int			req_param_bool(const Request *req, const char *name, bool dflt);

#define RESP_MAX_HEADERS 8

typedef struct Response
{
	int			status;
	char		content_type[96];
	int			nheaders;
	char	   *header_name[RESP_MAX_HEADERS];
	char	   *header_value[RESP_MAX_HEADERS];
	JsonBuf		body;
	bool		head;			/* HEAD request: send no body */
	bool		error_trace;	/* ?error_trace=true: errors carry stack_trace */
	/* transport faults, set by the dispatcher */
	long		delay_ms;		/* sleep before answering */
	long		stall_ms;		/* -1 none; 0 until faults cleared; >0 max */
	long		reset_after;	/* -1 none; -2 half the body; else close after
								 * this many bytes */
} Response;

void		response_init(Response *resp);
void		response_free(Response *resp);
void		response_add_header(Response *resp, const char *name, const char *value);
/* status + JSON body already in resp->body */
void		response_json(Response *resp, int status);

typedef enum Flavor
{
	FLAVOR_ELASTICSEARCH,
	FLAVOR_OPENSEARCH
} Flavor;

typedef struct ServerConfig
{
	Flavor		flavor;
	int64_t		gc_deletes_ms;	/* default index.gc_deletes */
	int64_t		max_content_length;	/* bytes */
	uint64_t	seed;
	bool		quiet;
	bool		no_auto_create;	/* action.auto_create_index: false */
	const char *request_log;	/* file of the request log (reqlog.c), or NULL */
} ServerConfig;

struct Store;
struct Faults;
struct Stats;

typedef struct Server
{
	pthread_mutex_t lock;		/* guards everything below */
	pthread_cond_t faults_changed;	/* broadcast when faults change */
	ServerConfig cfg;
	struct Store *store;
	struct Faults *faults;
	struct Stats *stats;
	uint64_t	fault_generation;	/* bumped when faults are cleared */
	bool		stopping;		/* shutting down: delayed answers go at once */
	struct ScrollCtx *scrolls;	/* open scroll contexts (scroll.c) */
	uint64_t	scroll_seq;
	int			request_log_fd; /* reqlog.c; -1 = no request log */
} Server;

/* create/destroy all state; cfg is copied */
Server	   *server_create(const ServerConfig *cfg);
void		server_destroy(Server *srv);

/*
 * THE entry point: handle one request completely.  Takes srv->lock while it
 * touches state.  resp must be response_init()ed; the caller frees it.
 * Safe to call from a fuzz harness without any network.
 */
void		server_dispatch(Server *srv, const Request *req, Response *resp);

/* clock helpers (util.c) */
int64_t		now_mono_ms(void);
int64_t		now_epoch_ms(void);
/* "60s", "100ms", "-1", "1m", "2h", "1d", "500nanos"... -> ms; -1 on error
 * is ambiguous, so result in *out, return 0 ok / -1 bad */
int			parse_time_value(const char *s, int64_t *out_ms);
/* "100mb", "1kb", "512" (bytes) -> bytes; 0 ok / -1 bad */
int			parse_byte_size(const char *s, int64_t *out);
/* random uuid-like base64url string of 22 chars (+NUL) */
void		random_uuid(char out[23]);

#endif
