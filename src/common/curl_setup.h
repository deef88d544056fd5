/*-------------------------------------------------------------------------
 *
 * curl_setup.h
 *	  The part of every request to a search cluster that the backend
 *	  (src/extension/http.c) and the streamer (src/streamer/es_client.c)
 *	  set up alike on a libcurl easy handle: URL, protocols, redirects,
 *	  the reindex.allowed_hosts check, TLS, authentication and the common
 *	  headers.  Each side adds its own timeouts, callbacks, method and body.
 *
 *	  Invariants: only http and https, no redirect followed, no signals;
 *	  TLS verification stays on unless the endpoint turns it off; every
 *	  socket is checked against allowed_hosts (host_allow.h); credentials go
 *	  to libcurl only, and the header list's copy of an API key is wiped
 *	  when the list is freed with curl_setup_free_headers.  Nothing here
 *	  logs, allocates through PostgreSQL or longjmps.
 *
 * IDENTIFICATION
 *	  src/common/curl_setup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef REINDEX_CURL_SETUP_H
#define REINDEX_CURL_SETUP_H

#include <stdbool.h>

#include <curl/curl.h>

#include "host_allow.h"

/* how to reach a cluster for one request; strings may be NULL */
typedef struct CurlEndpoint
{
	const char *username;		/* basic authentication (with password) when
								 * not NULL */
	const char *password;
	const char *api_key;		/* Authorization: ApiKey (wins over basic) */
	const char *ca_file;
	bool		verify_tls;
	const char *allowed_hosts;	/* reindex.allowed_hosts; NULL/"" = any */
} CurlEndpoint;

/*
 * Set up e for a request to url; check receives the allowed-hosts state (it
 * must live as long as the transfer).  Returns the header list (Content-Type,
 * no "Expect: 100-continue", the API key), to which the caller may append
 * before setting CURLOPT_HTTPHEADER; NULL when out of memory.
 */
extern struct curl_slist *curl_setup_request(CURL *e, const CurlEndpoint *ep, const char *url,
											 const char *content_type, HostAllowCheck *check);

/* Wipe and free a header list made by curl_setup_request. */
extern void curl_setup_free_headers(struct curl_slist *headers);

#endif							/* REINDEX_CURL_SETUP_H */
