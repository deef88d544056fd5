/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The backend's HTTP client for search clusters (libcurl easy handles),
 *	  and the undo of index creation by aborted transactions.
 *
 * SQL: reindex._http(endpoint, method, path, body, delete_on_abort)
 * returns (status, body).  It is internal (EXECUTE revoked from PUBLIC) and
 * is called by the SECURITY DEFINER functions of the SQL API, which parse
 * the JSON answer with jsonb; jansson is never linked into the server.
 *
 * Invariants:
 *	- Credentials are read from reindex.endpoint here and handed to libcurl
 *	  only (CURLOPT_USERNAME/PASSWORD or an Authorization header); no message,
 *	  log line or result ever contains them, and copies kept in memory are
 *	  wiped when freed.  URLs with user information are refused at
 *	  endpoint_add, so curl's own error texts cannot carry credentials.
 *	- Every request has a connect and a total timeout
 *	  (reindex.http_connect_timeout_ms, reindex.http_timeout_ms), follows no
 *	  redirect, speaks only http and https, and verifies TLS unless the
 *	  endpoint says verify_tls = false.
 *	- Every socket libcurl opens is checked against reindex.allowed_hosts
 *	  (src/common/host_allow.c) before it connects, whatever the name
 *	  resolved to; environment proxies are ignored while the list is set.
 *	  Protocols, redirects, TLS, authentication and the allowed-hosts check
 *	  are set up by src/common/curl_setup.c, as in the streamer.
 *	- A request is interruptible by query cancel and termination: the
 *	  progress callback aborts the transfer when an interrupt is pending, the
 *	  handle is cleaned up, then CHECK_FOR_INTERRUPTS() runs.  Nothing here
 *	  can longjmp out of libcurl: callbacks only use malloc and never ereport.
 *	- An index created with delete_on_abort is deleted again (best effort,
 *	  not interruptible, bounded by the timeouts) if the transaction or
 *	  subtransaction that created it aborts, so a failed reindex_begin
 *	  leaves no index behind.
 *
 * IDENTIFICATION
 *	  src/extension/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "extension.h"
#include "curl_setup.h"

/* largest response body kept (bigger answers are an error) */
#define HTTP_MAX_RESPONSE	(64 * 1024 * 1024)

/* how to reach one search cluster; strings are malloc'ed */
typedef struct HttpEndpoint
{
	char	   *name;
	char	   *url;			/* without trailing slash */
	char	   *auth;			/* none, basic, api_key */
	char	   *username;
	char	   *secret;
	char	   *ca_file;
	bool		verify_tls;
} HttpEndpoint;

/* response of one request; body is malloc'ed */
typedef struct HttpResponse
{
	long		status;
	char	   *body;
	size_t		len;
	bool		too_big;
	char		errbuf[CURL_ERROR_SIZE];
	HostAllowCheck allow;		/* reindex.allowed_hosts on every socket */
} HttpResponse;

/* an index to delete if the (sub)transaction that created it aborts */
typedef struct PendingDelete
{
	struct PendingDelete *next;
	SubTransactionId subid;
	HttpEndpoint ep;
	char	   *index;
} PendingDelete;

static PendingDelete *pending_deletes = NULL;

/*---- small helpers that never ereport ----*/

static char *
http_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void
http_wipe_free(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void
http_endpoint_free(HttpEndpoint *ep)
{
	free(ep->name);
	free(ep->url);
	free(ep->auth);
	free(ep->username);
	http_wipe_free(ep->secret);
	free(ep->ca_file);
	memset(ep, 0, sizeof(*ep));
}

static size_t
http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HttpResponse *res = (HttpResponse *) userdata;
	size_t		n = size * nmemb;
	char	   *grown;

	if (res->len + n > HTTP_MAX_RESPONSE)
	{
		res->too_big = true;
		return 0;
	}
	grown = realloc(res->body, res->len + n + 1);
	if (grown == NULL)
		return 0;
	res->body = grown;
	memcpy(res->body + res->len, ptr, n);
	res->len += n;
	res->body[res->len] = '\0';
	return n;
}

/* abort the transfer when the backend has an interrupt to serve */
static int
http_progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
				 curl_off_t ultotal, curl_off_t ulnow)
{
	bool		interruptible = *(bool *) clientp;

	return (interruptible && InterruptPending) ? 1 : 0;
}

/*
 * Perform one request.  Never ereports; returns the curl result and fills
 * *res (the caller frees res->body).
 */
