"""What the backend and the streamer send a cluster and how they reach it
over TLS, seen by a recording proxy (hostile_cluster.py) in front of the
development server.  Both build their requests with one libcurl setup
(src/common/curl_setup.c), so both are held to the same answers:

- credentials: none sends no Authorization; basic sends Basic user:secret,
  an empty username included (the catalog's method decides, not whether the
  username is empty); api_key sends ApiKey <secret>; never an
  "Expect: 100-continue"; _bulk bodies are application/x-ndjson;
- TLS: an https endpoint with the server's certificate as ca_file is
  reached; without it (or with another CA) the certificate is refused,
  nothing is written and the error says so, until the endpoint is fixed;
  verify_tls => false reaches it without a CA file.
"""
import base64
import os
import shutil
import sys
import tempfile

import psycopg2
import pytest

from streamer_oracle import wait_for
from streamer_workload import create_items_table

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "extension")))
from hostile_cluster import HostileCluster, make_tls_cert  # noqa: E402


def basic(user, secret):
    return "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="reindex-tls-")
    try:
        yield make_tls_cert(d, "server"), make_tls_cert(d, "other")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("auth,username,secret,expected", [
    ("none", None, None, None),
    ("basic", "elastic", "b4sic-s3cr3t", basic("elastic", "b4sic-s3cr3t")),
    ("basic", "", "empty-user-s3cr3t", basic("", "empty-user-s3cr3t")),
    ("api_key", None, "k3y-s3cr3t", "ApiKey k3y-s3cr3t"),
], ids=["none", "basic", "basic_empty_username", "api_key"])
def test_streamer_sends_the_endpoint_credentials(env, auth, username, secret, expected):
    name = "cred_" + (auth if username != "" else "basic_empty")
    proxy = HostileCluster("forward:" + env.es.url)
    try:
        env.sql("SELECT reindex.endpoint_add(%s, %s, %s, %s, %s)", (name, proxy.url, auth, username, secret))
        create_items_table(env, name, 50)
        saved, env.endpoint = env.endpoint, name
        try:
            job = env.begin(name, name, name + "_v1")
        finally:
            env.endpoint = saved
        env.start_streamer(name)
        env.wait_job(job, "ready")
        env.sql("UPDATE %s SET qty = qty + 1 WHERE id <= 5" % name)
        env.assert_verified([name + "_v1"])
        assert env.stop_streamers() == {name: 0}
        bulk = [(m, p, h) for m, p, h in proxy.seen if "_bulk" in p]
        assert bulk, proxy.seen  # the streamer's writes went through the proxy
        for method, path, headers in proxy.seen:
            assert headers.get("authorization") == expected, (method, path, headers)
            assert "expect" not in headers, (method, path, headers)
        for _, _, headers in bulk:
            assert headers["content-type"] == "application/x-ndjson", headers
    finally:
        proxy.stop()


def http_status(env, endpoint):
    return env.one("SELECT status FROM reindex._http(%s, 'GET', '/')", (endpoint,))


def test_backend_tls_verification(env, certs):
    (cert, key), (other, _) = certs
    proxy = HostileCluster("forward:" + env.es.url, tls=(cert, key))
    try:
        env.sql("SELECT reindex.endpoint_add('tls_ca', %s, ca_file => %s)", (proxy.url, cert))
        assert http_status(env, "tls_ca") == 200
        for name, args in (("tls_no_ca", {}), ("tls_other_ca", {"ca_file": other})):
            env.sql("SELECT reindex.endpoint_add(%s, %s, ca_file => %s)", (name, proxy.url, args.get("ca_file")))
            refused = proxy.handshakes_failed
            with pytest.raises(psycopg2.Error) as e:
                http_status(env, name)
            assert "certificate" in str(e.value).lower(), str(e.value)
            # the proxy's thread counts the failed handshake after the client has
            # given up on it: poll
            wait_for(lambda: proxy.handshakes_failed > refused, 30, "the proxy to see the refused handshake")
        env.sql("SELECT reindex.endpoint_add('tls_noverify', %s, verify_tls => false)", (proxy.url,))
        assert http_status(env, "tls_noverify") == 200
    finally:
        proxy.stop()


def test_streamer_tls_verification(env, certs):
    (cert, key), (other, _) = certs
    name = "tls_stream"
    proxy = HostileCluster("forward:" + env.es.url, tls=(cert, key))
    try:
        env.sql("SELECT reindex.endpoint_add(%s, %s, ca_file => %s)", (name, proxy.url, cert))
        create_items_table(env, name, 100)
        saved, env.endpoint = env.endpoint, name
        try:
            job = env.begin(name, name, name + "_v1")  # the backend reached it over TLS
        finally:
            env.endpoint = saved
        # another CA: the streamer refuses the server's certificate and writes nothing
        env.sql("SELECT reindex.endpoint_alter(%s, ca_file => %s)", (name, other))
        refused = proxy.handshakes_failed
        s = env.start_streamer(name)

        def last_error():
            return (env.target_row(name + "_v1") or {}).get("last_error") or ""
        wait_for(lambda: "certificate" in last_error().lower(), 60,
                 "the certificate refusal in last_error (is %r)" % last_error())
        wait_for(lambda: proxy.handshakes_failed > refused, 30, "the proxy to see the refused handshake")
        assert not any("_bulk" in p for _, p, _ in proxy.seen)
        assert env.es.count(name + "_v1") == 0
        assert env.job_state(job) == "backfilling"
        env.sql("INSERT INTO %s (id, name) VALUES (100001, 'written while refused')" % name)

        # the right CA again: everything arrives
        env.sql("SELECT reindex.endpoint_alter(%s, ca_file => %s)", (name, cert))
        env.wait_job(job, "ready")
        env.assert_verified([name + "_v1"])

        # verify_tls off, no CA file: reached as well (the owner may turn it off)
        env.sql("SELECT reindex.endpoint_alter(%s, ca_file => '', verify_tls => false)", (name,))
        env.sql("INSERT INTO %s (id, name) VALUES (100002, 'written without verification')" % name)
        wait_for(lambda: env.es.req("GET", "/%s_v1/_doc/100002" % name)[0] == 200, 60,
                 "the row written with verify_tls off to arrive")
        assert s.alive()
        assert env.stop_streamers() == {name: 0}
    finally:
        proxy.stop()
