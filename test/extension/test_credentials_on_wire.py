"""test_credentials_on_wire.py: what the backend sends a cluster, seen by a
recording proxy in front of the development server: the credentials of each
auth method (basic: an Authorization Basic header with user:secret; api_key:
Authorization ApiKey <secret>; none: no Authorization), a JSON content type,
no Expect: 100-continue."""
import base64

import pytest

from hostile_cluster import HostileCluster


@pytest.fixture(scope="module")
def db(cluster):
    conn = cluster.connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION reindex")
    yield conn
    cur.execute("DROP EXTENSION reindex")
    conn.close()


@pytest.mark.parametrize("auth,username,secret,expected", [
    ("none", None, None, None),
    ("basic", "elastic", "b4sic-s3cr3t", "Basic " + base64.b64encode(b"elastic:b4sic-s3cr3t").decode()),
    ("basic", "", "empty-user", "Basic " + base64.b64encode(b":empty-user").decode()),
    ("api_key", None, "k3y-s3cr3t", "ApiKey k3y-s3cr3t"),
])
def test_backend_sends_the_endpoint_credentials(db, devsearch, auth, username, secret, expected):
    proxy = HostileCluster("forward:" + devsearch.url)
    try:
        cur = db.cursor()
        cur.execute("SELECT reindex.endpoint_add('wire', %s, %s, %s, %s)", (proxy.url, auth, username, secret))
        cur.execute("SELECT status FROM reindex._http('wire', 'PUT', '/wire_idx', '{}')")
        assert cur.fetchone()[0] == 200
        cur.execute("SELECT status FROM reindex._http('wire', 'DELETE', '/wire_idx')")
        methods = [m for m, _, _ in proxy.seen]
        assert methods == ["PUT", "DELETE"], proxy.seen
        for _, _, headers in proxy.seen:
            assert headers.get("authorization") == expected, headers
            assert "expect" not in headers, headers
        assert proxy.seen[0][2]["content-type"] == "application/json"
        cur.execute("SELECT reindex.endpoint_drop('wire')")
    finally:
        proxy.stop()
