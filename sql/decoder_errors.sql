-- decoder_errors: bad plugin options, tables without a usable key, and the
-- errors of reindex.document() / reindex.document_by_key().
\set VERBOSITY terse
SET synchronous_commit = on;
CREATE EXTENSION reindex;

CREATE TABLE ok (id int PRIMARY KEY, v text);
CREATE TABLE nokey (v text);
CREATE TABLE nothing (id int PRIMARY KEY, v text);
ALTER TABLE nothing REPLICA IDENTITY NOTHING;
CREATE TABLE fullnokey (v text);
ALTER TABLE fullnokey REPLICA IDENTITY FULL;

SELECT 'init' FROM pg_create_logical_replication_slot('dec_err', 'reindex');
INSERT INTO ok VALUES (1, 'a');

-- bad options: each is an error and consumes nothing
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'colour', 'red');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'format_version', '2');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'include_commit_time', 'maybe');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'include_begin', 'sometimes');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'batch_bytes', '1048577');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'batch_bytes', '-1');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'batch_bytes', '99999999999999999999');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'include_columns', 'id');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', '');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', 'a.b.c');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', '0');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', 'ok', 'table', 'ok');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', 'ok',
	'include_columns', 'id,nope');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', 'ok',
	'include_columns', '');
SELECT count(*) AS still_there FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL,
	'include_commit_time', 'off');
SELECT count(*) FROM pg_logical_slot_get_changes('dec_err', NULL, NULL);

-- a table without a key: the plugin refuses it when it is asked for (and
-- when all tables are), but not when another table is asked for
INSERT INTO nokey VALUES ('x');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', 'nokey');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL);
SELECT count(*) FROM pg_logical_slot_get_changes('dec_err', NULL, NULL, 'table', 'ok');
INSERT INTO nothing VALUES (1, 'x');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', 'nothing');
SELECT count(*) FROM pg_logical_slot_get_changes('dec_err', NULL, NULL, 'table', 'ok');
INSERT INTO fullnokey VALUES ('x');
SELECT data FROM pg_logical_slot_peek_changes('dec_err', NULL, NULL, 'table', 'fullnokey');
SELECT count(*) FROM pg_logical_slot_get_changes('dec_err', NULL, NULL, 'table', 'ok');

-- reindex.document(): same refusals, and records that do not fit
SELECT reindex.document('nokey', n) FROM nokey n;
SELECT reindex.document('ok', ROW(1, 'a'));
SELECT reindex.document('ok', x) FROM (SELECT 1 AS id) x;
SELECT reindex.document('ok', x) FROM (SELECT 1::bigint AS id, 'a'::text AS v) x;
SELECT reindex.document('ok', x) FROM (SELECT 'a'::text AS v, 1 AS id, 'extra' AS z) x;
SELECT reindex.document('ok', o, ARRAY['nope']) FROM ok o;
SELECT reindex.document('ok', o, NULL, ARRAY['v']) FROM ok o;
SELECT reindex.document('ok', o, ARRAY[NULL]) FROM ok o;
SELECT reindex.document('ok', NULL::ok) IS NULL AS null_row_is_null;
CREATE SEQUENCE ok_seq;
SELECT reindex.document('ok_seq', o) FROM ok o;
SELECT reindex.document_by_key('ok', '{"id": "not a number"}');
SELECT reindex.document_by_key('ok', '{}');
SELECT reindex.document_by_key('ok', '{"id": null}');
SELECT reindex.document_by_key('nokey', '{"v": "x"}');

-- EXECUTE is not granted to PUBLIC
CREATE ROLE dec_err_nobody;
GRANT USAGE ON SCHEMA reindex TO dec_err_nobody;
GRANT SELECT ON ok TO dec_err_nobody;
SET ROLE dec_err_nobody;
SELECT reindex.document('ok', o) FROM ok o;
SELECT reindex.document_by_key('ok', '{"id": 1}');
RESET ROLE;
REVOKE ALL ON ok FROM dec_err_nobody;
REVOKE USAGE ON SCHEMA reindex FROM dec_err_nobody;
DROP ROLE dec_err_nobody;

SELECT pg_drop_replication_slot('dec_err');
DROP TABLE ok, nokey, nothing, fullnokey;
DROP SEQUENCE ok_seq;
DROP EXTENSION reindex;
