-- decoder_types: how every built-in type is written, and proof that the
-- output plugin and reindex.document() produce the same bytes for each row,
-- whatever the session's DateStyle, IntervalStyle, TimeZone and
-- extra_float_digits.
\set VERBOSITY terse
SET synchronous_commit = on;
CREATE EXTENSION reindex;

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE point2 AS (x int, label text);
CREATE TYPE boxed AS (p point2, tags text[], m mood);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN label AS text;
CREATE DOMAIN intlist AS int[];

CREATE TABLE types (
	id int PRIMARY KEY,
	i2 int2, i4 int4, i8 int8,
	f4 float4, f8 float8, num numeric,
	b bool,
	t text, vc varchar(10), bc char(4), nm name, ch "char",
	js json, jb jsonb,
	ai int[], at text[], af float8[], anum numeric[],
	d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
	u uuid, by bytea,
	mo mood, amo mood[],
	dp posint, dl label, dal intlist,
	cp point2, cb boxed, acp point2[],
	r int4range, inet_col inet, oid_col oid, money_col money, bits bit varying
);

SELECT 'init' FROM pg_create_logical_replication_slot('dec_types', 'reindex');

INSERT INTO types VALUES
	(1, 1, 2, 3, 1.5, 0.1, 123.4500, true,
	 'plain', 'vc', 'ab', 'nm', 'c',
	 '{"a" : [1, 2,
	   3], "s": "x y\n"}', '{"b": {"c": "x y"}, "a": [true, null]}',
	 '{1,NULL,3}', '{{a,b},{c,NULL}}', '{1.5,NaN,Infinity}', '{1.0,NaN}',
	 '2024-02-29', '12:34:56.789', '12:00:00+05:30', '2024-01-02 03:04:05.5',
	 '2024-01-02 03:04:05.123456+02', '1 year 2 mons 3 days 04:05:06.7',
	 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff10',
	 'happy', '{sad,ok}',
	 5, 'a label', '{7,8}',
	 ROW(1, 'one'), ROW(ROW(2, 'two'), '{x,y}', 'ok'), ARRAY[ROW(3, 'three')::point2, NULL],
	 '[1,5)', '192.168.0.1/24', 42, 12.34, B'1011'),
	-- extremes and specials
	(2, -32768, -2147483648, -9223372036854775808,
	 'NaN', 'Infinity', 'NaN', false,
	 E'quote" backslash\\ tab\t nl\n cr\r bell\x07 unicode é 日本 😀', '', '', '', ' ',
	 '"just a string"', '[]',
	 '{}', '{}', '{-Infinity,-0}', '{Infinity,-Infinity}',
	 'infinity', '00:00:00', '23:59:59.999999-08', '-infinity',
	 'infinity', '-1 days -00:00:01',
	 '00000000-0000-0000-0000-000000000000', '\x',
	 'sad', '{}',
	 1, '', '{}',
	 ROW(NULL, NULL), ROW(NULL, NULL, NULL), '{}',
	 'empty', '::1', 0, -1, B''),
	(3, 32767, 2147483647, 9223372036854775807,
	 '-Infinity', '-Infinity', 'Infinity', NULL,
	 'x', NULL, NULL, NULL, NULL,
	 'null', '12.5',
	 '[0:1]={5,6}', '{{{a}},{{b}}}', '{1e300,1e-300}', '{-Infinity}',
	 '-infinity', '24:00:00', '00:00:00+00', 'infinity',
	 '4713-01-01 00:00:00+00 BC', '0',
	 NULL, '\xdeadbeef',
	 NULL, '{happy,NULL}',
	 NULL, NULL, NULL,
	 NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL),
	(4, 0, 0, 0, -0.0, 1e-7, -0.000001, true,
	 'y', 'z', 'zz', 'n', 'q',
	 '{"k":{"nested":[{"deep":"\u00e9\""}]}}', '{"k": "v w", "n": 1.50}',
	 '{{1,2},{3,4}}', '{"with space","with,comma","q\"uote"}', '{3.14159265358979}', '{-0.5}',
	 '0001-01-01 BC', '01:02:03', '01:02:03.5+00:00:30', '1999-12-31 23:59:59.999999',
	 '2000-01-01 00:00:00+00', '-2 years +3 mons -4 days 05:00:00',
	 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\x0001020304',
	 'ok', '{ok,ok}',
	 2147483647, 'x|y\z', '{1,NULL}',
	 ROW(-1, E'a\"b'), ROW(NULL, '{NULL}', NULL), ARRAY[NULL::point2],
	 '(,)', '10.0.0.0/8', 4294967295, 0, B'0');
