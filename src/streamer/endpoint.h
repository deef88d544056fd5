/*
 * endpoint.h: where a target's documents go: a cluster URL and its
 * credentials (from the catalog or the environment).
 *
 * Credentials are never logged.  endpoint_copy and endpoint_free are in
 * es_client.c, the one user of the credentials.
 */
#ifndef REINDEX_STREAMER_ENDPOINT_H
#define REINDEX_STREAMER_ENDPOINT_H

#include <stdbool.h>

typedef struct Endpoint
{
	char	   *url;			/* base, without trailing slash */
	char	   *username;
	char	   *password;
	char	   *api_key;
	char	   *ca_file;
	bool		verify_tls;
} Endpoint;

void		endpoint_copy(Endpoint *dst, const Endpoint *src);
void		endpoint_free(Endpoint *ep);

#endif							/* REINDEX_STREAMER_ENDPOINT_H */
