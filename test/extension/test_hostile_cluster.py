"""test_hostile_cluster.py: the backend against a cluster that answers badly
(test/extension/hostile_cluster.py): garbage, truncated JSON, a 2 GB
Content-Length, a chunked body that never ends.  Each must give a clear
error, no crash (the session stays usable), and nothing left in the catalog.
"""
import psycopg2
import pytest

from hostile_cluster import HostileCluster

MODES = ["garbage", "notjson", "truncated", "huge_length", "endless"]


@pytest.fixture(scope="module")
def db(cluster):
    conn = cluster.connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION reindex")
    cur.execute("CREATE TABLE docs (id int PRIMARY KEY, body text)")
    cur.execute("INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 10) g")
    yield conn
    conn.close()


@pytest.fixture
def hostile(request):
    servers = []

    def make(mode):
        s = HostileCluster(mode)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


def error_of(db, sql, args):
    cur = db.cursor()
    with pytest.raises(psycopg2.Error) as e:
        cur.execute(sql, args)
    return e.value


# what the backend says for each mode: the request, then reindex_begin
EXPECTED = {
    "garbage": "not valid in the database encoding",
    "notjson": None,  # a 200 with text: _http returns it, the API must refuse it
    "truncated": "could not reach search endpoint",
    "huge_length": "could not reach search endpoint",
    "endless": "is larger than 67108864 bytes",
}


@pytest.mark.parametrize("mode", MODES)
def test_bad_answers_give_clear_errors(db, hostile, mode):
    srv = hostile(mode)
    cur = db.cursor()
    cur.execute("SET reindex.http_timeout_ms = 20000")
    cur.execute("SELECT reindex.endpoint_add(%s, %s)", ("h_" + mode, srv.url))

    if EXPECTED[mode] is None:
        cur.execute("SELECT status FROM reindex._http(%s, 'GET', '/')", ("h_" + mode,))
        assert cur.fetchone()[0] == 200
    else:
        err = error_of(db, "SELECT * FROM reindex._http(%s, 'GET', '/')", ("h_" + mode,))
        assert EXPECTED[mode] in err.pgerror, err.pgerror
        assert srv.url not in err.pgerror
    cur.execute("SELECT 1")  # the session survived

    err = error_of(db, "SELECT reindex.reindex_begin('docs', %s, %s, %s)",
                   ("a_" + mode, "a_" + mode + "_v1", "h_" + mode))
    assert err.pgerror.startswith("ERROR:  "), err.pgerror
    assert srv.url not in err.pgerror
    cur.execute("SELECT count(*) FROM reindex.job j JOIN reindex.alias a ON a.name = j.alias"
                " WHERE a.name = %s", ("a_" + mode,))
    assert cur.fetchone()[0] == 0
    cur.execute("SELECT count(*) FROM reindex.target WHERE index_name = %s", ("a_" + mode + "_v1",))
    assert cur.fetchone()[0] == 0
    if mode == "endless":
        # the backend stopped reading at its limit, it did not buffer forever
        assert srv.endless_bytes < 1024 * 1024 * 1024
    cur.execute("SELECT reindex.endpoint_drop(%s)", ("h_" + mode,))
