"""Backfill + concurrent writes + catch-up + dual streaming, ended by the oracle.

The whole life of an alias, with one long-running streamer:
  1. initial build of index v1 from a table with TOASTed values, while a
     bounded write load (inserts, updates, deletes, key changes, unchanged
     TOAST updates, multi-statement transactions) runs;
  2. swap the alias to v1; a search through the alias sees the documents;
  3. reindex into v2 (different mappings) under the same load; the job
     reaches ready by itself; both v1 and v2 are fed (dual streaming);
  4. the oracle on BOTH indexes: 0 missing, 0 extra, 0 stale, versions equal
     to the rows' last commit end_lsn (or the consistent point);
  5. swap to v2; writes after the swap still reach both indexes (soak);
     rollback to v1 and swap again, both still exact;
  6. finish: the old target retires (it stops being fed; the shared slot,
     which feeds v2, stays); v2 stays exact;
  7. SIGTERM: the streamer exits 0.
"""

from streamer_oracle import wait_for
from streamer_workload import Workload, create_items_table


def test_initial_build_reindex_and_dual_streaming(env):
    audit = env.create_audit_slot("audit")
    create_items_table(env, "items", 20000, toast_every=40)
    streamer = env.start_streamer("life")

    job1 = env.begin("items", "items", "items_v1",
                     {"settings": {"number_of_shards": 1, "refresh_interval": "1s"}})
    load = Workload(env, "items", 100000, seed=11)
    # writes while the job is backfilling and catching up (bounded)
    steps = load.run_until(lambda: env.job_state(job1) == "ready", max_steps=3000, min_steps=200)
    assert steps >= 200
    env.wait_job(job1, "ready")
    assert streamer.alive(), env.streamer_logs()

    env.swap("items")
    assert env.job_state(job1) == "swapped"
    assert env.es.alias_indices("items") == ["items_v1"]
    env.sql("SELECT reindex.reindex_finish(%s)", (job1,))     # initial build: nothing to retire
    assert env.job_state(job1) == "completed"

    # reindex into v2 with a different mapping, under the same load
    job2 = env.begin("items", "items", "items_v2",
                     {"mappings": {"properties": {"name": {"type": "keyword"},
                                                  "qty": {"type": "long"}}}})
    v1_applied_before = env.target_row("items_v1")["events_applied"]
    steps = load.run_until(lambda: env.job_state(job2) == "ready", max_steps=3000, min_steps=300)
    env.wait_job(job2, "ready")
    load.run(200)                       # dual streaming: both indexes fed
    assert all(load.counts[k] > 0 for k in load.counts), load.counts

    r1, r2 = env.reconcile(["items_v1", "items_v2"], audit)
    assert r1.checked == r2.checked

    # the catalog shows the work: rows backfilled and events applied
    t2 = env.target_row("items_v2")
    assert t2["rows_backfilled"] >= 20000 - load.counts["delete"] - load.counts["multi"]
    assert t2["events_applied"] > 0
    assert t2["dead_lettered"] == 0
    # reindex_status shows the old index, still read through the alias, keeping up:
    # its own counters (the catalog's, read in the same statement), and its lag
    # back under the job's threshold once quiesced
    old_status = """SELECT s.old_events_applied, s.old_dead_lettered, s.old_lag_bytes,
                           s.old_lag_seconds, j.lag_threshold_bytes,
                           s.old_events_applied = t.events_applied AND s.old_dead_lettered = t.dead_lettered
                      FROM reindex.reindex_status('items') s
                      JOIN reindex.job j ON j.id = s.job_id
                      JOIN reindex.target t ON t.id = j.old_target
                     WHERE s.job_id = %s"""

    def old_keeps_up():
        applied, dead, lag, lag_s, threshold, same = env.sql(old_status, (job2,))[0]
        assert same and dead == 0, (applied, dead)
        return (applied > v1_applied_before and lag is not None and lag <= threshold
                and lag_s is not None)
    wait_for(old_keeps_up, 60, "reindex_status to show the old index fed and caught up")

    env.swap("items")
    assert env.job_state(job2) == "swapped"
    assert env.es.alias_indices("items") == ["items_v2"]
    # a search through the alias finds a live row and not a deleted one
    live = env.one("SELECT min(id) FROM items")
    env.es.req("POST", "/items/_refresh")
    status, res = env.es.req("POST", "/items/_search", {"query": {"ids": {"values": [str(live), "-5"]}}})
    assert status == 200, res
    assert [h["_id"] for h in res["hits"]["hits"]] == [str(live)], res

    # soak: the old index is still fed after the swap, so a rollback is safe
    load.run(150)
    env.reconcile(["items_v1", "items_v2"], audit)
    env.sql("SELECT reindex.reindex_rollback(%s)", ("items",))
    assert env.job_state(job2) == "rolled_back"
    assert env.es.alias_indices("items") == ["items_v1"]
    load.run(100)
    env.reconcile(["items_v1", "items_v2"], audit)
    env.swap("items")
    assert env.es.alias_indices("items") == ["items_v2"]

    # steady state: both targets on the one shared slot, no slot of their own
    shared = env.target_row("items_v2")["slot_name"]
    assert env.target_row("items_v1")["slot_name"] == shared
    assert env.target_row("items_v1")["feed"] == env.target_row("items_v2")["feed"] == "shared"
    slots = [r[0] for r in env.sql("SELECT slot_name FROM pg_replication_slots ORDER BY 1")]
    assert slots == sorted([audit, shared]), slots

    # finish: the old target stops being fed; the shared slot stays (it feeds v2)
    env.sql("SELECT reindex.reindex_finish(%s)", (job2,))
    assert env.job_state(job2) == "completed"
    wait_for(lambda: env.target_row("items_v1")["state"] in ("retired", "dropped"), 60,
             "the old target to retire")
    assert env.one("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (shared,)) == 1
    load.run(100)
    env.reconcile(["items_v2"], audit)
    load.close()

    rcs = env.stop_streamers()
    assert rcs == {"life": 0}, rcs
