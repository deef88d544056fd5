"""One shared replication slot per database (src/streamer/README.md, "Shared
slot"): targets are handed over from their own slot to the shared one at an
exact LSN H, survive a kill -9 of the streamer before, at and after H and a
Postgres restart during the handover, two reindexes run at once (one of them
a new column set of a table already on the shared slot), and a target whose
endpoint stops answering is detached and comes back by itself.  Every test
ends with the per-document oracle on every index (no missing, extra or stale
document, versions exact).
"""

import os

import pytest

import streamer_oracle as oracle
from streamer.conftest import DevSearch, add_endpoint
from streamer_oracle import wait_for, lsn_to_int
from streamer_workload import Workload, create_items_table


def test_handover_then_one_slot_for_all(env):
    """Three tables, three targets: in steady state one slot feeds them all,
    the own slots are gone, and the shared slot confirms past new writes."""
    audit = env.create_audit_slot("audit_sh1")
    loads = []
    for name in ("sh_a", "sh_b", "sh_c"):
        create_items_table(env, name, 2000)
    env.start_streamer("sh1")
    jobs = [env.begin(n, n, n + "_v1") for n in ("sh_a", "sh_b", "sh_c")]
    for n, seed in (("sh_a", 1), ("sh_b", 2), ("sh_c", 3)):
        loads.append(Workload(env, n, 100000, seed=seed))
    for job in jobs:
        for load in loads:
            load.run(30)
        env.wait_job(job, "ready")
    for n in ("sh_a", "sh_b", "sh_c"):
        env.wait_shared(n + "_v1")
        row = env.target_row(n + "_v1")
        assert row["slot_name"] == env.shared_slot() and row["handover_lsn"] is not None, row
    assert env.streamer_slots() == [env.shared_slot()]
    for load in loads:
        load.run(100)
    env.reconcile(["sh_a_v1", "sh_b_v1", "sh_c_v1"], audit)
    for load in loads:
        load.close()
    assert env.stop_streamers() == {"sh1": 0}


@pytest.mark.parametrize("fault", ["handover_before", "handover_at", "handover_after"])
def test_kill9_during_handover(env, fault):
    """The streamer kills itself (SIGKILL) at a point of the handover, under
    writes: before the catalog records H (own slot delivered everything up
    to H), right after it (gate still shut, own slot not dropped), and after
    the first events above H came through the shared slot.  A new streamer
    finishes the job; nothing is lost or applied out of order."""
    table = "k9_" + fault.split("_")[1]
    audit = env.create_audit_slot("audit_" + table)
    create_items_table(env, table, 3000)
    job = env.begin(table, table, table + "_v1")
    load = Workload(env, table, 100000, seed=len(fault))
    s = env.start_streamer("k9" + fault, env={"REINDEX_STREAMER_FAULT": fault})
    load.run_until(lambda: not s.alive(), max_steps=20000, min_steps=20)
    assert s.wait(120) == -9, s.output()[-3000:]
    assert ("fault injection: " + fault) in s.output()
    row = env.target_row(table + "_v1")
    if fault == "handover_before":
        assert row["feed"] == "own", row
    else:
        assert row["feed"] == "shared" and row["handover_lsn"] is not None, row
    load.run(100)                      # writes while no streamer runs
    env.start_streamer("k9" + fault + "_2")
    env.wait_job(job, ("ready", "catching_up"))
    load.run(100)
    env.wait_shared(table + "_v1")
    load.run(50)
    env.reconcile([table + "_v1"], audit)
    own = "reindex_%d" % env.target_row(table + "_v1")["id"]
    assert own not in env.streamer_slots(), env.streamer_slots()
    load.close()
    env.stop_streamers()


def test_postgres_restart_during_handover(env):
    """Postgres restarts while a handover waits between choosing H and the
    catalog commit (held there by the test hook); the handover is done again
    afterwards and the index is exact."""
    audit = env.create_audit_slot("audit_pgho")
    create_items_table(env, "pgho", 3000)
    hold = os.path.join(env.workdir, "hold-handover")
    open(hold, "w").close()
    job = env.begin("pgho", "pgho", "pgho_v1")
    s = env.start_streamer("pgho", env={"REINDEX_STREAMER_HOLD_HANDOVER": hold})
    load = Workload(env, "pgho", 100000, seed=5)
    load.run_until(lambda: "handover to the shared slot at" in s.output(), max_steps=20000, min_steps=20)
    wait_for(lambda: "handover to the shared slot at" in s.output(), 120, "a handover to start")
    load.run(50)
    load.close()
    env.conn.close()
    env.pg.restart()
    env.reconnect()
    os.unlink(hold)
    load = Workload(env, "pgho", 200000, seed=6)
    load.run(100)
    env.wait_shared("pgho_v1")
    load.run(100)
    assert s.alive(), s.output()[-3000:]
    env.wait_job(job, ("ready", "catching_up"))
    env.reconcile(["pgho_v1"], audit)
    load.close()
    assert env.stop_streamers() == {"pgho": 0}


