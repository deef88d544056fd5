-- 10_catalog.sql: the catalog of the reindex extension (schema reindex).
--
-- These tables are the single source of truth (invariant I5): the SQL API,
-- reindex_status() and the streamer all read and write them, and the search
-- cluster is converged to what they say.  Rules every writer follows:
--   * states only move along the state machine of DESIGN.md (CHECKs below
--     list the legal values; the SQL API checks the legal transitions);
--   * every state change of a job or a target is recorded in history and
--     announced with pg_notify('reindex', ...) by the triggers in this file,
--     so the streamer wakes up whoever made the change;
--   * PUBLIC has no access to anything here; endpoint.secret is readable only
--     by the extension owner and by roles given reindex.grant_streamer().
-- Columns marked "streamer:" are written by reindex_streamer, the others by
-- the SQL API.  Everything is registered with pg_extension_config_dump so
-- pg_dump keeps the rows.

-- A search cluster (Elasticsearch or OpenSearch) reached over HTTP(S).
CREATE TABLE endpoint (
	name		text PRIMARY KEY,
	url			text NOT NULL,
	auth		text NOT NULL DEFAULT 'none'
		CHECK (auth IN ('none', 'basic', 'api_key')),
	username	text,
	secret		text,
	ca_file		text,
	verify_tls	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (url ~ '^https?://'),
	CHECK (auth <> 'basic' OR (username IS NOT NULL AND secret IS NOT NULL)),
	CHECK (auth <> 'api_key' OR secret IS NOT NULL)
);
COMMENT ON TABLE endpoint IS 'search clusters reached over HTTP(S); the secret is write-only: no function, view or error shows it';
COMMENT ON COLUMN endpoint.url IS 'base URL such as https://es.example.com:9200, without credentials';
COMMENT ON COLUMN endpoint.auth IS 'none, basic (username + secret as password) or api_key (secret sent as "Authorization: ApiKey <secret>")';
COMMENT ON COLUMN endpoint.secret IS 'password or API key; readable only by the extension owner and the streamer role';
COMMENT ON COLUMN endpoint.ca_file IS 'PEM file of the certificate authorities to trust, on the database server and the streamer host';
COMMENT ON COLUMN endpoint.verify_tls IS 'verify the server certificate and host name (on unless explicitly turned off)';

-- One index fed from one source table: through its own replication slot
-- while it is backfilled and catches up, then through the database's shared
-- slot (feed = 'shared'), handed over at the exact LSN handover_lsn.
CREATE TABLE target (
	id			bigserial PRIMARY KEY,
	endpoint	text NOT NULL REFERENCES endpoint (name),
	index_name	text NOT NULL,
	source		regclass NOT NULL,
	source_name text NOT NULL,
	include_columns text[],
	exclude_columns text[],
	slot_name	text NOT NULL,
	feed		text NOT NULL DEFAULT 'own' CHECK (feed IN ('own', 'shared')),
	handover_lsn pg_lsn,
	detached_at timestamptz,
	detached_reason text,
	state		text NOT NULL DEFAULT 'backfilling'
		CHECK (state IN ('backfilling', 'streaming', 'retiring', 'retired', 'dropped')),
	drop_index	boolean NOT NULL DEFAULT false,
	requested_settings jsonb NOT NULL DEFAULT '{}',
	consistent_point pg_lsn,
	confirmed_lsn pg_lsn,
	rows_estimated bigint,
	rows_backfilled bigint NOT NULL DEFAULT 0,
	events_applied bigint NOT NULL DEFAULT 0,
	stale_rejected bigint NOT NULL DEFAULT 0,
	retried		bigint NOT NULL DEFAULT 0,
	dead_lettered bigint NOT NULL DEFAULT 0,
	lag_bytes	bigint,
	lag_seconds float8,
	last_error	text,
	streamer_id text,
	heartbeat_at timestamptz,
	backfill_started_at timestamptz,
	backfill_done_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (include_columns IS NULL OR exclude_columns IS NULL)
);
-- an index name is taken while its target is not dropped
CREATE UNIQUE INDEX target_live_index ON target (endpoint, index_name)
	WHERE state <> 'dropped';
