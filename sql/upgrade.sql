-- upgrade: an installation updated from the first release along the upgrade
-- scripts must be exactly a fresh installation of the current version.  The
-- shape of the extension (every table column with its type, default and
-- nullability, constraints, indexes, triggers, views, functions with their
-- arguments, result, source, settings and privileges, comments, dump
-- registrations) is recorded for a fresh install, then compared with the
-- shape after CREATE EXTENSION ... VERSION '0.1' + ALTER EXTENSION UPDATE.
-- Any line printed by the two comparisons below is a difference.
CREATE TEMP VIEW extension_shape AS
WITH members AS (
	SELECT d.classid, d.objid
	  FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND e.extname = 'reindex'
), rels AS (
	SELECT c.* FROM pg_class c JOIN members m
	    ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
), procs AS (
	SELECT p.* FROM pg_proc p JOIN members m
	    ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
)
SELECT 'relation ' || c.relname || ' kind ' || c.relkind::text
       || ' acl ' || coalesce(c.relacl::text, '-')
       || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '-') AS item
  FROM rels c
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || ' default ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
       || ' acl ' || coalesce(a.attacl::text, '-')
       || ' comment ' || coalesce(col_description(c.oid, a.attnum), '-')
  FROM rels c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT 'constraint ' || c.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
  FROM rels c JOIN pg_constraint co ON co.conrelid = c.oid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM rels c JOIN pg_index i ON i.indrelid = c.oid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM rels c JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
UNION ALL
SELECT 'view ' || c.relname || ' ' || md5(pg_get_viewdef(c.oid))
  FROM rels c WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
       || ' returns ' || coalesce(pg_get_function_result(p.oid), '-')
       || ' kind ' || p.prokind::text || ' volatility ' || p.provolatile::text
       || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END
       || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END
       || ' config ' || coalesce(p.proconfig::text, '-')
       || ' acl ' || coalesce(p.proacl::text, '-')
       || ' source ' || md5(coalesce(p.prosrc, '') || '|' || coalesce(p.probin, ''))
       || ' defaults ' || coalesce(pg_get_expr(p.proargdefaults, 0), '-')
       || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
  FROM procs p
UNION ALL
SELECT 'type ' || t.typname || ' ' || t.typtype::text
       || coalesce(' labels ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                    FROM pg_enum e WHERE e.enumtypid = t.oid), '')
  FROM pg_type t JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
UNION ALL
SELECT 'dumped ' || c.relname || ' ' || coalesce(e.extcondition[array_position(e.extconfig, c.oid)], '')
  FROM pg_extension e, unnest(e.extconfig) cfg JOIN pg_class c ON c.oid = cfg
 WHERE e.extname = 'reindex'
UNION ALL
SELECT 'member count ' || count(*) FROM members;

CREATE EXTENSION reindex;
CREATE TEMP TABLE fresh_shape AS SELECT item FROM extension_shape;
DROP EXTENSION reindex;

CREATE EXTENSION reindex VERSION '0.1';
ALTER EXTENSION reindex UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'reindex') AS current
  FROM pg_extension WHERE extname = 'reindex';
SELECT reindex.version() = extversion AS library_matches FROM pg_extension WHERE extname = 'reindex';

-- in a fresh install, missing after the update
SELECT item AS only_in_fresh FROM fresh_shape EXCEPT SELECT item FROM extension_shape ORDER BY 1;
-- after the update, absent from a fresh install
SELECT item AS only_in_updated FROM extension_shape EXCEPT SELECT item FROM fresh_shape ORDER BY 1;
-- the comparison saw the whole extension
SELECT count(*) > 100 AS shape_recorded FROM fresh_shape;

-- the catalog tables are kept by pg_dump
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) cfg JOIN pg_class c ON c.oid = cfg
 WHERE e.extname = 'reindex' ORDER BY 1;
DROP EXTENSION reindex;

-- a role made a streamer under 0.1 may write what the 0.2 streamer records
-- (the update runs grant_streamer again, after the new columns exist)
CREATE ROLE regress_upgrade_streamer;
SET client_min_messages = warning;
CREATE EXTENSION reindex VERSION '0.1';
SELECT reindex.grant_streamer('regress_upgrade_streamer');
ALTER EXTENSION reindex UPDATE;
RESET client_min_messages;
SELECT c AS not_granted FROM unnest(ARRAY['slot_name', 'feed', 'handover_lsn', 'detached_at',
										  'detached_reason', 'confirmed_lsn']) c
 WHERE NOT has_column_privilege('regress_upgrade_streamer', 'reindex.target', c, 'UPDATE');
DROP EXTENSION reindex;
DROP OWNED BY regress_upgrade_streamer;
DROP ROLE regress_upgrade_streamer;
