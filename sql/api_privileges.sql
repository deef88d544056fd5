-- api_privileges: PUBLIC can do nothing; grant_admin and grant_streamer give
-- exactly what they say; reindex_begin needs SELECT on the source.
\getenv es_url REINDEX_TEST_ES_URL
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE EXTENSION reindex;
SELECT reindex.endpoint_add('default', :'es_url');
-- indexes left over by an interrupted earlier run would make this file fail
\o /dev/null
SELECT (reindex._http('default', 'DELETE', '/' || i)).status FROM unnest('{priv_v1}'::text[]) i;
\o
CREATE ROLE regress_reindex_nobody;
CREATE ROLE regress_reindex_dba;
CREATE ROLE regress_reindex_streamer;
CREATE TABLE priv_items (id int PRIMARY KEY);
CREATE TABLE priv_open (id int PRIMARY KEY);
GRANT SELECT ON priv_open TO regress_reindex_dba;

-- nothing for PUBLIC
SELECT count(*) AS public_grants FROM information_schema.role_table_grants
 WHERE table_schema = 'reindex' AND grantee = 'PUBLIC';
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'reindex'::regnamespace AND has_function_privilege('regress_reindex_nobody', p.oid, 'EXECUTE')
 ORDER BY 1;
SET ROLE regress_reindex_nobody;
SELECT reindex.reindex_status();
SELECT * FROM reindex.endpoint;
RESET ROLE;
GRANT USAGE ON SCHEMA reindex TO regress_reindex_nobody;
SET ROLE regress_reindex_nobody;
SELECT reindex.reindex_begin('priv_items', 'a', 'b');
SELECT reindex.reindex_status();
SELECT reindex.reindex_swap_alias('a');
SELECT reindex.reindex_rollback('a');
SELECT reindex.reindex_finish(1);
SELECT reindex.reindex_cancel(1);
SELECT reindex.endpoint_add('x', 'http://x');
SELECT reindex.endpoint_alter('default', verify_tls => false);
SELECT reindex.endpoint_drop('default');
SELECT reindex._http('default', 'GET', '/');
SELECT secret FROM reindex.endpoint;
SELECT * FROM reindex.endpoints;
RESET ROLE;

-- an administrator
SELECT reindex.grant_admin('regress_reindex_dba');
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'reindex'::regnamespace AND has_function_privilege('regress_reindex_dba', p.oid, 'EXECUTE')
 ORDER BY 1;
SET ROLE regress_reindex_dba;
SELECT name, has_secret FROM reindex.endpoints;
SELECT secret FROM reindex.endpoint;
SELECT reindex._http('default', 'GET', '/');
-- the source must be readable by the caller, not just by the extension owner
SELECT reindex.reindex_begin('priv_items', 'priv', 'priv_v1');
SELECT reindex.reindex_begin('priv_open', 'priv', 'priv_v1') > 0 AS begun;
SELECT alias, state, message FROM reindex.reindex_status();
RESET ROLE;

-- the streamer's role
SELECT reindex.grant_streamer('regress_reindex_streamer');
SELECT table_name, privilege_type FROM information_schema.role_table_grants
 WHERE table_schema = 'reindex' AND grantee = 'regress_reindex_streamer' ORDER BY 1, 2;
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'reindex'::regnamespace AND has_function_privilege('regress_reindex_streamer', p.oid, 'EXECUTE')
   AND p.proname NOT IN ('document', 'document_by_key')
 ORDER BY 1;
SET ROLE regress_reindex_streamer;
SELECT count(*) AS endpoints_readable FROM reindex.endpoint WHERE secret IS NULL;
UPDATE reindex.target SET state = 'streaming', heartbeat_at = now(), rows_backfilled = 1;
UPDATE reindex.job SET state = 'ready';
UPDATE reindex.target SET index_name = 'hijacked';
UPDATE reindex.alias SET current_target = NULL;
INSERT INTO reindex.backfill_chunk (target_id, chunk_no, relation, start_block, end_block)
	SELECT id, 0, source, 0, 1 FROM reindex.target;
INSERT INTO reindex.dead_letter (target_id, lsn, doc_id, op, http_status)
	SELECT id, '0/1', '1', 'index', 400 FROM reindex.target;
SELECT reindex.reindex_swap_alias('priv');
RESET ROLE;
SELECT to_state FROM reindex.history ORDER BY id;

-- clean up
SELECT (reindex._http('default', 'DELETE', '/' || index_name)).status FROM reindex.target;
DROP TABLE priv_items, priv_open;
DROP EXTENSION reindex;
DROP OWNED BY regress_reindex_nobody, regress_reindex_dba, regress_reindex_streamer;
DROP ROLE regress_reindex_nobody, regress_reindex_dba, regress_reindex_streamer;