def test_two_reindexes_at_once(env):
    """Two tables on the shared slot; then two reindexes at once: one of
    table A with other columns (a new set of a table already on the shared
    slot, the shared stream restarts), one of table B with the same columns
    (joins the set of B's old target).  All four indexes stay exact."""
    audit = env.create_audit_slot("audit_two")
    create_items_table(env, "two_a", 3000)
    create_items_table(env, "two_b", 3000)
    env.start_streamer("two")
    ja = env.begin("two_a", "two_a", "two_a_v1")
    jb = env.begin("two_b", "two_b", "two_b_v1")
    la, lb = Workload(env, "two_a", 100000, seed=7), Workload(env, "two_b", 100000, seed=8)
    for job in (ja, jb):
        la.run(30)
        lb.run(30)
        env.wait_job(job, "ready")
    env.wait_shared("two_a_v1")
    env.wait_shared("two_b_v1")
    for alias, job in (("two_a", ja), ("two_b", jb)):
        env.swap(alias)
        env.sql("SELECT reindex.reindex_finish(%s)", (job,))
    ja2 = env.begin("two_a", "two_a", "two_a_v2", {"exclude_columns": ["body"]})
    jb2 = env.begin("two_b", "two_b", "two_b_v2")
    for _ in range(6):
        la.run(40)
        lb.run(40)
    env.wait_job(ja2, "ready")
    env.wait_job(jb2, "ready")
    for index in ("two_a_v2", "two_b_v2"):
        env.wait_shared(index)
    assert env.streamer_slots() == [env.shared_slot()]
    la.run(100)
    lb.run(100)
    env.reconcile(["two_a_v1", "two_a_v2", "two_b_v1", "two_b_v2"], audit)
    la.close()
    lb.close()
    assert env.stop_streamers() == {"two": 0}


def test_detached_target_comes_back(env):
    """Two targets on the shared slot, on two search clusters.  The second
    cluster answers 503 to every _bulk: past --detach-after its target is
    detached (its own slot, a copy of the shared one; the reason in the
    catalog), the shared slot goes on confirming the first target's writes,
    and once the cluster answers again the target catches up and rejoins
    the shared slot by itself.  Both indexes are exact."""
    audit = env.create_audit_slot("audit_det")
    second = DevSearch(env.workdir)
    try:
        add_endpoint(env.conn, "second", second.url)
        create_items_table(env, "det_ok", 2000)
        create_items_table(env, "det_down", 2000)
        env.start_streamer("det", ["--detach-after=3000"])
        j1 = env.begin("det_ok", "det_ok", "det_ok_v1")
        j2 = env.one("SELECT reindex.reindex_begin('det_down', 'det_down', 'det_down_v1', 'second')")
        ok, down = Workload(env, "det_ok", 100000, seed=9), Workload(env, "det_down", 100000, seed=10)
        env.wait_job(j1, "ready")
        env.wait_job(j2, "ready")
        env.wait_shared("det_ok_v1")
        env.wait_shared("det_down_v1")

        second.faults({"type": "http_503", "rate": 1, "path": "_bulk"})
        down.run(50)
        ok.run(50)
        wait_for(lambda: env.target_row("det_down_v1")["detached_at"] is not None, 120,
                 "det_down_v1 to be detached")
        row = env.target_row("det_down_v1")
        assert row["feed"] == "own" and "waited" in row["detached_reason"], row
        assert row["slot_name"] == "reindex_%d" % row["id"], row
        # the others go on: the shared slot confirms past writes made now
        ok.run(50)
        down.run(50)
        mark = env.lsn()
        wait_for(lambda: (oracle.slot_confirmed(env.conn, env.shared_slot()) or 0) >= mark, 60,
                 "the shared slot to confirm past the detach")
        assert env.target_row("det_down_v1")["feed"] == "own"

        second.clear_faults()
        down.run(50)
        env.wait_shared("det_down_v1")
        row = env.target_row("det_down_v1")
        assert row["detached_at"] is None and row["handover_lsn"] is not None, row
        ok.run(50)
        down.run(50)
        lsn = env.lsn()
        assert env.streamer_slots() == [env.shared_slot()]
        oracle.quiesce(env.conn, second.url, "det_down_v1", lsn, 120)
        rep = oracle.reconcile(env.conn, second.url, "det_down_v1", audit)
        assert rep.ok(), rep.details()
        assert rep.checked > 0
        env.reconcile(["det_ok_v1"], audit)
        ok.close()
        down.close()
        assert env.stop_streamers() == {"det": 0}
    finally:
        second.stop()


