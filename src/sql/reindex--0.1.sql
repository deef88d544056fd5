-- reindex 0.1, frozen: the install script of release 0.1 as it shipped (generated then from src/sql/[0-9][0-9]_*.sql). Never edit it: changes go into the numbered parts and the upgrade scripts.
\echo Use "CREATE EXTENSION reindex" to load this file. \quit

-- src/sql/10_catalog.sql
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

-- One index fed from one source table through its own replication slot.
CREATE TABLE target (
	id			bigserial PRIMARY KEY,
	endpoint	text NOT NULL REFERENCES endpoint (name),
	index_name	text NOT NULL,
	source		regclass NOT NULL,
	source_name text NOT NULL,
	include_columns text[],
	exclude_columns text[],
	slot_name	text NOT NULL UNIQUE,
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
COMMENT ON TABLE target IS 'one search index fed from one source table through its own logical replication slot';
COMMENT ON COLUMN target.source IS 'the source table (a partitioned table stands for all its partitions)';
COMMENT ON COLUMN target.source_name IS 'schema-qualified, quoted name of the source, for humans and dumps';
COMMENT ON COLUMN target.include_columns IS 'columns to put into documents (NULL: all)';
COMMENT ON COLUMN target.exclude_columns IS 'columns to leave out of documents (NULL: none)';
COMMENT ON COLUMN target.slot_name IS 'logical replication slot of this target, reindex_<id>, plugin reindex; the streamer creates it with SNAPSHOT ''export''';
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
COMMENT ON COLUMN target.dead_lettered IS 'streamer: events recorded in dead_letter (I6)';
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
		CHECK (state IN ('backfilling', 'catching_up', 'ready', 'swapped', 'completed',
						 'cancelled', 'failed', 'rolled_back')),
	options		jsonb NOT NULL DEFAULT '{}',
	lag_threshold_bytes bigint NOT NULL DEFAULT 1048576 CHECK (lag_threshold_bytes >= 0),
	error		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	CHECK (old_target IS DISTINCT FROM new_target)
);
COMMENT ON TABLE job IS 'one reindex of an alias from old_target (NULL: initial build) to new_target';
COMMENT ON COLUMN job.state IS 'backfilling -> catching_up -> ready (streamer; ready may fall back to catching_up), -> swapped (reindex_swap_alias) -> completed (reindex_finish); swapped -> rolled_back (reindex_rollback) -> swapped; cancelled (reindex_cancel); failed (streamer)';
COMMENT ON COLUMN job.options IS 'validated options of reindex_begin (backfill_workers, batch_size, ... ; see reindex_begin)';
COMMENT ON COLUMN job.lag_threshold_bytes IS 'the job is ready when the new target lags less than this';
COMMENT ON COLUMN job.error IS 'streamer: why the job failed';
COMMENT ON COLUMN job.finished_at IS 'when the job reached completed, cancelled or failed';
-- at most one active job per alias
CREATE UNIQUE INDEX job_one_active_per_alias ON job (alias)
	WHERE state IN ('backfilling', 'catching_up', 'ready', 'swapped', 'rolled_back');

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