COMMENT ON TABLE target IS 'one search index fed from one source table, through its own logical replication slot or the database''s shared one';
COMMENT ON COLUMN target.source IS 'the source table (a partitioned table stands for all its partitions)';
COMMENT ON COLUMN target.source_name IS 'schema-qualified, quoted name of the source, for humans and dumps';
COMMENT ON COLUMN target.include_columns IS 'columns to put into documents (NULL: all)';
COMMENT ON COLUMN target.exclude_columns IS 'columns to leave out of documents (NULL: none)';
COMMENT ON COLUMN target.slot_name IS 'the logical replication slot feeding this target: its own, reindex_<id> (created with SNAPSHOT ''export'' for the backfill, or copied from the shared slot when the target was detached), or the shared slot reindex_shared_<database oid> (feed shared)';
COMMENT ON COLUMN target.feed IS 'streamer: own (its own slot: backfill, catch-up, detached) or shared (the database''s shared slot, events above handover_lsn)';
COMMENT ON COLUMN target.handover_lsn IS 'streamer: LSN at which the target moved to the shared slot: its own slot delivered every transaction ending at or below it, the shared slot delivers those above it';
COMMENT ON COLUMN target.detached_at IS 'streamer: when the target was last detached from the shared slot (NULL: never, or handed over again since)';
COMMENT ON COLUMN target.detached_reason IS 'streamer: why it was detached (too far behind, or its oldest event waited too long); it streams from its own slot and rejoins the shared slot once caught up';
COMMENT ON COLUMN target.state IS 'backfilling -> streaming (streamer), -> retiring (SQL API: stop feeding, drop the slot), -> retired or dropped (streamer, or the SQL API when no streamer holds the slot)';
COMMENT ON COLUMN target.drop_index IS 'delete the index when the target retires (state dropped instead of retired)';
COMMENT ON COLUMN target.requested_settings IS 'index settings to restore after the backfill (index.refresh_interval, index.number_of_replicas; JSON null = the cluster default); the index is created with refresh_interval -1 and 0 replicas';
COMMENT ON COLUMN target.consistent_point IS 'streamer: consistent point of the slot; version of backfilled documents (I1)';
COMMENT ON COLUMN target.confirmed_lsn IS 'streamer: last LSN acknowledged to the slot (I3)';
COMMENT ON COLUMN target.rows_estimated IS 'estimated rows of the source (reltuples at reindex_begin; the streamer may refine it)';
COMMENT ON COLUMN target.rows_backfilled IS 'streamer: rows written by the backfill';
COMMENT ON COLUMN target.events_applied IS 'streamer: change events acknowledged by the cluster';
COMMENT ON COLUMN target.stale_rejected IS 'streamer: writes rejected with 409 because the document was already newer';
COMMENT ON COLUMN target.retried IS 'streamer: requests or items retried after 429, 5xx or a timeout';
COMMENT ON COLUMN target.dead_lettered IS 'streamer: refusals recorded in dead_letter (I6), cumulative; reindex_status shows the documents refused now (the rows of dead_letter)';
COMMENT ON COLUMN target.lag_bytes IS 'streamer: WAL bytes between the server''s current LSN and confirmed_lsn at the last heartbeat';
COMMENT ON COLUMN target.lag_seconds IS 'streamer: age of the oldest unacknowledged commit at the last heartbeat';
COMMENT ON COLUMN target.last_error IS 'streamer: last error met while feeding this target (never contains a credential)';
COMMENT ON COLUMN target.streamer_id IS 'streamer: identity (host:pid) of the streamer feeding this target';
COMMENT ON COLUMN target.heartbeat_at IS 'streamer: last time the streamer feeding this target reported (NULL: never)';
COMMENT ON COLUMN target.backfill_started_at IS 'streamer: when the backfill started';
COMMENT ON COLUMN target.backfill_done_at IS 'streamer: when the backfill finished';

