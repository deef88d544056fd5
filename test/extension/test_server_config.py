"""test_server_config.py: reindex_begin refuses a server whose wal_level is
not logical, with the message pg_regress cannot show (changing wal_level
needs a restart, so this runs on a private cluster)."""
import psycopg2
import pytest

from extension_helpers import Cluster


@pytest.fixture(scope="module")
def replica_cluster(workdir):
    c = Cluster(workdir, "wal_level = replica")
    yield c
    c.destroy()


def test_wal_level_must_be_logical(replica_cluster):
    conn = replica_cluster.connect()
    cur = conn.cursor()
    cur.execute("SHOW wal_level")
    assert cur.fetchone()[0] == "replica"
    cur.execute("CREATE EXTENSION reindex")
    cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState) as err:
        cur.execute("SELECT reindex.reindex_begin('t', 'a', 'a_v1', 'nowhere')")
    diag = err.value.diag
    assert diag.message_primary == 'wal_level must be "logical" to stream changes'
    assert diag.message_detail == 'The current setting is "replica".'
    assert diag.message_hint == 'Set wal_level = logical in postgresql.conf and restart the server.'
    cur.execute("SELECT count(*) FROM reindex.job")
    assert cur.fetchone()[0] == 0
    conn.close()
