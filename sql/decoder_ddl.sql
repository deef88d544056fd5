-- decoder_ddl: the plugin's relation and type cache follows DDL.  Every
-- change below is decoded by ONE pg_logical_slot_get_changes() call, so the
-- walsender-side cache has to pick up each ALTER between (and inside)
-- transactions: added and dropped columns, a column type change (number ->
-- string), REPLICA IDENTITY FULL (refetch -> index from the old row) and back,
-- a table rename, and a composite type gaining an attribute.
\set VERBOSITY terse
SET synchronous_commit = on;
CREATE EXTENSION reindex;

-- versions and commit times masked; long hex values shortened
CREATE FUNCTION dec_changes(slot name, VARIADIC opts text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(regexp_replace(data, '^(\w+) \d+', '\1 V'),
						  '^(begin|commit) V \d+( \S+)?$', '\1 V X T'),
						  '"[0-9a-f]{200,}"', '"<long hex>"', 'g')
	FROM pg_logical_slot_get_changes(slot, NULL, NULL, VARIADIC opts)
$$;
-- incompressible, stored out of line
CREATE FUNCTION big(seed int) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(md5((seed * 1000 + i)::text), '') FROM generate_series(1, 200) i
$$;

CREATE TYPE pt AS (x int);
CREATE TABLE t (id int PRIMARY KEY, a text, b int);
SELECT 'init' FROM pg_create_logical_replication_slot('dec_ddl', 'reindex');

INSERT INTO t VALUES (1, 'one', 1);
-- ADD COLUMN: new rows carry it, an old row updated shows it too
ALTER TABLE t ADD COLUMN c numeric;
INSERT INTO t VALUES (2, 'two', 2, 2.5);
UPDATE t SET c = 1.25 WHERE id = 1;
-- DROP COLUMN: it disappears from every document
ALTER TABLE t DROP COLUMN a;
INSERT INTO t VALUES (3, 3, 3.5);
-- a column type change (rewrites the table; the rewrite is not decoded):
-- b was a number and becomes a string
ALTER TABLE t ALTER COLUMN b TYPE text USING 'b' || b;
INSERT INTO t VALUES (4, 'b4', 4.5);
UPDATE t SET c = 9 WHERE id = 2;
-- DDL inside a transaction: the cache is invalidated mid-transaction
BEGIN;
INSERT INTO t VALUES (5, 'b5', 5);
ALTER TABLE t ADD COLUMN d bool DEFAULT true;
INSERT INTO t VALUES (6, 'b6', 6, false);
ALTER TABLE t DROP COLUMN d;
INSERT INTO t VALUES (7, 'b7', 7);
COMMIT;
-- REPLICA IDENTITY: an unchanged TOASTed value is a refetch under DEFAULT,
-- an index with the old row's value under FULL, a refetch again after DEFAULT
ALTER TABLE t ADD COLUMN big text;
ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL;
UPDATE t SET big = big(1) WHERE id = 1;
UPDATE t SET c = 10 WHERE id = 1;
ALTER TABLE t REPLICA IDENTITY FULL;
UPDATE t SET c = 11 WHERE id = 1;
DELETE FROM t WHERE id = 3;
ALTER TABLE t REPLICA IDENTITY DEFAULT;
UPDATE t SET c = 12 WHERE id = 1;
-- a rename: events name the table by its new name
ALTER TABLE t RENAME TO t_renamed;
UPDATE t_renamed SET c = 13 WHERE id = 2;
-- a composite column whose type gains an attribute
ALTER TABLE t_renamed DROP COLUMN big;
ALTER TABLE t_renamed ADD COLUMN p pt;
UPDATE t_renamed SET p = ROW(1) WHERE id = 2;
ALTER TYPE pt ADD ATTRIBUTE y text;
UPDATE t_renamed SET p = ROW(2, 'two') WHERE id = 2;
SELECT * FROM dec_changes('dec_ddl');

-- the REPLICA IDENTITY FULL index carried exactly the stored value
TRUNCATE t_renamed;
INSERT INTO t_renamed (id, b, c) VALUES (1, 'x', 1);
ALTER TABLE t_renamed ADD COLUMN big text;
ALTER TABLE t_renamed ALTER COLUMN big SET STORAGE EXTERNAL;
UPDATE t_renamed SET big = big(2);
ALTER TABLE t_renamed REPLICA IDENTITY FULL;
UPDATE t_renamed SET c = 2;
SELECT (substr(data, strpos(data, '{'))::jsonb ->> 'big') = big(2) AS full_row_has_old_value
	FROM pg_logical_slot_get_changes('dec_ddl', NULL, NULL)
	WHERE data LIKE 'index % {"id":1,"b":"x","c":2,%';

SELECT pg_drop_replication_slot('dec_ddl');
DROP TABLE t_renamed;
DROP TYPE pt;
DROP FUNCTION dec_changes(name, text[]);
DROP FUNCTION big(int);
DROP EXTENSION reindex;
