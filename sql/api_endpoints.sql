-- api_endpoints: endpoint_add / endpoint_alter / endpoint_drop, validation,
-- write-only secrets.
\set SHOW_CONTEXT never
CREATE EXTENSION reindex;
SELECT reindex.version() ~ '^[0-9]+\.[0-9]+' AS version_ok;

-- success paths
SELECT reindex.endpoint_add('plain', 'http://127.0.0.1:9200');
SELECT reindex.endpoint_add('withpass', 'https://es.example.com:9200', 'basic',
							'elastic', 's3cr3t-basic', '/etc/ssl/certs/ca.pem');
SELECT reindex.endpoint_add('withkey', 'https://es.example.com', auth => 'api_key',
							secret => 's3cr3t-key', verify_tls => false);
SELECT name, url, auth, username, has_secret, ca_file, verify_tls FROM reindex.endpoints ORDER BY name;
-- the secret is stored for the streamer, shown by no view
SELECT name, secret IS NOT NULL AS stored FROM reindex.endpoint ORDER BY name;
SELECT count(*) AS views_showing_secret FROM pg_views
 WHERE schemaname = 'reindex' AND definition ~ 'secret[^ ]' AND definition !~ 'secret IS NOT NULL';

SELECT reindex.endpoint_alter('withpass', secret => 'n3w-s3cr3t');
SELECT secret = 'n3w-s3cr3t' AS changed FROM reindex.endpoint WHERE name = 'withpass';
-- a new method starts from no credentials
SELECT reindex.endpoint_alter('withpass', auth => 'none');
SELECT reindex.endpoint_alter('withpass', ca_file => '');
SELECT name, auth, username, has_secret, ca_file FROM reindex.endpoints WHERE name = 'withpass';
SELECT reindex.endpoint_drop('withpass');
SELECT name FROM reindex.endpoints ORDER BY name;

-- bad input: no message repeats a URL or a secret
SELECT reindex.endpoint_add('plain', 'http://127.0.0.1:9200');
SELECT reindex.endpoint_add('', 'http://127.0.0.1:9200');
SELECT reindex.endpoint_add('x', 'ftp://127.0.0.1');
SELECT reindex.endpoint_add('x', 'http://');
SELECT reindex.endpoint_add('x', 'https://elastic:hunter2@es.example.com');
SELECT reindex.endpoint_add('x', 'http://es.example.com/?a=b');
SELECT reindex.endpoint_add('x', 'http://es.example.com', 'kerberos');
SELECT reindex.endpoint_add('x', 'http://es.example.com', 'basic', 'elastic');
SELECT reindex.endpoint_add('x', 'http://es.example.com', 'api_key');
SELECT reindex.endpoint_add('x', 'http://es.example.com', 'none', secret => 'hunter2');
SELECT reindex.endpoint_add('x', 'http://es.example.com', 'basic', 'ela:stic', 'hunter2');
SELECT reindex.endpoint_add('x', 'http://es.example.com', ca_file => 'relative/ca.pem');
SELECT reindex.endpoint_alter('nope', url => 'http://es.example.com');
SELECT reindex.endpoint_alter('withkey', auth => 'basic');
SELECT reindex.endpoint_drop('nope');
SELECT count(*) AS rejected_rows FROM reindex.endpoint WHERE name = 'x';

-- an endpoint in use cannot be dropped
INSERT INTO reindex.alias (name, endpoint) VALUES ('someapp', 'plain');
SELECT reindex.endpoint_drop('plain');
DELETE FROM reindex.alias;

DROP EXTENSION reindex;
