-- decoder_basic: the output plugin's events for every operation, versions,
-- composite keys, key changes, filtering and transactions.
\set VERBOSITY terse
SET synchronous_commit = on;
CREATE EXTENSION reindex;

-- changes of a slot with versions, xids and commit times masked
CREATE FUNCTION dec_changes(slot name, VARIADIC opts text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(data, '^(\w+) \d+', '\1 V'),
						  '^(begin|commit) V \d+( \S+)?$', '\1 V X T')
	FROM pg_logical_slot_get_changes(slot, NULL, NULL, VARIADIC opts)
$$;

CREATE TABLE items (id int PRIMARY KEY, name text, price numeric);
CREATE TABLE pairs (a text, b int, note text, PRIMARY KEY (b, a));
CREATE TABLE reindex.own_table (id int PRIMARY KEY);
CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);

SELECT 'init' FROM pg_create_logical_replication_slot('dec_basic', 'reindex');

-- every op
INSERT INTO items VALUES (1, 'one', 1.5), (2, 'two', NULL);
UPDATE items SET name = 'uno' WHERE id = 1;
DELETE FROM items WHERE id = 2;
-- key change: delete of the old id, then index of the new one
UPDATE items SET id = 10 WHERE id = 1;
-- composite key in index order (b, a); separator and escape in the parts
INSERT INTO pairs VALUES ('x|y', 1, 'pipe'), ('back\slash', 2, 'backslash'), ('plain', 3, NULL);
UPDATE pairs SET a = 'z' WHERE b = 1;
DELETE FROM pairs WHERE b = 2;
SELECT * FROM dec_changes('dec_basic');

-- a multi-statement transaction is one begin/commit; a rolled back
-- savepoint's changes never appear; an aborted transaction writes nothing
BEGIN;
INSERT INTO items VALUES (20, 'twenty', 20);
SAVEPOINT s1;
INSERT INTO items VALUES (21, 'gone', 21);
UPDATE items SET name = 'gone too' WHERE id = 20;
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s2;
UPDATE items SET price = 21 WHERE id = 20;
RELEASE SAVEPOINT s2;
INSERT INTO pairs VALUES ('q', 4, 'in txn');
COMMIT;
BEGIN;
INSERT INTO items VALUES (22, 'aborted', 0);
ROLLBACK;
SELECT * FROM dec_changes('dec_basic');

-- reindex's own tables, unlogged tables and temporary tables never appear;
-- a transaction without events writes nothing at all
INSERT INTO reindex.own_table VALUES (1);
INSERT INTO scratch VALUES (1);
CREATE TEMP TABLE tmp (id int PRIMARY KEY);
INSERT INTO tmp VALUES (1);
SELECT count(*) AS messages FROM pg_logical_slot_get_changes('dec_basic', NULL, NULL);

-- versions: every message of a transaction carries the end LSN of its commit
-- record, which is the commit message's LSN; versions increase; begin and
-- commit carry the transaction's xid
INSERT INTO items VALUES (30, 'a', 1);
BEGIN;
INSERT INTO items VALUES (31, 'b', 2);
UPDATE items SET name = 'c' WHERE id = 30;
DELETE FROM items WHERE id = 31;
COMMIT;
CREATE TEMP TABLE msgs AS
	SELECT row_number() OVER () AS n, lsn, xid::text::bigint AS x, data,
		   split_part(data, ' ', 1) AS op,
		   split_part(data, ' ', 2)::numeric AS version
	FROM pg_logical_slot_peek_changes('dec_basic', NULL, NULL);
SELECT count(*) AS messages, count(DISTINCT x) AS transactions FROM msgs;
SELECT x = (SELECT min(x) FROM msgs) AS first_txn, count(DISTINCT version) AS versions
	FROM msgs GROUP BY x ORDER BY x;
SELECT bool_and(version = lsn - '0/0'::pg_lsn) AS commit_version_is_its_lsn
	FROM msgs WHERE op = 'commit';
SELECT bool_and(split_part(data, ' ', 3)::bigint = x) AS begin_commit_carry_xid
	FROM msgs WHERE op IN ('begin', 'commit');
SELECT (SELECT min(version) FROM msgs WHERE x = (SELECT max(x) FROM msgs)) >
	   (SELECT max(version) FROM msgs WHERE x = (SELECT min(x) FROM msgs)) AS versions_increase;
