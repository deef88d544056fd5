/*
 * docwrite.h — one document write (index, create, delete, update) shared by
 * the single-document APIs and _bulk (devsearch).
 *
 * Owns: WriteOp, its validation (the messages of ES DocWriteRequest /
 * IndexRequest.validate) and its execution against the store with the exact
 * versioning rules (internal, external, external_gte, if_seq_no CAS).
 * Invariants: write_validate() has no side effects; write_execute() either
 * applies the op (assigning one _seq_no) or changes nothing (a version
 * conflict consumes no seq_no); it writes the item result JSON object.
 */
#ifndef DEVSEARCH_DOCWRITE_H
#define DEVSEARCH_DOCWRITE_H

#include "devsearch.h"
#include "store.h"

typedef enum OpType
{
	OP_INDEX,
	OP_CREATE,
	OP_DELETE,
	OP_UPDATE
} OpType;

typedef enum VersionType
{
	VT_INTERNAL,
	VT_EXTERNAL,
	VT_EXTERNAL_GTE
} VersionType;

#define VERSION_MATCH_ANY (-3)
#define SEQ_NO_UNASSIGNED (-2)
#define MAX_ID_BYTES 512

typedef struct WriteOp
{
	OpType		op;
	const char *index;			/* name or alias as given; NULL = missing */
	const char *id;				/* NULL = auto-generated (index/create) */
	size_t		id_len;
	const char *routing;
	int64_t		version;		/* VERSION_MATCH_ANY when not given */
	VersionType vtype;
	int64_t		if_seq_no;		/* SEQ_NO_UNASSIGNED when not given */
	int64_t		if_primary_term;	/* 0 when not given */
	const char *source;			/* index/create: raw _source; update: body */
	size_t		source_len;
	bool		require_alias;
	/* update only: what "get" to return.  fetch_spec is the raw JSON of the
	 * bulk action line's "_source" (wins), then the body's "_source", then
	 * fetch_default (the request's _source parameters); NULL = none */
	const char *fetch_spec;
	size_t		fetch_spec_len;
	const struct SourceFilter *fetch_default;
} WriteOp;

void		write_op_init(WriteOp *op);
const char *op_type_name(OpType op);
const char *version_type_enum_name(VersionType vt);	/* "EXTERNAL" ... */
/* parse "internal"/"external"/"external_gt"/"external_gte"; -1 unknown */
int			version_type_parse(const char *s, VersionType *out);

/*
 * Validation: appends "N: msg;" entries (N = running counter in *nerr) to
 * msgs for each problem, the way ValidationException builds its reason.
 */
void		write_validate(const WriteOp *op, JsonBuf *msgs, int *nerr);

typedef struct WriteResult
{
	EsError		err;			/* err.status != 0: the op failed */
	const char *index_name;		/* concrete index (or name for errors) */
	Index	   *ix;				/* index written, NULL if none */
	char		auto_id[24];	/* generated id, if any */
	const char *id;				/* id used (points into op or auto_id) */
	size_t		id_len;
	int64_t		version;
	int64_t		seq_no;
	int			shard;			/* shard the op was routed to */
	const char *result;			/* created/updated/deleted/not_found/noop */
	int			status;
	bool		noop;
	bool		error_trace;	/* write_result_json adds stack_trace */
	char	   *get_json;		/* update with _source: the "get" object
								 * (malloc'd; write_result_free) */
} WriteResult;

void		write_result_free(WriteResult *res);

/*
 * Execute one op (lock held).  Resolves the target (alias -> write index,
 * auto-create when allowed), checks versions and applies.  now_ms is the
 * monotonic clock.  On failure res->err is set (status != 0).
 */
void		write_execute(Server *srv, const WriteOp *op, int64_t now_ms,
						  WriteResult *res);

/* write the success/failure body of an item or single-doc response:
 * {"_index",..,"_id",..,"_version",..,"result",..,"_shards",..,"_seq_no",..,
 *  "_primary_term",..[,"forced_refresh":true][,"status":N]} */
void		write_result_json(JsonBuf *jb, const Server *srv, const WriteResult *res,
							  bool forced_refresh, bool with_status);

/* validate a document source (must be a JSON object); 0 ok, -1 with err set
 * to the flavor's document parsing error */
int			source_validate(const Server *srv, const char *src, size_t len, EsError *err);



/* ---- refresh policy (?refresh=) shared by the write APIs ---- */
typedef enum RefreshPolicy
{
	REFRESH_NONE,
	REFRESH_IMMEDIATE,
	REFRESH_WAIT_FOR
} RefreshPolicy;

/* NULL/"false" -> NONE, ""/"true" -> IMMEDIATE, "wait_for"; else -1 + err */
int			refresh_policy_parse(const char *v, RefreshPolicy *out, EsError *err);
#endif
