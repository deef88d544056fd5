-- reindex--0.1--0.2.sql: upgrade from 0.1 to 0.2.
--
-- Every change to the catalog or the SQL API made in src/sql/[0-9][0-9]_*.sql
-- since 0.1 is made here too, so that an updated installation is exactly a
-- fresh one: the pg_regress test `upgrade` compares the two (tables, columns,
-- defaults, constraints, indexes, triggers, functions with their source,
-- settings and privileges, comments) and fails on any difference.  Functions
-- are replaced with the very text of the parts (CREATE OR REPLACE), and new
-- functions get the same REVOKE/GRANT as in 28_privileges.sql.
\echo Use "ALTER EXTENSION reindex UPDATE TO '0.2'" to load this file. \quit
