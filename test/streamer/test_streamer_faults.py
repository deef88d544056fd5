"""The search cluster misbehaves: 429 items, 503 and 429 whole requests,
slow answers.  The streamer retries with backoff, counts the retries, and the
index still converges exactly (oracle).  A non-retryable item (a 400 mapping
error) is dead-lettered with its LSN, id and error, counted in the target and
in reindex_status, and never blocks the rest (I6); the job needs attention
instead of being ready (test/streamer_more/test_refusals.py has the rest).
"""

import json

import pytest

from streamer_oracle import reconcile, quiesce, lsn_to_int, wait_for
from streamer_workload import Workload, create_items_table


@pytest.mark.devsearch_only("injects 429 items, 503 and 429 answers and delays through POST /_dev/faults; "
                            "real 429s on a 3-node cluster with a small write queue are the fault suite's")
def test_retryable_faults_converge_and_are_counted(env):
    audit = env.create_audit_slot("audit_faults")
    create_items_table(env, "flaky", 6000)
    before = env.es.stats()
    env.es.faults({"type": "bulk_item_429", "rate": 0.2, "path": "_bulk"},
                  {"type": "http_503", "rate": 0.1, "path": "_bulk"},
                  {"type": "http_429", "rate": 0.05, "path": "_bulk"},
                  {"type": "delay", "ms": 20, "rate": 0.3, "path": "_bulk"})
    job = env.begin("flaky", "flaky", "flaky_v1")
    env.start_streamer("flaky", ["--batch-docs=300"])
    load = Workload(env, "flaky", 100000, seed=21)
    load.run_until(lambda: env.job_state(job) == "ready", max_steps=3000, min_steps=300)
    env.wait_job(job, "ready", timeout=300)
    load.run(300)
    env.reconcile(["flaky_v1"], audit, timeout=300)
    env.es.clear_faults()
    t = env.target_row("flaky_v1")
    assert t["retried"] > 0, t
    assert t["dead_lettered"] == 0, t
    assert env.es.stats() != before
    load.close()
    assert env.stop_streamers() == {"flaky": 0}


def test_mapping_error_is_dead_lettered(env):
    audit = env.create_audit_slot("audit_dlq")
    env.sql("CREATE TABLE dlq (id int PRIMARY KEY, code text, note text)")
    env.sql("INSERT INTO dlq SELECT g, g::text, 'ok' FROM generate_series(1, 2000) g")
    env.sql("UPDATE dlq SET code = 'not a number' WHERE id = 17")       # fails in the backfill
    job = env.begin("dlq", "dlq", "dlq_v1",
                    {"mappings": {"dynamic": "strict",
                                  "properties": {"id": {"type": "integer"},
                                                 "code": {"type": "integer"},
                                                 "note": {"type": "keyword"}}}})
    env.start_streamer("dlq")
    # a refused document keeps the job from "ready" (the budget max_refused is 0)
    env.wait_job(job, "needs_attention")
    env.sql("INSERT INTO dlq VALUES (5000, 'forty-two', 'streamed')")  # fails in the stream
    streamed_lsn = env.lsn()
    env.sql("UPDATE dlq SET note = 'still fine' WHERE id = 18")

    quiesce(env.conn, env.es.url, "dlq_v1")
    rep = reconcile(env.conn, env.es.url, "dlq_v1", audit)
    # exactly the two unmappable rows are absent; everything else is exact
    assert sorted(rep.missing) == ["17", "5000"], rep.details()
    assert not rep.extra and not rep.stale and not rep.wrong_version, rep.details()

    dead = env.sql("""SELECT doc_id, http_status, lsn::text, error::text FROM reindex.dead_letter
                       WHERE target_id = %s ORDER BY doc_id""", (env.target_of("dlq_v1")["id"],))
    assert [d[0] for d in dead] == ["17", "5000"], dead
    assert all(d[1] == 400 for d in dead), dead
    assert all("mapper_parsing_exception" in d[3] or "document_parsing_exception" in d[3] for d in dead), dead
    assert lsn_to_int(dead[1][2]) <= streamed_lsn
    assert lsn_to_int(dead[1][2]) > env.target_of("dlq_v1")["consistent_point"]
    # the counters reach the catalog with the next status write (--status-interval)
    wait_for(lambda: env.target_row("dlq_v1")["dead_lettered"] == 2, 30,
             "target dlq_v1 to count 2 dead letters (is %s)" % env.target_row("dlq_v1")["dead_lettered"])

    with env.conn.cursor() as cur:
        cur.execute("SELECT * FROM reindex.reindex_status('dlq')")
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    shown = [r for r in rows if r.get("new_index") == "dlq_v1"]
    assert shown and shown[0].get("dead_lettered") == 2, json.dumps(rows, default=str)
    assert env.stop_streamers() == {"dlq": 0}
