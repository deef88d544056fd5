"""Crashes and restarts: kill -9 of the streamer mid-backfill and mid-stream,
and a Postgres restart mid-stream, each ended by the oracle.

I2: after a crash only the chunks not done are read again, from a fresh
exported snapshot whose consistent point is newer than the target's; chunks
done before the crash keep their snapshot point and completion time.
I3: nothing acknowledged is lost; replays are absorbed by the versions (I1).
"""

import psycopg2

from streamer_oracle import lsn_to_int, wait_for
from streamer_workload import Workload, create_items_table


def chunks(env, target_id):
    rows = env.sql("""SELECT chunk_no, state, snapshot_lsn::text, done_at, claimed_by
                        FROM reindex.backfill_chunk WHERE target_id = %s ORDER BY chunk_no""",
                   (target_id,))
    return {r[0]: {"state": r[1], "snapshot_lsn": lsn_to_int(r[2]), "done_at": r[3], "claimed_by": r[4]}
            for r in rows}


def test_kill9_mid_backfill_rereads_only_unfinished_chunks(env):
    audit = env.create_audit_slot("audit_crash_bf")
    create_items_table(env, "crash_bf", 150000, toast_every=100)
    # slow the bulk requests down so the crash lands in the middle of the backfill
    env.es.slow_bulk(150)
    job = env.begin("crash_bf", "crash_bf", "crash_bf_v1")
    s = env.start_streamer("crash", ["--batch-docs=500", "--backfill-workers=2"])
    tid = env.target_of("crash_bf_v1")["id"]

    def some_done_some_not():
        c = chunks(env, tid)
        done = [k for k, v in c.items() if v["state"] == "done"]
        return len(c) >= 3 and 0 < len(done) < len(c) and c

    before = wait_for(some_done_some_not, 120, "a backfill with some chunks done and some not")
    s.kill9()
    before = chunks(env, tid)          # the state the crash left behind
    cp = env.target_of("crash_bf_v1")["consistent_point"]
    done_before = {k: v for k, v in before.items() if v["state"] == "done"}
    undone_before = [k for k, v in before.items() if v["state"] != "done"]
    assert done_before and undone_before, before

    load = Workload(env, "crash_bf", 200000, seed=5)
    load.run(200)                      # writes while no streamer runs
    env.es.end_slow_bulk()
    env.start_streamer("crash", ["--batch-docs=500", "--backfill-workers=2"])
    load.run_until(lambda: env.job_state(job) == "ready", max_steps=2000, min_steps=100)
    env.wait_job(job, "ready")
    load.run(100)

    after = chunks(env, tid)
    assert set(after) == set(before)
    for k, v in done_before.items():   # not read again
        assert after[k]["snapshot_lsn"] == v["snapshot_lsn"] and after[k]["done_at"] == v["done_at"], (k, v, after[k])
    for k in undone_before:            # read again from a fresh snapshot (I2)
        assert after[k]["state"] == "done", (k, after[k])
        assert after[k]["snapshot_lsn"] > cp, (k, after[k], cp)
    env.reconcile(["crash_bf_v1"], audit)
    load.close()
    assert env.stop_streamers() == {"crash": 0}


def test_kill9_mid_stream(env):
    audit = env.create_audit_slot("audit_crash_st")
    create_items_table(env, "crash_st", 5000)
    job = env.begin("crash_st", "crash_st", "crash_st_v1")
    s = env.start_streamer("crash2")
    load = Workload(env, "crash_st", 100000, seed=7)
    load.run_until(lambda: env.job_state(job) == "ready", max_steps=2000, min_steps=50)
    env.wait_job(job, "ready")
    for round_no in range(3):
        load.run(300)
        s.kill9()                      # events sent, maybe acknowledged, maybe not confirmed
        load.run(100)                  # writes while no streamer runs
        s = env.start_streamer("crash2")
    env.wait_shared("crash_st_v1")
    slot = env.target_of("crash_st_v1")["slot"]
    confirmed_before = oracle_confirmed(env, slot)
    env.reconcile(["crash_st_v1"], audit)
    assert oracle_confirmed(env, slot) >= confirmed_before
    load.close()
    assert env.stop_streamers() == {"crash2": 0}


