"""A slot the server invalidates (max_slot_wal_keep_size) while its streamer
is down: the changes it missed can never reach the index, so the job fails
with a reason saying a new snapshot is needed; nothing goes on pretending
(the streamer used to retry "could not start streaming" for ever).  The
slot lost is the database's shared one: every target it fed fails so; once
no target is fed by it any more it is dropped and created again, so the
table's next reindex joins a shared slot that works."""

from streamer_oracle import wait_for
from streamer_workload import create_items_table


def test_invalidated_slot_fails_the_job(env):
    create_items_table(env, "lost", 300)
    job = env.begin("lost", "lost", "lost_v1")
    s = env.start_streamer("lost")
    env.wait_job(job, "ready")
    env.wait_shared("lost_v1")         # the database's shared slot feeds it now
    assert env.stop_streamers() == {"lost": 0}
    slot = env.target_of("lost_v1")["slot"]
    env.sql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
    env.sql("SELECT pg_reload_conf()")
    try:
        def lost():
            for _ in range(3):
                env.sql("UPDATE lost SET qty = qty + 1 WHERE id <= 50")
                env.sql("SELECT pg_switch_wal()")
            env.sql("CHECKPOINT")
            return env.one("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (slot,)) == "lost"
        wait_for(lost, 120, "slot %s to be invalidated" % slot, interval=0.5)
        s = env.start_streamer("lost2")
        env.wait_job(job, "failed", timeout=60)
        err = env.one("SELECT error FROM reindex.job WHERE id = %s", (job,))
        assert "invalidated" in err and "reindex_begin" in err, err
        msg = env.one("SELECT message FROM reindex.reindex_status('lost') WHERE job_id = %s", (job,))
        assert msg.startswith("failed: slot %s was invalidated" % slot), msg
        assert s.alive(), s.output()[-2000:]
    finally:
        env.sql("ALTER SYSTEM RESET max_slot_wal_keep_size")
        env.sql("SELECT pg_reload_conf()")
    # the way back: reindex the table; once no target is fed by the lost
    # slot it is dropped and created again, and the new index joins it
    try:
        wait_for(lambda: env.one("SELECT state FROM reindex.target WHERE index_name = 'lost_v1'") == "retired",
                 60, "the failed job's target to retire")
        env.sql("UPDATE lost SET qty = qty + 5 WHERE id <= 20")
        job2 = env.begin("lost", "lost", "lost_v2")
        env.wait_job(job2, "ready")
        env.wait_shared("lost_v2")
        assert env.one("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (slot,)) != "lost"
        env.sql("DELETE FROM lost WHERE id > 290")
        env.sql("UPDATE lost SET qty = qty + 1 WHERE id <= 10")
        wait_for(lambda: env.one("SELECT lag_bytes FROM reindex.reindex_status('lost') WHERE job_id = %s",
                                 (job2,)) == 0, 60, "the new index to catch up")
        r = env.verify("lost_v2")
        assert (r["state"], r["missing"], r["extra"], r["stale"], r["mismatched"]) == ("done", 0, 0, 0, 0), r
        assert r["rows_checked"] == env.one("SELECT count(*) FROM lost") == 290, r
    finally:
        env.stop_streamers()