static CURLcode
http_perform(const HttpEndpoint *ep, const char *method, const char *path,
			 const char *body, bool interruptible, HttpResponse *res)
{
	CURL	   *curl;
	CURLcode	rc;
	struct curl_slist *headers;
	char	   *url;
	CurlEndpoint cep;
	bool		basic = ep->auth && strcmp(ep->auth, "basic") == 0;
	bool		api_key = ep->auth && strcmp(ep->auth, "api_key") == 0;

	memset(res, 0, sizeof(*res));
	curl = curl_easy_init();
	if (curl == NULL)
	{
		strlcpy(res->errbuf, "could not create a curl handle", sizeof(res->errbuf));
		return CURLE_FAILED_INIT;
	}
	url = malloc(strlen(ep->url) + strlen(path) + 1);
	if (url == NULL)
	{
		curl_easy_cleanup(curl);
		return CURLE_OUT_OF_MEMORY;
	}
	strcpy(url, ep->url);
	strcat(url, path);

	memset(&cep, 0, sizeof(cep));
	cep.username = basic ? (ep->username ? ep->username : "") : NULL;
	cep.password = basic ? ep->secret : NULL;
	cep.api_key = api_key ? ep->secret : NULL;
	cep.ca_file = ep->ca_file;
	cep.verify_tls = ep->verify_tls;
	cep.allowed_hosts = reindex_allowed_hosts;
	headers = curl_setup_request(curl, &cep, url, "application/json", &res->allow);
	if (headers)
		headers = curl_slist_append(headers, "Accept: application/json");
	if (headers == NULL)
	{
		curl_easy_cleanup(curl);
		free(url);
		return CURLE_OUT_OF_MEMORY;
	}
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, res->errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) reindex_http_connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) reindex_http_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_progress_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &interruptible);

	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body)
	{
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
	else if (res->errbuf[0] == '\0')
		strlcpy(res->errbuf, curl_easy_strerror(rc), sizeof(res->errbuf));

	curl_easy_cleanup(curl);
	curl_setup_free_headers(headers);
	free(url);
	return rc;
}

/*---- reading the catalog ----*/

/*
 * Load an endpoint from reindex.endpoint (as the current user, normally the
 * extension owner through a SECURITY DEFINER function).
 */
static void
http_load_endpoint(const char *name, HttpEndpoint *ep)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *v;
	size_t		len;

	memset(ep, 0, sizeof(*ep));
	values[0] = CStringGetTextDatum(name);
	SPI_connect();
	ret = SPI_execute_with_args("SELECT url, auth, username, secret, ca_file, verify_tls"
								" FROM reindex.endpoint WHERE name = $1",
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read reindex.endpoint: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("search endpoint \"%s\" does not exist", name),
				 errhint("Add it with reindex.endpoint_add().")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	ep->name = http_strdup(name);
	v = SPI_getvalue(tup, desc, 1);
	ep->url = http_strdup(v);
	len = strlen(ep->url);
	while (len > 0 && ep->url[len - 1] == '/')
		ep->url[--len] = '\0';
	ep->auth = http_strdup(SPI_getvalue(tup, desc, 2));
	ep->username = http_strdup(SPI_getvalue(tup, desc, 3));
	v = SPI_getvalue(tup, desc, 4);
	ep->secret = http_strdup(v);
	if (v)
	{
		explicit_bzero(v, strlen(v));
		pfree(v);
	}
	ep->ca_file = http_strdup(SPI_getvalue(tup, desc, 5));
	ep->verify_tls = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
	SPI_finish();

	if (ep->url == NULL || ep->auth == NULL)
	{
		http_endpoint_free(ep);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
}

/*---- undo of index creation on abort ----*/

static void
pending_delete_run(PendingDelete *pd)
{
	HttpResponse res;
	CURLcode	rc;
	char	   *path;

	path = malloc(strlen(pd->index) + 2);
	if (path == NULL)
		return;
	path[0] = '/';
	strcpy(path + 1, pd->index);
	rc = http_perform(&pd->ep, "DELETE", path, NULL, false, &res);
	if (rc != CURLE_OK || (res.status >= 300 && res.status != 404))
		ereport(WARNING,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not delete index \"%s\" created by an aborted transaction on search endpoint \"%s\"",
						pd->index, pd->ep.name),
				 res.allow.refused[0] ?
				 errdetail("Address %s is not allowed by reindex.allowed_hosts.", res.allow.refused) :
				 rc != CURLE_OK ? errdetail("%s", curl_easy_strerror(rc)) :
				 errdetail("The cluster answered with HTTP status %ld.", res.status)));
	free(res.body);
	free(path);
}

static void
pending_delete_free(PendingDelete *pd)
{
	http_endpoint_free(&pd->ep);
	free(pd->index);
	free(pd);
}

