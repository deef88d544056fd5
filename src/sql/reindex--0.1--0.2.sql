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
-- it, secret_file, grant_monitor, grant_* quote role names once.

CREATE FUNCTION _endpoint_host_check(url text) RETURNS void
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'reindex_endpoint_host_check';
COMMENT ON FUNCTION _endpoint_host_check(text) IS 'internal: error unless reindex.allowed_hosts allows the host of url (listed, or every address it resolves to)';

CREATE FUNCTION _caller_has_privs_of(role regrole) RETURNS boolean
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'reindex_caller_has_privs_of';
COMMENT ON FUNCTION _caller_has_privs_of(regrole) IS 'internal: whether the role calling the API (not the SECURITY DEFINER owner) has the privileges of role';

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
		'reindex.reindex_cancel(bigint)'] LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', f, role::text);
	END LOOP;
END
$$;
COMMENT ON FUNCTION grant_admin(regrole) IS 'let a role run the reindex SQL API (endpoints, begin, status, swap, rollback, finish, cancel)';

CREATE OR REPLACE FUNCTION grant_streamer(role regrole) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f regprocedure;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA reindex TO %s', role::text);
	EXECUTE format('GRANT SELECT ON reindex.endpoint, reindex.alias, reindex.job, reindex.target TO %s', role::text);
	EXECUTE format('GRANT UPDATE (state, consistent_point, confirmed_lsn, rows_estimated, rows_backfilled,'
				   ' events_applied, stale_rejected, retried, dead_lettered, lag_bytes, lag_seconds,'
				   ' last_error, streamer_id, heartbeat_at, backfill_started_at, backfill_done_at, updated_at)'
				   ' ON reindex.target TO %s', role::text);
	EXECUTE format('GRANT UPDATE (state, error, updated_at, finished_at) ON reindex.job TO %s', role::text);
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON reindex.backfill_chunk TO %s', role::text);
	EXECUTE format('GRANT SELECT, INSERT ON reindex.dead_letter, reindex.history TO %s', role::text);
	EXECUTE format('GRANT USAGE ON SEQUENCE reindex.dead_letter_id_seq, reindex.history_id_seq TO %s', role::text);
	-- the version check and the document encoder (src/sql/30_*.sql onwards)
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
			  WHERE p.pronamespace = 'reindex'::regnamespace
				AND p.proname IN ('version', 'document', 'document_by_key') LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', f, role::text);
	END LOOP;
	IF NOT (SELECT rolreplication OR rolsuper FROM pg_roles WHERE oid = role) THEN
		RAISE NOTICE 'role "%" cannot stream changes yet', role
			USING HINT = format('Give it the REPLICATION attribute with ALTER ROLE %s REPLICATION, and SELECT on the source tables.', role::text);
	END IF;
END
$$;
COMMENT ON FUNCTION grant_streamer(regrole) IS 'give the streamer''s role exactly the catalog privileges it needs (it also needs REPLICATION and SELECT on the source tables)';

CREATE FUNCTION grant_monitor(role regrole) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA reindex TO %s', role::text);
	EXECUTE format('GRANT EXECUTE ON FUNCTION reindex.version(), reindex.reindex_status(text) TO %s', role::text);
	EXECUTE format('GRANT SELECT ON reindex.history TO %s', role::text);
	EXECUTE format('GRANT SELECT (id, target_id, lsn, doc_id, op, http_status, created_at)'
				   ' ON reindex.dead_letter TO %s', role::text);
END
$$;
COMMENT ON FUNCTION grant_monitor(regrole) IS 'let a role watch reindexing without changing anything: reindex_status, history, dead letters without document bodies or error texts';

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

-- 0.2: reindex_status also shows the old index's events applied, dead letters
-- and lag (22_status.sql).  A new result type needs DROP and CREATE; the roles
-- that could run the old function can run the new one.
SELECT set_config('reindex_upgrade.status_grantees',
				  coalesce(array_agg(DISTINCT a.grantee::regrole::text), '{}')::text, true)
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = 'reindex_status(text)'::regprocedure
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
			   old_lag_seconds float8)
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
		   j.created_at, greatest(j.updated_at, n.updated_at),
		   o.events_applied, o.dead_lettered,
		   CASE WHEN active THEN reindex._target_lag_bytes(o.id) END,
		   CASE WHEN active THEN o.lag_seconds END
	  FROM reindex.job j
	  JOIN reindex.target n ON n.id = j.new_target
	  LEFT JOIN reindex.target o ON o.id = j.old_target
	  CROSS JOIN LATERAL (SELECT j.state IN ('backfilling', 'catching_up', 'ready',
											 'swapped', 'rolled_back') AS active) x
	 WHERE reindex_status.alias IS NULL OR j.alias = reindex_status.alias
	 ORDER BY j.alias, j.id
$$;
COMMENT ON FUNCTION reindex_status(text) IS 'one row per reindex job (of one alias, or of all): state, indexes, backfill progress, events applied, stale writes rejected, dead letters, lag, streamer heartbeat age and a message (such as "waiting for a streamer"), and the old index''s events applied, dead letters and lag while it is still fed';
REVOKE ALL ON FUNCTION reindex_status(text) FROM PUBLIC;
DO $$
DECLARE
	g text;
BEGIN
	FOREACH g IN ARRAY current_setting('reindex_upgrade.status_grantees')::text[] LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION reindex.reindex_status(text) TO %s', g);
	END LOOP;
END
$$;
