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
