-- reindex--0.1--0.2.sql: upgrade from 0.1 to 0.2.
--
-- Every change to the catalog or the SQL API made in src/sql/[0-9][0-9]_*.sql
-- since 0.1 is made here too, so that an updated installation is exactly a
-- fresh one: the pg_regress test `upgrade` compares the two (tables, columns,
-- defaults, constraints, indexes, triggers, functions with their source,
-- settings and privileges, comments) and fails on any difference.  Functions
-- are replaced with the very text of the parts (CREATE OR REPLACE), and new
-- functions get the same REVOKE/GRANT as in 28_privileges.sql.
\echo Use "ALTER EXTENSION reindex UPDATE TO '0.2'" to load this file. \quit

-- 0.2: where secrets may go (src/sql/14_endpoints.sql, 28_privileges.sql):
-- reindex.allowed_hosts checks, endpoint_alter needs the secret again to move
-- it, secret_file, grant_monitor, grant_* quote role names once;
-- reindex_status hides what may quote document values from monitoring roles
-- (_caller_may_execute, _redact_error).

CREATE FUNCTION _endpoint_host_check(url text) RETURNS void
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'reindex_endpoint_host_check';
COMMENT ON FUNCTION _endpoint_host_check(text) IS 'internal: error unless reindex.allowed_hosts allows the host of url (listed, or every address it resolves to)';

CREATE FUNCTION _caller_has_privs_of(role regrole) RETURNS boolean
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'reindex_caller_has_privs_of';
COMMENT ON FUNCTION _caller_has_privs_of(regrole) IS 'internal: whether the role calling the API (not the SECURITY DEFINER owner) has the privileges of role';

CREATE FUNCTION _caller_may_execute(fn regprocedure) RETURNS boolean
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'reindex_caller_may_execute';
COMMENT ON FUNCTION _caller_may_execute(regprocedure) IS 'internal: whether the role calling the API (not the SECURITY DEFINER owner) may execute fn';

