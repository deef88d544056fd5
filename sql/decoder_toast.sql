-- decoder_toast: UPDATEs that leave a TOASTed value unchanged.  The WAL does
-- not carry such a value and the plugin never detoasts its pointer: with
-- REPLICA IDENTITY FULL it takes the value from the old row, otherwise it
-- emits a refetch event carrying the key, which reindex.document_by_key()
-- resolves to the current row.
\set VERBOSITY terse
SET synchronous_commit = on;
CREATE EXTENSION reindex;

-- incompressible, well over the TOAST threshold
CREATE FUNCTION big(seed int) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(md5((seed * 1000 + i)::text), '') FROM generate_series(1, 200) i
$$;
-- a line with long values shortened to their length and md5
CREATE FUNCTION shorten(line text) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(line, '^(\w+) \d+', '\1 V'),
						  '"[0-9a-f]{200,}"', '"<long hex>"', 'g')
$$;

CREATE TABLE docs (id int PRIMARY KEY, title text, body text, extra text);
CREATE TABLE docs_full (id int PRIMARY KEY, title text, body text);
ALTER TABLE docs_full REPLICA IDENTITY FULL;
CREATE TABLE docs_multi (k1 int, k2 text, body text, n int, PRIMARY KEY (k1, k2));

INSERT INTO docs VALUES (1, 'first', big(1), 'e');
INSERT INTO docs_full VALUES (1, 'first', big(1));
INSERT INTO docs_multi VALUES (1, 'a', big(3), 0);
SELECT pg_column_size(body) < length(body) AS stored_out_of_line_or_compressed,
	   length(body) FROM docs;

SELECT 'init' FROM pg_create_logical_replication_slot('dec_toast', 'reindex');

-- default replica identity: the body is not in the WAL -> refetch with the key
UPDATE docs SET title = 'second' WHERE id = 1;
-- the TOASTed column changed: it is in the WAL -> index
UPDATE docs SET body = big(2) WHERE id = 1;
-- REPLICA IDENTITY FULL: the value comes from the old row -> index
UPDATE docs_full SET title = 'second' WHERE id = 1;
-- composite key: the refetch key holds both columns
UPDATE docs_multi SET n = 1;
-- a TOASTed value outside the selected columns does not force a refetch
UPDATE docs SET title = 'third' WHERE id = 1;
UPDATE docs SET title = 'fourth' WHERE id = 1;

SELECT shorten(data) FROM pg_logical_slot_peek_changes('dec_toast', NULL, NULL)
	WHERE data !~ '^(begin|commit)' LIMIT 5;
-- the full-identity document carries exactly the stored body
SELECT (substr(data, strpos(data, '{'))::jsonb ->> 'body') = big(1) AS full_row_has_old_body
	FROM pg_logical_slot_peek_changes('dec_toast', NULL, NULL)
	WHERE data LIKE 'index % "public.docs_full" %';
-- the refetch key resolves to the current row, rendered as document() does
SELECT reindex.document_by_key('docs_multi', substr(data, strpos(data, '{'))::jsonb)
		   = (SELECT reindex.document('docs_multi', m) FROM docs_multi m) AS refetch_resolves
	FROM pg_logical_slot_peek_changes('dec_toast', NULL, NULL)
	WHERE data LIKE 'refetch % "public.docs_multi" %';
-- without the body selected, no refetch is needed
SELECT shorten(data) FROM pg_logical_slot_get_changes('dec_toast', NULL, NULL,
	'table', 'docs', 'exclude_columns', 'body')
	WHERE data !~ '^(begin|commit)';

-- ... but with body selected they are refetches
UPDATE docs SET title = 'fifth' WHERE id = 1;
SELECT shorten(data) FROM pg_logical_slot_get_changes('dec_toast', NULL, NULL,
	'table', 'docs', 'include_columns', 'id,body')
	WHERE data !~ '^(begin|commit)';

-- document_by_key: a missing row is NULL; keys are typed by the table
SELECT reindex.document_by_key('docs', '{"id": 42}') IS NULL AS missing_is_null;
SELECT shorten(reindex.document_by_key('docs', '{"id": 1}', ARRAY['id', 'title']));
SELECT reindex.document_by_key('docs_multi', '{"k1": 1, "k2": "b"}') IS NULL AS other_key_is_null;

-- a deleted row with RI FULL and with the default identity
DELETE FROM docs WHERE id = 1;
DELETE FROM docs_full WHERE id = 1;
SELECT shorten(data) FROM pg_logical_slot_get_changes('dec_toast', NULL, NULL)
	WHERE data !~ '^(begin|commit)';

SELECT pg_drop_replication_slot('dec_toast');
DROP TABLE docs, docs_full, docs_multi;
DROP FUNCTION big(int);
DROP FUNCTION shorten(text);
DROP EXTENSION reindex;
