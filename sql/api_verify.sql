-- api_verify: reindex_verify, reindex_verify_wait, the require_verified job
-- option and reindex.absent_ids, with no streamer running (UPDATEs play the
-- streamer's part).  The streamer side is tested in test/streamer/test_verify.py.
\getenv es_url REINDEX_TEST_ES_URL
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE EXTENSION reindex;
SELECT reindex.endpoint_add('default', :'es_url');
\o /dev/null
SELECT (reindex._http('default', 'DELETE', '/' || i)).status FROM unnest('{vdocs_v1,vdocs_v2}'::text[]) i;
\o
CREATE TABLE vdocs (id int PRIMARY KEY, body text);
INSERT INTO vdocs SELECT g, 'doc ' || g FROM generate_series(1, 10) g;
CREATE FUNCTION play_streamer(p_job bigint, job_state text) RETURNS void LANGUAGE sql AS $$
	UPDATE reindex.target SET state = 'streaming', heartbeat_at = now(), streamer_id = 'test:1',
		   consistent_point = pg_current_wal_lsn(), confirmed_lsn = pg_current_wal_lsn(),
		   backfill_done_at = now()
	 WHERE id = (SELECT new_target FROM reindex.job WHERE id = p_job);
	UPDATE reindex.job SET state = job_state WHERE id = p_job;
	-- and the backfill: every row in the new index (the swap compares counts)
	SELECT NULL::void FROM reindex._http('default', 'POST', '/_bulk?refresh=true',
		(SELECT string_agg(format(E'{"index":{"_index":"%s","_id":%s}}\n%s\n', t.index_name,
								  split_part(d, ' ', 1), substr(d, position(' ' IN d) + 1)), '')
		   FROM reindex.job j JOIN reindex.target t ON t.id = j.new_target,
				LATERAL (SELECT reindex.document('vdocs', x) AS d FROM vdocs x) r
		  WHERE j.id = p_job));
$$;

-- bad input
SELECT reindex.reindex_verify('nope');
SELECT reindex.reindex_verify(NULL);
SELECT reindex.reindex_begin('vdocs', 'vdocs', 'vdocs_v1', options => '{"require_verified": 1}');
SELECT reindex.reindex_begin('vdocs', 'vdocs', 'vdocs_v1', options => '{"require_verified": true}') AS job1 \gset
-- the alias does not point anywhere yet; the index is still backfilled
SELECT reindex.reindex_verify('vdocs');
SELECT reindex.reindex_verify('vdocs_v1');
SELECT play_streamer(:job1, 'ready');
SELECT reindex.reindex_verify('vdocs_v1', options => '{"colour": 1}');
SELECT reindex.reindex_verify('vdocs_v1', options => '{"content": "yes"}');
SELECT reindex.reindex_verify('vdocs_v1', options => '{"batch_size": 0}');
SELECT reindex.reindex_verify('vdocs_v1', options => '[]');

-- a run is queued with its options filled in; the same request again returns it
SELECT reindex.reindex_verify('vdocs_v1', options => '{"batch_size": 50}') AS run1 \gset
SELECT reindex.reindex_verify('vdocs_v1', options => '{"batch_size": 50}') = :run1 AS same_run;
SELECT reindex.reindex_verify('vdocs_v1', repair => true) <> :run1 AS repair_is_another_run;
SELECT index_name, repair, options, state FROM reindex.verify_run ORDER BY id;
-- wait with no timeout answers at once; a run queued by this very
-- transaction cannot be waited for
SELECT id = :run1 AS is_run1, state FROM reindex.reindex_verify_wait(:run1, '0');
BEGIN;
SELECT reindex.reindex_verify('vdocs_v1', options => '{"content": false}') AS run_tx \gset
SELECT state FROM reindex.reindex_verify_wait(:run_tx, '1 s');
ROLLBACK;
SELECT reindex.reindex_verify_wait(-1);

-- require_verified: no verify yet, then a run that found something, then a clean one
SELECT reindex.reindex_swap_alias('vdocs');
UPDATE reindex.verify_run SET state = 'done', finished_at = now(), missing = 2, rows_checked = 10
 WHERE id = :run1;
SELECT reindex.reindex_swap_alias('vdocs');
SELECT verify FROM reindex.reindex_status('vdocs');
UPDATE reindex.verify_run SET state = 'failed', finished_at = now(), error = 'index not found'
 WHERE id = :run1 + 1;
SELECT verify FROM reindex.reindex_status('vdocs');
INSERT INTO reindex.verify_run (target_id, index_name, state, rows_checked, docs_checked, finished_at)
	SELECT new_target, 'vdocs_v1', 'done', 10, 10, now() FROM reindex.job WHERE id = :job1;
SELECT verify, verified_at IS NOT NULL AS verified FROM reindex.reindex_status('vdocs');
SELECT reindex.reindex_swap_alias('vdocs') = :job1 AS swapped;
-- now the alias names the index
SELECT reindex.reindex_verify('vdocs') > :run1 AS queued_by_alias;

-- absent_ids: document ids read back into keys (composite, escaped, typed)
CREATE TABLE k1 (id int PRIMARY KEY);
INSERT INTO k1 VALUES (1), (2), (-7);
SELECT * FROM reindex.absent_ids('k1', '["1", "3", "-7", "x", "", "99999999999", "1|2", " 2"]') ORDER BY 1;
CREATE TABLE k2 (a text, b bigint, c bytea, d uuid, PRIMARY KEY (a, b, c, d));
INSERT INTO k2 VALUES ('x|y\z', 5, '\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
SELECT split_part(reindex.document('k2', k2), ' ', 1) AS rendered_id FROM k2;
SELECT * FROM reindex.absent_ids('k2', jsonb_build_array(
	(SELECT split_part(reindex.document('k2', k2), ' ', 1) FROM k2)::jsonb #>> '{}',
	'x|y\z|5|AQI=|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	'x\|y\\z|6|AQI=|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	'x\|y\\z|5|AQI|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	'x\|y\\z|5|AQI=|not-a-uuid')) ORDER BY 1;
SELECT * FROM reindex.absent_ids('k1', '{"a": 1}');
SELECT * FROM reindex.absent_ids('k1', '[1]');
SELECT count(*) FROM reindex.absent_ids('k1', '[]');

\o /dev/null
SELECT (reindex._http('default', 'DELETE', '/' || index_name)).status
  FROM reindex.target WHERE state <> 'dropped' ORDER BY id;
\o
DROP TABLE vdocs, k1, k2;
DROP FUNCTION play_streamer(bigint, text);
DROP EXTENSION reindex;
