"""test_secret_exposure.py: where endpoint secrets can and cannot be seen,
as README's Security section says.

- pg_dump writes them (the catalog is registered with
  pg_extension_config_dump, so a restore gets them back), and
  --exclude-table-data=reindex.endpoint leaves them out;
- a failing endpoint_add is logged with its statement text
  (log_min_error_statement): a literal secret lands in the server log, one
  given as secret_file does not, nor do the file's contents.
"""
import os
import subprocess

import psycopg2
import pytest

PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


def dump(cluster, *args):
    env = dict(os.environ, **cluster.env)
    return subprocess.run([os.path.join(PGBIN, "pg_dump"), "-d", "postgres", *args], env=env,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def db(cluster):
    conn = cluster.connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION reindex")
    yield conn
    cur.execute("DROP EXTENSION reindex")
    conn.close()


def test_dump_holds_secrets_unless_excluded(cluster, db):
    cur = db.cursor()
    cur.execute("SELECT reindex.endpoint_add('k', 'http://127.0.0.1:1', auth => 'api_key',"
                " secret => 'dump-me-s3cr3t')")
    assert "dump-me-s3cr3t" in dump(cluster)
    assert "dump-me-s3cr3t" not in dump(cluster, "--exclude-table-data=reindex.endpoint")
    cur.execute("SELECT reindex.endpoint_drop('k')")


def server_log(cluster):
    with open(os.path.join(cluster.dir, "server.log"), errors="replace") as f:
        return f.read()


def test_secret_file_keeps_the_secret_out_of_the_log(cluster, db):
    cur = db.cursor()
    cur.execute("SHOW data_directory")
    path = os.path.join(cur.fetchone()[0], "exposure_test.key")
    cur.execute("COPY (SELECT 'f1le-only-s3cr3t') TO %s", (path,))
    cur.execute("SET log_min_error_statement = error")
    # both fail (the username of api_key auth is superfluous) after the secret is read
    with pytest.raises(psycopg2.Error):
        cur.execute("SELECT reindex.endpoint_add('x', 'http://127.0.0.1:1', 'api_key', 'someone',"
                    " secret => 'liter4l-s3cr3t')")
    with pytest.raises(psycopg2.Error):
        cur.execute("SELECT reindex.endpoint_add('x', 'http://127.0.0.1:1', 'api_key', 'someone',"
                    " secret_file => %s)", (path,))
    cur.execute("DO $$ BEGIN RAISE LOG 'exposure test done'; END $$")
    log = server_log(cluster)
    assert "exposure test done" in log
    assert "liter4l-s3cr3t" in log, "the literal secret's statement was not logged: the test proves nothing"
    assert "exposure_test.key" in log
    assert "f1le-only-s3cr3t" not in log
