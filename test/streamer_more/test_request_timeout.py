"""--request-timeout: a _bulk request the cluster stalls longer than the
streamer's request timeout is abandoned when the timeout expires and sent
again; the index ends up exact (the stalled request was applied too: its
replay is rejected as a version conflict, never lost or doubled), and the
LSN is confirmed only after the retry was acknowledged.  The stall here
lasts until the fault is cleared, so with the default timeout (120 s) the
changes would not arrive within the test's deadline.  Bad values are refused
like the other options (exit 2)."""
import subprocess

import pytest

from streamer.conftest import streamer_binary
from streamer_oracle import wait_for
from streamer_workload import create_items_table

STALL = pytest.mark.devsearch_only("stalls _bulk answers through POST /_dev/faults")


@STALL
def test_stalled_bulk_times_out_and_is_retried(env):
    create_items_table(env, "stall", 200)
    job = env.begin("stall", "stall", "stall_v1")
    s = env.start_streamer("stall", ["--request-timeout=2"])
    env.wait_job(job, "ready")
    wait_for(lambda: env.one("SELECT lag_bytes FROM reindex.reindex_status('stall')"
                             " WHERE job_id = %s", (job,)) == 0, 60, "the backfill to be acknowledged")
    retried_before = env.one("SELECT retried FROM reindex.target WHERE index_name = 'stall_v1'")
    # one _bulk request stalled until the fault is cleared (ms 0)
    env.es.faults({"type": "stall", "path": "_bulk", "ms": 0, "count": 1})
    try:
        env.sql("UPDATE stall SET qty = qty + 7 WHERE id <= 60")
        env.sql("DELETE FROM stall WHERE id > 180")

        def fired():
            st, res = env.es.req("GET", "/_dev/faults")
            return st == 200 and sum(int(r.get("fired", 0)) for r in res.get("faults", [])) >= 1
        wait_for(fired, 60, "the stall to catch a _bulk request")
        wait_for(lambda: env.one("SELECT lag_bytes FROM reindex.reindex_status('stall')"
                                 " WHERE job_id = %s", (job,)) == 0, 60,
                 "the stalled changes to be retried and acknowledged\n" + s.output()[-3000:])
        assert "timed out" in s.output().lower() or "timeout" in s.output().lower(), s.output()[-3000:]
    finally:
        env.es.clear_faults()           # releases the stalled request
    wait_for(lambda: env.one("SELECT retried FROM reindex.target WHERE index_name = 'stall_v1'")
             > retried_before, 30, "the retry to be counted")
    env.assert_verified(["stall_v1"])
    assert s.alive(), s.output()[-2000:]
    assert env.stop_streamers() == {"stall": 0}


@STALL
def test_stalled_backfill_bulk_times_out_and_is_retried(env):
    """The backfill's threads send with blocking requests (es_request_sync),
    not the stream's multi handle: their first three _bulk requests stall
    until the rules change, far past the 90 s deadline; with a 2 s timeout
    they are sent again, counted, and the backfill ends exact."""
    create_items_table(env, "stallbf", 3000)
    env.es.faults({"type": "stall", "path": "_bulk", "ms": 0, "count": 3})
    try:
        job = env.begin("stallbf", "stallbf", "stallbf_v1")
        env.start_streamer("stallbf", ["--request-timeout=2", "--batch-docs=500"])
        env.wait_job(job, "ready", timeout=90)
        st, res = env.es.req("GET", "/_dev/faults")
        assert st == 200 and sum(int(r["fired"]) for r in res["faults"]) == 3, res
    finally:
        env.es.clear_faults()           # releases the abandoned answers
    wait_for(lambda: env.one("SELECT retried FROM reindex.target WHERE index_name = 'stallbf_v1'")
             >= 3, 30, "the timed-out backfill batches to be counted as retried")
    env.assert_verified(["stallbf_v1"])
    assert env.one("SELECT dead_lettered FROM reindex.target WHERE index_name = 'stallbf_v1'") == 0
    assert env.stop_streamers() == {"stallbf": 0}


def test_bad_request_timeout_is_refused():
    for bad in ("0", "-3", "abc", "2s", "86401"):
        p = subprocess.run([streamer_binary(), "-d", "dbname=none", "--request-timeout=" + bad],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (bad, p.returncode, p.stderr)
        assert 'invalid value "%s" for --request-timeout' % bad in p.stderr, (bad, p.stderr)
    p = subprocess.run([streamer_binary(), "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--request-timeout=SECONDS" in p.stdout, p.stdout
