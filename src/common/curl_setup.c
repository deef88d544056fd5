/*-------------------------------------------------------------------------
 *
 * curl_setup.c
 *	  libcurl setup shared by the backend and the streamer (curl_setup.h).
 *
 *	  Plain C with libcurl only (no postgres.h): the backend and the
 *	  streamer compile this same file.
 *
 * IDENTIFICATION
 *	  src/common/curl_setup.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_setup.h"

static void
wipe_free(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

struct curl_slist *
curl_setup_request(CURL *e, const CurlEndpoint *ep, const char *url,
				   const char *content_type, HostAllowCheck *check)
{
	struct curl_slist *h = NULL;
	char	   *line;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	host_allow_check_init(check, ep->allowed_hosts, url);
	host_allow_install(e, check);

	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, ep->verify_tls ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, ep->verify_tls ? 2L : 0L);
	if (ep->ca_file && *ep->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, ep->ca_file);

	line = malloc(strlen(content_type) + sizeof("Content-Type: "));
	if (line == NULL)
		return NULL;
	strcpy(line, "Content-Type: ");
	strcat(line, content_type);
	h = curl_slist_append(h, line);
	free(line);
	/* no "Expect: 100-continue" round trip */
	h = curl_slist_append(h, "Expect:");

	if (ep->api_key && *ep->api_key)
	{
		static const char prefix[] = "Authorization: ApiKey ";

		line = malloc(sizeof(prefix) + strlen(ep->api_key));
		if (line == NULL)
		{
			curl_setup_free_headers(h);
			return NULL;
		}
		strcpy(line, prefix);
		strcat(line, ep->api_key);
		h = curl_slist_append(h, line);
		wipe_free(line);
	}
	else if (ep->username)
	{
		/* basic whenever a username is given, even an empty one */
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, ep->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, ep->password ? ep->password : "");
	}
	return h;
}

void
curl_setup_free_headers(struct curl_slist *headers)
{
	struct curl_slist *h;

	for (h = headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(headers);
}