-- A name that applications read through; the catalog says where it points (I5).
CREATE TABLE alias (
	name		text PRIMARY KEY,
	endpoint	text NOT NULL REFERENCES endpoint (name),
	current_target bigint REFERENCES target (id),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE alias IS 'search aliases applications read through; current_target is what the alias points to (I5)';
COMMENT ON COLUMN alias.current_target IS 'target whose index the alias points to (NULL: none yet, an initial build has not been swapped)';

-- One reindex of an alias: from old_target to new_target.
CREATE TABLE job (
	id			bigserial PRIMARY KEY,
	alias		text NOT NULL REFERENCES alias (name),
	old_target	bigint REFERENCES target (id),
	new_target	bigint NOT NULL REFERENCES target (id),
	state		text NOT NULL DEFAULT 'backfilling'
		CHECK (state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped',
						 'completed', 'cancelled', 'failed', 'rolled_back')),
	options		jsonb NOT NULL DEFAULT '{}',
	lag_threshold_bytes bigint NOT NULL DEFAULT 1048576 CHECK (lag_threshold_bytes >= 0),
	error		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	CHECK (old_target IS DISTINCT FROM new_target)
);
COMMENT ON TABLE job IS 'one reindex of an alias from old_target (NULL: initial build) to new_target';
COMMENT ON COLUMN job.state IS 'backfilling -> catching_up -> ready (streamer; ready may fall back to catching_up), -> swapped (reindex_swap_alias) -> completed (reindex_finish); swapped -> rolled_back (reindex_rollback) -> swapped; cancelled (reindex_cancel); failed (streamer); needs_attention (streamer: more refused documents than the budget max_refused, or a backfill stopped early) -> catching_up/ready (streamer, once replay resolved them) or -> backfilling (reindex_replay of a stopped backfill)';
COMMENT ON COLUMN job.options IS 'validated options of reindex_begin (backfill_workers, batch_size, ... ; see reindex_begin)';
COMMENT ON COLUMN job.lag_threshold_bytes IS 'the job is ready when the new target lags less than this';
COMMENT ON COLUMN job.error IS 'streamer: why the job failed, or why its backfill stopped early (needs_attention)';
COMMENT ON COLUMN job.finished_at IS 'when the job reached completed, cancelled or failed';
-- at most one active job per alias
CREATE UNIQUE INDEX job_one_active_per_alias ON job (alias)
	WHERE state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped', 'rolled_back');

-- Block ranges of the source read by the backfill, claimed by streamers.
CREATE TABLE backfill_chunk (
	target_id	bigint NOT NULL REFERENCES target (id),
	chunk_no	integer NOT NULL,
	relation	regclass NOT NULL,
	start_block bigint NOT NULL,
	end_block	bigint NOT NULL,
	state		text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'running', 'done')),
	claimed_by	text,
	claimed_at	timestamptz,
	done_at		timestamptz,
	rows		bigint,
	snapshot_lsn pg_lsn,
	PRIMARY KEY (target_id, chunk_no),
	CHECK (start_block >= 0 AND end_block > start_block)
);
COMMENT ON TABLE backfill_chunk IS 'streamer: block ranges [start_block, end_block) of the source read by the backfill; claimed with FOR UPDATE SKIP LOCKED';
COMMENT ON COLUMN backfill_chunk.relation IS 'streamer: the leaf partition, or the source table itself';
COMMENT ON COLUMN backfill_chunk.snapshot_lsn IS 'streamer: consistent point of the exported snapshot the chunk was read under (the version of its documents)';

-- Documents the cluster refused for a non-retryable reason (I6): one row per
-- document id of a target, the newest refusal (lsn only grows), so a mass
-- refusal stays bounded by the table's size and a chunk read again after a
-- crash or an early stop adds no duplicates.  reindex_replay() resends them.
CREATE TABLE dead_letter (
	id			bigserial PRIMARY KEY,
	target_id	bigint NOT NULL REFERENCES target (id),
	lsn			pg_lsn,
	doc_id		text,
	op			text,
	http_status integer,
	error		jsonb,
	document	text,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dead_letter IS 'streamer: documents the cluster refused for a non-retryable reason (invariant I6), one row per document id; reindex_replay() resends them';
COMMENT ON COLUMN dead_letter.lsn IS 'version of the newest refused write of the document (a stream event''s end LSN, or the snapshot point of a backfill or replay read)';
COMMENT ON COLUMN dead_letter.doc_id IS 'document id (_id); for op truncate_partition the partition';
COMMENT ON COLUMN dead_letter.op IS 'index, delete, truncate or truncate_partition';
COMMENT ON COLUMN dead_letter.http_status IS 'HTTP status of the refused item (NULL: not an HTTP answer)';
COMMENT ON COLUMN dead_letter.error IS 'the cluster''s error object (type, reason, caused_by), or {"reason": text}';
COMMENT ON COLUMN dead_letter.document IS 'the refused document body, only with the job option dead_letter_documents';
CREATE UNIQUE INDEX dead_letter_document ON dead_letter (target_id, doc_id)
	WHERE op IN ('index', 'delete');

-- Requests to resend a target's dead letters (reindex_replay), claimed and
-- carried out by a streamer: it reads the rows again under a fresh exported
-- snapshot whose consistent point is the version of what it sends (I1).
CREATE TABLE replay (
	id			bigserial PRIMARY KEY,
	target_id	bigint NOT NULL REFERENCES target (id),
	state		text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'done')),
	requested_by text NOT NULL DEFAULT current_user,
	requested_at timestamptz NOT NULL DEFAULT now(),
	snapshot_lsn pg_lsn,
	resent		bigint,
	resolved	bigint,
	refused		bigint,
	done_at		timestamptz
);
COMMENT ON TABLE replay IS 'reindex_replay() requests; a streamer claims a pending one (a session advisory lock on its id) and resends the target''s dead letters';
COMMENT ON COLUMN replay.snapshot_lsn IS 'streamer: consistent point of the exported snapshot the rows were read under (the version of what was resent)';
COMMENT ON COLUMN replay.resent IS 'streamer: dead letters resent (those not newer than the snapshot)';
COMMENT ON COLUMN replay.resolved IS 'streamer: dead letters the cluster accepted (or already held newer), removed';
COMMENT ON COLUMN replay.refused IS 'streamer: dead letters refused again (kept, with the new error)';

