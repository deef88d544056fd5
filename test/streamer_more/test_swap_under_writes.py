"""reindex_swap_alias's completeness check while the table is being written.

The swap compares the new index's document count with the table's row count.
Under concurrent writes both move while they are compared: a count taken at
one moment and compared with a count taken a moment later differs by the
rows written in between, and the swap used to refuse a complete index for it
(make demo, under 200 transactions/s of which 25% deletes: "the table has
63685 rows and the index 63679 documents; 0 refused documents do not explain
the difference of 6").  Now:
  1. a complete index swaps while a delete load runs, again and again (swap,
     rollback, swap ...), and reindex_verify then finds both indexes exact, so
     the swaps that passed were right;
  2. an index that really lacks documents (removed behind the streamer's back,
     more than the writes move the count in a moment) is still refused under
     the same load, saying that concurrent writes changed the table.
"""

import threading

import psycopg2
import pytest

from streamer_workload import create_items_table


class DeleteLoad:
    """Deletes the lowest id, one row per transaction, until stopped: the
    table shrinks all the time, so a count taken a moment later is smaller."""

    def __init__(self, env, table, pause=0.0):
        self.conn = env.pg.connect()
        self.table, self.pause = table, pause
        self.stopped = threading.Event()
        self.deleted = 0
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            with self.conn.cursor() as cur:
                while not self.stopped.is_set():
                    cur.execute("DELETE FROM %s WHERE id = (SELECT min(id) FROM %s)" % (self.table, self.table))
                    self.deleted += cur.rowcount
                    if self.pause:
                        self.stopped.wait(self.pause)
        except Exception as e:         # reported by stop()
            self.error = e

    def stop(self):
        self.stopped.set()
        self.thread.join(60)
        self.conn.close()
        assert self.error is None, self.error
        return self.deleted


def reindex_ready(env, table, rows):
    """An alias on index <table>_v1 and a job building <table>_v2, ready."""
    create_items_table(env, table, rows, toast_every=1000)
    job1 = env.begin(table, table, table + "_v1")
    env.start_streamer(table)
    env.wait_job(job1, "ready")
    env.swap(table)
    env.sql("SELECT reindex.reindex_finish(%s)", (job1,))     # initial build: nothing to retire
    job2 = env.begin(table, table, table + "_v2")
    env.wait_job(job2, "ready")
    return job2


def test_a_complete_index_swaps_while_rows_are_deleted(env):
    job2 = reindex_ready(env, "sw", 60000)

    load = DeleteLoad(env, "sw")
    try:
        for _ in range(3):
            before = load.deleted
            env.swap("sw")
            assert env.job_state(job2) == "swapped"
            assert env.es.alias_indices("sw") == ["sw_v2"]
            env.sql("SELECT reindex.reindex_rollback('sw')")
            assert env.es.alias_indices("sw") == ["sw_v1"]
            assert load.deleted > before, "the load did not run during the swap"
        env.swap("sw")
    finally:
        deleted = load.stop()
    assert deleted > 0
    # the swaps that passed were right: both indexes hold exactly the table
    rows = env.one("SELECT count(*) FROM sw")
    for r in env.assert_verified(["sw_v1", "sw_v2"]):
        assert r["rows_checked"] == rows and r["docs_checked"] == rows, r


def test_an_index_lacking_documents_is_refused_under_writes(env):
    job2 = reindex_ready(env, "sl", 20000)

    # 500 documents of high ids (the load deletes low ones) lost behind the
    # streamer's back
    lines = "".join('{"delete": {"_index": "sl_v2", "_id": "%d"}}\n' % i for i in range(19001, 19501))
    status, res = env.es.req("POST", "/_bulk", lines)
    assert status == 200 and not res["errors"], res

    load = DeleteLoad(env, "sl", pause=0.005)
    try:
        with pytest.raises(psycopg2.Error) as e:
            env.swap("sl")
    finally:
        load.stop()
    assert e.value.pgcode == "55000", e.value
    assert 'index "sl_v2" lacks documents of table public.sl' in e.value.pgerror, e.value.pgerror
    detail = e.value.diag.message_detail
    assert "do not explain the difference" in detail, detail
    assert env.job_state(job2) == "ready"
    assert env.es.alias_indices("sl") == ["sl_v1"]