-- An error text as the role calling the API may see it.  Error and refusal
-- texts may quote document values (a mapping error quotes the refused value,
-- a malformed row is quoted whole): a role that may not run reindex_begin
-- (one that only monitors, grant_monitor) sees the text up to its first
-- ": " (what happened, to which document id) and not what follows.  Only
-- reindex_status applies it: the streamer reads the catalog unredacted.
CREATE FUNCTION _redact_error(error text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN strpos(error, ': ') = 0
					 OR reindex._caller_may_execute('reindex.reindex_begin(regclass, text, text, text, jsonb)')
				THEN error
				ELSE split_part(error, ': ', 1) || ': [details shown to administrators only]'
		   END
$$;
COMMENT ON FUNCTION _redact_error(text) IS 'internal: an error text, with what follows its first ": " hidden from callers who may not run reindex_begin (monitoring roles): it may quote document values';

CREATE FUNCTION _secret_from_file(path text) RETURNS text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'reindex_secret_from_file';
COMMENT ON FUNCTION _secret_from_file(text) IS 'internal: a secret read from a server file (caller needs pg_read_server_files, or the file lies in reindex.secret_directory)';

-- scheme://host:port of a URL, with the default port spelled out
CREATE FUNCTION _endpoint_origin(url text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT m[1] || '://' || lower(m[2]) || ':' ||
		   coalesce(nullif(m[3], ''), CASE m[1] WHEN 'https' THEN '443' ELSE '80' END)
	  FROM regexp_match(url, '^(https?)://(\[[^]/]*\]|[^/:]*)(?::([0-9]*))?') m
$$;
COMMENT ON FUNCTION _endpoint_origin(text) IS 'internal: scheme, host and port of an endpoint URL (where its secret is sent)';

-- the secret of a call: given as text, or read from secret_file
CREATE FUNCTION _secret_given(secret text, secret_file text) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF secret_file IS NULL THEN
		RETURN secret;
	END IF;
	IF secret IS NOT NULL THEN
		RAISE EXCEPTION 'pass either secret or secret_file, not both'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN reindex._secret_from_file(secret_file);
END
$$;
COMMENT ON FUNCTION _secret_given(text, text) IS 'internal: the secret passed to endpoint_add/endpoint_alter, literally or as a file';

-- endpoint_add and endpoint_alter take secret_file: new signatures, and the
-- roles that could run the old ones can run the new ones
SELECT set_config('reindex_upgrade.endpoint_grantees',
				  coalesce(array_agg(DISTINCT a.grantee::regrole::text), '{}')::text, true)
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.pronamespace = 'reindex'::regnamespace
   AND p.proname IN ('endpoint_add', 'endpoint_alter')
   AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner;
DROP FUNCTION endpoint_add(text, text, text, text, text, text, boolean);
DROP FUNCTION endpoint_alter(text, text, text, text, text, text, boolean);

CREATE FUNCTION endpoint_add(name text, url text, auth text DEFAULT 'none',
							 username text DEFAULT NULL, secret text DEFAULT NULL,
							 ca_file text DEFAULT NULL, verify_tls boolean DEFAULT true,
							 secret_file text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'search endpoint name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	secret := reindex._secret_given(secret, secret_file);
	PERFORM reindex._endpoint_check(url, auth, username, secret, ca_file);
	PERFORM reindex._endpoint_host_check(url);
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
COMMENT ON FUNCTION endpoint_add(text, text, text, text, text, text, boolean, text) IS 'add a search cluster: URL (no credentials in it, host allowed by reindex.allowed_hosts), auth none|basic|api_key with username and secret (write-only; or secret_file, a server file holding it), CA file, TLS verification';

CREATE FUNCTION endpoint_alter(name text, url text DEFAULT NULL, auth text DEFAULT NULL,
							   username text DEFAULT NULL, secret text DEFAULT NULL,
							   ca_file text DEFAULT NULL, verify_tls boolean DEFAULT NULL,
							   secret_file text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	e reindex.endpoint;
	old reindex.endpoint;
BEGIN
	SELECT * INTO e FROM reindex.endpoint x WHERE x.name = endpoint_alter.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'search endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	old := e;
	secret := reindex._secret_given(secret, secret_file);
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
	-- a kept secret goes only where, and as safely as, it went before
	IF secret IS NULL AND e.secret IS NOT NULL
	   AND (reindex._endpoint_origin(e.url) IS DISTINCT FROM reindex._endpoint_origin(old.url)
			OR (old.verify_tls AND NOT e.verify_tls))
	   AND NOT reindex._caller_has_privs_of((SELECT x.extowner FROM pg_catalog.pg_extension x
											  WHERE x.extname = 'reindex')::regrole) THEN
		RAISE EXCEPTION 'changing where search endpoint "%" sends its secret requires the secret', name
			USING ERRCODE = 'insufficient_privilege',
			DETAIL = 'The call changes the scheme, host or port of the URL, or turns TLS verification off, and keeps the stored secret.',
			HINT = 'Pass the secret again in the same call (secret or secret_file); the extension owner may change it without.';
	END IF;
	PERFORM reindex._endpoint_host_check(e.url);
	UPDATE reindex.endpoint x
	   SET url = e.url, auth = e.auth, username = e.username, secret = e.secret,
		   ca_file = e.ca_file, verify_tls = e.verify_tls
	 WHERE x.name = endpoint_alter.name;
END
$$;
COMMENT ON FUNCTION endpoint_alter(text, text, text, text, text, text, boolean, text) IS 'change a search cluster; NULL arguments keep the current value, a new auth method replaces the credentials, ca_file '''' removes the CA file; a new scheme, host or port (or verify_tls off) with a kept secret needs the secret again';

REVOKE ALL ON FUNCTION _endpoint_host_check(text), _caller_has_privs_of(regrole),
	_caller_may_execute(regprocedure), _redact_error(text),
	_secret_from_file(text), _endpoint_origin(text), _secret_given(text, text),
	endpoint_add(text, text, text, text, text, text, boolean, text),
	endpoint_alter(text, text, text, text, text, text, boolean, text) FROM PUBLIC;
DO $$
DECLARE
	g text;
BEGIN
	FOREACH g IN ARRAY current_setting('reindex_upgrade.endpoint_grantees')::text[] LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION reindex.endpoint_add(text, text, text, text, text, text, boolean, text),'
					   ' reindex.endpoint_alter(text, text, text, text, text, text, boolean, text) TO %s', g);
	END LOOP;
END
$$;


CREATE FUNCTION grant_monitor(role regrole) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA reindex TO %s', role::text);
	EXECUTE format('GRANT EXECUTE ON FUNCTION reindex.version(), reindex.reindex_status(text) TO %s', role::text);
	-- no error texts (history.detail, dead_letter.error, verify_run.error): they
	-- may quote document values; reindex_status shows them redacted
	EXECUTE format('GRANT SELECT (id, job_id, target_id, from_state, to_state, at)'
				   ' ON reindex.history TO %s', role::text);
	EXECUTE format('GRANT SELECT (id, target_id, lsn, doc_id, op, http_status, created_at)'
				   ' ON reindex.dead_letter TO %s', role::text);
	-- verify and replay results: counts, not the sampled ids
	EXECUTE format('GRANT SELECT (id, target_id, index_name, repair, state, phase, snapshot_lsn,'
				   ' rows_checked, docs_checked, missing, extra, stale, mismatched, changed, repaired,'
				   ' repair_failed, attempts, streamer_id, heartbeat_at, requested_at,'
				   ' started_at, finished_at) ON reindex.verify_run TO %s', role::text);
	EXECUTE format('GRANT SELECT ON reindex.replay TO %s', role::text);
END
$$;
COMMENT ON FUNCTION grant_monitor(regrole) IS 'let a role watch reindexing without changing anything: reindex_status (error texts cut before what may quote document values), history and dead letters without error texts or document bodies, verify and replay results without sampled ids or error texts';

REVOKE ALL ON FUNCTION grant_monitor(regrole) FROM PUBLIC;

-- 0.2: index and alias names with control characters are refused (12_internal.sql)
CREATE OR REPLACE FUNCTION _check_name(kind text, name text) RETURNS void
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
	ELSIF name ~ '[[:cntrl:]]' THEN
		why := 'A name must not contain control characters such as line breaks or tabs.';
	END IF;
	IF why IS NOT NULL THEN
		RAISE EXCEPTION 'invalid % name "%"', kind, name
			USING ERRCODE = 'invalid_name', DETAIL = why;
	END IF;
END
$$;
COMMENT ON FUNCTION _check_name(text, text) IS 'internal: refuse index and alias names that Elasticsearch would refuse';

-- 0.2: reindex_verify (src/sql/16_verify.sql, whole)
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

-- 0.2: absent_ids (src/sql/30_document.sql)
CREATE FUNCTION absent_ids(rel regclass, ids jsonb)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'reindex_absent_ids'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION absent_ids(regclass, jsonb) IS
	'the document ids of a JSON array that no row of rel has (in the caller''s snapshot); an id that cannot be one of rel''s is absent';


-- new functions of reindex_verify: nothing for PUBLIC (as 28_privileges.sql)
REVOKE ALL ON FUNCTION absent_ids(regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION _verify_options(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION _verify_target(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION reindex_verify(text, boolean, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION reindex_verify_wait(bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION _verify_summary(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION _verified_clean(bigint) FROM PUBLIC;

-- 0.2: refused documents gate "ready" and the swap, a doomed backfill stops
-- early, reindex_replay resends dead letters (10_catalog.sql, 16_refusals.sql)

-- job state needs_attention
ALTER TABLE job DROP CONSTRAINT job_state_check;
ALTER TABLE job ADD CONSTRAINT job_state_check
		CHECK (state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped',
						 'completed', 'cancelled', 'failed', 'rolled_back'));
DROP INDEX job_one_active_per_alias;
CREATE UNIQUE INDEX job_one_active_per_alias ON job (alias)
	WHERE state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped', 'rolled_back');
COMMENT ON COLUMN job.state IS 'backfilling -> catching_up -> ready (streamer; ready may fall back to catching_up), -> swapped (reindex_swap_alias) -> completed (reindex_finish); swapped -> rolled_back (reindex_rollback) -> swapped; cancelled (reindex_cancel); failed (streamer); needs_attention (streamer: more refused documents than the budget max_refused, or a backfill stopped early) -> catching_up/ready (streamer, once replay resolved them) or -> backfilling (reindex_replay of a stopped backfill)';
COMMENT ON COLUMN job.error IS 'streamer: why the job failed, or why its backfill stopped early (needs_attention)';
COMMENT ON COLUMN target.dead_lettered IS 'streamer: refusals recorded in dead_letter (I6), cumulative; reindex_status shows the documents refused now (the rows of dead_letter)';

-- dead letters: one row per document of a target (the newest refusal kept)
DELETE FROM dead_letter d
 WHERE d.op IN ('index', 'delete')
   AND EXISTS (SELECT FROM dead_letter n
				WHERE n.target_id = d.target_id AND n.doc_id = d.doc_id
				  AND n.op IN ('index', 'delete')
				  AND (n.lsn > d.lsn OR (n.lsn = d.lsn AND n.id > d.id)));
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

CREATE INDEX replay_target_idx ON replay (target_id);
REVOKE ALL ON replay FROM PUBLIC;
REVOKE ALL ON SEQUENCE replay_id_seq FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('replay', '');
SELECT pg_catalog.pg_extension_config_dump('replay_id_seq', '');

-- 0.2 (shared slot): one replication slot per database (feed, handover_lsn,
-- detach).  Targets of 0.1 keep their own slots (feed 'own'); the 0.2
-- streamer hands each over to the shared slot at an exact LSN once it is
-- caught up (src/streamer/README.md, "Shared slot").
ALTER TABLE target DROP CONSTRAINT target_slot_name_key;
ALTER TABLE target ADD COLUMN feed text NOT NULL DEFAULT 'own' CHECK (feed IN ('own', 'shared'));
ALTER TABLE target ADD COLUMN handover_lsn pg_lsn;
ALTER TABLE target ADD COLUMN detached_at timestamptz;
ALTER TABLE target ADD COLUMN detached_reason text;
COMMENT ON TABLE target IS 'one search index fed from one source table, through its own logical replication slot or the database''s shared one';
COMMENT ON COLUMN target.slot_name IS 'the logical replication slot feeding this target: its own, reindex_<id> (created with SNAPSHOT ''export'' for the backfill, or copied from the shared slot when the target was detached), or the shared slot reindex_shared_<database oid> (feed shared)';
COMMENT ON COLUMN target.feed IS 'streamer: own (its own slot: backfill, catch-up, detached) or shared (the database''s shared slot, events above handover_lsn)';
COMMENT ON COLUMN target.handover_lsn IS 'streamer: LSN at which the target moved to the shared slot: its own slot delivered every transaction ending at or below it, the shared slot delivers those above it';
COMMENT ON COLUMN target.detached_at IS 'streamer: when the target was last detached from the shared slot (NULL: never, or handed over again since)';
COMMENT ON COLUMN target.detached_reason IS 'streamer: why it was detached (too far behind, or its oldest event waited too long); it streams from its own slot and rejoins the shared slot once caught up';

-- options, positions
CREATE OR REPLACE FUNCTION _check_options(source regclass, options jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	valid CONSTANT text[] := ARRAY['backfill_workers', 'batch_size', 'dead_letter_documents',
		'exclude_columns', 'include_columns', 'lag_threshold_bytes', 'mappings', 'max_refused',
		'refused_stop_fraction', 'refused_stop_sample', 'require_verified', 'settings'];
	k text;
	v jsonb;
	col text;
	n numeric;
	result jsonb := jsonb_build_object('backfill_workers', 2, 'batch_size', 1000,
		'lag_threshold_bytes', 1048576, 'max_refused', 0, 'refused_stop_sample', 1000,
		'refused_stop_fraction', 0.5, 'dead_letter_documents', false);
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
		IF k IN ('backfill_workers', 'batch_size', 'lag_threshold_bytes', 'max_refused',
				 'refused_stop_sample') THEN
			n := CASE WHEN jsonb_typeof(v) = 'number' THEN (v #>> '{}')::numeric END;
			IF n IS NULL OR n <> trunc(n)
				OR (k = 'backfill_workers' AND (n < 1 OR n > 64))
				OR (k = 'batch_size' AND (n < 1 OR n > 100000))
				OR (k IN ('lag_threshold_bytes', 'max_refused', 'refused_stop_sample')
					AND (n < 0 OR n > 9223372036854775807)) THEN
				RAISE EXCEPTION 'option "%" must be %', k,
					CASE k WHEN 'backfill_workers' THEN 'an integer between 1 and 64'
						   WHEN 'batch_size' THEN 'an integer between 1 and 100000'
						   ELSE 'a non-negative integer' END
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF k = 'refused_stop_fraction' THEN
			n := CASE WHEN jsonb_typeof(v) = 'number' THEN (v #>> '{}')::numeric END;
			IF n IS NULL OR n <= 0 OR n > 1 THEN
				RAISE EXCEPTION 'option "%" must be a number greater than 0 and at most 1', k
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF k = 'dead_letter_documents' THEN
			IF jsonb_typeof(v) <> 'boolean' THEN
				RAISE EXCEPTION 'option "%" must be true or false', k
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
		ELSIF k = 'require_verified' THEN
			IF jsonb_typeof(v) <> 'boolean' THEN
				RAISE EXCEPTION 'option "require_verified" must be true or false'
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
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

CREATE OR REPLACE FUNCTION _target_confirmed_lsn(target_id bigint) RETURNS pg_lsn
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN t.feed = 'shared'
				THEN greatest(s.confirmed_flush_lsn, t.confirmed_lsn)
				ELSE coalesce(s.confirmed_flush_lsn, t.confirmed_lsn, t.consistent_point)
		   END
	  FROM reindex.target t
	  LEFT JOIN pg_replication_slots s ON s.slot_name = t.slot_name
	 WHERE t.id = target_id
$$;
COMMENT ON FUNCTION _target_confirmed_lsn(bigint) IS 'internal: WAL position the target acknowledged (its slot''s, else the recorded one)';

CREATE OR REPLACE FUNCTION _target_lag_bytes(target_id bigint) RETURNS numeric
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN pos IS NOT NULL
				THEN greatest(0, (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
									   ELSE pg_current_wal_lsn() END) - pos)
		   END
	  FROM (SELECT reindex._target_confirmed_lsn(target_id) AS pos) p
$$;
COMMENT ON FUNCTION _target_lag_bytes(bigint) IS 'internal: WAL bytes between the server''s position and what the target acknowledged';

CREATE OR REPLACE FUNCTION _retire_target(target_id bigint, drop_index boolean) RETURNS text
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
	IF FOUND AND t.feed = 'own' THEN
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


-- refused documents (16_refusals.sql)
CREATE OR REPLACE FUNCTION _refused_documents(target_id bigint, up_to bigint DEFAULT NULL) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT count(*) FROM (SELECT FROM reindex.dead_letter d
						   WHERE d.target_id = _refused_documents.target_id
						   LIMIT CASE WHEN up_to IS NOT NULL THEN up_to + 1 END) s
$$;
COMMENT ON FUNCTION _refused_documents(bigint, bigint) IS 'internal: number of dead letters of a target (at most up_to + 1 counted)';

CREATE OR REPLACE FUNCTION _refusal_reason(error jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT concat_ws(': ', error ->> 'type',
					 regexp_replace(regexp_replace(coalesce(error ->> 'reason', error::text),
												   '^\[[0-9]+:[0-9]+\] ', ''),
									' in document with id .*$', ''))
$$;
COMMENT ON FUNCTION _refusal_reason(jsonb) IS 'internal: the error type and reason of a dead letter, without the document''s id and value';

CREATE OR REPLACE FUNCTION _refusal_summary(target_id bigint, groups integer DEFAULT 3) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	WITH g AS (
		SELECT reindex._refusal_reason(d.error) AS reason, count(*) AS n
		  FROM reindex.dead_letter d WHERE d.target_id = _refusal_summary.target_id
		 GROUP BY 1),
	ranked AS (
		SELECT reason, n, row_number() OVER (ORDER BY n DESC, reason) AS rank,
			   sum(n) OVER () AS total, count(*) OVER () AS kinds
		  FROM g)
	SELECT format('%s %s refused: %s%s',
				  to_char(max(total), 'FM999,999,999,999,999'),
				  CASE WHEN max(total) = 1 THEN 'document' ELSE 'documents' END,
				  string_agg(format('%s (%s)', reason, to_char(n, 'FM999,999,999,999,999')),
							 '; ' ORDER BY rank) FILTER (WHERE rank <= groups),
				  CASE WHEN max(kinds) > groups
					   THEN format('; %s other reasons', max(kinds) - groups) ELSE '' END)
	  FROM ranked
	HAVING count(*) > 0
$$;
COMMENT ON FUNCTION _refusal_summary(bigint, integer) IS 'internal: count of a target''s refused documents and their most frequent reasons, with counts';

CREATE OR REPLACE FUNCTION reindex_replay(job bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
	t reindex.target;
	n bigint;
	stopped boolean;
BEGIN
	j := reindex._lock_job(job);
	IF j.state NOT IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped',
					   'rolled_back') THEN
		RAISE EXCEPTION 'reindex job % cannot replay its refused documents', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('It is in state "%s"; its new index is no longer fed.', j.state),
			HINT = 'Start a new reindex with reindex_begin().';
	END IF;
	SELECT * INTO STRICT t FROM reindex.target x WHERE x.id = j.new_target;
	n := reindex._refused_documents(t.id);
	stopped := j.state = 'needs_attention' AND t.state = 'backfilling';
	IF stopped THEN
		-- the backfill stopped early: it goes on (from a fresh snapshot, I2)
		UPDATE reindex.job SET state = 'backfilling', error = NULL WHERE id = j.id;
	END IF;
	IF n = 0 THEN
		IF NOT stopped THEN
			RAISE NOTICE 'reindex job % has no refused documents to replay', j.id;
		END IF;
		RETURN 0;
	END IF;
	IF NOT EXISTS (SELECT FROM reindex.replay r WHERE r.target_id = t.id AND r.state = 'pending') THEN
		INSERT INTO reindex.replay (target_id, requested_by) VALUES (t.id, session_user);
	END IF;
	PERFORM pg_notify('reindex', json_build_object('job', j.id, 'target', t.id,
												   'state', 'replay')::text);
	RETURN n;
END
$$;
COMMENT ON FUNCTION reindex_replay(bigint) IS 'resend the refused documents (dead letters) of a job''s new index after their cause was fixed: a streamer reads each row again by its key under a fresh snapshot, sends it (or a delete when the row is gone) with that snapshot''s version, and removes the dead letters the cluster accepted; a backfill that stopped early goes on; returns the number of dead letters queued';

REVOKE ALL ON FUNCTION _target_confirmed_lsn(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION _refused_documents(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION _refusal_reason(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION _refusal_summary(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION reindex_replay(bigint) FROM PUBLIC;

-- lifecycle
CREATE OR REPLACE FUNCTION reindex_begin(source regclass, alias text, new_index text,
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
		   AND j.state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped', 'rolled_back');
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
COMMENT ON FUNCTION reindex_begin(regclass, text, text, text, jsonb) IS 'start reindexing source into the new index new_index behind alias (created on first use) on a search endpoint; creates the index with options settings and mappings; returns the job id. Options: backfill_workers, batch_size, dead_letter_documents, exclude_columns, include_columns, lag_threshold_bytes, mappings, max_refused, refused_stop_fraction, refused_stop_sample, require_verified, settings';

CREATE OR REPLACE FUNCTION _lock_active_job(alias text) RETURNS reindex.job
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
	   AND x.state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped', 'rolled_back')
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

-- Does the new index hold a document for every row of the table, except
-- refused ones?  Under concurrent writes the row count moves while it is
-- compared, so each attempt brackets the document count: rows are counted
-- under a snapshot taken before WAL position pos (n1), the documents once the
-- index is refreshed (from the second attempt on, once the target has also
-- confirmed pos), and the rows again after that (n2).  The documents then reflect the table at some point
-- between the two row counts, so a complete index has between least(n1, n2)
-- and greatest(n1, n2) documents, give or take the refused ones.  A quiet
-- table makes this exact (n1 = n2).  An attempt outside the bracket is
-- repeated (a mix of inserts and deletes can leave it for a moment), at most
-- five times within 30 seconds, before the swap is refused.
CREATE OR REPLACE FUNCTION _check_complete(j reindex.job, refused bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t reindex.target;
	n1 bigint;
	n2 bigint;
	ndocs bigint;
	pos pg_lsn;
	deadline timestamptz := clock_timestamp() + interval '30 seconds';
BEGIN
	SELECT * INTO STRICT t FROM reindex.target x WHERE x.id = j.new_target;
	FOR attempt IN 1..5 LOOP
		EXECUTE format('SELECT count(*) FROM %s', t.source) INTO n1;
		pos := CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END;
		-- the first attempt takes the index as it is (the lag is under its
		-- threshold); later ones wait for a streamer that reports (not for
		-- one that is gone) to confirm pos first
		WHILE attempt > 1 AND coalesce(reindex._target_confirmed_lsn(t.id) < pos, true)
			  AND clock_timestamp() < deadline
			  AND (SELECT x.heartbeat_at > clock_timestamp() - interval '1 minute'
					 FROM reindex.target x WHERE x.id = t.id) LOOP
			PERFORM pg_sleep(0.01);
		END LOOP;
		IF attempt > 1 AND coalesce(reindex._target_confirmed_lsn(t.id) < pos, true) THEN
			RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('Table %s has %s rows, and the streamer did not confirm WAL position %s (within 30 seconds) after which index "%s" must hold a document for each of them.',
								t.source_name, n1, pos, t.index_name),
				HINT = 'Is the streamer running?  Try again, or pass force => true.';
		END IF;
		PERFORM reindex._es_call(t.endpoint, format('refresh index "%s"', t.index_name), 'POST',
								 '/' || t.index_name || '/_refresh');
		ndocs := (reindex._es_call(t.endpoint, format('count the documents of index "%s"', t.index_name),
								   'GET', '/' || t.index_name || '/_count') ->> 'count')::bigint;
		EXECUTE format('SELECT count(*) FROM %s', t.source) INTO n2;
		IF ndocs BETWEEN least(n1, n2) - refused AND greatest(n1, n2) + refused THEN
			RETURN;
		END IF;
		EXIT WHEN clock_timestamp() >= deadline;
	END LOOP;
	IF n1 = n2 THEN
		RAISE EXCEPTION 'index "%" lacks documents of table %', t.index_name, t.source_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('The table has %s rows and the index %s documents; %s refused documents do not explain the difference of %s.',
							n1, ndocs, refused, abs(n1 - ndocs)),
			HINT = 'Compare them document by document with reindex_verify(), or pass force => true to swap anyway.';
	END IF;
	RAISE EXCEPTION 'index "%" lacks documents of table %', t.index_name, t.source_name
		USING ERRCODE = 'object_not_in_prerequisite_state',
		DETAIL = format('The table had %s rows before and %s rows after the index was counted at %s documents; %s refused documents do not explain the difference of %s (concurrent writes changed the table while it was compared, in this and each earlier attempt).',
						n1, n2, ndocs, refused,
						least(abs(n1 - ndocs), abs(n2 - ndocs))),
		HINT = 'Compare them document by document with reindex_verify(), or pass force => true to swap anyway.';
END
$$;
COMMENT ON FUNCTION _check_complete(reindex.job, bigint) IS 'internal: refuse when the new index''s document count, taken between two counts of the table''s rows, lies outside them by more than the refused documents';

CREATE OR REPLACE FUNCTION reindex_swap_alias(alias text, force boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
	lag numeric;
	budget bigint;
	refused bigint;
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
	IF j.state = 'needs_attention' AND
		(SELECT t.state FROM reindex.target t WHERE t.id = j.new_target) = 'backfilling' THEN
		RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = coalesce(upper(left(j.error, 1)) || substr(j.error, 2) || '.',
							  'Its backfill stopped early: too many documents were refused.'),
			HINT = 'Fix the mapping and begin again, or fix the cause and call reindex_replay() to let the backfill go on.';
	END IF;
	lag := reindex._target_lag_bytes(j.new_target);
	IF NOT coalesce(force, false) THEN
		budget := coalesce((j.options ->> 'max_refused')::bigint, 0);
		refused := reindex._refused_documents(j.new_target, budget);
		IF refused > budget THEN
			RAISE EXCEPTION 'reindex job % has more refused documents than its budget', j.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('%s.  The budget (option max_refused) is %s.',
								reindex._refusal_summary(j.new_target), budget),
				HINT = 'Fix the mapping and begin again, or fix the cause and call reindex_replay(), or pass force => true to swap to an index without them.';
		END IF;
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
		PERFORM reindex._check_complete(j, refused);
	END IF;
	IF NOT coalesce(force, false) AND coalesce((j.options ->> 'require_verified')::boolean, false)
		AND NOT reindex._verified_clean(j.new_target) THEN
		RAISE EXCEPTION 'reindex job % has no clean verify of its new index', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('The job was started with require_verified; the newest finished verify of index "%s" %s.',
							(SELECT t.index_name FROM reindex.target t WHERE t.id = j.new_target),
							coalesce((SELECT 'found: ' || s.verify FROM reindex._verify_summary(j.new_target) s
									   WHERE s.verify IS NOT NULL), 'does not exist')),
			HINT = format('Run SELECT reindex.reindex_verify(%L) and reindex_verify_wait() on its id (with repair => true to fix what it finds, then verify again), or pass force => true.',
						  (SELECT t.index_name FROM reindex.target t WHERE t.id = j.new_target));
	END IF;
	UPDATE reindex.job SET state = 'swapped' WHERE id = j.id;
	PERFORM reindex._move_alias(alias,
		(SELECT a.current_target FROM reindex.alias a WHERE a.name = reindex_swap_alias.alias),
		j.new_target);
	RETURN j.id;
END
$$;
COMMENT ON FUNCTION reindex_swap_alias(text, boolean) IS 'point the alias at the new index of its ready job: one atomic _aliases request plus the catalog change, in one transaction; refuses an index with more refused documents than the budget max_refused, or whose document count differs from the table''s row count by more than its refused documents; force => true swaps anyway (also a job still catching up, or, with the job option require_verified, one without a clean verify); idempotent';

CREATE OR REPLACE FUNCTION reindex_rollback(alias text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
	last reindex.job;
BEGIN
	PERFORM FROM reindex.alias a WHERE a.name = reindex_rollback.alias;
	IF FOUND AND NOT EXISTS (SELECT FROM reindex.job x WHERE x.alias = reindex_rollback.alias
								AND x.state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped', 'rolled_back')) THEN
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

REVOKE ALL ON FUNCTION _check_complete(job, bigint) FROM PUBLIC;

-- reindex_status has a new column (hint): dropped and created again; roles
-- that could execute it keep that privilege
SELECT pg_catalog.set_config('reindex_upgrade.status_grantees', coalesce(string_agg(a.grantee::regrole::text, ','), ''), true)
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = 'reindex.reindex_status(text)'::regprocedure
   AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner;
DROP FUNCTION reindex_status(text);
CREATE FUNCTION reindex_status(alias text DEFAULT NULL)
RETURNS TABLE (alias text, job_id bigint, state text, old_index text, new_index text,
			   rows_backfilled bigint, rows_estimated bigint, percent_done numeric,
			   events_applied bigint, stale_rejected bigint, retried bigint,
			   dead_lettered bigint, lag_bytes numeric, lag_seconds float8,
			   heartbeat_age interval, streamer text, message text, last_error text,
			   started_at timestamptz, updated_at timestamptz,
			   old_events_applied bigint, old_dead_lettered bigint, old_lag_bytes numeric,
			   old_lag_seconds float8,
			   verified_at timestamptz, verify text, hint text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT j.alias, j.id, j.state, o.index_name, n.index_name,
		   n.rows_backfilled, n.rows_estimated,
		   CASE WHEN n.backfill_done_at IS NOT NULL THEN 100.0
				WHEN n.rows_estimated > 0
				THEN least(100.0, round(100.0 * n.rows_backfilled / n.rows_estimated, 1))
		   END,
		   n.events_applied, n.stale_rejected, n.retried, refused.n,
		   CASE WHEN active THEN reindex._target_lag_bytes(n.id) END,
		   CASE WHEN active THEN n.lag_seconds END,
		   date_trunc('second', clock_timestamp() - n.heartbeat_at),
		   n.streamer_id,
		   CASE WHEN j.state = 'completed' THEN 'completed'
				WHEN j.state = 'cancelled' THEN 'cancelled'
				WHEN j.state = 'failed' THEN 'failed: ' || coalesce(reindex._redact_error(j.error), 'no reason recorded')
				WHEN j.state = 'needs_attention' AND n.state = 'backfilling'
				THEN concat_ws('; ', coalesce(reindex._redact_error(j.error), 'backfill stopped early'),
							   reindex._redact_error(refused.summary))
				WHEN j.state = 'needs_attention'
				THEN coalesce(reindex._redact_error(refused.summary), 'documents were refused')
					 || format(' (budget max_refused: %s)', coalesce(j.options ->> 'max_refused', '0'))
				WHEN n.heartbeat_at IS NULL THEN 'waiting for a streamer'
				WHEN clock_timestamp() - n.heartbeat_at > interval '1 minute'
				THEN 'streamer heartbeat is older than a minute'
				WHEN j.state = 'backfilling' THEN 'backfilling'
				WHEN j.state = 'catching_up' THEN 'catching up'
				WHEN j.state = 'ready' THEN 'ready to swap'
				WHEN j.state = 'swapped' THEN 'swapped: finish with reindex_finish() or roll back with reindex_rollback()'
				WHEN j.state = 'rolled_back' THEN 'rolled back: swap again or cancel'
		   END,
		   reindex._redact_error(coalesce(n.last_error, j.error)),
		   j.created_at, greatest(j.updated_at, n.updated_at),
		   o.events_applied, CASE WHEN o.id IS NOT NULL THEN reindex._refused_documents(o.id) END,
		   CASE WHEN active THEN reindex._target_lag_bytes(o.id) END,
		   CASE WHEN active THEN o.lag_seconds END,
		   vs.verified_at, vs.verify,
		   CASE WHEN j.state = 'needs_attention' AND n.state = 'backfilling'
				THEN 'Fix the mapping and begin again (reindex_cancel(), then reindex_begin() with new mappings), or fix the cause (the data, or what the index accepts) and call reindex_replay(): it resends the refused documents and lets the backfill go on.'
				WHEN refused.n > 0 AND j.state IN ('needs_attention', 'ready', 'catching_up', 'rolled_back')
				THEN 'Fix the mapping and begin again (reindex_cancel(), then reindex_begin() with new mappings), or fix the cause (the data, or what the index accepts) and call reindex_replay() to resend them, or accept the missing documents with reindex_swap_alias(..., force => true).'
		   END
	  FROM reindex.job j
	  JOIN reindex.target n ON n.id = j.new_target
	  LEFT JOIN reindex.target o ON o.id = j.old_target
	  CROSS JOIN LATERAL (SELECT j.state IN ('backfilling', 'catching_up', 'ready', 'needs_attention',
											 'swapped', 'rolled_back') AS active) x
	  LEFT JOIN LATERAL reindex._verify_summary(n.id) vs ON true
	  CROSS JOIN LATERAL (SELECT reindex._refused_documents(n.id) AS n,
								 CASE WHEN j.state = 'needs_attention'
									  THEN reindex._refusal_summary(n.id) END AS summary) refused
	 WHERE reindex_status.alias IS NULL OR j.alias = reindex_status.alias
	 ORDER BY j.alias, j.id
$$;
COMMENT ON FUNCTION reindex_status(text) IS 'one row per reindex job (of one alias, or of all): state, indexes, backfill progress, events applied, stale writes rejected, documents refused now (dead letters), lag, streamer heartbeat age, a message (such as "waiting for a streamer", or the refused documents grouped by reason), the old index''s events applied, dead letters and lag while it is still fed, when the new index was last verified (reindex_verify) with what was found, and a hint on what to do';

REVOKE ALL ON FUNCTION reindex_status(text) FROM PUBLIC;
DO $$
BEGIN
	IF current_setting('reindex_upgrade.status_grantees') <> '' THEN
		EXECUTE 'GRANT EXECUTE ON FUNCTION reindex.reindex_status(text) TO '
			|| current_setting('reindex_upgrade.status_grantees');
	END IF;
END
$$;

-- privileges: admins get reindex_replay, streamers the dead letter and replay rights
CREATE OR REPLACE FUNCTION grant_admin(role regrole) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f text;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA reindex TO %s', role::text);
	EXECUTE format('GRANT SELECT ON reindex.endpoints TO %s', role::text);
	FOREACH f IN ARRAY ARRAY[
		'reindex.version()',
		'reindex.endpoint_add(text, text, text, text, text, text, boolean, text)',
		'reindex.endpoint_alter(text, text, text, text, text, text, boolean, text)',
		'reindex.endpoint_drop(text)',
		'reindex.reindex_begin(regclass, text, text, text, jsonb)',
		'reindex.reindex_status(text)',
		'reindex.reindex_swap_alias(text, boolean)',
		'reindex.reindex_rollback(text)',
		'reindex.reindex_finish(bigint, boolean)',
		'reindex.reindex_cancel(bigint)',
		'reindex.reindex_verify(text, boolean, jsonb)',
		'reindex.reindex_verify_wait(bigint, interval)',
		'reindex.reindex_replay(bigint)'] LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', f, role::text);
	END LOOP;
END
$$;
COMMENT ON FUNCTION grant_admin(regrole) IS 'let a role run the reindex SQL API (endpoints, begin, status, swap, rollback, finish, cancel, verify, replay)';

CREATE OR REPLACE FUNCTION grant_streamer(role regrole) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f regprocedure;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA reindex TO %s', role::text);
	EXECUTE format('GRANT SELECT ON reindex.endpoint, reindex.alias, reindex.job, reindex.target TO %s', role::text);
	EXECUTE format('GRANT UPDATE (state, slot_name, feed, handover_lsn, detached_at, detached_reason,'
				   ' consistent_point, confirmed_lsn, rows_estimated, rows_backfilled,'
				   ' events_applied, stale_rejected, retried, dead_lettered, lag_bytes, lag_seconds,'
				   ' last_error, streamer_id, heartbeat_at, backfill_started_at, backfill_done_at, updated_at)'
				   ' ON reindex.target TO %s', role::text);
	EXECUTE format('GRANT UPDATE (state, error, updated_at, finished_at) ON reindex.job TO %s', role::text);
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON reindex.backfill_chunk TO %s', role::text);
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON reindex.dead_letter TO %s', role::text);
	EXECUTE format('GRANT SELECT, INSERT ON reindex.history TO %s', role::text);
	EXECUTE format('GRANT SELECT, UPDATE (state, snapshot_lsn, resent, resolved, refused, done_at)'
				   ' ON reindex.replay TO %s', role::text);
	EXECUTE format('GRANT USAGE ON SEQUENCE reindex.dead_letter_id_seq, reindex.history_id_seq TO %s', role::text);
	EXECUTE format('GRANT SELECT, UPDATE ON reindex.verify_run TO %s', role::text);
	-- the version check, the document encoder (src/sql/30_*.sql onwards) and
	-- the refusal count and summary the job's readiness is decided by
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
			  WHERE p.pronamespace = 'reindex'::regnamespace
				AND p.proname IN ('version', 'document', 'document_by_key', 'absent_ids', 'document_by_id',
								  '_refused_documents', '_refusal_reason', '_refusal_summary') LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', f, role::text);
	END LOOP;
	IF NOT (SELECT rolreplication OR rolsuper FROM pg_roles WHERE oid = role) THEN
		RAISE NOTICE 'role "%" cannot stream changes yet', (SELECT rolname FROM pg_roles WHERE oid = role)
			USING HINT = format('Give it the REPLICATION attribute with ALTER ROLE %s REPLICATION, and SELECT on the source tables.', role::text);
	END IF;
END
$$;
COMMENT ON FUNCTION grant_streamer(regrole) IS 'give the streamer''s role exactly the catalog privileges it needs (it also needs REPLICATION and SELECT on the source tables)';


-- replayed dead letters are read by document id
CREATE FUNCTION document_by_id(rel regclass, id text,
							   include_columns text[] DEFAULT NULL,
							   exclude_columns text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'reindex_document_by_id'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION document_by_id(regclass, text, text[], text[]) IS
	'"<id> <document>" of the current row of rel whose document id is id (a dead letter''s doc_id), or NULL';

REVOKE ALL ON FUNCTION document_by_id(regclass, text, text[], text[]) FROM PUBLIC;

-- roles set up as streamers or admins before get what 0.2 adds
DO $$
DECLARE
	r regrole;
BEGIN
	FOR r IN SELECT DISTINCT a.grantee::regrole
			   FROM pg_class c, aclexplode(c.relacl) a
			  WHERE c.oid = 'reindex.dead_letter'::regclass AND a.privilege_type = 'INSERT'
				AND a.grantee <> 0 AND a.grantee <> c.relowner LOOP
		PERFORM reindex.grant_streamer(r);
	END LOOP;
	FOR r IN SELECT DISTINCT a.grantee::regrole
			   FROM pg_proc p, aclexplode(p.proacl) a
			  WHERE p.oid = 'reindex.reindex_swap_alias(text, boolean)'::regprocedure
				AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner LOOP
		PERFORM reindex.grant_admin(r);
	END LOOP;
END
$$;
