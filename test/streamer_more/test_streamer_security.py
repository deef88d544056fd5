"""The streamer's side of the security hardening:

- it learns reindex.allowed_hosts from the server and refuses to connect to an
  address the setting does not allow (checked on the socket, so a name cannot
  resolve its way around it; a connection kept alive from before the setting
  is not reused), says so in the target's last_error, and goes on once the
  setting allows the cluster, losing nothing;
- a cluster answering _bulk with garbage, truncated JSON, a 2 GB
  Content-Length or a never-ending chunked body is a retryable transport
  error: no crash, the error is shown, and every row arrives once the
  cluster behaves.
"""
import os
import sys

import pytest

from streamer_oracle import wait_for
from streamer_workload import create_items_table

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "extension")))
from hostile_cluster import HostileCluster  # noqa: E402


def last_error(env, index):
    row = env.target_row(index)
    return (row or {}).get("last_error") or ""


def set_allowed_hosts(env, value):
    env.sql("ALTER SYSTEM SET reindex.allowed_hosts = %s", (value,))
    env.sql("SELECT pg_reload_conf()")

    def reloaded():
        c = env.pg.connect()
        try:
            with c.cursor() as cur:
                cur.execute("SELECT current_setting('reindex.allowed_hosts', true)")
                return cur.fetchone()[0] == value
        finally:
            c.close()
    wait_for(reloaded, 10, "a new session to see the reloaded setting")


def test_allowed_hosts_refuse_then_allow(env):
    create_items_table(env, "sec_allow", 300)
    job = env.begin("sec_allow", "sec_allow", "sec_allow_v1")  # the backend may reach it now
    try:
        set_allowed_hosts(env, "10.0.0.0/8")
        env.start_streamer("allow")
        wait_for(lambda: "reindex.allowed_hosts" in last_error(env, "sec_allow_v1"), 60,
                 "the refusal to show in last_error (is %r)" % last_error(env, "sec_allow_v1"))
        assert "127.0.0.1" in last_error(env, "sec_allow_v1")
        assert env.es.count("sec_allow_v1") == 0
        assert env.job_state(job) == "backfilling"
        assert env.streamers[-1].alive()
        env.sql("INSERT INTO sec_allow (id, name) VALUES (100001, 'written while refused')")
    finally:
        env.sql("ALTER SYSTEM RESET reindex.allowed_hosts")
        env.sql("SELECT pg_reload_conf()")
    env.wait_job(job, "ready")
    env.assert_verified(["sec_allow_v1"])
    assert "search endpoints restricted to reindex.allowed_hosts = '10.0.0.0/8'" in env.streamers[-1].output()

    # set while streaming: the kept-alive connection opened before is not reused
    try:
        retried = env.target_row("sec_allow_v1")["retried"]
        set_allowed_hosts(env, "10.0.0.0/8")
        wait_for(lambda: env.streamers[-1].output().count(
            "search endpoints restricted to reindex.allowed_hosts = '10.0.0.0/8'") == 2, 30,
            "the streamer to read the new setting")
        env.sql("INSERT INTO sec_allow (id, name) VALUES (100002, 'written while refused again')")
        # the insert is retried (refused), and the reason is shown
        wait_for(lambda: env.target_row("sec_allow_v1")["retried"] > retried, 60, "the refusal while streaming")
        assert "reindex.allowed_hosts" in last_error(env, "sec_allow_v1")
        status, _ = env.es.req("GET", "/sec_allow_v1/_doc/100002")
        assert status == 404, "a change went through a connection opened before the setting"
    finally:
        env.sql("ALTER SYSTEM RESET reindex.allowed_hosts")
        env.sql("SELECT pg_reload_conf()")
    env.assert_verified(["sec_allow_v1"])
    assert env.stop_streamers() == {"allow": 0}


@pytest.mark.parametrize("mode", ["garbage", "truncated", "huge_length", "endless"])
def test_bad_bulk_answers_are_retried(env, mode):
    name = "sec_" + mode
    proxy = HostileCluster("forward:" + env.es.url, hostile_path="_bulk", hostile_mode=mode,
                           hostile_count=3)
    try:
        env.sql("SELECT reindex.endpoint_add(%s, %s)", ("hostile_" + mode, proxy.url))
        create_items_table(env, name, 200)
        saved, env.endpoint = env.endpoint, "hostile_" + mode
        try:
            job = env.begin(name, name, name + "_v1")
        finally:
            env.endpoint = saved
        s = env.start_streamer(mode)
        wait_for(lambda: proxy.hostile_left == 0, 120, "the bad answers to be served")
        env.wait_job(job, "ready")
        env.sql("UPDATE %s SET qty = qty + 1 WHERE id <= 20" % name)
        env.assert_verified([name + "_v1"])
        assert s.alive()
        out = s.output()
        assert "retrying" in out, out[-2000:]
        if mode == "endless":
            assert "response larger than" in out, out[-2000:]
            assert proxy.endless_bytes < 1024 * 1024 * 1024
        assert env.stop_streamers() == {mode: 0}
    finally:
        proxy.stop()