UPDATE types SET f8 = 1e22, f4 = 3.4e38 WHERE id = 4;
INSERT INTO types (id) VALUES (5);
DELETE FROM types WHERE id = 5;

-- what the plugin writes
SELECT regexp_replace(data, '^(\w+) \d+( \d+ \S+)?', '\1 V') AS data
	FROM pg_logical_slot_peek_changes('dec_types', NULL, NULL);

-- the same rows through reindex.document(), under unusual session settings
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'iso_8601';
SET TimeZone = 'Asia/Kathmandu';
SET extra_float_digits = -3;
SET lc_monetary = 'C';
CREATE TEMP TABLE streamed AS
	SELECT n, substr(data, length('index ' || split_part(data, ' ', 2) || ' "public.types" ') + 1) AS doc
	FROM pg_logical_slot_get_changes('dec_types', NULL, NULL) WITH ORDINALITY AS c(lsn, xid, data, n)
	WHERE data LIKE 'index %';
SELECT count(*) AS streamed_index_events FROM streamed;
-- the last streamed document of every row equals document()'s, byte for byte
SELECT tr.id, last.doc = reindex.document('types', tr) AS byte_equal
	FROM types tr
	LEFT JOIN (SELECT DISTINCT ON (split_part(doc, ' ', 1)) doc FROM streamed
			   ORDER BY split_part(doc, ' ', 1), n DESC) last
	  ON split_part(last.doc, ' ', 1) = '"' || tr.id || '"'
	ORDER BY tr.id;
-- the documents are valid JSON and keep every column
SELECT id, (substr(doc, strpos(doc, ' ') + 1))::jsonb ? 'bits' AS valid_json,
		   split_part(doc, ' ', 1)::jsonb #>> '{}' = id::text AS id_is_key
	FROM (SELECT id, reindex.document('types', tr) AS doc FROM types tr) x ORDER BY id;
RESET DateStyle;
RESET IntervalStyle;
RESET TimeZone;
RESET extra_float_digits;
RESET lc_monetary;

-- ids from keys of other types: text, timestamptz, uuid, numeric, bytea
CREATE TABLE keyed (ts timestamptz, u uuid, n numeric, by bytea, s text, v int,
	PRIMARY KEY (ts, u, n, by, s));
SELECT 'init' FROM pg_create_logical_replication_slot('dec_keys', 'reindex');
INSERT INTO keyed VALUES ('2024-05-06 07:08:09.01+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	'NaN', '\x7c5c', 'a|b\c"d', 1);
SET TimeZone = 'America/New_York';
SELECT regexp_replace(data, '^(\w+) \d+( \d+ \S+)?', '\1 V') AS data
	FROM pg_logical_slot_get_changes('dec_keys', NULL, NULL);
SELECT reindex.document('keyed', k) FROM keyed k;
RESET TimeZone;

SELECT pg_drop_replication_slot('dec_types');
SELECT pg_drop_replication_slot('dec_keys');
DROP TABLE types, keyed;
DROP TYPE boxed;
DROP TYPE point2;
DROP TYPE mood;
DROP DOMAIN posint;
DROP DOMAIN label;
DROP DOMAIN intlist;
DROP EXTENSION reindex;
