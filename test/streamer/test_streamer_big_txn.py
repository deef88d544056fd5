"""A 1M-row transaction streamed into a ready target: every row arrives with
the transaction's end_lsn as its version (and the old rows keep theirs)."""

import pytest

from streamer_oracle import lsn_to_int


@pytest.mark.slow
def test_one_million_row_transaction(env):
    env.sql("CREATE TABLE big (id bigint PRIMARY KEY, v text, n int)")
    env.sql("INSERT INTO big SELECT g, 'before ' || g, g FROM generate_series(1, 1000) g")
    job = env.begin("big", "big", "big_v1")
    env.start_streamer("big")
    env.wait_job(job, "ready")

    env.sql("INSERT INTO big SELECT g, md5(g::text), g % 1000 FROM generate_series(1001, 1001000) g")
    end_lsn = lsn_to_int(env.one("SELECT pg_current_wal_lsn()::text"))
    env.wait_job(job, ("ready",), timeout=600)
    (run,) = env.assert_verified(["big_v1"], timeout=900)
    assert run["rows_checked"] == 1001000 and run["docs_checked"] == 1001000, run
    # the new rows carry one version: the commit's end_lsn (<= the position after it)
    assert env.es.count("big_v1") == 1001000
    status, res = env.es.req("GET", "/big_v1/_doc/1001000")
    cp = env.target_of("big_v1")["consistent_point"]
    assert status == 200 and cp < res["_version"] <= end_lsn, (res, cp, end_lsn)
    assert env.stop_streamers() == {"big": 0}
