"""soak.py: the fault soak of reindex (issue 9): a steady mixed write load
through whole reindex lifecycles while faults are injected at random points,
then reindex_verify of every live index after each scenario.

Owns: the chaos (which fault, when: seeded), the writer thread that survives
Postgres restarts, the lifecycle driver (begin, backfill, catch-up, swap,
rollback, swap, finish), the checks after each scenario and the report.

Faults (counted by type in the report):
  kill9_backfill / kill9_stream   kill -9 of the streamer while an index is
                                  backfilled / while everything streams (with
                                  _bulk requests slowed by a delay fault part
                                  of the time, so kills land before, during
                                  and after requests, before the LSN is
                                  confirmed)
  pg_immediate_backfill / pg_immediate_stream
                                  immediate stop and start of Postgres
  item_429, http_429, http_503, delay, reset
                                  devsearch answering 429 for a fraction of
                                  items, 429/503 for whole requests, slowly,
                                  or closing the connection mid-body
  stall                           devsearch holding _bulk answers (already
                                  applied) for 8 s, past the streamer's
                                  --request-timeout of 3 s (devsearch only):
                                  abandoned, sent again, replays rejected 409
  gc_replay                       keys deleted and re-inserted, the streamer
                                  killed and kept down longer than the
                                  index's gc_deletes, then replaying
  index_lost                      a new index deleted behind the streamer's
                                  back while it is built (the server runs
                                  with auto-creation off): its job must fail
                                  saying so, nothing dead-lettered, the index
                                  not recreated, the live one unharmed
  slot_invalidated                a reindex's own slot (not read before its
                                  backfill ends) left behind by more WAL
                                  than max_slot_wal_keep_size while the
                                  shared slot keeps up: the server
                                  invalidates it, the job fails saying a
                                  new snapshot is needed (nothing skipped
                                  silently), the live index is unharmed and
                                  the next reindex works (devsearch only:
                                  the backfill is slowed to outlast it)
After each scenario: writes paused, every live index verified with
reindex_verify: 0 missing, 0 extra, 0 stale, 0 mismatched.  Acknowledged
positions never passing what the cluster acknowledged (I3) is what that
shows after a kill: any LSN confirmed too early would leave a document out.

Used by test_soak.py (the short run in `make test`) and by `make soak`
(python3 test/soak/soak.py --seed N --duration SECONDS).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "streamer"))
sys.path.insert(0, os.path.join(HERE, ".."))

import psycopg2  # noqa: E402

from streamer_oracle import wait_for  # noqa: E402
from streamer_workload import Workload, create_items_table  # noqa: E402

FAULTS = ("kill9_backfill", "kill9_stream", "pg_immediate_backfill", "pg_immediate_stream",
          "item_429", "http_429", "http_503", "delay", "reset", "stall", "gc_replay",
          "index_lost", "slot_invalidated")

# the stall fault holds _bulk answers STALL_MS, past the streamer's --request-timeout
STALL_TIMEOUT_S = 3
STALL_MS = 8000


class Writer:
    """The steady write load: one Workload step after another, on its own
    connection, riding out Postgres restarts; paused for the checks."""

    def __init__(self, env, table, seed):
        self.env, self.table = env, table
        self.load = Workload(env, table, 10_000_000, seed=seed)
        self.steps = 0
        self.errors = 0
        self.stop = threading.Event()
        self.pause = threading.Event()
        self.paused = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.stop.is_set():
            if self.pause.is_set():
                self.paused.set()
                time.sleep(0.02)
                continue
            self.paused.clear()
            try:
                self.load.step()
                self.steps += 1
            except psycopg2.Error:
                self.errors += 1
                time.sleep(0.2)
                try:
                    self.load.conn.close()
                except Exception:
                    pass
                try:
                    self.load.conn = self.env.pg.connect(autocommit=True)
                except psycopg2.Error:
                    pass
            time.sleep(0.002)

    def hold(self):
        self.pause.set()
        wait_for(lambda: self.paused.is_set() or not self.th.is_alive(), 60, "the writer to pause")

    def resume(self):
        self.pause.clear()

    def close(self):
        self.stop.set()
        self.th.join(60)
        self.load.close()


class Soak:
    def __init__(self, env, seed, duration, rows, log=print, es_faults=True, lose_index=True):
        """es_faults=False on a real engine: no devsearch fault injection
        (kills, Postgres restarts and the gc_deletes replay remain).
        lose_index: the index_lost phase (the server must not auto-create
        indexes: devsearch --no-auto-create-index)."""
        self.env, self.seed, self.duration, self.rows = env, seed, duration, rows
        self.es_faults = es_faults
        self.lose_index = lose_index
        self.rng = random.Random(seed)
        self.log = log
        self.faults = {k: 0 for k in FAULTS}
        self.verified_rows = 0
        self.verified_docs = 0
        self.differences = 0
        self.verify_runs = 0
        self.streamer = None
        self.n = 0
        self.fired = {}

    # -- processes
    def sql(self, q, args=None):
        for attempt in range(100):
            try:
                return self.env.sql(q, args)
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                time.sleep(0.2)
                try:
                    self.env.reconnect()
                except psycopg2.Error:
                    pass
        raise AssertionError("the database did not come back for: %s" % q)

    def one(self, q, args=None):
        rows = self.sql(q, args)
        return rows[0][0] if rows else None

    def start_streamer(self):
        self.n += 1
        # a short request timeout (devsearch only): the stall fault outlasts it
        args = ["--batch-docs=500"] + (["--request-timeout=%d" % STALL_TIMEOUT_S] if self.es_faults else [])
        self.streamer = self.env.start_streamer("soak%d" % self.n, args)

    def kill9(self, kind):
        self.streamer.kill9()
        self.faults[kind] += 1
        self.start_streamer()

    def pg_immediate(self, kind):
        subprocess.run([PGCLUSTER, "stop", self.env.pg.dir, "immediate"], check=True, capture_output=True)
        subprocess.run([PGCLUSTER, "start", self.env.pg.dir], check=True, capture_output=True)
        self.faults[kind] += 1
        self.env.reconnect()

    def es_fault(self, kind):
        if not self.es_faults:
            return
        rule = {"item_429": {"type": "bulk_item_429", "rate": 0.2},
                "http_429": {"type": "http_429", "rate": 0.3, "path": "_bulk"},
                "http_503": {"type": "http_503", "rate": 0.3, "path": "_bulk"},
                "delay": {"type": "delay", "ms": 300, "path": "_bulk"},
                "reset": {"type": "reset", "rate": 0.3, "path": "_bulk"},
                "stall": {"type": "stall", "ms": STALL_MS, "path": "_bulk", "count": 2}}[kind]
        self.env.es.faults(rule)
        self.faults[kind] += 1

    def es_clear(self):
        if not self.es_faults:
            return
        st, res = self.env.es.req("GET", "/_dev/faults")
        if st == 200:
            for r in res.get("faults", []):
                k = r.get("type")
                self.fired[k] = self.fired.get(k, 0) + int(r.get("fired", r.get("count_fired", 0)) or 0)
        self.env.es.clear_faults()

    # -- lifecycle
    def job_state(self, job):
        return self.one("SELECT state FROM reindex.job WHERE id = %s", (job,))

    def wait_state(self, job, states, timeout=600):
        states = (states,) if isinstance(states, str) else states
        deadline = time.monotonic() + timeout
        while True:
            s = self.job_state(job)
            if s in states:
                return s
            if s in ("failed", "cancelled"):
                raise AssertionError("job %s is %s: %s\n%s" % (
                    job, s, self.one("SELECT error FROM reindex.job WHERE id = %s", (job,)),
                    self.env.streamer_logs()))
            if not self.streamer.alive():
                raise AssertionError("the streamer exited:\n" + self.env.streamer_logs())
            if time.monotonic() > deadline:
                raise AssertionError("job %s did not reach %s (is %s)" % (job, states, s))
            time.sleep(0.1)

    def backfill_faults(self, job, kills):
        """kill -9 (and maybe restart Postgres) while the job backfills; each
        kill waits for some progress first so that the backfill ends."""
        # _bulk slowed down a little, so that the backfill lasts
        if self.es_faults:
            self.env.es.faults({"type": "delay", "ms": 25, "path": "_bulk"})
            self.faults["delay"] += 1
        for k in range(kills):
            if self.job_state(job) != "backfilling":
                break
            if k == 1:
                self.pg_immediate("pg_immediate_backfill")
                continue
            before = self.one("SELECT count(*) FROM reindex.backfill_chunk c JOIN reindex.job j"
                              " ON c.target_id = j.new_target WHERE j.id = %s AND c.state = 'done'", (job,)) or 0
            time.sleep(self.rng.uniform(0.3, 1.5))
            if self.job_state(job) != "backfilling":
                break
            self.kill9("kill9_backfill")
            deadline = time.monotonic() + 120
            while self.job_state(job) == "backfilling" and time.monotonic() < deadline:
                done = self.one("SELECT count(*) FROM reindex.backfill_chunk c JOIN reindex.job j"
                                " ON c.target_id = j.new_target WHERE j.id = %s AND c.state = 'done'",
                                (job,)) or 0
                if done > before:
                    break
                time.sleep(0.1)
        if self.job_state(job) == "backfilling":
            self.pg_immediate("pg_immediate_backfill")
        self.es_clear()

    def stream_faults(self, seconds, kills):
        """Faults while every index streams: `kills` kill -9 (half of them
        while _bulk is slowed down), one of each devsearch fault, one
        immediate Postgres restart, in a seeded order, for at least
        `seconds`."""
        actions = ["kill"] * kills + ["pg"]
        if self.es_faults:
            actions += ["item_429", "http_429", "http_503", "reset", "stall"]
        self.rng.shuffle(actions)
        end = time.monotonic() + seconds
        for a in actions:
            if a == "kill":
                if self.rng.random() < 0.5:
                    self.es_fault("delay")      # kills land during slow requests too
                time.sleep(self.rng.uniform(0.2, 1.2))
                self.kill9("kill9_stream")
                self.es_clear()
            elif a == "pg":
                self.pg_immediate("pg_immediate_stream")
                time.sleep(self.rng.uniform(0.5, 1.5))
            elif a == "stall":
                # held longer than the request timeout before clearing releases them
                self.es_fault(a)
                time.sleep(self.rng.uniform(STALL_TIMEOUT_S + 1.0, STALL_TIMEOUT_S + 2.5))
                self.es_clear()
            else:
                self.es_fault(a)
                time.sleep(self.rng.uniform(0.5, 2.0))
                self.es_clear()
            if not self.streamer.alive():
                raise AssertionError("the streamer exited:\n" + self.env.streamer_logs())
        if time.monotonic() < end:
            time.sleep(end - time.monotonic())

    def gc_replay(self, indexes):
        """Keys deleted and re-inserted (some deleted again), the streamer
        killed right after and kept down past gc_deletes, then replaying."""
        for ix in indexes:
            self.env.es.req("PUT", "/%s/_settings" % ix, {"index.gc_deletes": "1s"})
        ids = [r[0] for r in self.sql("SELECT id FROM soak ORDER BY random() LIMIT 20")]
        for i, k in enumerate(ids):
            self.sql("DELETE FROM soak WHERE id = %s", (k,))
            self.sql("INSERT INTO soak (id, name, qty) VALUES (%s, 'reborn', 1)", (k,))
            if i % 3 == 0:
                self.sql("DELETE FROM soak WHERE id = %s", (k,))
        self.streamer.kill9()
        time.sleep(2.5)                         # tombstones expire meanwhile
        self.start_streamer()
        self.faults["gc_replay"] += 1
        for ix in indexes:
            self.env.es.req("PUT", "/%s/_settings" % ix, {"index.gc_deletes": "60s"})

    def live_indexes(self):
        return [r[0] for r in self.sql("SELECT index_name FROM reindex.target WHERE state = 'streaming' ORDER BY id")]

    def check(self, writer, what):
        """Quiet, then reindex_verify every live index: nothing may differ."""
        self.es_clear()
        writer.hold()
        try:
            for ix in self.live_indexes():
                r = self.env.verify(ix, timeout=600)
                self.verify_runs += 1
                diffs = r["missing"] + r["extra"] + r["stale"] + r["mismatched"]
                self.differences += diffs
                self.verified_rows += r["rows_checked"]
                self.verified_docs += r["docs_checked"]
                self.log("  verify %s after %s: %s rows, %s documents, %s missing, %s extra, %s stale,"
                         " %s mismatched (%s changed while running)" % (
                             ix, what, r["rows_checked"], r["docs_checked"], r["missing"], r["extra"],
                             r["stale"], r["mismatched"], r["changed"]))
                assert r["state"] == "done" and diffs == 0, (ix, what, r, self.env.streamer_logs())
        finally:
            writer.resume()

    def cycle(self, writer, version, first, kills_bf, kills_st, stream_s):
        new = "soak_v%d" % version
        job = self.one("SELECT reindex.reindex_begin('soak', 'soak', %s, 'default', %s::jsonb)",
                       (new, json.dumps({"settings": {"number_of_shards": 2}, "backfill_workers": 1})))
        self.log("cycle %d: %s, job %s" % (version, new, job))
        self.backfill_faults(job, kills_bf)
        self.wait_state(job, ("catching_up", "ready"))
        self.stream_faults(stream_s, kills_st)
        self.check(writer, "the faults of cycle %d" % version)
        self.wait_state(job, "ready")
        self.sql("SELECT reindex.reindex_swap_alias('soak', force => true)")
        if not first:
            self.sql("SELECT reindex.reindex_rollback('soak')")
            self.stream_faults(1, 1)
            self.sql("SELECT reindex.reindex_swap_alias('soak', force => true)")
            self.gc_replay(self.live_indexes())
            self.check(writer, "swap, rollback, swap and the gc_deletes replay")
        self.sql("SELECT reindex.reindex_finish(%s, true)", (job,))
        wait_for(lambda: self.one("SELECT count(*) FROM reindex.target WHERE state IN ('retiring')") == 0,
                 120, "the old target to retire")
        return job

    def slot_lost(self, version):
        """A reindex whose own slot the server invalidates during its
        backfill: the stream of the shared slot goes on for the live index
        (its restart_lsn keeps up: each WAL switch waits for it), the own
        slot's stays at the consistent point until it is more than
        max_slot_wal_keep_size behind and a checkpoint invalidates it.  The
        job must fail with the reason, its target retire, the streamer live;
        the live index is verified by the check that follows."""
        new = "soak_v%d" % version
        shared = self.env.shared_slot()
        # every _bulk slowed: the backfill (one request at a time) outlasts what follows
        self.env.es.faults({"type": "delay", "ms": 400, "path": "_bulk"})
        self.faults["delay"] += 1
        job = self.one("SELECT reindex.reindex_begin('soak', 'soak', %s, 'default', %s::jsonb)",
                       (new, json.dumps({"backfill_workers": 1})))
        self.log("slot_invalidated: %s, job %s" % (new, job))
        slot = "reindex_%s" % self.one("SELECT new_target FROM reindex.job WHERE id = %s", (job,))
        wait_for(lambda: self.one("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                                  (slot,)) == 1, 120, "slot %s to be created" % slot)
        assert self.job_state(job) == "backfilling", self.job_state(job)
        self.sql("ALTER SYSTEM SET max_slot_wal_keep_size = '48MB'")
        self.sql("SELECT pg_reload_conf()")
        try:
            for i in range(40):
                if self.one("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (slot,)) == "lost":
                    break
                assert self.job_state(job) == "backfilling", \
                    "the backfill of %s ended before its slot was invalidated" % new
                switched = self.one("SELECT pg_switch_wal()::text")
                self.sql("CHECKPOINT")
                # the shared slot is read all along: its restart_lsn passes the switch
                wait_for(lambda: self.one("SELECT restart_lsn >= %s::pg_lsn FROM pg_replication_slots"
                                          " WHERE slot_name = %s", (switched, shared)), 60,
                         "the shared slot %s to pass %s" % (shared, switched), interval=0.1)
                self.sql("CHECKPOINT")
            else:
                raise AssertionError("slot %s was not invalidated" % slot)
            self.log("  slot %s invalidated after %d WAL switches" % (slot, i))
            assert self.one("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s",
                            (shared,)) != "lost", "the shared slot was invalidated too"
            self.faults["slot_invalidated"] += 1
            self.es_clear()
            wait_for(lambda: self.job_state(job) == "failed", 300, "job %s to fail (is %s)\n%s" % (
                job, self.job_state(job), self.env.streamer_logs()))
            err = self.one("SELECT error FROM reindex.job WHERE id = %s", (job,))
            assert "invalidated" in err and "new snapshot is needed" in err and "reindex_begin" in err, err
            wait_for(lambda: self.one("SELECT t.state FROM reindex.target t JOIN reindex.job j"
                                      " ON j.new_target = t.id WHERE j.id = %s", (job,)) == "retired",
                     120, "the target of job %s to retire" % job)
            assert self.streamer.alive(), self.env.streamer_logs()
        finally:
            self.es_clear()
            self.sql("ALTER SYSTEM RESET max_slot_wal_keep_size")
            self.sql("SELECT pg_reload_conf()")

    def lost_index(self, version):
        """DELETE /<new index> once its backfill has made progress, writes
        going on: the job fails with the reason (whether the backfill or the
        stream met the 404 first), not one row is dead-lettered, the index
        is not recreated, and its target retires; the index behind the
        alias is verified by the check that follows."""
        new = "soak_v%d" % version
        dead = self.one("SELECT count(*) FROM reindex.dead_letter")
        job = self.one("SELECT reindex.reindex_begin('soak', 'soak', %s, 'default', %s::jsonb)",
                       (new, json.dumps({"backfill_workers": 1})))
        self.log("index_lost: %s, job %s" % (new, job))
        wait_for(lambda: (self.one("SELECT t.rows_backfilled FROM reindex.target t JOIN reindex.job j"
                                   " ON j.new_target = t.id WHERE j.id = %s", (job,)) or 0) > 0
                 or self.job_state(job) != "backfilling", 300, "the backfill of %s to start" % new)
        st, res = self.env.es.req("DELETE", "/%s" % new)
        assert st == 200, (st, res)
        self.faults["index_lost"] += 1
        wait_for(lambda: self.job_state(job) == "failed", 120, "job %s to fail (is %s)\n%s" % (
            job, self.job_state(job), self.env.streamer_logs()))
        err = self.one("SELECT error FROM reindex.job WHERE id = %s", (job,))
        assert "index %s no longer exists" % new in err and "reindex_begin" in err, err
        assert self.one("SELECT count(*) FROM reindex.dead_letter") == dead, self.env.streamer_logs()
        wait_for(lambda: self.one("SELECT t.state FROM reindex.target t JOIN reindex.job j"
                                  " ON j.new_target = t.id WHERE j.id = %s", (job,)) == "retired",
                 120, "the target of job %s to retire" % job)
        st, _ = self.env.es.req("GET", "/%s" % new)
        assert st == 404, "index %s was recreated" % new
        assert self.streamer.alive(), self.env.streamer_logs()

    def run(self, kills_bf=6, kills_st=8, stream_s=8):
        t0 = time.monotonic()
        create_items_table(self.env, "soak", self.rows, toast_every=40)
        self.start_streamer()
        writer = Writer(self.env, "soak", self.seed)
        try:
            version = 1
            self.cycle(writer, version, True, kills_bf, kills_st, stream_s)
            while True:
                version += 1
                self.cycle(writer, version, False, kills_bf, kills_st, stream_s)
                if time.monotonic() - t0 >= self.duration:
                    break
            if self.es_faults:
                self.slot_lost(version + 1)
                self.check(writer, "the invalidated slot")
                version += 1
                if self.duration > 0:
                    # the long soak: a full cycle after it (the short one
                    # leaves that to test_slot_invalidated and index_lost)
                    version += 1
                    self.cycle(writer, version, False, kills_bf, kills_st, stream_s)
            if self.lose_index:
                self.lost_index(version + 1)
        finally:
            writer.close()
        self.check(writer, "the end")
        self.report(writer, time.monotonic() - t0)
        return self

    def report(self, writer, elapsed):
        stale = self.one("SELECT sum(stale_rejected) FROM reindex.target") or 0
        retried = self.one("SELECT sum(retried) FROM reindex.target") or 0
        self.summary = {
            "seed": self.seed, "seconds": round(elapsed), "faults": self.faults,
            "faults_fired_by_devsearch": self.fired,
            "rows_written": writer.steps, "writes_by_kind": writer.load.counts,
            "writer_errors_during_restarts": writer.errors,
            "verify_runs": self.verify_runs, "rows_verified": self.verified_rows,
            "documents_verified": self.verified_docs, "differences": self.differences,
            "replayed_duplicates_rejected_409": int(stale), "retried_per_catalog": int(retried),
        }
        self.log("soak report: " + json.dumps(self.summary, sort_keys=True))


PGCLUSTER = os.path.join(HERE, "..", "pgcluster.sh")


def main():
    ap = argparse.ArgumentParser(description="reindex fault soak (make soak)")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--duration", type=int, default=1200, help="seconds (at least one full cycle)")
    ap.add_argument("--rows", type=int, default=200000)
    args = ap.parse_args()
    import conftest as sc  # noqa: E402  (test/streamer/conftest.py: cluster, devsearch, streamers)
    gen = sc._module_env(True, ["--no-auto-create-index"])
    env = next(gen)
    ok = False
    try:
        print("soak: seed %d, %d s, %d rows" % (args.seed, args.duration, args.rows), flush=True)
        Soak(env, args.seed, args.duration, args.rows,
             log=lambda m: print(m, flush=True)).run(kills_bf=8, kills_st=12, stream_s=30)
        ok = True
    finally:
        try:
            next(gen)
        except StopIteration:
            pass
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