/* run (abort) or forget (commit) the entries of subid, or of all if 0 */
static void
pending_deletes_finish(SubTransactionId subid, bool run, SubTransactionId parent)
{
	PendingDelete **link = &pending_deletes;

	while (*link)
	{
		PendingDelete *pd = *link;

		if (subid != InvalidSubTransactionId && pd->subid != subid)
		{
			link = &pd->next;
			continue;
		}
		if (!run && parent != InvalidSubTransactionId)
		{
			/* subtransaction committed: the parent now owns the index */
			pd->subid = parent;
			link = &pd->next;
			continue;
		}
		*link = pd->next;
		if (run)
			pending_delete_run(pd);
		pending_delete_free(pd);
	}
}

static void
http_xact_callback(XactEvent event, void *arg)
{
	if (pending_deletes == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			pending_deletes_finish(InvalidSubTransactionId, true, InvalidSubTransactionId);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			pending_deletes_finish(InvalidSubTransactionId, false, InvalidSubTransactionId);
			break;
		default:
			break;
	}
}

static void
http_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (pending_deletes == NULL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		pending_deletes_finish(mySubid, true, InvalidSubTransactionId);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		pending_deletes_finish(mySubid, false, parentSubid);
}

void
reindex_http_init(void)
{
	if (curl_global_init(CURL_GLOBAL_ALL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libcurl")));
	RegisterXactCallback(http_xact_callback, NULL);
	RegisterSubXactCallback(http_subxact_callback, NULL);
}

/*---- SQL interface ----*/

PG_FUNCTION_INFO_V1(reindex_http);

/*
 * reindex._http(endpoint text, method text, path text, body text,
 *				 delete_on_abort text, OUT status int, OUT body text)
 *
 * path starts with '/' and is appended to the endpoint's URL.  When
 * delete_on_abort names an index and the answer is a success, that index is
 * deleted again if the current (sub)transaction aborts.
 */
Datum
reindex_http(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *method;
	char	   *path;
	char	   *body = NULL;
	HttpEndpoint ep;
	HttpResponse res;
	CURLcode	rc;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("endpoint, method and path must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	method = text_to_cstring(PG_GETARG_TEXT_PP(1));
	path = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!PG_ARGISNULL(3))
		body = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (path[0] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request path must start with \"/\"")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	http_load_endpoint(name, &ep);
	rc = http_perform(&ep, method, path, body, true, &res);

	if (rc == CURLE_ABORTED_BY_CALLBACK || InterruptPending)
	{
		http_endpoint_free(&ep);
		free(res.body);
		CHECK_FOR_INTERRUPTS();
	}
	if (rc != CURLE_OK)
	{
		char		detail[CURL_ERROR_SIZE];
		char		refused[sizeof(res.allow.refused)];
		bool		too_big = res.too_big;

		strlcpy(detail, res.errbuf, sizeof(detail));
		strlcpy(refused, res.allow.refused, sizeof(refused));
		http_endpoint_free(&ep);
		free(res.body);
		if (refused[0])
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("connection to search endpoint \"%s\" refused: address %s is not allowed by reindex.allowed_hosts",
							name, refused),
					 errhint("A superuser can add the address or its range to reindex.allowed_hosts.")));
		if (too_big)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("response of search endpoint \"%s\" is larger than %d bytes",
							name, HTTP_MAX_RESPONSE)));
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not reach search endpoint \"%s\": %s",
						name, curl_easy_strerror(rc)),
				 errdetail("%s", detail)));
	}

	if (!PG_ARGISNULL(4) && res.status >= 200 && res.status < 300)
	{
		PendingDelete *pd = malloc(sizeof(PendingDelete));

		if (pd == NULL)
		{
			http_endpoint_free(&ep);
			free(res.body);
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		}
		pd->subid = GetCurrentSubTransactionId();
		pd->ep = ep;			/* takes over the strings */
		pd->index = strdup(text_to_cstring(PG_GETARG_TEXT_PP(4)));
		pd->next = NULL;
		if (pd->index == NULL)
			pending_delete_free(pd);
		else
		{
			pd->next = pending_deletes;
			pending_deletes = pd;
		}
	}
	else
		http_endpoint_free(&ep);

	if (res.body && !pg_verifymbstr(res.body, (int) res.len, true))
	{
		free(res.body);
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("response of search endpoint \"%s\" is not valid in the database encoding",
						name)));
	}
	values[0] = Int32GetDatum((int32) res.status);
	if (res.body)
		values[1] = CStringGetTextDatum(res.body);
	else
		values[1] = CStringGetTextDatum("");
	free(res.body);

	tupdesc = BlessTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