-- Every state change of jobs and targets, written by the triggers below.
CREATE TABLE history (
	id			bigserial PRIMARY KEY,
	job_id		bigint,
	target_id	bigint,
	from_state	text,
	to_state	text NOT NULL,
	detail		text,
	at			timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE history IS 'every state change of a job or a target (written by triggers, whoever made the change)';

CREATE INDEX target_source_idx ON target (source);
CREATE INDEX job_new_target_idx ON job (new_target);
CREATE INDEX job_old_target_idx ON job (old_target);
CREATE INDEX dead_letter_target_idx ON dead_letter (target_id);
CREATE INDEX history_job_idx ON history (job_id);
CREATE INDEX replay_target_idx ON replay (target_id);

-- Record a state change in history, announce it, and keep updated_at.
CREATE FUNCTION _state_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		NEW.updated_at := pg_catalog.now();
		IF NEW.state IS NOT DISTINCT FROM OLD.state THEN
			RETURN NEW;
		END IF;
	END IF;
	IF TG_TABLE_NAME = 'job' THEN
		IF NEW.state IN ('completed', 'cancelled', 'failed') THEN
			NEW.finished_at := pg_catalog.now();
		END IF;
		INSERT INTO reindex.history (job_id, target_id, from_state, to_state, detail)
			VALUES (NEW.id, NEW.new_target,
					CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END, NEW.state, NEW.error);
		PERFORM pg_catalog.pg_notify('reindex', pg_catalog.json_build_object(
			'job', NEW.id, 'target', NEW.new_target, 'state', NEW.state)::text);
	ELSE
		INSERT INTO reindex.history (job_id, target_id, from_state, to_state, detail)
			VALUES (NULL, NEW.id,
					CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END, NEW.state, NEW.last_error);
		PERFORM pg_catalog.pg_notify('reindex', pg_catalog.json_build_object(
			'job', NULL, 'target', NEW.id, 'state', NEW.state)::text);
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION _state_change() FROM PUBLIC;

CREATE TRIGGER job_state_change BEFORE INSERT OR UPDATE ON job
	FOR EACH ROW EXECUTE FUNCTION _state_change();
CREATE TRIGGER target_state_change BEFORE INSERT OR UPDATE ON target
	FOR EACH ROW EXECUTE FUNCTION _state_change();

-- Aliases: keep updated_at; announce a change of current_target.
CREATE FUNCTION _alias_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	NEW.updated_at := pg_catalog.now();
	IF NEW.current_target IS DISTINCT FROM OLD.current_target THEN
		PERFORM pg_catalog.pg_notify('reindex', pg_catalog.json_build_object(
			'alias', NEW.name, 'target', NEW.current_target, 'state', 'alias')::text);
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION _alias_change() FROM PUBLIC;
CREATE TRIGGER alias_change BEFORE UPDATE ON alias
	FOR EACH ROW EXECUTE FUNCTION _alias_change();

REVOKE ALL ON ALL TABLES IN SCHEMA reindex FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA reindex FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('endpoint', '');
SELECT pg_catalog.pg_extension_config_dump('target', '');
SELECT pg_catalog.pg_extension_config_dump('alias', '');
SELECT pg_catalog.pg_extension_config_dump('job', '');
SELECT pg_catalog.pg_extension_config_dump('backfill_chunk', '');
SELECT pg_catalog.pg_extension_config_dump('dead_letter', '');
SELECT pg_catalog.pg_extension_config_dump('history', '');
SELECT pg_catalog.pg_extension_config_dump('replay', '');
SELECT pg_catalog.pg_extension_config_dump('target_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dead_letter_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('replay_id_seq', '');
