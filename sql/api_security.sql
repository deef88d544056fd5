-- api_security: where secrets may go and who may watch.
--   * endpoint_alter moving a kept secret to another scheme/host/port (or
--     turning TLS verification off) needs the secret again, or the owner;
--   * reindex.allowed_hosts: superuser-only, checked on add/alter and on
--     the address of every connection the backend opens;
--   * secret_file keeps a secret out of statement text;
--   * grant_monitor: status, history, dead letters without bodies, nothing
--     else; error texts (which may quote document values) only cut short;
--   * grant_* take hostile role names;
--   * SECURITY DEFINER functions ignore objects planted in pg_temp and in
--     other schemas.
\getenv es_url REINDEX_TEST_ES_URL
\set SHOW_CONTEXT never
\set VERBOSITY terse
-- 0. roles given the API in 0.1 keep endpoint_add/endpoint_alter, whose
-- signatures 0.2 changed, and reindex_status, whose result 0.2 changed
CREATE ROLE regress_sec_old_dba;
CREATE EXTENSION reindex VERSION '0.1';
SELECT reindex.grant_admin('regress_sec_old_dba');
ALTER EXTENSION reindex UPDATE;
SELECT p.proname, has_function_privilege('regress_sec_old_dba', p.oid, 'EXECUTE') AS granted
  FROM pg_proc p WHERE p.pronamespace = 'reindex'::regnamespace
   AND (p.proname LIKE 'endpoint%' OR p.proname = 'reindex_status') ORDER BY 1;
DROP EXTENSION reindex;
DROP OWNED BY regress_sec_old_dba;
DROP ROLE regress_sec_old_dba;
CREATE EXTENSION reindex;
SELECT set_config('regress.es_url', :'es_url', false) IS NOT NULL AS set;
CREATE ROLE regress_sec_dba;
CREATE ROLE regress_sec_monitor;
CREATE ROLE "regress ""sec""\role
ü";
SELECT reindex.grant_admin('regress_sec_dba');
SELECT reindex.endpoint_add('keyed', :'es_url', auth => 'api_key', secret => 'k3y-s3cr3t');
SELECT reindex.endpoint_add('open', :'es_url');
SELECT reindex.endpoint_add('default', :'es_url');

-- 1. a kept secret cannot be sent elsewhere by an administrator
SET ROLE regress_sec_dba;
SELECT reindex.endpoint_alter('keyed', url => 'http://attacker.example:9200/');
SELECT reindex.endpoint_alter('keyed', url => 'https://127.0.0.1:9200');
SELECT reindex.endpoint_alter('keyed', verify_tls => false);
SELECT url = :'es_url' AS url_kept, verify_tls FROM reindex.endpoints WHERE name = 'keyed';
-- same origin (a trailing slash, the default port spelled out) is fine
SELECT reindex.endpoint_alter('keyed', url => :'es_url' || '/');
-- with the secret again, or with no secret to keep, it may move
SELECT reindex.endpoint_alter('keyed', url => 'http://attacker.example:9200', secret => 'n3w-k3y');
SELECT reindex.endpoint_alter('open', url => 'http://elsewhere.example:9200');
RESET ROLE;
-- the extension owner may move it without
SELECT reindex.endpoint_alter('keyed', url => :'es_url');
SELECT reindex.endpoint_alter('open', url => :'es_url');
SELECT name, url = :'es_url' AS url_back, has_secret FROM reindex.endpoints ORDER BY name;

-- 2. reindex.allowed_hosts
SHOW reindex.allowed_hosts;
SET reindex.allowed_hosts = 'not a/valid entry';
SET reindex.allowed_hosts = '10.0.0.0/33';
SET ROLE regress_sec_dba;
SET reindex.allowed_hosts = '';
RESET ROLE;
SET reindex.allowed_hosts = '10.0.0.0/8, es.internal, *.search.example, fd00::/8';
SELECT reindex.endpoint_add('meta', 'http://169.254.169.254/latest/');
SELECT reindex.endpoint_add('v6', 'http://[::1]:9200');
SELECT reindex.endpoint_add('named', 'https://ES.Internal:9200');
SELECT reindex.endpoint_add('wild', 'https://eu1.search.example');
SELECT reindex.endpoint_add('bare', 'https://search.example');
SELECT reindex.endpoint_add('inrange', 'http://10.1.2.3:9200');
SELECT reindex.endpoint_add('inrange6', 'http://[fd00::1]:9200');
SELECT reindex.endpoint_alter('inrange', url => 'http://192.168.0.1:9200');
-- a name not listed passes when every address it resolves to is allowed
SET reindex.allowed_hosts = '127.0.0.0/8, ::1, 10.0.0.0/8';
SELECT reindex.endpoint_add('resolved', 'http://localhost:9200');
SET reindex.allowed_hosts = '10.0.0.0/8, es.internal, *.search.example, fd00::/8';
SELECT reindex.endpoint_alter('resolved', url => 'http://localhost:9201');
SELECT name FROM reindex.endpoints ORDER BY name;
-- every connection is checked on the address it goes to, whatever was
-- accepted earlier (an endpoint added before the setting, or a name that
-- resolved elsewhere when it was added)
SELECT status FROM reindex._http('keyed', 'GET', '/');
SET reindex.allowed_hosts = '127.0.0.0/8';
SELECT status FROM reindex._http('keyed', 'GET', '/');
SET reindex.allowed_hosts = '127.0.0.1';
SELECT status FROM reindex._http('keyed', 'GET', '/');
SET reindex.allowed_hosts = '::ffff:127.0.0.0/104';
SELECT status FROM reindex._http('keyed', 'GET', '/');
RESET reindex.allowed_hosts;
SELECT reindex.endpoint_drop(n) FROM unnest('{named,wild,inrange6,resolved}'::text[]) n;

