/*-------------------------------------------------------------------------
 *
 * host_allow.h
 *	  The list of hosts and address ranges search endpoints may use
 *	  (the setting reindex.allowed_hosts), shared by the backend
 *	  (src/extension/http.c, endpoint_add/endpoint_alter) and the streamer
 *	  (src/streamer/es_client.c).
 *
 *	  A list is a comma- or space-separated set of entries, each
 *		- a host name ("es.internal"), matched case-insensitively against the
 *		  host of the URL; "*.example.com" matches every name below
 *		  example.com.  A listed name is trusted whatever it resolves to;
 *		- an IPv4 or IPv6 address, optionally with a prefix length
 *		  ("10.0.0.0/8", "fd00::/8", "127.0.0.1").
 *	  An empty list allows everything.
 *
 *	  Invariants: nothing here allocates, logs or longjmps (the functions
 *	  run inside libcurl callbacks of a backend); a list that does not parse
 *	  allows nothing.  A connection is allowed when the list is empty, the
 *	  URL's host is listed (by name, or as an address literal in a range), or
 *	  the address actually being connected to lies in a listed range: the
 *	  last check runs on every socket libcurl opens (host_allow_opensocket),
 *	  so a name that resolved to an allowed address when the endpoint was
 *	  added cannot later lead elsewhere (DNS rebinding).
 *
 * IDENTIFICATION
 *	  src/common/host_allow.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef REINDEX_HOST_ALLOW_H
#define REINDEX_HOST_ALLOW_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

struct sockaddr;

/* Does the list hold no entry (everything allowed)? */
extern bool host_allow_list_empty(const char *list);

/* Does the list parse?  On failure err says which entry is wrong. */
extern bool host_allow_list_valid(const char *list, char *err, size_t errlen);

/* Is this host (a name or an address literal, brackets allowed) listed? */
extern bool host_allow_name(const char *list, const char *host);

/* Does this socket address lie in a listed address or range? */
extern bool host_allow_addr(const char *list, const struct sockaddr *sa);

/* Copy the host of an http(s) URL into host (no brackets); false if none. */
extern bool host_allow_url_host(const char *url, char *host, size_t hostlen);

/* Text form of a socket address ("192.0.2.1", "2001:db8::1"). */
extern void host_allow_addr_text(const struct sockaddr *sa, char *out, size_t outlen);

/*
 * State of one transfer's address check, for host_allow_opensocket: list is
 * the allowed-hosts list (NULL or "" = everything), name_allowed whether the
 * URL's host is listed by name.  refused receives the first address refused.
 */
typedef struct HostAllowCheck
{
	const char *list;
	bool		name_allowed;
	char		refused[64];
} HostAllowCheck;

/* Prepare a check for a request to url under list. */
extern void host_allow_check_init(HostAllowCheck *check, const char *list, const char *url);

/*
 * Install the check on an easy handle: CURLOPT_OPENSOCKETFUNCTION refuses
 * every address the list does not allow, and environment proxies are turned
 * off while a list is set (the proxy, not the cluster, would be checked).
 * check must live as long as the transfer.
 */
extern void host_allow_install(CURL *curl, HostAllowCheck *check);

#endif							/* REINDEX_HOST_ALLOW_H */
