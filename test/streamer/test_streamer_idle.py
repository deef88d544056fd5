"""Idle database: with nothing to send for a target, the streamer still
confirms the keepalive position, so its slot's confirmed_flush_lsn (and the
catalog's confirmed_lsn) move past a point after which the target's table
was never written (I3: WAL is released).
"""

from streamer_oracle import lsn_to_int, int_to_lsn, wait_for
from streamer_workload import create_items_table


def test_idle_target_confirms_keepalive_position(env):
    create_items_table(env, "quiet", 1000)
    env.sql("CREATE TABLE noise (id serial PRIMARY KEY, v text)")
    job = env.begin("quiet", "quiet", "quiet_v1")
    env.start_streamer("idle")
    env.wait_job(job, "ready")

    # WAL that is not the target's: other-table writes and a logical message
    env.sql("INSERT INTO noise (v) SELECT 'x' FROM generate_series(1, 1000)")
    env.sql("SELECT pg_logical_emit_message(false, 'reindex-test', 'idle')")
    env.sql("SELECT pg_logical_emit_message(true, 'reindex-test', 'idle')")
    point = env.lsn()

    def confirmed():
        # the slot feeding it (its own, then the shared one after the handover)
        rows = env.sql("SELECT s.confirmed_flush_lsn::text FROM pg_replication_slots s"
                       " JOIN reindex.target t ON t.slot_name = s.slot_name WHERE t.index_name = %s",
                       ("quiet_v1",))
        return lsn_to_int(rows[0][0]) if rows else 0

    wait_for(lambda: confirmed() >= point, 60,
             "the slot of quiet_v1 to confirm past %s (at %s)" % (int_to_lsn(point), int_to_lsn(confirmed())))
    wait_for(lambda: lsn_to_int(env.one("SELECT confirmed_lsn::text FROM reindex.target WHERE index_name = %s",
                                        ("quiet_v1",)) or "0/0") >= point,
             30, "the catalog's confirmed_lsn of quiet_v1 to pass %s" % int_to_lsn(point))
    assert env.stop_streamers() == {"idle": 0}
