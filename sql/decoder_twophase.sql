-- decoder_twophase: a prepared transaction is emitted at COMMIT PREPARED,
-- never at PREPARE, and a rolled back one never.  Needs
-- max_prepared_transactions > 0 on the server.
\set VERBOSITY terse
SET synchronous_commit = on;
CREATE EXTENSION reindex;
SELECT current_setting('max_prepared_transactions')::int > 0 AS can_prepare;

CREATE TABLE tp (id int PRIMARY KEY, v text);
SELECT 'init' FROM pg_create_logical_replication_slot('dec_2pc', 'reindex');

BEGIN;
INSERT INTO tp VALUES (1, 'prepared');
PREPARE TRANSACTION 'dec_2pc_a';
BEGIN;
INSERT INTO tp VALUES (2, 'rolled back');
PREPARE TRANSACTION 'dec_2pc_b';
-- nothing before the commit
SELECT count(*) AS before_commit FROM pg_logical_slot_get_changes('dec_2pc', NULL, NULL);
COMMIT PREPARED 'dec_2pc_a';
ROLLBACK PREPARED 'dec_2pc_b';
SELECT regexp_replace(data, '^(\w+) \d+( \d+ \S+)?', '\1 V') AS data
	FROM pg_logical_slot_get_changes('dec_2pc', NULL, NULL);

SELECT pg_drop_replication_slot('dec_2pc');
DROP TABLE tp;
DROP EXTENSION reindex;
