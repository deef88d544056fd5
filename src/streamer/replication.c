/*
 * replication.c: the streaming replication protocol over libpq
 * (logical-decoding.md §2-3): slot creation with an exported snapshot,
 * START_REPLICATION with the plugin's options, CopyData reads and standby
 * status updates.
 *
 * Invariants: slot names and option values are quoted; the flush position
 * sent is exactly what the caller says is acknowledged (I3) and never goes
 * backwards; reads never block.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/time.h>

#include "buf.h"
#include "clock.h"
#include "pg_text.h"
#include "replication.h"
#include "target.h"

#define REPL_BATCH_BYTES 65536
#define REPL_FINISH_MS 5000
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

uint64_t
fe_recvint64(const char *p)
{
	uint64_t	v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char) p[i];
	return v;
}

static void
fe_sendint64(uint64_t v, char *p)
{
	int			i;

	for (i = 7; i >= 0; i--)
	{
		p[i] = (char) (v & 0xFF);
		v >>= 8;
	}
}

static char *
quote_ident(PGconn *c, const char *s)
{
	char	   *q = PQescapeIdentifier(c, s, strlen(s));
	char	   *out = strdup(q ? q : "\"\"");

	PQfreemem(q);
	return out;
}

/* Append 'value' as a single-quoted literal of the replication grammar. */
static void
buf_quote_literal(Buf *b, const char *s)
{
	buf_puts(b, "'");
	for (; *s; s++)
	{
		if (*s == '\'')
			buf_puts(b, "''");
		else
			buf_append(b, s, 1);
	}
	buf_puts(b, "'");
}

/*
 * CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export'), sent without waiting for
 * its answer: the server waits for every transaction running at that moment
 * before it answers.
 */
bool
repl_send_create_slot(PGconn *repl, const char *slot, bool temporary, bool export, char **err)
{
	Buf			q = {0};
	char	   *qs = quote_ident(repl, slot);
	bool		ok;

	buf_printf(&q, "CREATE_REPLICATION_SLOT %s %sLOGICAL reindex (SNAPSHOT '%s')",
			   qs, temporary ? "TEMPORARY " : "", export ? "export" : "nothing");
	free(qs);
	ok = PQsendQuery(repl, q.data) == 1;
	buf_free(&q);
	if (!ok)
		*err = strdup(PQerrorMessage(repl));
	return ok;
}

/*
 * The answer of repl_send_create_slot(): 0 while it has not arrived (wait:
 * read the socket, then ask again), 1 with the slot's consistent point (and
 * the exported snapshot's name if snapshot is not NULL), -1 with *err.
 */
int
repl_create_slot_answer(PGconn *repl, bool wait, uint64_t *cp, char **snapshot, char **err)
{
	PGresult   *r,
			   *extra;
	int			rc = 1;

	if (!wait)
	{
		if (!PQconsumeInput(repl))
		{
			*err = strdup(PQerrorMessage(repl));
			return -1;
		}
		if (PQisBusy(repl))
			return 0;
	}
	r = PQgetResult(repl);
	while ((extra = PQgetResult(repl)) != NULL)
		PQclear(extra);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		const char *m = r ? PQresultErrorMessage(r) : "";

		*err = strdup(*m ? m : PQerrorMessage(repl));
		rc = -1;
	}
	else if (!parse_lsn(PQgetvalue(r, 0, 1), cp))
	{
		*err = strdup("could not parse the slot's consistent point");
		rc = -1;
	}
	else if (snapshot)
		*snapshot = PQgetisnull(r, 0, 2) ? NULL : strdup(PQgetvalue(r, 0, 2));
	PQclear(r);
	return rc;
}

/*
 * CREATE_REPLICATION_SLOT, waiting for the answer.  An exported snapshot
 * lives until the next command on this connection; the caller keeps it idle
 * until every worker imported it.
 */
bool
repl_create_slot(PGconn *repl, const char *slot, bool temporary, bool export,
				 uint64_t *cp, char **snapshot, char **err)
{
	if (!repl_send_create_slot(repl, slot, temporary, export, err))
		return false;
	return repl_create_slot_answer(repl, true, cp, snapshot, err) == 1;
}

/*
 * START_REPLICATION: a target's own slot (own: the plugin's table and column
 * options) or the shared slot (targets: the plugin's targets option).
 */
