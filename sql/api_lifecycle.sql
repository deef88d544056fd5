-- api_lifecycle: reindex_status, reindex_swap_alias, reindex_rollback,
-- reindex_finish and reindex_cancel in every state, with no streamer running
-- (a few UPDATEs play the streamer's part).
\getenv es_url REINDEX_TEST_ES_URL
\set SHOW_CONTEXT never
CREATE EXTENSION reindex;
SELECT reindex.endpoint_add('default', :'es_url');
-- indexes left over by an interrupted earlier run would make this file fail
\o /dev/null
SELECT (reindex._http('default', 'DELETE', '/' || i)).status FROM unnest('{docs_v1,docs_v2,docs_v3}'::text[]) i;
\o
CREATE TABLE docs (id int PRIMARY KEY, body text);
INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 10) g;
ANALYZE docs;
CREATE FUNCTION alias_indexes(alias text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(k, ',' ORDER BY k), '(none)')
	  FROM reindex._http('default', 'GET', '/_alias/' || alias) r,
		   LATERAL jsonb_object_keys(CASE WHEN r.status = 200 THEN r.body::jsonb ELSE '{}' END) k
$$;
-- what the streamer writes into a job's new index: every row of docs
CREATE FUNCTION fill_index(p_job bigint) RETURNS void LANGUAGE sql AS $$
	SELECT reindex._es_call('default', 'fill', 'POST', '/_bulk?refresh=true',
		string_agg(format(E'{"index":{"_index":%s,"_id":%s}}\n%s\n', to_json(t.index_name),
						  split_part(d, ' ', 1), substr(d, position(' ' IN d) + 1)), ''))
	  FROM reindex.job j JOIN reindex.target t ON t.id = j.new_target,
		   LATERAL (SELECT reindex.document('docs', x) AS d FROM docs x) r
	 WHERE j.id = p_job;
	SELECT NULL::void;
$$;
-- what the streamer does when a target has caught up
CREATE FUNCTION play_streamer(p_job bigint, job_state text) RETURNS void LANGUAGE sql AS $$
	UPDATE reindex.target SET state = 'streaming', heartbeat_at = now(), streamer_id = 'test:1',
		   consistent_point = pg_current_wal_lsn(), confirmed_lsn = pg_current_wal_lsn(),
		   rows_backfilled = 10, backfill_done_at = now(), events_applied = 3
	 WHERE id = (SELECT new_target FROM reindex.job WHERE id = p_job);
	UPDATE reindex.job SET state = job_state WHERE id = p_job;
	SELECT fill_index(p_job);
$$;

-- an initial build: status works with no streamer ever started
SELECT reindex.reindex_begin('docs', 'docs', 'docs_v1') AS job1 \gset
SELECT alias, job_id = :job1 AS is_job1, state, old_index, new_index, rows_backfilled,
	   rows_estimated, percent_done, lag_bytes, heartbeat_age, message
  FROM reindex.reindex_status();
SELECT count(*) FROM reindex.reindex_status('nope');

-- swap, finish and rollback refuse a backfilling job
SELECT reindex.reindex_swap_alias('docs');
SELECT reindex.reindex_swap_alias('docs', force => true);
SELECT reindex.reindex_finish(:job1);
SELECT reindex.reindex_rollback('docs');
SELECT reindex.reindex_swap_alias('nope');
SELECT reindex.reindex_finish(-1);
SELECT reindex.reindex_cancel(-1);

-- catching up: only force swaps
SELECT play_streamer(:job1, 'catching_up');
SELECT state, message, percent_done, lag_bytes IS NOT NULL AS has_lag FROM reindex.reindex_status('docs');
SELECT reindex.reindex_swap_alias('docs');
-- ready, but the lag is above the threshold
UPDATE reindex.job SET state = 'ready', lag_threshold_bytes = 0 WHERE id = :job1;
INSERT INTO docs VALUES (11, 'doc 11');
\set VERBOSITY terse
SELECT reindex.reindex_swap_alias('docs');
\set VERBOSITY default
UPDATE reindex.job SET lag_threshold_bytes = 1048576 WHERE id = :job1;
SELECT state, message FROM reindex.reindex_status('docs');
-- ready, but the index lacks a row the streamer has confirmed: refused
UPDATE reindex.target SET confirmed_lsn = pg_current_wal_lsn() + 1000000
 WHERE index_name = 'docs_v1';
SELECT reindex.reindex_swap_alias('docs');
-- refused documents: over the budget (0) the swap refuses, grouped by reason
INSERT INTO reindex.dead_letter (target_id, lsn, doc_id, op, http_status, error)
SELECT t.id, pg_current_wal_lsn(), '11', 'index', 400,
	   '{"type": "mapper_parsing_exception", "reason": "failed to parse field [body] of type [long] in document with id ''11''. Preview of field''s value: ''doc 11''"}'
  FROM reindex.target t WHERE t.index_name = 'docs_v1';
UPDATE reindex.job SET state = 'needs_attention' WHERE id = :job1;
SELECT state, message, dead_lettered, hint FROM reindex.reindex_status('docs');
SELECT reindex.reindex_swap_alias('docs');
-- within the budget the refused document explains the difference
UPDATE reindex.job SET state = 'ready', options = options || '{"max_refused": 1}' WHERE id = :job1;
SELECT state, message, dead_lettered, hint FROM reindex.reindex_status('docs');
-- replay records a request for the streamer
SELECT reindex.reindex_replay(:job1) AS queued;
SELECT reindex.reindex_replay(:job1) AS queued;
SELECT t.index_name, r.state, r.requested_by = session_user AS by_me
  FROM reindex.replay r JOIN reindex.target t ON t.id = r.target_id;
