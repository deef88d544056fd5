/*
 * reqlog.c — the request log of devsearch (--request-log FILE, or the
 * DEVSEARCH_REQUEST_LOG environment variable).
 *
 * Owns: one JSON line per request, written in the order requests are
 * executed (server_dispatch calls reqlog_write under Server.lock):
 *   {"pid":N,"method":"POST","target":"/i/_bulk?refresh=true",
 *    "ctype":"application/x-ndjson","body":"..."}
 * The target is rebuilt from the raw path and the decoded query parameters
 * (percent-encoded again); the body is the decoded one (after gzip).  Used
 * to record the HTTP traffic of test suites once, for the differential test
 * against a real engine (test/differential/record_traffic.py).
 * Invariants: each line reaches the file in one write(2) on a descriptor
 * opened with O_APPEND, so several servers may share one file (the pid tells
 * their lines apart); a failing write is reported once and logging stops,
 * never the server.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reqlog.h"

int
reqlog_open(const char *path)
{
	int			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		perror(path);
	return fd;
}

static void
put_encoded(JsonBuf *jb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '*' || c == ',')
			jb_char(jb, (char) c);
		else
		{
			jb_char(jb, '%');
			jb_char(jb, hex[c >> 4]);
			jb_char(jb, hex[c & 15]);
		}
	}
}

void
reqlog_write(Server *srv, const Request *req)
{
	JsonBuf		line,
				target;
	const char *ct = req_header(req, "Content-Type");
	int			i;

	if (srv->request_log_fd < 0)
		return;
	jb_init(&target);
	jb_cstr(&target, req->path ? req->path : "/");
	for (i = 0; i < req->nparams; i++)
	{
		jb_char(&target, i == 0 ? '?' : '&');
		put_encoded(&target, req->params[i].name);
		if (req->params[i].value[0] != '\0')
		{
			jb_char(&target, '=');
			put_encoded(&target, req->params[i].value);
		}
	}
	jb_init(&line);
	jb_printf(&line, "{\"pid\":%ld,\"method\":", (long) getpid());
	jb_qcstr(&line, req->method_name ? req->method_name : "GET");
	jb_cstr(&line, ",\"target\":");
	jb_str(&line, target.data, target.len);
	jb_cstr(&line, ",\"ctype\":");
	if (ct)
		jb_qcstr(&line, ct);
	else
		jb_cstr(&line, "null");
	jb_cstr(&line, ",\"body\":");
	if (req->has_body)
		jb_str(&line, req->body ? req->body : "", req->body_len);
	else
		jb_cstr(&line, "null");
	jb_cstr(&line, "}\n");
	if (write(srv->request_log_fd, line.data, line.len) != (ssize_t) line.len)
	{
		perror("devsearch: request log");
		close(srv->request_log_fd);
		srv->request_log_fd = -1;
	}
	jb_free(&line);
	jb_free(&target);
}
