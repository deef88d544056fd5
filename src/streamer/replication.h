/*
 * replication.h: the libpq replication protocol (replication.c): creating
 * a slot (optionally exporting a snapshot), START_REPLICATION with the
 * plugin's options, CopyData reads and standby status feedback.
 */
#ifndef REINDEX_STREAMER_REPLICATION_H
#define REINDEX_STREAMER_REPLICATION_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "target.h"

bool		repl_create_slot(PGconn *repl, const char *slot, bool temporary, bool export,
							 uint64_t *cp, char **snapshot, char **err);
bool		repl_send_create_slot(PGconn *repl, const char *slot, bool temporary, bool export,
								  char **err);
int			repl_create_slot_answer(PGconn *repl, bool wait, uint64_t *cp, char **snapshot,
									char **err);
bool		repl_start(PGconn *repl, const char *slot, uint64_t start, const Target *own,
					   const char *targets, char **err);
bool		repl_send_feedback(PGconn *repl, uint64_t write, uint64_t flush, bool reply);
int			repl_read(PGconn *repl, char **buf);
void		repl_finish(PGconn *repl);
uint64_t	fe_recvint64(const char *p);

#endif							/* REINDEX_STREAMER_REPLICATION_H */