bool
repl_start(PGconn *repl, const char *slot, uint64_t start, const Target *own,
		   const char *targets, char **err)
{
	Buf			q = {0};
	char	   *qs = quote_ident(repl, slot);
	PGresult   *r;
	bool		ok;

	buf_printf(&q, "START_REPLICATION SLOT %s LOGICAL %X/%X (\"format_version\" '1'",
			   qs, (unsigned int) (start >> 32), (unsigned int) start);
	free(qs);
	if (own)
	{
		buf_puts(&q, ", \"table\" ");
		buf_quote_literal(&q, own->source);
		if (own->include_cols && *own->include_cols)
		{
			buf_puts(&q, ", \"include_columns\" ");
			buf_quote_literal(&q, own->include_cols);
		}
		if (own->exclude_cols && *own->exclude_cols)
		{
			buf_puts(&q, ", \"exclude_columns\" ");
			buf_quote_literal(&q, own->exclude_cols);
		}
	}
	else
	{
		buf_puts(&q, ", \"targets\" ");
		buf_quote_literal(&q, targets ? targets : "");
	}
	/* several lines of a transaction per message (stream.c splits them) */
	buf_printf(&q, ", \"include_commit_time\" 'false', \"batch_bytes\" '%d')",
			   REPL_BATCH_BYTES);
	r = PQexec(repl, q.data);
	buf_free(&q);
	ok = PQresultStatus(r) == PGRES_COPY_BOTH;
	if (!ok)
		*err = strdup(PQerrorMessage(repl));
	PQclear(r);
	if (ok)
		PQsetnonblocking(repl, 1);
	return ok;
}

bool
repl_send_feedback(PGconn *repl, uint64_t write, uint64_t flush, bool reply)
{
	char		m[34];
	struct timeval tv;
	int64_t		now;

	gettimeofday(&tv, NULL);
	now = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec - PG_EPOCH_OFFSET_US;
	m[0] = 'r';
	fe_sendint64(write, m + 1);
	fe_sendint64(flush, m + 9);
	fe_sendint64(flush, m + 17);
	fe_sendint64((uint64_t) now, m + 25);
	m[33] = reply ? 1 : 0;
	if (PQputCopyData(repl, m, sizeof(m)) <= 0)
		return false;
	return PQflush(repl) >= 0;
}

/*
 * Non-blocking read of one CopyData message: >0 its length (free *buf with
 * PQfreemem), 0 nothing available now, -1 the stream ended, -2 error.
 */
int
repl_read(PGconn *repl, char **buf)
{
	int			n;

	*buf = NULL;
	n = PQgetCopyData(repl, buf, 1);
	if (n == 0)
	{
		if (!PQconsumeInput(repl))
			return -2;
		n = PQgetCopyData(repl, buf, 1);
	}
	return n;
}

/* Wait up to ms for the connection's socket to be readable. */
static bool
wait_readable(PGconn *repl, uint64_t deadline)
{
	struct pollfd pfd = {PQsocket(repl), POLLIN, 0};
	uint64_t	now = now_ms();

	if (pfd.fd < 0 || now >= deadline)
		return false;
	if (poll(&pfd, 1, (int) (deadline - now)) <= 0)
		return false;
	return PQconsumeInput(repl) == 1;
}

/*
 * End COPY BOTH cleanly (pg_recvlogical's shutdown sequence), but never wait
 * more than REPL_FINISH_MS for the server's answer: a walsender that misses
 * the CopyDone while it waits for WAL would otherwise hold the shutdown.
 * Everything acknowledged was confirmed by the caller's feedback before; the
 * connection is closed by the caller either way.
 */
void
repl_finish(PGconn *repl)
{
	uint64_t	deadline = now_ms() + REPL_FINISH_MS;
	PGresult   *r;
	char	   *b;
	int			n;

	if (PQputCopyEnd(repl, NULL) <= 0)
		return;
	while (PQflush(repl) == 1)
	{
		struct pollfd pfd = {PQsocket(repl), POLLOUT, 0};
		uint64_t	now = now_ms();

		if (now >= deadline || poll(&pfd, 1, (int) (deadline - now)) <= 0)
			return;
	}
	for (;;)
	{
		n = PQgetCopyData(repl, &b, 1);
		if (n > 0)
		{
			PQfreemem(b);
			continue;
		}
		if (n < 0)
			break;
		if (!wait_readable(repl, deadline))
			return;
	}
	for (;;)
	{
		while (PQisBusy(repl))
			if (!wait_readable(repl, deadline))
				return;
		r = PQgetResult(repl);
		if (!r)
			break;
		PQclear(r);
	}
}