SELECT bool_and(split_part(data, ' ', 4) ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$')
	AS commit_time_iso_utc FROM msgs WHERE op IN ('begin', 'commit');
SELECT op FROM msgs ORDER BY n;
DROP TABLE msgs;
SELECT count(*) FROM pg_logical_slot_get_changes('dec_basic', NULL, NULL);

-- options: without the commit time; one table by name, by OID; columns
INSERT INTO items VALUES (40, 'forty', 40);
INSERT INTO pairs VALUES ('p', 40, 'forty');
SELECT regexp_replace(data, '\d+', 'N', 'g') FROM pg_logical_slot_peek_changes('dec_basic', NULL, NULL,
	'include_commit_time', 'false') WHERE data !~ '^(index|delete)';
SELECT * FROM dec_changes('dec_basic', 'table', 'public.pairs', 'format_version', '1');
INSERT INTO items VALUES (41, 'forty-one', 41);
INSERT INTO pairs VALUES ('p', 41, 'forty-one');
SELECT 'pairs'::regclass::oid::text AS pairs_oid \gset
SELECT * FROM dec_changes('dec_basic', 'table', :'pairs_oid');
INSERT INTO items VALUES (42, 'forty-two', 42);
UPDATE items SET name = 'x' WHERE id = 42;
SELECT * FROM dec_changes('dec_basic', 'table', 'items', 'include_columns', 'id, name');
INSERT INTO items VALUES (43, 'forty-three', 43);
SELECT * FROM dec_changes('dec_basic', 'table', 'items', 'exclude_columns', 'price,id');
INSERT INTO items VALUES (44, 'forty-four', 44);
SELECT * FROM dec_changes('dec_basic', 'table', 'items', 'include_columns', 'name,price',
	'exclude_columns', 'price');

-- a quoted, schema-qualified table name
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Odd ""Name""" ("Key" int PRIMARY KEY, "Some Col" text);
INSERT INTO "Odd Schema"."Odd ""Name""" VALUES (1, 'odd');
SELECT * FROM dec_changes('dec_basic', 'table', '"Odd Schema"."Odd ""Name"""',
	'include_columns', '"Some Col"');

-- include_begin false: no begin lines, the rest unchanged (commit with xid)
INSERT INTO items VALUES (50, 'fifty', 50);
BEGIN;
INSERT INTO items VALUES (51, 'fifty-one', 51);
DELETE FROM items WHERE id = 50;
COMMIT;
INSERT INTO reindex.own_table VALUES (50);
SELECT * FROM dec_changes('dec_basic', 'include_begin', 'false');
-- batch_bytes: the lines of one transaction share messages (joined by a
-- newline) of about that size; commit ends its message, so no message holds
-- two transactions; the lines are exactly the unbatched ones
INSERT INTO items SELECT g, 'row ' || g, g FROM generate_series(60, 69) g;
INSERT INTO items VALUES (70, 'seventy', 70);
CREATE TEMP TABLE plain AS
	SELECT row_number() OVER () AS n, data FROM pg_logical_slot_peek_changes('dec_basic', NULL, NULL);
CREATE TEMP TABLE batched AS
	SELECT row_number() OVER () AS m, data FROM pg_logical_slot_peek_changes('dec_basic', NULL, NULL,
		'batch_bytes', '150');
SELECT m, array_length(string_to_array(data, E'\n'), 1) AS lines,
	   regexp_replace(data, '(^|\n)(\w+) [^\n]*', '\1\2', 'g') AS ops
	FROM batched ORDER BY m;
SELECT bool_and(data !~ E'(^|\n)(\n|$)') AS no_empty_line,
	   bool_and(data !~ E'commit[^\n]*\n') AS commit_ends_message
	FROM batched;
SELECT (SELECT array_agg(data ORDER BY n) FROM plain) =
	   (SELECT array_agg(l ORDER BY m, k) FROM batched,
			   unnest(string_to_array(data, E'\n')) WITH ORDINALITY AS u(l, k)) AS same_lines;
SELECT count(*) AS consumed FROM pg_logical_slot_get_changes('dec_basic', NULL, NULL,
	'batch_bytes', '1048576', 'include_begin', 'off');

SELECT pg_drop_replication_slot('dec_basic');
DROP TABLE items, pairs, scratch, "Odd Schema"."Odd ""Name""";
DROP SCHEMA "Odd Schema";
DROP TABLE reindex.own_table;
DROP FUNCTION dec_changes(name, text[]);
DROP EXTENSION reindex;
