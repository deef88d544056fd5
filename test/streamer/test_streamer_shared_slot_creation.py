"""The shared slot's creation (src/streamer/handover.c): CREATE_REPLICATION_SLOT
waits for every transaction running at that moment, so it is sent without
waiting for the answer and every stream goes on meanwhile.  A module of its
own: its cluster has no shared slot yet.
"""

import os

from streamer_oracle import wait_for
from streamer_workload import Workload, create_items_table


def test_shared_slot_creation_does_not_stop_the_streams(env):
    """Creating the shared slot waits for every transaction running at that
    moment, such as a DBA's reindex_swap_alias() that waits for this very
    streamer to confirm the target (seen: both timed out after 30 s).  The
    creation is held by the test hook until a transaction with an xid is
    open; while the creation waits for it, the target's own stream goes on
    confirming new writes and a swap succeeds; once the transaction ends the
    handover completes and the index is exact."""
    audit = env.create_audit_slot("audit_crw")
    create_items_table(env, "crw", 2000)
    hold = os.path.join(env.workdir, "hold-shared-slot")
    open(hold, "w").close()
    job = env.begin("crw", "crw", "crw_v1")
    s = env.start_streamer("crw", env={"REINDEX_STREAMER_HOLD_SHARED_SLOT": hold})
    env.wait_job(job, "ready")
    row = env.target_row("crw_v1")
    assert row["feed"] == "own" and env.shared_slot() not in env.streamer_slots(), row
    own = "reindex_%d" % row["id"]
    blocker = env.pg.connect(autocommit=False)
    with blocker.cursor() as cur:
        cur.execute("SELECT txid_current()")
    os.unlink(hold)
    wait_for(lambda: env.one("""SELECT count(*) FROM pg_stat_activity
                                 WHERE backend_type = 'walsender' AND wait_event_type = 'Lock'
                                   AND wait_event = 'transactionid'"""), 60,
             "the shared slot's creation to wait for the open transaction")
    load = Workload(env, "crw", 100000, seed=21)
    load.run(50)
    lsn = env.lsn()
    wait_for(lambda: env.one("SELECT confirmed_flush_lsn - '0/0'::pg_lsn >= %s FROM pg_replication_slots"
                             " WHERE slot_name = %s", (lsn, own)), 15,
             "the own slot to confirm new writes while the shared slot is being created")
    env.swap("crw")
    assert env.target_row("crw_v1")["feed"] == "own"      # the creation still waits
    blocker.rollback()
    blocker.close()
    env.wait_shared("crw_v1")
    load.run(50)
    assert s.alive(), s.output()[-3000:]
    env.reconcile(["crw_v1"], audit)
    load.close()
    assert env.stop_streamers() == {"crw": 0}
