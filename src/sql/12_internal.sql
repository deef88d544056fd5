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

-- The WAL position up to which the target acknowledged everything (NULL: none known).
-- A target on the shared slot has acknowledged at least what the slot has
-- (the minimum over its targets) and what the streamer last recorded.
CREATE FUNCTION _target_confirmed_lsn(target_id bigint) RETURNS pg_lsn
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

-- Bytes of WAL the target has not acknowledged yet (NULL: no slot position known).
CREATE FUNCTION _target_lag_bytes(target_id bigint) RETURNS numeric
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN pos IS NOT NULL
				THEN greatest(0, (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
									   ELSE pg_current_wal_lsn() END) - pos)
		   END
	  FROM (SELECT reindex._target_confirmed_lsn(target_id) AS pos) p
$$;
COMMENT ON FUNCTION _target_lag_bytes(bigint) IS 'internal: WAL bytes between the server''s position and what the target acknowledged';

-- Stop feeding a target: mark it retiring, and when no streamer holds its
-- slot, drop the slot (and the index if asked) at once.  Returns the state.
-- The shared slot is never dropped here: other targets are fed through it.
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
