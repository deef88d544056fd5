-- decoder_targets: the plugin option targets (the streamer's shared slot):
-- several tables and column sets in one session, every event line tagged
-- with its set, each set's documents with its own columns; TRUNCATE once per
-- set; no sets means no events; bad values and option clashes are errors.
\set VERBOSITY terse
SET synchronous_commit = on;
CREATE EXTENSION reindex;

CREATE FUNCTION tgt_changes(slot name, targets text)
RETURNS SETOF text LANGUAGE sql AS $$
	SELECT regexp_replace(data, '^(\d+ \w+|\w+) \d+', '\1 V')
	FROM pg_logical_slot_peek_changes(slot, NULL, NULL, 'targets', targets,
									  'include_commit_time', 'false')
	WHERE data !~ '^(begin|commit) '
$$;

CREATE TABLE a (id int PRIMARY KEY, x text, "Odd, Col" text);
CREATE TABLE b (id int PRIMARY KEY, v int);
CREATE TABLE c (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('dec_targets', 'reindex');

INSERT INTO a VALUES (1, 'one', 'odd');
INSERT INTO b VALUES (7, 70);
INSERT INTO c VALUES (9);
UPDATE a SET x = 'uno' WHERE id = 1;
DELETE FROM b WHERE id = 7;
TRUNCATE a, b;

-- set 0: a with all columns, 1: a without "Odd, Col", 2: b, 3: a with id and "Odd, Col"; c in no set
SELECT tgt_changes('dec_targets',
	format('%s %s/exclude="Odd, Col" %s %s/include=id,"Odd, Col"',
		   'a'::regclass::oid, 'a'::regclass::oid, 'b'::regclass::oid, 'a'::regclass::oid));
-- the same table twice with the same columns: two sets, the same lines
SELECT tgt_changes('dec_targets', format('%s %s', 'b'::regclass::oid, 'b'::regclass::oid));
-- no sets: nothing at all (not every table)
SELECT count(*) FROM tgt_changes('dec_targets', '');
SELECT count(*) FROM tgt_changes('dec_targets', '   ');

-- errors
SELECT tgt_changes('dec_targets', 'x');
SELECT tgt_changes('dec_targets', '0');
SELECT tgt_changes('dec_targets', '1/columns=id');
SELECT tgt_changes('dec_targets', '1/include="id');
SELECT tgt_changes('dec_targets', format('%s/include=nope', 'a'::regclass::oid));
SELECT data FROM pg_logical_slot_peek_changes('dec_targets', NULL, NULL,
	'targets', 'a'::regclass::oid::text, 'table', 'a');

SELECT pg_drop_replication_slot('dec_targets');
DROP EXTENSION reindex;
