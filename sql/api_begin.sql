-- api_begin: reindex_begin success paths and every bad input.
\getenv es_url REINDEX_TEST_ES_URL
\set SHOW_CONTEXT never
CREATE EXTENSION reindex;
SELECT reindex.endpoint_add('default', :'es_url');
-- indexes left over by an interrupted earlier run would make this file fail
\o /dev/null
SELECT (reindex._http('default', 'DELETE', '/' || i)).status FROM unnest('{items_v1,items_v2,tmp_index,nokey_v1,foreign_index,o_v1}'::text[]) i;
\o
SELECT reindex.endpoint_add('down', 'http://127.0.0.1:9');

CREATE TABLE items (id bigint PRIMARY KEY, title text, price numeric, secret_note text);
INSERT INTO items SELECT g, 'item ' || g, g * 1.5, 'x' FROM generate_series(1, 100) g;
ANALYZE items;

-- success: initial build of an alias, with options
SELECT reindex.reindex_begin('items', 'items', 'items_v1', options => '{
  "exclude_columns": ["secret_note"], "batch_size": 500, "backfill_workers": 4,
  "lag_threshold_bytes": 65536,
  "settings": {"number_of_shards": 1, "index": {"refresh_interval": "5s"}},
  "mappings": {"properties": {"title": {"type": "text"}}}}') AS job1 \gset
SELECT j.alias, j.old_target, j.state, j.lag_threshold_bytes, j.options
  FROM reindex.job j WHERE j.id = :job1;
SELECT t.index_name, t.source, t.source_name, t.slot_name = 'reindex_' || t.id AS slot_named,
	   t.exclude_columns, t.include_columns, t.state, t.requested_settings, t.rows_estimated
  FROM reindex.target t JOIN reindex.job j ON j.new_target = t.id WHERE j.id = :job1;
SELECT name, endpoint, current_target FROM reindex.alias;
-- the index exists in the cluster now
SELECT status FROM reindex._http('default', 'HEAD', '/items_v1');
-- the catalog announced the new job and target in history
SELECT to_state, job_id IS NOT NULL AS for_job FROM reindex.history ORDER BY id;

-- a failing transaction deletes the index it created
BEGIN;
SELECT reindex.reindex_begin('items', 'tmp_alias', 'tmp_index') > 0 AS begun;
SELECT status FROM reindex._http('default', 'HEAD', '/tmp_index');
ROLLBACK;
SELECT status FROM reindex._http('default', 'HEAD', '/tmp_index');
SELECT count(*) AS leftover_rows FROM reindex.alias WHERE name = 'tmp_alias';
-- and so does a rolled-back subtransaction
BEGIN;
SAVEPOINT s;
SELECT reindex.reindex_begin('items', 'tmp_alias', 'tmp_index') > 0 AS begun;
ROLLBACK TO SAVEPOINT s;
SELECT status FROM reindex._http('default', 'HEAD', '/tmp_index');
COMMIT;

\set VERBOSITY terse
-- unsupported sources
CREATE VIEW items_view AS SELECT * FROM items;
CREATE TEMP TABLE temp_items (id int PRIMARY KEY);
CREATE UNLOGGED TABLE unlogged_items (id int PRIMARY KEY);
CREATE TABLE nokey (id int, t text);
CREATE TABLE nothing_ident (id int PRIMARY KEY);
ALTER TABLE nothing_ident REPLICA IDENTITY NOTHING;
CREATE TABLE full_nokey (id int);
ALTER TABLE full_nokey REPLICA IDENTITY FULL;
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
SELECT reindex.reindex_begin('no_such_table', 'a', 'b');
SELECT reindex.reindex_begin(NULL, 'a', 'b');
SELECT reindex.reindex_begin('items_view', 'a', 'b');
SELECT reindex.reindex_begin('temp_items', 'a', 'b');
SELECT reindex.reindex_begin('unlogged_items', 'a', 'b');
SELECT reindex.reindex_begin('nokey', 'a', 'b');
SELECT reindex.reindex_begin('nothing_ident', 'a', 'b');
SELECT reindex.reindex_begin('full_nokey', 'a', 'b');
SELECT reindex.reindex_begin('parted_1', 'a', 'b');
SELECT reindex.reindex_begin('pg_class', 'a', 'b');
-- a unique index as replica identity is enough
CREATE UNIQUE INDEX nokey_id ON nokey (id);
ALTER TABLE nokey ALTER id SET NOT NULL, REPLICA IDENTITY USING INDEX nokey_id;
SELECT reindex.reindex_begin('nokey', 'nokey', 'nokey_v1') > 0 AS begun;

