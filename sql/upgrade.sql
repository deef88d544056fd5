-- upgrade: install the first released version, then update along the
-- upgrade scripts to the current one.
CREATE EXTENSION reindex VERSION '0.1';
ALTER EXTENSION reindex UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'reindex') AS current
  FROM pg_extension WHERE extname = 'reindex';
SELECT reindex.version() = extversion AS library_matches FROM pg_extension WHERE extname = 'reindex';
-- the catalog tables are kept by pg_dump
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) cfg JOIN pg_class c ON c.oid = cfg
 WHERE e.extname = 'reindex' ORDER BY 1;
DROP EXTENSION reindex;
