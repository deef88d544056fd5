-- 28_privileges.sql: who may do what.
--
-- Security model:
--   * PUBLIC can execute nothing and read nothing in schema reindex.
--   * role::text of a regrole is already a quoted identifier: it goes into
--     GRANT statements with %s (%I would quote it twice).
--   * The API functions are SECURITY DEFINER (owned by the superuser who ran
--     CREATE EXTENSION) with search_path = pg_catalog, pg_temp.  A role gets
--     them with reindex.grant_admin(role); reindex_begin additionally checks
--     that the calling role may SELECT the source table.
--   * The streamer's role gets exactly what it reads and writes with
--     reindex.grant_streamer(role): it reads endpoints (secrets included),
--     aliases, jobs and targets, writes progress columns of targets and the
--     state and error of jobs, carries out replay requests, and owns
--     backfill_chunk, dead_letter and its history rows.  It also needs REPLICATION (ALTER ROLE ... REPLICATION)
--     and SELECT on the source tables, which grant_streamer does not give.
--   * A monitoring role gets reindex.grant_monitor(role): reindex_status,
--     the history of state changes and the dead letters without their
--     document bodies or error texts (which may quote document values);
--     it can change nothing and reads no endpoint.

CREATE FUNCTION grant_admin(role regrole) RETURNS void
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

CREATE FUNCTION grant_streamer(role regrole) RETURNS void
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

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA reindex FROM PUBLIC;
