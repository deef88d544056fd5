"""A ready job falls back to catching_up when its new target lags by its
lag_threshold_bytes or more, and becomes ready again once it has caught up;
both transitions leave history rows, and the index is exact afterwards.
The lag is made real: nothing can be acknowledged while rows are written (the
development server answers every _bulk with 503; a real engine of the
module's own is paused with SIGSTOP).
"""

import psycopg2
import pytest

from streamer_oracle import wait_for
from streamer_workload import create_items_table

THRESHOLD = 65536

pytestmark = pytest.mark.private_engine("pauses its engine to make the lag real")


def history(env, job):
    return env.sql("SELECT from_state, to_state FROM reindex.history WHERE job_id = %s ORDER BY id", (job,))


def test_ready_falls_back_to_catching_up_and_recovers(env):
    create_items_table(env, "lagging", 2000)
    job = env.begin("lagging", "lagging", "lagging_v1", {"lag_threshold_bytes": THRESHOLD})
    env.start_streamer("lag", ["--status-interval=200"])
    env.wait_job(job, "ready")
    assert ("ready", "catching_up") not in history(env, job)

    env.es.block_writes()
    start = env.lsn()
    # more than the threshold of WAL for this table
    env.sql("UPDATE lagging SET qty = qty + 1")
    assert env.lsn() - start > 4 * THRESHOLD
    env.wait_job(job, "catching_up", timeout=60)
    lag = env.target_row("lagging_v1")["lag_bytes"]
    assert lag >= THRESHOLD, lag
    # a swap is refused while the job catches up
    with pytest.raises(psycopg2.Error, match="not ready to swap"):
        env.swap("lagging")

    env.es.unblock_writes()
    env.wait_job(job, "ready", timeout=120)
    h = history(env, job)
    i = h.index(("ready", "catching_up"))
    assert ("catching_up", "ready") in h[i + 1:], h
    wait_for(lambda: env.target_row("lagging_v1")["lag_bytes"] < THRESHOLD, 30, "lag under the threshold")
    env.assert_verified(["lagging_v1"])
    assert env.stop_streamers() == {"lag": 0}
