-- 26_verify.sql: reindex_verify, the per-document reconciliation of a
-- source table with one of its indexes, with optional repair.
--
-- A run is a row of verify_run.  reindex_verify() checks its arguments and
-- queues one; the streamer that feeds the target claims it (FOR UPDATE SKIP
-- LOCKED), runs it on threads of its own (src/streamer/verify.c) and writes
-- its progress and result into the row; reindex_verify_wait() polls the row
-- until it is finished (or a timeout), so a DBA gets the result from SQL.
-- Why the streamer: a consistent snapshot with a known LSN needs a
-- replication connection (a temporary slot with an exported snapshot), and
-- a repair is a backfill of the differing rows; both are the streamer's.
--
-- What a run compares (DESIGN.md I1; details in src/streamer/README.md):
-- every row of the snapshot (consistent point C) with its document, fetched
-- by id with _mget after the target has acknowledged C, and every document
-- of the index (scroll in _doc order) with the snapshot's rows.  A document
-- with a version above C changed after the snapshot and is not judged.
--   missing     a row without a document
--   extra       a document (version <= C) without a row
--   stale       a document with a version below the target's consistent
--               point, older than anything its backfill or stream wrote
--   mismatched  a document (version <= C) whose _source differs from the
--               row's rendering (option content, on by default)
-- A difference is reported only when the row did not change between the
-- snapshot and a recheck after the document was read (same ctid and xmin):
-- documents changed while the run reads them are counted as `changed`.
-- With repair, rows are re-sent with version C (external_gte) and extras
-- deleted with version C: a later write has a version above C and wins.

CREATE TABLE verify_run (
	id			bigserial PRIMARY KEY,
	target_id	bigint NOT NULL REFERENCES target (id),
	index_name	text NOT NULL,
	repair		boolean NOT NULL DEFAULT false,
	options		jsonb NOT NULL DEFAULT '{}',
	state		text NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'running', 'done', 'failed')),
	phase		text,
	snapshot_lsn pg_lsn,
	rows_checked bigint NOT NULL DEFAULT 0,
	docs_checked bigint NOT NULL DEFAULT 0,
	missing		bigint NOT NULL DEFAULT 0,
	extra		bigint NOT NULL DEFAULT 0,
	stale		bigint NOT NULL DEFAULT 0,
	mismatched	bigint NOT NULL DEFAULT 0,
	changed		bigint NOT NULL DEFAULT 0,
	repaired	bigint NOT NULL DEFAULT 0,
	repair_failed bigint NOT NULL DEFAULT 0,
	samples		jsonb NOT NULL DEFAULT '{}',
	error		text,
	attempts	integer NOT NULL DEFAULT 0,
	streamer_id text,
	heartbeat_at timestamptz,
	requested_at timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	finished_at timestamptz
);
CREATE INDEX verify_run_target_idx ON verify_run (target_id, id);
CREATE INDEX verify_run_open_idx ON verify_run (id) WHERE state IN ('queued', 'running');
COMMENT ON TABLE verify_run IS 'reindex_verify runs: queued by reindex_verify(), run and written by the streamer';
COMMENT ON COLUMN verify_run.options IS 'validated options: content (compare _source), batch_size, sample_size, wait_seconds';
COMMENT ON COLUMN verify_run.state IS 'queued -> running (streamer) -> done | failed; a running run whose heartbeat is older than 15 seconds is claimed again and starts over';
COMMENT ON COLUMN verify_run.phase IS 'streamer: snapshot, waiting (for the target to acknowledge the snapshot), rows, documents, done';
COMMENT ON COLUMN verify_run.snapshot_lsn IS 'streamer: consistent point C of the snapshot compared (and the version of repairs)';
COMMENT ON COLUMN verify_run.rows_checked IS 'streamer: rows of the snapshot compared with their documents';
COMMENT ON COLUMN verify_run.docs_checked IS 'streamer: documents of the index checked for a row';
COMMENT ON COLUMN verify_run.changed IS 'streamer: differences not reported because the row or document changed while the run read it';
COMMENT ON COLUMN verify_run.samples IS 'streamer: up to sample_size ids per kind of difference, {"missing": [...], ...}';
REVOKE ALL ON verify_run FROM PUBLIC;
REVOKE ALL ON SEQUENCE verify_run_id_seq FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('verify_run', '');
SELECT pg_catalog.pg_extension_config_dump('verify_run_id_seq', '');

