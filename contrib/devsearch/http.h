/*
 * http.h — the libmicrohttpd transport of devsearch (the only file that
 * knows about MHD is http.c).
 */
#ifndef DEVSEARCH_HTTP_H
#define DEVSEARCH_HTTP_H

#include "devsearch.h"

typedef struct HttpServer HttpServer;

/* start listening (port 0 = any free port); NULL on failure (logged) */
HttpServer *http_start(Server *srv, const char *host, int port);
int			http_port(const HttpServer *h);
void		http_stop(HttpServer *h);

#endif