-- Events the cluster refused for a non-retryable reason (I6).
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
COMMENT ON TABLE dead_letter IS 'streamer: events the cluster refused for a non-retryable reason (invariant I6)';

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
SELECT pg_catalog.pg_extension_config_dump('target_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dead_letter_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('history_id_seq', '');

-- src/sql/12_internal.sql
-- 12_internal.sql: internal helpers of the SQL API (names start with "_").
--
-- None of these is granted to anyone: the SECURITY DEFINER functions of the
-- API call them as the extension owner.  _http is the only way the database
-- talks to a search cluster; its answers are parsed here with jsonb (jansson
-- is never linked into the server).  Error texts quote the cluster's
-- error.type and error.reason and never contain a credential.

CREATE FUNCTION version() RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'reindex_version';
COMMENT ON FUNCTION version() IS 'version of the loaded reindex library (the streamer refuses to run against another)';

CREATE FUNCTION _http(endpoint text, method text, path text, body text DEFAULT NULL,
					  delete_on_abort text DEFAULT NULL,
					  OUT status integer, OUT body text)
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'reindex_http';
COMMENT ON FUNCTION _http(text, text, text, text, text) IS 'internal: one HTTP request to a search endpoint; delete_on_abort names an index to delete again if the transaction aborts';

CREATE FUNCTION _caller_may_read(rel regclass) RETURNS boolean
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'reindex_caller_may_read';
COMMENT ON FUNCTION _caller_may_read(regclass) IS 'internal: whether the role calling the API (not the SECURITY DEFINER owner) may SELECT from rel';

-- "type: reason" of an Elasticsearch error answer, or a short excerpt of it.
CREATE FUNCTION _es_reason(status integer, body text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j jsonb;
	e jsonb;
BEGIN
	BEGIN
		j := body::jsonb;
	EXCEPTION WHEN others THEN
		j := NULL;
	END;
	IF j IS NOT NULL AND jsonb_typeof(j) = 'object' THEN
		e := j -> 'error';
		IF jsonb_typeof(e) = 'object' THEN
			RETURN format('%s: %s', e ->> 'type', e ->> 'reason');
		ELSIF jsonb_typeof(e) = 'string' THEN
			RETURN e #>> '{}';
		END IF;
	END IF;
	IF body IS NULL OR body = '' THEN
		RETURN format('HTTP status %s', status);
	END IF;
	RETURN format('HTTP status %s: %s', status, left(body, 200));
END
$$;
COMMENT ON FUNCTION _es_reason(integer, text) IS 'internal: the error type and reason of a search cluster''s answer';

-- One request that must succeed (2xx); otherwise an error naming the action.
CREATE FUNCTION _es_call(endpoint text, action text, method text, path text,
						 body text DEFAULT NULL, delete_on_abort text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	SELECT * INTO r FROM reindex._http(endpoint, method, path, body, delete_on_abort);
	IF r.status < 200 OR r.status >= 300 THEN
		RAISE EXCEPTION 'could not % on search endpoint "%": %', action, endpoint,
			reindex._es_reason(r.status, r.body)
			USING ERRCODE = 'external_routine_exception';
	END IF;
	IF r.body IS NULL OR r.body = '' THEN
		RETURN NULL;
	END IF;
	RETURN r.body::jsonb;
END
$$;
COMMENT ON FUNCTION _es_call(text, text, text, text, text, text) IS 'internal: an HTTP request that must succeed, else an error quoting the cluster''s error type and reason';

-- Elasticsearch rules for index and alias names.
CREATE FUNCTION _check_name(kind text, name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	why text;
BEGIN
	IF name IS NULL OR name = '' THEN
		why := 'A name must not be empty.';
	ELSIF name IN ('.', '..') THEN
		why := 'A name must not be "." or "..".';
	ELSIF octet_length(name) > 255 THEN
		why := 'A name must not be longer than 255 bytes.';
	ELSIF lower(name) <> name THEN
		why := 'A name must be lower case.';
	ELSIF left(name, 1) IN ('-', '_', '+') THEN
		why := 'A name must not start with "-", "_" or "+".';
	ELSIF name ~ '[\\/*?"<>|,# :]' THEN
		why := 'A name must not contain spaces or any of \ / * ? " < > | , # :';
	END IF;
	IF why IS NOT NULL THEN
		RAISE EXCEPTION 'invalid % name "%"', kind, name
			USING ERRCODE = 'invalid_name', DETAIL = why;
	END IF;
END
$$;
COMMENT ON FUNCTION _check_name(text, text) IS 'internal: refuse index and alias names that Elasticsearch would refuse';

-- Settings as a flat object of "index."-prefixed dotted keys.
CREATE FUNCTION _flatten_settings(settings jsonb, prefix text DEFAULT '') RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k text;
	v jsonb;
	result jsonb := '{}';
	key text;
BEGIN
	FOR k, v IN SELECT * FROM jsonb_each(settings) LOOP
		key := prefix || k;
		IF jsonb_typeof(v) = 'object' THEN
			result := result || reindex._flatten_settings(v, key || '.');
		ELSE
			IF key NOT LIKE 'index.%' THEN
				key := 'index.' || key;
			END IF;
			result := result || jsonb_build_object(key, v);
		END IF;
	END LOOP;
	RETURN result;
END
$$;
COMMENT ON FUNCTION _flatten_settings(jsonb, text) IS 'internal: index settings as flat "index."-prefixed keys';

-- Validate the options of reindex_begin; return them with defaults filled in.
CREATE FUNCTION _check_options(source regclass, options jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	valid CONSTANT text[] := ARRAY['backfill_workers', 'batch_size', 'exclude_columns',
		'include_columns', 'lag_threshold_bytes', 'mappings', 'settings'];
	k text;
	v jsonb;
	col text;
	n numeric;
	result jsonb := jsonb_build_object('backfill_workers', 2, 'batch_size', 1000,
		'lag_threshold_bytes', 1048576);
BEGIN
	IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION 'options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(options) ORDER BY 1 LOOP
		IF NOT k = ANY (valid) THEN
			RAISE EXCEPTION 'unknown option "%"', k
				USING ERRCODE = 'invalid_parameter_value',
				DETAIL = 'Valid options are: ' || array_to_string(valid, ', ') || '.';
		END IF;
		IF k IN ('backfill_workers', 'batch_size', 'lag_threshold_bytes') THEN
			n := CASE WHEN jsonb_typeof(v) = 'number' THEN (v #>> '{}')::numeric END;
			IF n IS NULL OR n <> trunc(n)
				OR (k = 'backfill_workers' AND (n < 1 OR n > 64))
				OR (k = 'batch_size' AND (n < 1 OR n > 100000))
				OR (k = 'lag_threshold_bytes' AND (n < 0 OR n > 9223372036854775807)) THEN
				RAISE EXCEPTION 'option "%" must be %', k,
					CASE k WHEN 'backfill_workers' THEN 'an integer between 1 and 64'
						   WHEN 'batch_size' THEN 'an integer between 1 and 100000'
						   ELSE 'a non-negative integer' END
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF k IN ('include_columns', 'exclude_columns') THEN
			IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0
				OR EXISTS (SELECT FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
				RAISE EXCEPTION 'option "%" must be a non-empty array of column names', k
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			FOR col IN SELECT jsonb_array_elements_text(v) LOOP
				IF NOT EXISTS (SELECT FROM pg_attribute
							   WHERE attrelid = source AND attname = col
								 AND attnum > 0 AND NOT attisdropped) THEN
					RAISE EXCEPTION 'column "%" of option "%" does not exist in table %', col, k, source
						USING ERRCODE = 'undefined_column';
				END IF;
			END LOOP;
		ELSIF k IN ('settings', 'mappings') THEN
			IF jsonb_typeof(v) <> 'object' THEN
				RAISE EXCEPTION 'option "%" must be a JSON object', k
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END IF;
		result := result || jsonb_build_object(k, v);
	END LOOP;
	IF options ? 'include_columns' AND options ? 'exclude_columns' THEN
		RAISE EXCEPTION 'options "include_columns" and "exclude_columns" cannot be used together'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION _check_options(regclass, jsonb) IS 'internal: validate the options of reindex_begin and fill in defaults';

-- Bytes of WAL the target has not acknowledged yet (NULL: no slot position known).
CREATE FUNCTION _target_lag_bytes(target_id bigint) RETURNS numeric
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN pos IS NOT NULL
				THEN greatest(0, (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
									   ELSE pg_current_wal_lsn() END) - pos)
		   END
	  FROM reindex.target t
	  LEFT JOIN pg_replication_slots s ON s.slot_name = t.slot_name
	 CROSS JOIN LATERAL (SELECT coalesce(s.confirmed_flush_lsn, t.confirmed_lsn, t.consistent_point) AS pos) p
	 WHERE t.id = target_id
$$;
COMMENT ON FUNCTION _target_lag_bytes(bigint) IS 'internal: WAL bytes between the server''s position and what the target acknowledged';

-- Stop feeding a target: mark it retiring, and when no streamer holds its
-- slot, drop the slot (and the index if asked) at once.  Returns the state.
CREATE FUNCTION _retire_target(target_id bigint, drop_index boolean) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t reindex.target;
	r record;
	slot_active boolean;
BEGIN
	SELECT * INTO STRICT t FROM reindex.target WHERE id = target_id FOR UPDATE;
	IF t.state IN ('retired', 'dropped') AND NOT (drop_index AND t.state = 'retired') THEN
		RETURN t.state;
	END IF;
	UPDATE reindex.target SET state = 'retiring', drop_index = t.drop_index OR _retire_target.drop_index
	 WHERE id = target_id RETURNING * INTO t;
	SELECT active INTO slot_active FROM pg_replication_slots WHERE slot_name = t.slot_name;
	IF slot_active THEN
		RETURN 'retiring';		-- the streamer feeding it drops the slot
	END IF;
	IF FOUND THEN
		BEGIN
			PERFORM pg_drop_replication_slot(t.slot_name);
		EXCEPTION WHEN object_in_use THEN
			RETURN 'retiring';	-- a streamer took the slot meanwhile
		END;
	END IF;
	IF t.drop_index THEN
		SELECT * INTO r FROM reindex._http(t.endpoint, 'DELETE', '/' || t.index_name);
		IF r.status <> 404 AND (r.status < 200 OR r.status >= 300) THEN
			RAISE EXCEPTION 'could not delete index "%" on search endpoint "%": %', t.index_name,
				t.endpoint, reindex._es_reason(r.status, r.body)
				USING ERRCODE = 'external_routine_exception';
		END IF;
		UPDATE reindex.target SET state = 'dropped' WHERE id = target_id;
		RETURN 'dropped';
	END IF;
	UPDATE reindex.target SET state = 'retired' WHERE id = target_id;
	RETURN 'retired';
END
$$;
COMMENT ON FUNCTION _retire_target(bigint, boolean) IS 'internal: stop feeding a target; drop its slot (and index) now when no streamer holds the slot';

-- src/sql/14_endpoints.sql
-- 14_endpoints.sql: managing search clusters (endpoints).
--
-- Secrets are write-only: endpoint_add/endpoint_alter store them, nothing
-- returns them; the view reindex.endpoints says only whether one is set.
-- Every value is checked before the row is written, so no constraint error
-- (whose detail would print the row, secret included) can happen, and no
-- message ever repeats a URL (it might hold credentials) or a secret.

CREATE FUNCTION _endpoint_check(url text, auth text, username text, secret text,
								ca_file text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF url IS NULL OR url !~ '^https?://[^/]' THEN
		RAISE EXCEPTION 'search endpoint URL must start with "http://" or "https://" followed by a host'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF substring(url FROM '^https?://([^/?#]*)') LIKE '%@%' THEN
		RAISE EXCEPTION 'search endpoint URL must not contain credentials'
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass them as username and secret with auth => ''basic'', or as secret with auth => ''api_key''.';
	END IF;
	IF url ~ '[?#]' THEN
		RAISE EXCEPTION 'search endpoint URL must not contain a query or a fragment'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF auth IS NULL OR auth NOT IN ('none', 'basic', 'api_key') THEN
		RAISE EXCEPTION 'unknown authentication method "%"', auth
			USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'Valid methods are none, basic and api_key.';
	END IF;
	IF auth = 'none' AND (username IS NOT NULL OR secret IS NOT NULL) THEN
		RAISE EXCEPTION 'authentication method "none" takes no username or secret'
			USING ERRCODE = 'invalid_parameter_value';
	ELSIF auth = 'basic' AND (username IS NULL OR secret IS NULL) THEN
		RAISE EXCEPTION 'authentication method "basic" requires a username and a secret'
			USING ERRCODE = 'invalid_parameter_value';
	ELSIF auth = 'api_key' AND (secret IS NULL OR username IS NOT NULL) THEN
		RAISE EXCEPTION 'authentication method "api_key" requires a secret and no username'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF secret ~ '[\r\n]' OR username ~ '[\r\n:]' THEN
		RAISE EXCEPTION 'username and secret must not contain line breaks, nor the username a colon'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ca_file IS NOT NULL AND left(ca_file, 1) <> '/' THEN
		RAISE EXCEPTION 'ca_file must be an absolute path'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;
COMMENT ON FUNCTION _endpoint_check(text, text, text, text, text) IS 'internal: validate an endpoint without ever repeating its URL or secret';

CREATE FUNCTION endpoint_add(name text, url text, auth text DEFAULT 'none',
							 username text DEFAULT NULL, secret text DEFAULT NULL,
							 ca_file text DEFAULT NULL, verify_tls boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'search endpoint name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM reindex._endpoint_check(url, auth, username, secret, ca_file);
	IF verify_tls IS NULL THEN
		RAISE EXCEPTION 'verify_tls must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF EXISTS (SELECT FROM reindex.endpoint e WHERE e.name = endpoint_add.name) THEN
		RAISE EXCEPTION 'search endpoint "%" already exists', name
			USING ERRCODE = 'duplicate_object',
			HINT = 'Change it with reindex.endpoint_alter().';
	END IF;
	INSERT INTO reindex.endpoint (name, url, auth, username, secret, ca_file, verify_tls)
		VALUES (name, url, auth, username, secret, ca_file, verify_tls);
END
$$;
COMMENT ON FUNCTION endpoint_add(text, text, text, text, text, text, boolean) IS 'add a search cluster: URL (no credentials in it), auth none|basic|api_key with username and secret (write-only), CA file, TLS verification';

CREATE FUNCTION endpoint_alter(name text, url text DEFAULT NULL, auth text DEFAULT NULL,
							   username text DEFAULT NULL, secret text DEFAULT NULL,
							   ca_file text DEFAULT NULL, verify_tls boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	e reindex.endpoint;
BEGIN
	SELECT * INTO e FROM reindex.endpoint x WHERE x.name = endpoint_alter.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'search endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	e.url := coalesce(url, e.url);
	IF auth IS NOT NULL AND auth IS DISTINCT FROM e.auth THEN
		-- a new method starts from no credentials
		e.auth := auth;
		e.username := NULL;
		e.secret := NULL;
	END IF;
	e.username := coalesce(username, e.username);
	e.secret := coalesce(secret, e.secret);
	e.ca_file := CASE WHEN ca_file = '' THEN NULL ELSE coalesce(ca_file, e.ca_file) END;
	e.verify_tls := coalesce(verify_tls, e.verify_tls);
	PERFORM reindex._endpoint_check(e.url, e.auth, e.username, e.secret, e.ca_file);
	UPDATE reindex.endpoint x
	   SET url = e.url, auth = e.auth, username = e.username, secret = e.secret,
		   ca_file = e.ca_file, verify_tls = e.verify_tls
	 WHERE x.name = endpoint_alter.name;
END
$$;
COMMENT ON FUNCTION endpoint_alter(text, text, text, text, text, text, boolean) IS 'change a search cluster; NULL arguments keep the current value, a new auth method replaces the credentials, ca_file '''' removes the CA file';

CREATE FUNCTION endpoint_drop(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n_alias bigint;
	n_target bigint;
BEGIN
	PERFORM FROM reindex.endpoint x WHERE x.name = endpoint_drop.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'search endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT count(*) INTO n_alias FROM reindex.alias a WHERE a.endpoint = endpoint_drop.name;
	SELECT count(*) INTO n_target FROM reindex.target t WHERE t.endpoint = endpoint_drop.name;
	IF n_alias > 0 OR n_target > 0 THEN
		RAISE EXCEPTION 'search endpoint "%" is in use', name
			USING ERRCODE = 'dependent_objects_still_exist',
			DETAIL = format('%s aliases and %s targets refer to it.', n_alias, n_target);
	END IF;
	DELETE FROM reindex.endpoint x WHERE x.name = endpoint_drop.name;
END
$$;
COMMENT ON FUNCTION endpoint_drop(text) IS 'remove a search cluster that no alias or target refers to';

CREATE VIEW endpoints AS
	SELECT name, url, auth, username, secret IS NOT NULL AS has_secret, ca_file, verify_tls, created_at
	  FROM endpoint;
COMMENT ON VIEW endpoints IS 'search clusters, without their secrets';
REVOKE ALL ON endpoints FROM PUBLIC;

-- src/sql/20_begin.sql
-- 20_begin.sql: reindex_begin, the start of every reindex.
--
-- Everything is validated before anything is written or sent: the server
-- configuration, the caller's right to read the source, the source itself,
-- names, options, the endpoint and the alias.  The new index is created in
-- the cluster last, with delete_on_abort, so if the transaction does not
-- commit the index is deleted again and the cluster is left as it was.

-- Can the server stream changes through the reindex plugin at all?
CREATE FUNCTION _check_server() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	libs text;
BEGIN
	IF current_setting('wal_level') <> 'logical' THEN
		RAISE EXCEPTION 'wal_level must be "logical" to stream changes'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('The current setting is "%s".', current_setting('wal_level')),
			HINT = 'Set wal_level = logical in postgresql.conf and restart the server.';
	END IF;
	-- the allow-list exists from 14.23, 15.20, 16.15, 17.11 and 18.6 on
	libs := current_setting('output_plugin_libraries', true);
	IF libs IS NOT NULL AND NOT 'reindex' = ANY (
			SELECT btrim(x, E' \t"') FROM unnest(string_to_array(libs, ',')) x) THEN
		RAISE EXCEPTION 'output plugin "reindex" is not allowed by output_plugin_libraries'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('The current setting is "%s".', libs),
			HINT = 'Add reindex to output_plugin_libraries in postgresql.conf, for example '
				   'output_plugin_libraries = ''pgoutput, test_decoding, reindex'', and reload the configuration.';
	END IF;
END
$$;
COMMENT ON FUNCTION _check_server() IS 'internal: refuse when wal_level or output_plugin_libraries do not allow streaming through the reindex plugin';

-- Is rel a table whose changes can be streamed as documents?
CREATE FUNCTION _check_source(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c pg_class;
	has_key boolean;
BEGIN
	IF rel IS NULL THEN
		RAISE EXCEPTION 'source table must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO c FROM pg_class WHERE oid = rel;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'relation with OID % does not exist', rel::oid
			USING ERRCODE = 'undefined_table';
	END IF;
	IF c.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', rel
			USING ERRCODE = 'wrong_object_type',
			DETAIL = format('"%s" is %s; only ordinary and partitioned tables can be reindexed.', rel,
							CASE c.relkind WHEN 'v' THEN 'a view'
										   WHEN 'm' THEN 'a materialized view'
										   WHEN 'f' THEN 'a foreign table'
										   WHEN 'S' THEN 'a sequence'
										   WHEN 'i' THEN 'an index'
										   WHEN 'I' THEN 'an index'
										   ELSE 'not a table' END);
	END IF;
	IF c.relnamespace = 'pg_catalog'::regnamespace THEN
		RAISE EXCEPTION 'cannot reindex system catalog "%"', rel
			USING ERRCODE = 'feature_not_supported';
	END IF;
	IF NOT reindex._caller_may_read(rel) THEN
		RAISE EXCEPTION 'permission denied for table %', rel
			USING ERRCODE = 'insufficient_privilege',
			DETAIL = 'Reindexing a table copies all its rows into the search cluster, so it needs SELECT on it.';
	END IF;
	IF c.relpersistence = 't' THEN
		RAISE EXCEPTION 'cannot reindex temporary table "%"', rel
			USING ERRCODE = 'feature_not_supported',
			DETAIL = 'Changes to temporary tables are not logically decoded.';
	END IF;
	IF c.relpersistence = 'u' THEN
		RAISE EXCEPTION 'cannot reindex unlogged table "%"', rel
			USING ERRCODE = 'feature_not_supported',
			DETAIL = 'Changes to unlogged tables are not written to the WAL.',
			HINT = format('Make it logged with ALTER TABLE %s SET LOGGED.', rel);
	END IF;
	IF c.relispartition THEN
		RAISE EXCEPTION 'cannot reindex partition "%"', rel
			USING ERRCODE = 'feature_not_supported',
			DETAIL = 'Changes to partitions are streamed as changes of their root table.',
			HINT = format('Reindex the root table %s instead.',
						  (SELECT relid FROM pg_partition_root(rel) relid));
	END IF;
	IF c.relreplident = 'n' THEN
		RAISE EXCEPTION 'table "%" has REPLICA IDENTITY NOTHING', rel
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'Deletes could not be streamed without the key of the deleted row.',
			HINT = format('Use ALTER TABLE %s REPLICA IDENTITY DEFAULT (with a primary key) or USING INDEX.', rel);
	END IF;
	SELECT EXISTS (SELECT FROM pg_index
					WHERE indrelid = rel
					  AND ((c.relreplident IN ('d', 'f') AND indisprimary)
						   OR (c.relreplident = 'i' AND indisreplident)))
	  INTO has_key;
	IF NOT has_key THEN
		RAISE EXCEPTION 'table "%" has no primary key or replica identity index', rel
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'Documents are identified by the primary key or the replica identity index.',
			HINT = 'Add a primary key, or set REPLICA IDENTITY USING INDEX on a unique index.';
	END IF;
END
$$;
COMMENT ON FUNCTION _check_source(regclass) IS 'internal: refuse sources that cannot be streamed (views, temporary, unlogged, partitions, no key) or that the caller may not read';

CREATE FUNCTION reindex_begin(source regclass, alias text, new_index text,
							  endpoint text DEFAULT 'default', options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	opts jsonb;
	a reindex.alias;
	active reindex.job;
	cur reindex.target;
	r record;
	settings jsonb;
	requested jsonb;
	index_body jsonb;
	target_id bigint;
	job_id bigint;
	estimate bigint;
BEGIN
	PERFORM reindex._check_server();
	PERFORM reindex._check_source(source);
	PERFORM reindex._check_name('alias', alias);
	PERFORM reindex._check_name('index', new_index);
	IF new_index = alias THEN
		RAISE EXCEPTION 'new index name "%" is the name of the alias', new_index
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Applications read through the alias; the index needs a name of its own, such as "' || alias || '_v2".';
	END IF;
	opts := reindex._check_options(source, options);
	IF endpoint IS NULL OR NOT EXISTS (SELECT FROM reindex.endpoint e WHERE e.name = reindex_begin.endpoint) THEN
		RAISE EXCEPTION 'search endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object',
			HINT = 'Add it with reindex.endpoint_add().';
	END IF;

	-- the alias, locked so that two concurrent begins are serialized
	SELECT * INTO a FROM reindex.alias x WHERE x.name = reindex_begin.alias FOR UPDATE;
	IF FOUND THEN
		IF a.endpoint <> endpoint THEN
			RAISE EXCEPTION 'alias "%" belongs to search endpoint "%"', alias, a.endpoint
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		SELECT * INTO active FROM reindex.job j
		 WHERE j.alias = reindex_begin.alias
		   AND j.state IN ('backfilling', 'catching_up', 'ready', 'swapped', 'rolled_back');
		IF FOUND THEN
			RAISE EXCEPTION 'alias "%" already has an active reindex job %', alias, active.id
				USING ERRCODE = 'object_in_use',
				DETAIL = format('Job %s is in state "%s".', active.id, active.state),
				HINT = 'Finish it with reindex_finish() or cancel it with reindex_cancel() first.';
		END IF;
		SELECT * INTO cur FROM reindex.target t WHERE t.id = a.current_target;
		IF FOUND AND cur.index_name = new_index THEN
			RAISE EXCEPTION 'index "%" is the current index of alias "%"', new_index, alias
				USING ERRCODE = 'invalid_parameter_value',
				HINT = 'Give the new index another name.';
		END IF;
	ELSE
		INSERT INTO reindex.alias (name, endpoint) VALUES (alias, endpoint) RETURNING * INTO a;
	END IF;
	IF EXISTS (SELECT FROM reindex.target t
				WHERE t.endpoint = reindex_begin.endpoint AND t.index_name = new_index
				  AND t.state <> 'dropped') THEN
		RAISE EXCEPTION 'index "%" already exists on search endpoint "%"', new_index, endpoint
			USING ERRCODE = 'duplicate_object',
			DETAIL = 'Another reindex target uses it.';
	END IF;

	-- the cluster: reachable, and the name free (HEAD also resolves aliases)
	SELECT * INTO r FROM reindex._http(endpoint, 'HEAD', '/' || new_index);
	IF r.status = 200 THEN
		RAISE EXCEPTION 'index "%" already exists on search endpoint "%"', new_index, endpoint
			USING ERRCODE = 'duplicate_object',
			HINT = 'Choose another name, or delete the index in the cluster first.';
	ELSIF r.status <> 404 THEN
		RAISE EXCEPTION 'could not check index "%" on search endpoint "%": %', new_index, endpoint,
			reindex._es_reason(r.status, r.body)
			USING ERRCODE = 'external_routine_exception';
	END IF;

	-- the catalog
	SELECT sum(greatest(c.reltuples, 0))::bigint INTO estimate
	  FROM pg_class c
	 WHERE c.oid = source AND c.relkind = 'r' AND c.reltuples >= 0
		OR c.oid IN (SELECT p.relid FROM pg_partition_tree(source) p WHERE p.isleaf);
	settings := reindex._flatten_settings(coalesce(opts -> 'settings', '{}'));
	requested := jsonb_build_object(
		'index.refresh_interval', settings -> 'index.refresh_interval',
		'index.number_of_replicas', settings -> 'index.number_of_replicas');
	target_id := nextval('reindex.target_id_seq');
	INSERT INTO reindex.target (id, endpoint, index_name, source, source_name,
								include_columns, exclude_columns, slot_name,
								requested_settings, rows_estimated)
		VALUES (target_id, endpoint, new_index, source, source::text,
				(SELECT array_agg(x) FROM jsonb_array_elements_text(opts -> 'include_columns') x),
				(SELECT array_agg(x) FROM jsonb_array_elements_text(opts -> 'exclude_columns') x),
				'reindex_' || target_id, requested, estimate);
	INSERT INTO reindex.job (alias, old_target, new_target, options, lag_threshold_bytes)
		VALUES (alias, a.current_target, target_id, opts, (opts ->> 'lag_threshold_bytes')::bigint)
		RETURNING id INTO job_id;

	-- the new index, with backfill settings (the streamer restores the requested ones)
	index_body := jsonb_build_object('settings', settings || jsonb_build_object(
		'index.refresh_interval', '-1', 'index.number_of_replicas', 0));
	IF opts ? 'mappings' THEN
		index_body := index_body || jsonb_build_object('mappings', opts -> 'mappings');
	END IF;
	PERFORM reindex._es_call(endpoint, format('create index "%s"', new_index), 'PUT',
							 '/' || new_index, index_body::text, new_index);
	RETURN job_id;
END
$$;
COMMENT ON FUNCTION reindex_begin(regclass, text, text, text, jsonb) IS 'start reindexing source into the new index new_index behind alias (created on first use) on a search endpoint; creates the index with options settings and mappings; returns the job id. Options: backfill_workers, batch_size, exclude_columns, include_columns, lag_threshold_bytes, mappings, settings';

-- src/sql/22_status.sql
-- 22_status.sql: reindex_status, answerable with no streamer running.
--
-- It only reads (plain MVCC snapshots, no row locks), so it never waits for
-- a swap, a rollback or the streamer.  Lag is computed here from the
-- server's current WAL position and the slot's confirmed position (or the
-- target's recorded confirmed LSN / consistent point), so it is right even
-- when the streamer is down; the streamer's own figures are shown next to
-- its heartbeat age.

CREATE FUNCTION reindex_status(alias text DEFAULT NULL)
RETURNS TABLE (alias text, job_id bigint, state text, old_index text, new_index text,
			   rows_backfilled bigint, rows_estimated bigint, percent_done numeric,
			   events_applied bigint, stale_rejected bigint, retried bigint,
			   dead_lettered bigint, lag_bytes numeric, lag_seconds float8,
			   heartbeat_age interval, streamer text, message text, last_error text,
			   started_at timestamptz, updated_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT j.alias, j.id, j.state, o.index_name, n.index_name,
		   n.rows_backfilled, n.rows_estimated,
		   CASE WHEN n.backfill_done_at IS NOT NULL THEN 100.0
				WHEN n.rows_estimated > 0
				THEN least(100.0, round(100.0 * n.rows_backfilled / n.rows_estimated, 1))
		   END,
		   n.events_applied, n.stale_rejected, n.retried, n.dead_lettered,
		   CASE WHEN active THEN reindex._target_lag_bytes(n.id) END,
		   CASE WHEN active THEN n.lag_seconds END,
		   date_trunc('second', clock_timestamp() - n.heartbeat_at),
		   n.streamer_id,
		   CASE WHEN j.state = 'completed' THEN 'completed'
				WHEN j.state = 'cancelled' THEN 'cancelled'
				WHEN j.state = 'failed' THEN 'failed: ' || coalesce(j.error, 'no reason recorded')
				WHEN n.heartbeat_at IS NULL THEN 'waiting for a streamer'
				WHEN clock_timestamp() - n.heartbeat_at > interval '1 minute'
				THEN 'streamer heartbeat is older than a minute'
				WHEN j.state = 'backfilling' THEN 'backfilling'
				WHEN j.state = 'catching_up' THEN 'catching up'
				WHEN j.state = 'ready' THEN 'ready to swap'
				WHEN j.state = 'swapped' THEN 'swapped: finish with reindex_finish() or roll back with reindex_rollback()'
				WHEN j.state = 'rolled_back' THEN 'rolled back: swap again or cancel'
		   END,
		   coalesce(n.last_error, j.error),
		   j.created_at, greatest(j.updated_at, n.updated_at)
	  FROM reindex.job j
	  JOIN reindex.target n ON n.id = j.new_target
	  LEFT JOIN reindex.target o ON o.id = j.old_target
	  CROSS JOIN LATERAL (SELECT j.state IN ('backfilling', 'catching_up', 'ready',
											 'swapped', 'rolled_back') AS active) x
	 WHERE reindex_status.alias IS NULL OR j.alias = reindex_status.alias
	 ORDER BY j.alias, j.id
$$;
COMMENT ON FUNCTION reindex_status(text) IS 'one row per reindex job (of one alias, or of all): state, indexes, backfill progress, events applied, stale writes rejected, dead letters, lag, streamer heartbeat age and a message (such as "waiting for a streamer")';

-- src/sql/24_lifecycle.sql
-- 24_lifecycle.sql: swap, rollback, finish and cancel.
--
-- State rules (job states; see 10_catalog.sql):
--   swap      ready | rolled_back (| catching_up with force) -> swapped
--   rollback  swapped -> rolled_back (alias back to the old index, or to none
--             for an initial build)
--   finish    swapped -> completed; the old target retires (slot dropped,
--             index deleted when asked)
--   cancel    backfilling | catching_up | ready | rolled_back | failed
--             -> cancelled; the new target retires and its index is deleted
-- Each call is idempotent: repeating it after success only says so (NOTICE).
-- Alias changes: the catalog rows are changed first, then one atomic
-- POST /_aliases is sent, all in the caller's transaction, so an HTTP failure
-- rolls the catalog back and the cluster stays as it was.  Only the rows of
-- the alias and the job are locked; reindex_status never waits for them.

-- The alias and its active job, locked; an error when there is none.
CREATE FUNCTION _lock_active_job(alias text) RETURNS reindex.job
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
BEGIN
	PERFORM FROM reindex.alias a WHERE a.name = _lock_active_job.alias FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alias "%" does not exist', alias
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT * INTO j FROM reindex.job x
	 WHERE x.alias = _lock_active_job.alias
	   AND x.state IN ('backfilling', 'catching_up', 'ready', 'swapped', 'rolled_back')
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alias "%" has no active reindex job', alias
			USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Start one with reindex_begin().';
	END IF;
	RETURN j;
END
$$;
COMMENT ON FUNCTION _lock_active_job(text) IS 'internal: lock an alias and its active job';

-- Point the alias from one target's index to another's (either may be NULL).
CREATE FUNCTION _move_alias(alias text, from_target bigint, to_target bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ep text;
	actions jsonb := '[]';
	idx text;
BEGIN
	SELECT a.endpoint INTO ep FROM reindex.alias a WHERE a.name = _move_alias.alias;
	UPDATE reindex.alias a SET current_target = to_target WHERE a.name = _move_alias.alias;
	IF from_target IS NOT NULL THEN
		SELECT index_name INTO idx FROM reindex.target WHERE id = from_target;
		actions := actions || jsonb_build_array(jsonb_build_object('remove',
			jsonb_build_object('index', idx, 'alias', alias)));
	END IF;
	IF to_target IS NOT NULL THEN
		SELECT index_name INTO idx FROM reindex.target WHERE id = to_target;
		actions := actions || jsonb_build_array(jsonb_build_object('add',
			jsonb_build_object('index', idx, 'alias', alias)));
	END IF;
	PERFORM reindex._es_call(ep, format('move alias "%s"', alias), 'POST', '/_aliases',
							 jsonb_build_object('actions', actions)::text);
END
$$;
COMMENT ON FUNCTION _move_alias(text, bigint, bigint) IS 'internal: catalog change plus one atomic POST /_aliases moving an alias between targets';

CREATE FUNCTION reindex_swap_alias(alias text, force boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
	lag numeric;
BEGIN
	j := reindex._lock_active_job(alias);
	IF j.state = 'swapped' THEN
		RAISE NOTICE 'alias "%" already points to the new index of reindex job %', alias, j.id;
		RETURN j.id;
	END IF;
	IF j.state = 'backfilling' THEN
		RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'The new index is still being backfilled.',
			HINT = 'Wait until reindex_status() reports state "ready".';
	END IF;
	lag := reindex._target_lag_bytes(j.new_target);
	IF NOT coalesce(force, false) THEN
		IF j.state NOT IN ('ready', 'rolled_back') THEN
			RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('It is in state "%s".', j.state),
				HINT = 'Wait until reindex_status() reports state "ready", or pass force => true to swap while it catches up.';
		END IF;
		IF lag IS NULL OR lag > j.lag_threshold_bytes THEN
			RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('The new index lags %s bytes of WAL behind, more than the threshold of %s bytes.',
								coalesce(lag::text, 'an unknown number of'), j.lag_threshold_bytes),
				HINT = 'Wait until reindex_status() shows lag_bytes below the threshold (is the streamer running?), or pass force => true.';
		END IF;
	END IF;
	UPDATE reindex.job SET state = 'swapped' WHERE id = j.id;
	PERFORM reindex._move_alias(alias,
		(SELECT a.current_target FROM reindex.alias a WHERE a.name = reindex_swap_alias.alias),
		j.new_target);
	RETURN j.id;
END
$$;
COMMENT ON FUNCTION reindex_swap_alias(text, boolean) IS 'point the alias at the new index of its ready job: one atomic _aliases request plus the catalog change, in one transaction; force => true also swaps a job that is still catching up; idempotent';

CREATE FUNCTION reindex_rollback(alias text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
	last reindex.job;
BEGIN
	PERFORM FROM reindex.alias a WHERE a.name = reindex_rollback.alias;
	IF FOUND AND NOT EXISTS (SELECT FROM reindex.job x WHERE x.alias = reindex_rollback.alias
								AND x.state IN ('backfilling', 'catching_up', 'ready', 'swapped', 'rolled_back')) THEN
		SELECT * INTO last FROM reindex.job x WHERE x.alias = reindex_rollback.alias
		 ORDER BY x.id DESC LIMIT 1;
		IF last.state = 'completed' THEN
			RAISE EXCEPTION 'reindex job % of alias "%" is completed', last.id, alias
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = 'The old index is no longer fed, so the alias cannot go back to it.',
				HINT = 'Start a new reindex with reindex_begin() instead.';
		END IF;
	END IF;
	j := reindex._lock_active_job(alias);
	IF j.state = 'rolled_back' THEN
		RAISE NOTICE 'reindex job % is already rolled back', j.id;
		RETURN j.id;
	END IF;
	IF j.state <> 'swapped' THEN
		RAISE EXCEPTION 'reindex job % has not been swapped', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('It is in state "%s"; the alias still points to the old index.', j.state),
			HINT = 'To abandon the job, call reindex_cancel().';
	END IF;
	UPDATE reindex.job SET state = 'rolled_back' WHERE id = j.id;
	PERFORM reindex._move_alias(alias, j.new_target, j.old_target);
	RETURN j.id;
END
$$;
COMMENT ON FUNCTION reindex_rollback(text) IS 'point the alias back at the old index (still fed) after a swap; for an initial build the alias is removed; idempotent';

-- The job, locked; an error when it does not exist.
CREATE FUNCTION _lock_job(job bigint) RETURNS reindex.job
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
BEGIN
	-- lock the alias first, as swap and rollback do, so they cannot deadlock
	PERFORM FROM reindex.alias a JOIN reindex.job x ON x.alias = a.name
	 WHERE x.id = _lock_job.job FOR UPDATE OF a;
	SELECT * INTO j FROM reindex.job x WHERE x.id = _lock_job.job FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'reindex job % does not exist', coalesce(job::text, 'NULL')
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN j;
END
$$;
COMMENT ON FUNCTION _lock_job(bigint) IS 'internal: lock a job (and its alias)';

CREATE FUNCTION reindex_finish(job bigint, drop_old_index boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
BEGIN
	j := reindex._lock_job(job);
	IF j.state = 'completed' THEN
		RAISE NOTICE 'reindex job % is already completed', j.id;
		IF j.old_target IS NULL THEN
			RETURN NULL;
		END IF;
		RETURN reindex._retire_target(j.old_target, coalesce(drop_old_index, false));
	END IF;
	IF j.state <> 'swapped' THEN
		RAISE EXCEPTION 'reindex job % cannot be finished', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('It is in state "%s"; only a swapped job can be finished.', j.state),
			HINT = CASE WHEN j.state IN ('cancelled', 'failed') THEN 'Start a new reindex with reindex_begin().'
						WHEN j.state = 'rolled_back' THEN 'Swap the alias again with reindex_swap_alias(), or cancel the job with reindex_cancel().'
						ELSE 'Swap the alias with reindex_swap_alias() first.' END;
	END IF;
	UPDATE reindex.job SET state = 'completed' WHERE id = j.id;
	IF j.old_target IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN reindex._retire_target(j.old_target, coalesce(drop_old_index, false));
END
$$;
COMMENT ON FUNCTION reindex_finish(bigint, boolean) IS 'complete a swapped job: stop feeding the old index and drop its slot (at once when no streamer holds it, else by the streamer), delete the old index when drop_old_index; returns the old target''s state; idempotent';

CREATE FUNCTION reindex_cancel(job bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
BEGIN
	j := reindex._lock_job(job);
	IF j.state = 'cancelled' THEN
		RAISE NOTICE 'reindex job % is already cancelled', j.id;
		RETURN reindex._retire_target(j.new_target, true);
	END IF;
	IF j.state = 'swapped' THEN
		RAISE EXCEPTION 'reindex job % cannot be cancelled', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'The alias points to its new index.',
			HINT = 'Roll the alias back with reindex_rollback() first, or keep the new index with reindex_finish().';
	END IF;
	IF j.state = 'completed' THEN
		RAISE EXCEPTION 'reindex job % cannot be cancelled', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'It is completed.',
			HINT = 'Start a new reindex with reindex_begin() to go back.';
	END IF;
	UPDATE reindex.job SET state = 'cancelled' WHERE id = j.id;
	RETURN reindex._retire_target(j.new_target, true);
END
$$;
COMMENT ON FUNCTION reindex_cancel(bigint) IS 'abandon a job that is not swapped: stop feeding its new index, drop its slot and delete the index (at once when no streamer holds the slot, else by the streamer); returns the new target''s state; idempotent';

-- src/sql/28_privileges.sql
-- 28_privileges.sql: who may do what.
--
-- Security model:
--   * PUBLIC can execute nothing and read nothing in schema reindex.
--   * The API functions are SECURITY DEFINER (owned by the superuser who ran
--     CREATE EXTENSION) with search_path = pg_catalog, pg_temp.  A role gets
--     them with reindex.grant_admin(role); reindex_begin additionally checks
--     that the calling role may SELECT the source table.
--   * The streamer's role gets exactly what it reads and writes with
--     reindex.grant_streamer(role): it reads endpoints (secrets included),
--     aliases, jobs and targets, writes progress columns of targets and the
--     state and error of jobs, and owns backfill_chunk, dead_letter and its
--     history rows.  It also needs REPLICATION (ALTER ROLE ... REPLICATION)
--     and SELECT on the source tables, which grant_streamer does not give.

CREATE FUNCTION grant_admin(role regrole) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f text;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA reindex TO %I', role::text);
	EXECUTE format('GRANT SELECT ON reindex.endpoints TO %I', role::text);
	FOREACH f IN ARRAY ARRAY[
		'reindex.version()',
		'reindex.endpoint_add(text, text, text, text, text, text, boolean)',
		'reindex.endpoint_alter(text, text, text, text, text, text, boolean)',
		'reindex.endpoint_drop(text)',
		'reindex.reindex_begin(regclass, text, text, text, jsonb)',
		'reindex.reindex_status(text)',
		'reindex.reindex_swap_alias(text, boolean)',
		'reindex.reindex_rollback(text)',
		'reindex.reindex_finish(bigint, boolean)',
		'reindex.reindex_cancel(bigint)'] LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, role::text);
	END LOOP;
END
$$;
COMMENT ON FUNCTION grant_admin(regrole) IS 'let a role run the reindex SQL API (endpoints, begin, status, swap, rollback, finish, cancel)';

CREATE FUNCTION grant_streamer(role regrole) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f regprocedure;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA reindex TO %I', role::text);
	EXECUTE format('GRANT SELECT ON reindex.endpoint, reindex.alias, reindex.job, reindex.target TO %I', role::text);
	EXECUTE format('GRANT UPDATE (state, consistent_point, confirmed_lsn, rows_estimated, rows_backfilled,'
				   ' events_applied, stale_rejected, retried, dead_lettered, lag_bytes, lag_seconds,'
				   ' last_error, streamer_id, heartbeat_at, backfill_started_at, backfill_done_at, updated_at)'
				   ' ON reindex.target TO %I', role::text);
	EXECUTE format('GRANT UPDATE (state, error, updated_at, finished_at) ON reindex.job TO %I', role::text);
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON reindex.backfill_chunk TO %I', role::text);
	EXECUTE format('GRANT SELECT, INSERT ON reindex.dead_letter, reindex.history TO %I', role::text);
	EXECUTE format('GRANT USAGE ON SEQUENCE reindex.dead_letter_id_seq, reindex.history_id_seq TO %I', role::text);
	-- the version check and the document encoder (src/sql/30_*.sql onwards)
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
			  WHERE p.pronamespace = 'reindex'::regnamespace
				AND p.proname IN ('version', 'document', 'document_by_key') LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, role::text);
	END LOOP;
	IF NOT (SELECT rolreplication OR rolsuper FROM pg_roles WHERE oid = role) THEN
		RAISE NOTICE 'role "%" cannot stream changes yet', role
			USING HINT = format('Give it the REPLICATION attribute with ALTER ROLE %I REPLICATION, and SELECT on the source tables.', role::text);
	END IF;
END
$$;
COMMENT ON FUNCTION grant_streamer(regrole) IS 'give the streamer''s role exactly the catalog privileges it needs (it also needs REPLICATION and SELECT on the source tables)';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA reindex FROM PUBLIC;

-- src/sql/30_document.sql
-- 30_document.sql: the document encoder's SQL entry points (src/plugin/).
--
-- Both render a row exactly as the output plugin `reindex` does: they return
-- "<id> <document>", byte for byte the tail of the plugin's index line after
-- "<relation> " (src/plugin/WIRE-FORMAT.md).  The backfill reads every row
-- through document(); refetch events are resolved with document_by_key().
-- Neither is SECURITY DEFINER: the caller needs SELECT on the table.  EXECUTE
-- is revoked from PUBLIC; grant_streamer() grants it to the streamer's role.

CREATE FUNCTION document(rel regclass, r record,
						 include_columns text[] DEFAULT NULL,
						 exclude_columns text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'reindex_document'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION document(regclass, record, text[], text[]) IS
	'"<id> <document>" of a row of rel, as the output plugin renders it';

CREATE FUNCTION document_by_key(rel regclass, key jsonb,
								include_columns text[] DEFAULT NULL,
								exclude_columns text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'reindex_document_by_key'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION document_by_key(regclass, jsonb, text[], text[]) IS
	'"<id> <document>" of the current row of rel with this key (a refetch event''s key object), or NULL';

REVOKE EXECUTE ON FUNCTION document(regclass, record, text[], text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION document_by_key(regclass, jsonb, text[], text[]) FROM PUBLIC;