-- The options of reindex_verify, validated, with their defaults.
CREATE FUNCTION _verify_options(options jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	valid CONSTANT text[] := ARRAY['batch_size', 'content', 'sample_size', 'wait_seconds'];
	result jsonb := '{"content": true, "batch_size": 1000, "sample_size": 10, "wait_seconds": 300}';
	k text;
	v jsonb;
	n numeric;
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
		IF k = 'content' THEN
			IF jsonb_typeof(v) <> 'boolean' THEN
				RAISE EXCEPTION 'option "content" must be true or false'
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSE
			n := CASE WHEN jsonb_typeof(v) = 'number' THEN (v #>> '{}')::numeric END;
			IF n IS NULL OR n <> trunc(n)
				OR (k = 'batch_size' AND (n < 1 OR n > 10000))
				OR (k = 'sample_size' AND (n < 0 OR n > 1000))
				OR (k = 'wait_seconds' AND (n < 1 OR n > 86400)) THEN
				RAISE EXCEPTION 'option "%" must be %', k,
					CASE k WHEN 'batch_size' THEN 'an integer between 1 and 10000'
						   WHEN 'sample_size' THEN 'an integer between 0 and 1000'
						   ELSE 'an integer between 1 and 86400' END
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END IF;
		result := result || jsonb_build_object(k, v);
	END LOOP;
	RETURN result;
END
$$;
COMMENT ON FUNCTION _verify_options(jsonb) IS 'internal: validate the options of reindex_verify and fill in defaults';

-- The live target an alias (the index it points to) or an index name means.
CREATE FUNCTION _verify_target(alias_or_index text) RETURNS reindex.target
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t reindex.target;
	a reindex.alias;
	n integer;
BEGIN
	SELECT * INTO a FROM reindex.alias x WHERE x.name = alias_or_index;
	IF FOUND THEN
		IF a.current_target IS NULL THEN
			RAISE EXCEPTION 'alias "%" does not point to an index yet', alias_or_index
				USING ERRCODE = 'object_not_in_prerequisite_state',
				HINT = 'Name the new index instead, as reindex_status() shows it.';
		END IF;
		SELECT * INTO t FROM reindex.target x WHERE x.id = a.current_target;
	ELSE
		SELECT count(*) INTO n FROM reindex.target x
		 WHERE x.index_name = alias_or_index AND x.state NOT IN ('retired', 'dropped');
		IF n > 1 THEN
			RAISE EXCEPTION 'index "%" is fed on more than one endpoint', alias_or_index
				USING ERRCODE = 'ambiguous_parameter',
				HINT = 'Name the alias instead.';
		END IF;
		SELECT * INTO t FROM reindex.target x
		 WHERE x.index_name = alias_or_index
		 ORDER BY x.state IN ('retired', 'dropped'), x.id DESC LIMIT 1;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no alias or index "%" is known to reindex', alias_or_index
				USING ERRCODE = 'undefined_object';
		END IF;
	END IF;
	IF t.state = 'backfilling' THEN
		RAISE EXCEPTION 'index "%" is still being backfilled', t.index_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Verify it once reindex_status() shows the job catching up or ready.';
	ELSIF t.state <> 'streaming' THEN
		RAISE EXCEPTION 'index "%" is no longer fed from %', t.index_name, t.source_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('Its target is %s; a verify compares an index that is kept up to date.', t.state);
	END IF;
	RETURN t;
END
$$;
COMMENT ON FUNCTION _verify_target(text) IS 'internal: the fed target of an alias (its current index) or of an index name';

CREATE FUNCTION reindex_verify(alias_or_index text, repair boolean DEFAULT false,
							   options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t reindex.target;
	opts jsonb;
	run bigint;
BEGIN
	IF alias_or_index IS NULL OR repair IS NULL THEN
		RAISE EXCEPTION 'alias_or_index and repair must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	opts := reindex._verify_options(options);
	t := reindex._verify_target(alias_or_index);
	SELECT v.id INTO run FROM reindex.verify_run v
	 WHERE v.target_id = t.id AND v.state IN ('queued', 'running')
	   AND v.repair = reindex_verify.repair AND v.options = opts
	 ORDER BY v.id LIMIT 1;
	IF FOUND THEN
		RAISE NOTICE 'verify run % of index "%" is already queued or running', run, t.index_name;
		RETURN run;
	END IF;
	INSERT INTO reindex.verify_run (target_id, index_name, repair, options)
		VALUES (t.id, t.index_name, repair, opts) RETURNING id INTO run;
	PERFORM pg_catalog.pg_notify('reindex', pg_catalog.json_build_object(
		'verify', run, 'target', t.id, 'state', 'queued')::text);
	RETURN run;
END
$$;
COMMENT ON FUNCTION reindex_verify(text, boolean, jsonb) IS 'queue a per-document verify (and with repair => true a repair) of the index an alias points to, or of an index; the streamer runs it once the calling transaction commits; returns the run id for reindex_verify_wait(). Options: content, batch_size, sample_size, wait_seconds';

CREATE FUNCTION reindex_verify_wait(run_id bigint, timeout interval DEFAULT '1 hour')
RETURNS reindex.verify_run
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v reindex.verify_run;
	deadline timestamptz := clock_timestamp() + coalesce(timeout, interval '0');
	said text;
BEGIN
	SELECT * INTO v FROM reindex.verify_run x WHERE x.id = run_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'verify run % does not exist', run_id
			USING ERRCODE = 'undefined_object';
	END IF;
	IF v.state NOT IN ('done', 'failed') AND timeout > interval '0' THEN
		IF (SELECT x.xmin::text::xid8 = pg_current_xact_id_if_assigned()
			  FROM reindex.verify_run x WHERE x.id = run_id) THEN
			RAISE EXCEPTION 'verify run % was queued by this transaction', run_id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = 'The streamer sees the run only once the transaction that queued it commits.',
				HINT = 'Commit, then call reindex_verify_wait().';
		END IF;
		IF current_setting('transaction_isolation') <> 'read committed' THEN
			RAISE EXCEPTION 'reindex_verify_wait() needs the read committed isolation level'
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = 'A transaction snapshot would never show the run''s progress.';
		END IF;
	END IF;
	LOOP
		EXIT WHEN v.state IN ('done', 'failed') OR clock_timestamp() >= deadline;
		IF v.phase IS DISTINCT FROM said THEN
			RAISE NOTICE 'verify run %: %', run_id, coalesce(v.phase, v.state);
			said := v.phase;
		END IF;
		PERFORM pg_catalog.pg_sleep(0.1);
		SELECT * INTO v FROM reindex.verify_run x WHERE x.id = run_id;
	END LOOP;
	RETURN v;
END
$$;
COMMENT ON FUNCTION reindex_verify_wait(bigint, interval) IS 'wait until a verify run is done or failed, at most timeout (0: do not wait), and return it: counts of rows and documents checked, missing, extra, stale, mismatched, changed while running, repaired, samples of ids, error';

-- The last finished verify of a target, as reindex_status() shows it.
CREATE FUNCTION _verify_summary(target_id bigint, OUT verified_at timestamptz, OUT verify text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT v.finished_at,
		   CASE WHEN v.state = 'failed' THEN 'failed: ' || coalesce(reindex._redact_error(v.error), 'no reason recorded')
				WHEN v.missing + v.extra + v.stale + v.mismatched = 0
				THEN format('clean: %s rows, %s documents', v.rows_checked, v.docs_checked)
				ELSE format('%s missing, %s extra, %s stale, %s mismatched%s',
							v.missing, v.extra, v.stale, v.mismatched,
							CASE WHEN v.repair THEN format(' (%s repaired, %s not)',
														   v.repaired, v.repair_failed) ELSE '' END)
		   END
	  FROM reindex.verify_run v
	 WHERE v.target_id = _verify_summary.target_id AND v.state IN ('done', 'failed')
	 ORDER BY v.id DESC LIMIT 1
$$;
COMMENT ON FUNCTION _verify_summary(bigint) IS 'internal: when the target was last verified and what was found';

-- Is the newest finished verify of the target clean (nothing found)?
CREATE FUNCTION _verified_clean(target_id bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce((SELECT v.state = 'done' AND v.missing + v.extra + v.stale + v.mismatched = 0
					   FROM reindex.verify_run v
					  WHERE v.target_id = _verified_clean.target_id AND v.state IN ('done', 'failed')
					  ORDER BY v.id DESC LIMIT 1), false)
$$;
COMMENT ON FUNCTION _verified_clean(bigint) IS 'internal: true when the newest finished verify of the target found no difference';