-- 3. secret_file: the secret never appears in statement text
SELECT set_config('regress.datadir', current_setting('data_directory'), false) IS NOT NULL AS set,
	   set_config('regress.secret_path', current_setting('data_directory') || '/regress_reindex_secret', false) IS NOT NULL AS set;
DO $$
BEGIN
	EXECUTE format('COPY (SELECT %L) TO %L', 'f1le-s3cr3t', current_setting('regress.secret_path'));
END
$$;
-- errors name the file: show them without the (per-run) data directory
CREATE FUNCTION pg_temp.try(sql text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RAISE NOTICE 'ok';
EXCEPTION WHEN others THEN
	RAISE NOTICE '%: %', SQLSTATE, replace(SQLERRM, current_setting('regress.datadir'), 'DATADIR');
END
$$;
-- the owner (a superuser) may name any file the server can read
SELECT reindex.endpoint_add('filed', :'es_url', auth => 'api_key',
	secret_file => current_setting('regress.secret_path'));
SELECT secret = 'f1le-s3cr3t' AS read_without_line_break FROM reindex.endpoint WHERE name = 'filed';
SELECT reindex.endpoint_add('both', :'es_url', auth => 'api_key', secret => 'x',
	secret_file => current_setting('regress.secret_path'));
SELECT reindex.endpoint_add('relative', :'es_url', auth => 'api_key', secret_file => 'regress_reindex_secret');
SELECT pg_temp.try($$SELECT reindex.endpoint_add('missing', 'http://127.0.0.1:9', auth => 'api_key',
	secret_file => current_setting('regress.datadir') || '/no_such_file')$$);
SELECT pg_temp.try($$SELECT reindex.endpoint_add('dir', 'http://127.0.0.1:9', auth => 'api_key',
	secret_file => current_setting('regress.datadir'))$$);
-- an administrator only from reindex.secret_directory
SET ROLE regress_sec_dba;
SELECT pg_temp.try($$SELECT reindex.endpoint_alter('filed', url => 'http://attacker.example:9200',
	secret_file => current_setting('regress.secret_path'))$$);
RESET ROLE;
SET reindex.secret_directory = '/nonexistent';
SELECT set_config('reindex.secret_directory', current_setting('regress.datadir'), false) IS NOT NULL AS set;
SET ROLE regress_sec_dba;
SET reindex.secret_directory = '/';
SELECT pg_temp.try($$SELECT reindex.endpoint_alter('filed', url => current_setting('regress.es_url') || '/',
	secret_file => current_setting('regress.secret_path'))$$);
-- a path that leaves the directory is not in it
SELECT pg_temp.try($$SELECT reindex.endpoint_alter('filed',
	secret_file => current_setting('regress.datadir') || '/global/../../PG_VERSION')$$);
SELECT pg_temp.try($$SELECT reindex.endpoint_alter('filed',
	secret_file => current_setting('regress.datadir') || '/global/pg_control')$$);
RESET ROLE;
RESET reindex.secret_directory;
-- (the file stays in the throwaway cluster's data directory)

-- 4. grant_monitor: watch, change nothing, read no bodies or endpoints
SELECT reindex.grant_monitor('regress_sec_monitor');
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'reindex'::regnamespace AND has_function_privilege('regress_sec_monitor', p.oid, 'EXECUTE')
 ORDER BY 1;
SELECT table_name, privilege_type FROM information_schema.role_table_grants
 WHERE table_schema = 'reindex' AND grantee = 'regress_sec_monitor' ORDER BY 1, 2;
CREATE TABLE sec_items (id int PRIMARY KEY, body text);
SELECT reindex.reindex_begin('sec_items', 'monitored', 'monitored_v1') > 0 AS begun;
INSERT INTO reindex.dead_letter (target_id, lsn, doc_id, op, http_status, error, document)
	SELECT id, '0/1', '7', 'index', 400, '{"reason": "value secret-ish"}', '{"body": "private"}' FROM reindex.target;
SET ROLE regress_sec_monitor;
SELECT count(*) AS status_rows FROM reindex.reindex_status();
SELECT doc_id, op, http_status FROM reindex.dead_letter;
SELECT count(*) > 0 AS history_readable FROM reindex.history;
SELECT document FROM reindex.dead_letter;
SELECT error FROM reindex.dead_letter;
SELECT count(*) AS verify_runs, count(*) AS replays FROM reindex.verify_run, reindex.replay;
SELECT samples FROM reindex.verify_run;
SELECT * FROM reindex.endpoints;
SELECT * FROM reindex.target;
SELECT reindex.reindex_swap_alias('monitored');
SELECT reindex.reindex_cancel(1);
SELECT reindex.endpoint_add('x', 'http://x');
DELETE FROM reindex.history;
RESET ROLE;
-- error texts that quote a document's values: a monitor sees what happened,
-- not the values; an administrator and the owner see all of it
UPDATE reindex.target SET last_error = 'document 7 refused by the cluster (dead-lettered): '
	'mapper_parsing_exception: failed to parse field [body] of type [long]. Preview of field''s value: ''private'''
 WHERE index_name = 'monitored_v1';
INSERT INTO reindex.verify_run (target_id, index_name, state, error, finished_at)
	SELECT id, index_name, 'failed', 'reindex.document returned a malformed row: 7	{"body": "private"}', now()
	  FROM reindex.target WHERE index_name = 'monitored_v1';
SET ROLE regress_sec_monitor;
SELECT last_error, verify FROM reindex.reindex_status('monitored');
SELECT detail FROM reindex.history;
SELECT error FROM reindex.verify_run;
RESET ROLE;
SET ROLE regress_sec_dba;
SELECT last_error, verify FROM reindex.reindex_status('monitored');
RESET ROLE;
SELECT last_error, verify FROM reindex.reindex_status('monitored');
-- a role with both grants is an administrator
GRANT regress_sec_dba TO regress_sec_monitor;
SET ROLE regress_sec_monitor;
SELECT last_error LIKE '%private%' AS shown FROM reindex.reindex_status('monitored');
RESET ROLE;
REVOKE regress_sec_dba FROM regress_sec_monitor;
DELETE FROM reindex.verify_run;
SELECT reindex.reindex_cancel(job_id) FROM reindex.reindex_status('monitored');
SELECT (reindex._http('open', 'DELETE', '/monitored_v1')).status;
DROP TABLE sec_items;

-- 5. hostile role names
SELECT reindex.grant_admin('"regress ""sec""\role
ü"');
SELECT reindex.grant_monitor('"regress ""sec""\role
ü"');
SELECT reindex.grant_streamer('"regress ""sec""\role
ü"');
-- it got what an administrator got (the GRANTs quoted its name right)
SELECT count(*) FILTER (WHERE has_function_privilege('regress_sec_dba', p.oid, 'EXECUTE')) > 0 AS admin_has_some,
	   count(*) FILTER (WHERE has_function_privilege('regress_sec_dba', p.oid, 'EXECUTE')
						  AND NOT has_function_privilege('"regress ""sec""\role
ü"'::regrole::oid, p.oid, 'EXECUTE')) AS missing
  FROM pg_proc p WHERE p.pronamespace = 'reindex'::regnamespace;

-- 6. SECURITY DEFINER functions are pinned to pg_catalog, pg_temp
SELECT p.oid::regprocedure FROM pg_proc p
 WHERE p.pronamespace = 'reindex'::regnamespace
   AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
   AND NOT coalesce(p.proconfig @> '{"search_path=pg_catalog, pg_temp"}', false)
 ORDER BY 1;
-- objects planted where an unpinned function would find them
GRANT CREATE ON SCHEMA public TO regress_sec_dba;
SET ROLE regress_sec_dba;
CREATE TABLE public.planted_calls (fn text);
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS
	$$ INSERT INTO public.planted_calls VALUES ('lower') RETURNING 'x' $$;
CREATE FUNCTION public.regexp_match(text, text) RETURNS text[] LANGUAGE sql AS
	$$ INSERT INTO public.planted_calls VALUES ('regexp_match') RETURNING '{x}'::text[] $$;
CREATE FUNCTION public.left(text, integer) RETURNS text LANGUAGE sql AS
	$$ INSERT INTO public.planted_calls VALUES ('left') RETURNING 'x' $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_catalog.textne);
CREATE TEMP TABLE endpoint (name text, url text, auth text, username text, secret text);
INSERT INTO pg_temp.endpoint VALUES ('open', 'http://planted.example', 'none', NULL, NULL);
CREATE TEMP TABLE pg_extension (extname name, extowner oid);
INSERT INTO pg_temp.pg_extension VALUES ('reindex', 'regress_sec_dba'::regrole);
SET search_path = pg_temp, public, pg_catalog;
SELECT reindex.endpoint_alter('keyed', url => 'http://planted.example:1');
SELECT reindex.endpoint_alter('open', verify_tls => true);
SELECT name, verify_tls FROM reindex.endpoints ORDER BY name;
SELECT count(*) AS planted_calls FROM public.planted_calls;
RESET search_path;
DROP OPERATOR public.= (text, text);
DROP FUNCTION public.lower(text), public.regexp_match(text, text), public.left(text, integer);
DROP TABLE public.planted_calls;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_sec_dba;

-- clean up
DROP EXTENSION reindex;
DROP OWNED BY regress_sec_dba, regress_sec_monitor, "regress ""sec""\role
ü";
DROP ROLE regress_sec_dba, regress_sec_monitor, "regress ""sec""\role
ü";
