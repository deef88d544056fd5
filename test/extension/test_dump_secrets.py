"""test_dump_secrets.py: what README's Security section says about backups.
pg_dump writes endpoint secrets (the catalog is registered with
pg_extension_config_dump, so a restore gets them back), and
--exclude-table-data=reindex.endpoint leaves them out."""
import os
import subprocess

PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


def dump(cluster, *args):
    env = dict(os.environ, **cluster.env)
    return subprocess.run([os.path.join(PGBIN, "pg_dump"), "-d", "postgres", *args], env=env,
                          check=True, capture_output=True, text=True).stdout


def test_dump_holds_secrets_unless_excluded(cluster):
    conn = cluster.connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION reindex")
    cur.execute("SELECT reindex.endpoint_add('k', 'http://127.0.0.1:1', auth => 'api_key',"
                " secret => 'dump-me-s3cr3t')")
    assert "dump-me-s3cr3t" in dump(cluster)
    assert "dump-me-s3cr3t" not in dump(cluster, "--exclude-table-data=reindex.endpoint")
    cur.execute("DROP EXTENSION reindex")
    conn.close()