class _Db:
    """The module's cluster, another database (for Streamer and connections)."""

    def __init__(self, cluster, dbname):
        self.cluster, self.dbname = cluster, dbname

    def dsn(self, **extra):
        return self.cluster.dsn(dbname=self.dbname, **extra)


def test_upgrade_from_0_1_keeps_streaming_and_moves_to_the_shared_slot(env):
    """A target of extension 0.1 as the 0.1 streamer left it (its own slot,
    reindex_<id>, state streaming, backfilled at the slot's consistent
    point, job catching_up), with writes pending in its slot; then ALTER
    EXTENSION UPDATE and the current streamer: it streams the old slot,
    hands the target over to the shared slot at an exact LSN and drops the
    old slot.  The oracle finds the index exact (versions included)."""
    import psycopg2
    from streamer.conftest import Streamer, streamer_binary

    env.sql("DROP DATABASE IF EXISTS up01")
    env.sql("CREATE DATABASE up01")
    db = _Db(env.pg, "up01")
    conn = psycopg2.connect(db.dsn())
    conn.autocommit = True
    cur = conn.cursor()
    try:
        cur.execute("CREATE EXTENSION reindex VERSION '0.1'")
        cur.execute("SELECT pg_create_logical_replication_slot('audit_up01', 'reindex')")
        cur.execute("""CREATE TABLE up (id int PRIMARY KEY, name text, qty int)""")
        cur.execute("INSERT INTO up SELECT g, 'row ' || g, g FROM generate_series(1, 500) g")
        cur.execute("SELECT reindex.endpoint_add('default', %s)", (env.es.url,))
        cur.execute("SELECT reindex.reindex_begin('up', 'up', 'up_v1')")
        job = cur.fetchone()[0]
        cur.execute("SELECT id, slot_name FROM reindex.target")
        tid, slot = cur.fetchone()
        # what the 0.1 streamer did: its slot, the backfill at its point, streaming
        cur.execute("SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'reindex')", (slot,))
        cp = cur.fetchone()[0]
        cur.execute("SELECT reindex.document('up', u) FROM up u")
        body = ""
        for (line,) in cur.fetchall():
            ident, doc = oracle.split_document(line)
            body += '{"index":{"_index":"up_v1","_id":%s,"version":%d,"version_type":"external"}}\n%s\n' % (
                ident, lsn_to_int(cp), doc)
        status, res = oracle.http("POST", env.es.url + "/_bulk", body.encode())
        assert status == 200 and not res["errors"], res
        cur.execute("""UPDATE reindex.target SET state = 'streaming', consistent_point = %s::pg_lsn,
                              confirmed_lsn = %s::pg_lsn, rows_backfilled = 500, backfill_done_at = now()
                        WHERE id = %s""", (cp, cp, tid))
        cur.execute("UPDATE reindex.job SET state = 'catching_up' WHERE id = %s", (job,))
        # 0.1-era changes waiting in the old slot
        cur.execute("UPDATE up SET qty = qty + 1 WHERE id % 3 = 0")
        cur.execute("DELETE FROM up WHERE id % 7 = 0")
        cur.execute("INSERT INTO up SELECT g, 'new ' || g, g FROM generate_series(501, 600) g")

        cur.execute("ALTER EXTENSION reindex UPDATE TO '0.2'")
        cur.execute("SELECT feed, slot_name FROM reindex.target WHERE id = %s", (tid,))
        assert cur.fetchone() == ("own", slot)

        s = Streamer(streamer_binary(), db, env.workdir, "up01", [])
        env.streamers.append(s)
        wait_for(lambda: (cur.execute("SELECT feed FROM reindex.target WHERE id = %s", (tid,))
                          or cur.fetchone()[0]) == "shared", 120, "the 0.1 target to move to the shared slot")
        cur.execute("UPDATE up SET name = name || '!' WHERE id % 5 = 0")
        cur.execute("DELETE FROM up WHERE id % 11 = 0")
        cur.execute("SELECT slot_name FROM pg_replication_slots WHERE database = 'up01' ORDER BY 1")
        assert [r[0] for r in cur.fetchall()] == sorted(["audit_up01", "reindex_shared_%s" % env.one(
            "SELECT oid FROM pg_database WHERE datname = 'up01'")])
        oracle.quiesce(conn, env.es.url, "up_v1", None, 120)
        rep = oracle.reconcile(conn, env.es.url, "up_v1", "audit_up01")
        assert rep.ok(), rep.details() + "\n" + s.output()[-3000:]
        assert rep.checked > 0
        assert s.terminate() == 0
        env.streamers.remove(s)
    finally:
        cur.close()
        conn.close()
        env.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'up01'")
        env.sql("DROP DATABASE up01")
