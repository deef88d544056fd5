/*
 * catalog.h: the streamer's reads and writes of the reindex catalog
 * (catalog.c): targets, backfill chunks, status, job states, dead letters,
 * slots and the shared-slot handover and detach.
 */
#ifndef REINDEX_STREAMER_CATALOG_H
#define REINDEX_STREAMER_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "buf.h"
#include "target.h"

PGconn	   *catalog_connect(const char *conninfo, bool replication, const char *extra_options);
bool		catalog_exec_ok(PGconn *c, const char *sql);
/* BEGIN REPEATABLE READ READ ONLY in an exported snapshot; false: see PQerrorMessage */
bool		catalog_import_snapshot(PGconn *c, const char *snapshot);
int			catalog_load_targets(PGconn *c, Target ***targets, int *ntargets);
int			catalog_create_chunks(PGconn *c, Target *t, uint64_t cp, int pages_per_chunk);
bool		catalog_claim_chunk(PGconn *c, Target *t, const char *who, int *chunk_no,
								char **rel, int64_t *first_block, int64_t *end_block);
bool		catalog_finish_chunk(PGconn *c, Target *t, int chunk_no, int64_t rows,
								 uint64_t snapshot_lsn);
void		catalog_abort_claim(PGconn *c);
int			catalog_pending_chunks(PGconn *c, Target *t, int *total, int64_t *rows_done);
int			catalog_claimable_chunks(PGconn *c, Target *t);
bool		catalog_complete_backfill(PGconn *c, Target *t);
void		catalog_write_status(PGconn *c, Target *t, const char *streamer_id, bool streaming);
void		catalog_write_note(PGconn *c, Target *t);
void		catalog_clear_error(PGconn *c, Target *t);
void		catalog_set_target_state(PGconn *c, Target *t, const char *state);
bool		catalog_set_job_state(PGconn *c, Target *t, const char *from, const char *to,
								  const char *error);
bool		catalog_dead_letter(PGconn *c, Target *t, uint64_t lsn, const char *doc_id,
								const char *op, long http_status, const char *error,
								const char *document, bool count);
void		catalog_error_json(Buf *e, const char *error);
bool		catalog_release_claim(PGconn *c, Target *t, int chunk_no);
bool		catalog_update_readiness(PGconn *c, Target *t, bool lag_ok);
bool		catalog_stop_backfill(PGconn *c, Target *t, const char *why);
char	   *catalog_document_by_key(PGconn *c, Target *t, uint64_t xid, const char *key,
									size_t key_len, bool *failed);
uint64_t	catalog_current_wal_lsn(PGconn *c);
int			catalog_slot_exists(PGconn *c, const char *slot, uint64_t *confirmed);
bool		catalog_drop_slot(PGconn *c, const char *slot);
int			catalog_try_slot_lock(PGconn *c, Target *t, bool unlock);
uint64_t	catalog_read_consistent_point(PGconn *c, Target *t);
bool		catalog_shared_slot_name(PGconn *c, char *out, size_t n);
int			catalog_commit_handover(PGconn *c, Target *t, const char *shared_slot, uint64_t lsn);
int			catalog_commit_detach(PGconn *c, Target *t, const char *own_slot, uint64_t lsn,
								  const char *reason);
bool		catalog_copy_slot(PGconn *c, const char *src, const char *dst);

#endif							/* REINDEX_STREAMER_CATALOG_H */