def oracle_confirmed(env, slot):
    return lsn_to_int(env.one("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                              (slot,)))


def test_postgres_restart_mid_stream(env):
    create_items_table(env, "pgrst", 5000)
    job = env.begin("pgrst", "pgrst", "pgrst_v1")
    s = env.start_streamer("pgrst")
    load = Workload(env, "pgrst", 100000, seed=9)
    load.run_until(lambda: env.job_state(job) == "ready", max_steps=2000, min_steps=50)
    env.wait_job(job, "ready")
    load.run(300)
    load.close()
    env.conn.close()
    env.pg.restart()                   # fast shutdown: walsenders and the streamer's sessions end
    env.reconnect()
    load = Workload(env, "pgrst", 200000, seed=10)
    load.run(300)
    assert s.alive(), "the streamer must reconnect, not exit:\n" + s.output()[-3000:]
    env.assert_verified(["pgrst_v1"])
    # the stream's error is past once it streams again: not shown as current
    wait_for(lambda: env.one("SELECT last_error FROM reindex.reindex_status('pgrst')") is None, 60,
             "last_error to be cleared (is %r)" % env.one("SELECT last_error FROM reindex.reindex_status('pgrst')"))
    load.close()
    assert env.stop_streamers() == {"pgrst": 0}


def test_stream_error_is_cleared_once_streaming_again(env):
    """A broken stream leaves its error in reindex_status; once a new stream
    has confirmed past it, the error is past and no longer shown (it was
    shown for good, with lag 0, before)."""
    create_items_table(env, "sterr", 500)
    job = env.begin("sterr", "sterr", "sterr_v1")
    s = env.start_streamer("sterr")
    env.wait_job(job, "ready")
    env.wait_shared("sterr_v1")
    slot = env.target_of("sterr_v1")["slot"]
    pid = env.one("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    env.sql("SELECT pg_terminate_backend(%s)", (pid,))
    wait_for(lambda: "replication stream ended" in s.output(), 60, "the stream to break")
    env.sql("UPDATE sterr SET qty = qty + 1 WHERE id <= 10")
    wait_for(lambda: "streaming again; cleared the note" in s.output(), 60, "the note to be cleared")
    env.sql("UPDATE sterr SET qty = qty + 1 WHERE id <= 10")
    wait_for(lambda: env.one("SELECT last_error FROM reindex.reindex_status('sterr')") is None, 60,
             "last_error to be cleared (is %r)" % env.one("SELECT last_error FROM reindex.reindex_status('sterr')"))
    env.assert_verified(["sterr_v1"])
    assert env.stop_streamers() == {"sterr": 0}


def test_catalog_outage_does_not_hold_the_streams(env):
    """While its catalog session is gone and the database refuses new sessions
    (as during a shutdown), the streamer must not leave a walsender waiting for
    replies: it either goes on confirming or closes the stream.  A walsender
    left unanswered holds a server shutdown until wal_sender_timeout."""
    create_items_table(env, "catout", 2000)
    job = env.begin("catout", "catout", "catout_v1")
    env.start_streamer("catout")
    env.wait_job(job, "ready")
    env.wait_shared("catout_v1")
    slot = env.target_row("catout_v1")["slot_name"]
    db = env.one("SELECT current_database()")
    adm = psycopg2.connect(env.pg.dsn(dbname="template1"))   # a database may not lock itself out
    adm.autocommit = True
    adm.cursor().execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % db)
    try:
        env.sql("""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE application_name = 'reindex_streamer' AND backend_type = 'client backend'""")
        mark = lsn_to_int(env.one("SELECT pg_logical_emit_message(true, 'catout', 'x')::text"))

        def released_or_confirmed():
            ((active, confirmed),) = env.sql("""SELECT active, confirmed_flush_lsn::text
                                                  FROM pg_replication_slots WHERE slot_name = %s""", (slot,))
            return not active or lsn_to_int(confirmed) >= mark

        wait_for(released_or_confirmed, 30, "slot %s released or confirmed past the outage" % slot)
    finally:
        adm.cursor().execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % db)
        adm.close()
    load = Workload(env, "catout", 100000, seed=11)
    load.run(200)
    env.assert_verified(["catout_v1"])
    load.close()
    assert env.stop_streamers() == {"catout": 0}