SELECT reindex.reindex_replay(-1);
-- the streamer indexed row 11 after all (the dead letter resolved)
DELETE FROM reindex.dead_letter;
SELECT fill_index(:job1);
-- ready: swap adds the alias to the new index
SELECT reindex.reindex_swap_alias('docs') = :job1 AS swapped;
SELECT alias_indexes('docs');
SELECT a.current_target = j.new_target AS catalog_points_to_new
  FROM reindex.alias a JOIN reindex.job j ON j.alias = a.name WHERE j.id = :job1;
-- idempotent
SELECT reindex.reindex_swap_alias('docs') = :job1 AS swapped;
SELECT state, message FROM reindex.reindex_status('docs');
-- cancel refuses a swapped job
SELECT reindex.reindex_cancel(:job1);
-- rollback of an initial build removes the alias
SELECT reindex.reindex_rollback('docs') = :job1 AS rolled_back;
SELECT alias_indexes('docs');
SELECT reindex.reindex_rollback('docs') = :job1 AS rolled_back;
SELECT reindex.reindex_finish(:job1);
SELECT reindex.reindex_swap_alias('docs') = :job1 AS swapped_again;
SELECT alias_indexes('docs');
-- finish completes it; nothing old to retire
SELECT reindex.reindex_finish(:job1);
SELECT reindex.reindex_finish(:job1);
SELECT reindex.reindex_cancel(:job1);
SELECT reindex.reindex_rollback('docs');
SELECT reindex.reindex_swap_alias('docs');

-- a second reindex of the alias, with a slot for the old target
SELECT reindex.reindex_begin('docs', 'docs', 'docs_v2') AS job2 \gset
SELECT old_index, new_index, state FROM reindex.reindex_status('docs') WHERE job_id = :job2;
SELECT slot_name AS old_slot FROM reindex.target WHERE index_name = 'docs_v1' \gset
SELECT 'created' FROM pg_create_logical_replication_slot(:'old_slot', 'test_decoding');
SELECT play_streamer(:job2, 'ready');
-- the old index, still read through the alias, shows its own progress and lag
-- (its slot has not confirmed the WAL written since it was created)
UPDATE reindex.target SET events_applied = 7, dead_lettered = 2, lag_seconds = 1.5
 WHERE index_name = 'docs_v1';
INSERT INTO reindex.dead_letter (target_id, doc_id, op, error)
SELECT t.id, i::text, 'index', '{"type": "mapper_parsing_exception", "reason": "x"}'
  FROM reindex.target t, generate_series(1, 2) i WHERE t.index_name = 'docs_v1';
SELECT old_index, old_events_applied, old_dead_lettered, old_lag_bytes > 0 AS old_lags,
	   old_lag_seconds, events_applied
  FROM reindex.reindex_status('docs') WHERE job_id = :job2;
SELECT reindex.reindex_swap_alias('docs') = :job2 AS swapped;
SELECT alias_indexes('docs');
-- rollback points the alias back at the old index
SELECT reindex.reindex_rollback('docs') = :job2 AS rolled_back;
SELECT alias_indexes('docs');
SELECT state, message FROM reindex.reindex_status('docs') WHERE job_id = :job2;
SELECT reindex.reindex_swap_alias('docs') = :job2 AS swapped;
-- finish with drop_old_index: the slot is inactive, so it goes at once
SELECT reindex.reindex_finish(:job2, drop_old_index => true);
SELECT old_events_applied, old_lag_bytes, old_lag_seconds
  FROM reindex.reindex_status('docs') WHERE job_id = :job2;
SELECT count(*) AS old_slots FROM pg_replication_slots WHERE slot_name = :'old_slot';
SELECT status FROM reindex._http('default', 'HEAD', '/docs_v1');
SELECT alias_indexes('docs');
SELECT index_name, state FROM reindex.target ORDER BY id;

-- a third reindex, cancelled: its new index is deleted
SELECT reindex.reindex_begin('docs', 'docs', 'docs_v3') AS job3 \gset
SELECT reindex.reindex_cancel(:job3);
SELECT reindex.reindex_cancel(:job3);
SELECT status FROM reindex._http('default', 'HEAD', '/docs_v3');
SELECT reindex.reindex_finish(:job3);
SELECT reindex.reindex_swap_alias('docs');
SELECT alias_indexes('docs');
-- the name of a dropped index can be used again
SELECT reindex.reindex_begin('docs', 'docs', 'docs_v3') AS job4 \gset
-- a failed job can be cancelled, not finished
UPDATE reindex.job SET state = 'failed', error = 'mapper_parsing_exception' WHERE id = :job4;
SELECT state, message FROM reindex.reindex_status('docs') WHERE job_id = :job4;
SELECT reindex.reindex_finish(:job4);
SELECT reindex.reindex_cancel(:job4);

-- every state change is in history and was announced
SELECT job_id, from_state, to_state FROM reindex.history WHERE job_id IS NOT NULL ORDER BY id;
SELECT alias, job_id, state, old_index, new_index, message FROM reindex.reindex_status();

-- clean up
SELECT (reindex._http('default', 'DELETE', '/' || index_name)).status
  FROM reindex.target WHERE state <> 'dropped' ORDER BY id;
DROP TABLE docs;
DROP FUNCTION alias_indexes(text), play_streamer(bigint, text);
DROP EXTENSION reindex;
