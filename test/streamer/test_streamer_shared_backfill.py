"""Two streamer processes share one backfill (chunks claimed with
FOR UPDATE SKIP LOCKED): both claim chunks, every chunk is read exactly once,
the rows add up, one of them streams, and reindex_verify finds the index exact.
"""

from streamer_oracle import wait_for
from streamer_workload import Workload, create_items_table


def test_two_streamers_share_one_backfill(env):
    create_items_table(env, "shared", 120000, toast_every=200)
    nrows = env.one("SELECT count(*) FROM shared")
    # each bulk request takes a while, so neither process can take every chunk
    env.es.slow_bulk(100)
    a = env.start_streamer("alpha", ["--batch-docs=500", "--backfill-workers=1"])
    b = env.start_streamer("beta", ["--batch-docs=500", "--backfill-workers=1"])
    job = env.begin("shared", "shared", "shared_v1")
    tid = env.target_of("shared_v1")["id"]
    wait_for(lambda: env.job_state(job) != "backfilling", 300, "the backfill to end")
    env.es.end_slow_bulk()

    rows = env.sql("""SELECT claimed_by, count(*), sum(rows), bool_and(state = 'done')
                        FROM reindex.backfill_chunk WHERE target_id = %s GROUP BY claimed_by""", (tid,))
    by = {r[0]: r for r in rows}
    assert set(by) == {"alpha", "beta"}, rows
    assert all(r[3] for r in rows), rows
    assert sum(r[2] for r in rows) == nrows, (rows, nrows)
    assert env.target_row("shared_v1")["rows_backfilled"] == nrows

    load = Workload(env, "shared", 1000000, seed=3)
    load.run(300)
    env.wait_job(job, "ready")
    env.assert_verified(["shared_v1"])
    load.close()
    assert a.alive() and b.alive()
    assert env.stop_streamers() == {"alpha": 0, "beta": 0}
