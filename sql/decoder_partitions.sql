-- decoder_partitions: changes to partitions name the root table, rows moving
-- between partitions, and TRUNCATE (partitioned, CASCADE, several tables).
\set VERBOSITY terse
SET synchronous_commit = on;
CREATE EXTENSION reindex;

CREATE FUNCTION dec_changes(slot name, VARIADIC opts text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
	SELECT regexp_replace(data, '^(\w+) \d+( \d+ \S+)?', '\1 V')
	FROM pg_logical_slot_get_changes(slot, NULL, NULL, VARIADIC opts)
$$;

CREATE TABLE orders (region text, id int, amount int, PRIMARY KEY (region, id))
	PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
-- a sub-partitioned partition whose leaves have another column order
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us') PARTITION BY RANGE (id);
CREATE TABLE orders_us_low (amount int, dropped int, id int NOT NULL, region text NOT NULL);
ALTER TABLE orders_us_low DROP COLUMN dropped;
ALTER TABLE orders_us ATTACH PARTITION orders_us_low FOR VALUES FROM (0) TO (100);
CREATE TABLE orders_us_high PARTITION OF orders_us FOR VALUES FROM (100) TO (MAXVALUE);

CREATE TABLE customers (id int PRIMARY KEY, name text);
CREATE TABLE invoices (id int PRIMARY KEY, customer int REFERENCES customers);
CREATE TABLE other (id int PRIMARY KEY);

SELECT 'init' FROM pg_create_logical_replication_slot('dec_parts', 'reindex');

INSERT INTO orders VALUES ('eu', 1, 10), ('us', 2, 20), ('us', 200, 30);
-- row movement: delete from one leaf, insert into another, same root
UPDATE orders SET id = 150 WHERE region = 'us' AND id = 2;
UPDATE orders SET region = 'eu' WHERE id = 150;
UPDATE orders SET amount = 11 WHERE region = 'eu' AND id = 1;
DELETE FROM orders WHERE id = 200;
SELECT * FROM dec_changes('dec_parts');

-- the table option names the root; a partition's name matches nothing
INSERT INTO orders VALUES ('us', 5, 50);
SELECT * FROM dec_changes('dec_parts', 'table', 'public.orders_us_low');
INSERT INTO orders VALUES ('us', 6, 60);
SELECT * FROM dec_changes('dec_parts', 'table', 'orders');

-- reindex.document() on a partition's row renders the root's document
SELECT reindex.document('orders', o) = reindex.document('orders_us_low', o) AS same,
	   reindex.document('orders_us_low', o)
	FROM orders_us_low o WHERE id = 5;

-- TRUNCATE: one event per affected root table
TRUNCATE orders;
TRUNCATE orders_us_low;
TRUNCATE orders_us;
TRUNCATE orders_eu, orders_us_low, orders_us_high;
TRUNCATE customers CASCADE;
TRUNCATE other, customers, invoices;
SELECT * FROM dec_changes('dec_parts');
-- only the table asked for
TRUNCATE customers CASCADE;
SELECT * FROM dec_changes('dec_parts', 'table', 'invoices');

SELECT pg_drop_replication_slot('dec_parts');
DROP TABLE orders, invoices, customers, other;
DROP FUNCTION dec_changes(name, text[]);
DROP EXTENSION reindex;