-- invalid index and alias names (Elasticsearch rules)
SELECT reindex.reindex_begin('items', 'a', 'Items_v2');
SELECT reindex.reindex_begin('items', 'a', 'items v2');
SELECT reindex.reindex_begin('items', 'a', 'items*');
SELECT reindex.reindex_begin('items', 'a', 'items\v2');
SELECT reindex.reindex_begin('items', 'a', 'items/v2');
SELECT reindex.reindex_begin('items', 'a', 'it?ems');
SELECT reindex.reindex_begin('items', 'a', 'it"ems');
SELECT reindex.reindex_begin('items', 'a', 'it<ems');
SELECT reindex.reindex_begin('items', 'a', 'it>ems');
SELECT reindex.reindex_begin('items', 'a', 'it|ems');
SELECT reindex.reindex_begin('items', 'a', 'it,ems');
SELECT reindex.reindex_begin('items', 'a', 'it#ems');
SELECT reindex.reindex_begin('items', 'a', '-items');
SELECT reindex.reindex_begin('items', 'a', '_items');
SELECT reindex.reindex_begin('items', 'a', '+items');
SELECT reindex.reindex_begin('items', 'a', '.');
SELECT reindex.reindex_begin('items', 'a', '..');
SELECT reindex.reindex_begin('items', 'a', '');
SELECT reindex.reindex_begin('items', 'a', repeat('x', 256));
SELECT reindex.reindex_begin('items', 'a', repeat('é', 128));
SELECT reindex.reindex_begin('items', 'Items', 'b');
SELECT reindex.reindex_begin('items', '_items', 'b');
-- 255 bytes is allowed by the rules (the cluster may still refuse it)
SELECT reindex._check_name('index', repeat('x', 255));

-- new index equal to the alias, or to the current index
SELECT reindex.reindex_begin('items', 'items2', 'items2');
UPDATE reindex.alias SET current_target = (SELECT new_target FROM reindex.job WHERE id = :job1)
 WHERE name = 'items';
UPDATE reindex.job SET state = 'completed' WHERE id = :job1;
SELECT reindex.reindex_begin('items', 'items', 'items_v1');
UPDATE reindex.job SET state = 'backfilling' WHERE id = :job1;
-- a second active job on the same alias
SELECT reindex.reindex_begin('items', 'items', 'items_v2');
-- an index some target already uses
SELECT reindex.reindex_begin('items', 'other', 'items_v1');
-- an index that already exists in the cluster
SELECT status FROM reindex._http('default', 'PUT', '/foreign_index', '{}');
SELECT reindex.reindex_begin('items', 'other', 'foreign_index');
-- the alias name of another endpoint
SELECT reindex.reindex_begin('items', 'items', 'items_v9', 'down');

-- bad options
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '[]');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => NULL);
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"batchsize": 5}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"batch_size": 0}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"batch_size": "10"}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"backfill_workers": 1.5}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"lag_threshold_bytes": -1}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"include_columns": "title"}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"include_columns": ["titel"]}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"include_columns": ["title"], "exclude_columns": ["price"]}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"mappings": []}');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', options => '{"settings": 1}');
-- unknown and unreachable endpoints
SELECT reindex.reindex_begin('items', 'o', 'o_v1', 'nope');
SELECT reindex.reindex_begin('items', 'o', 'o_v1', 'down');
SELECT count(*) AS leftover_aliases FROM reindex.alias WHERE name = 'o';

-- server configuration: the plugin must be allowed (where the setting exists)
SELECT current_setting('output_plugin_libraries', true) IS NOT NULL AS has_allow_list \gset
\if :has_allow_list
SET output_plugin_libraries = 'pgoutput, test_decoding';
SELECT reindex.reindex_begin('items', 'o', 'o_v1');
RESET output_plugin_libraries;
\else
\echo 'ERROR:  output plugin "reindex" is not allowed by output_plugin_libraries'
\endif
-- (wal_level is checked by test/extension/test_server_config.py: it needs a restart)

-- clean up: the indexes this file created
\set VERBOSITY default
SELECT index_name, (reindex._http('default', 'DELETE', '/' || index_name)).status
  FROM reindex.target ORDER BY id;
SELECT status FROM reindex._http('default', 'DELETE', '/foreign_index');
DROP TABLE items, nokey, nothing_ident, full_nokey, parted, unlogged_items, temp_items CASCADE;
DROP EXTENSION reindex;
