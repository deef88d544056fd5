"""reindex_verify end to end: a clean index verifies clean; every kind of
difference planted behind the streamer's back is found, named in the samples
and repaired; a second run finds nothing; writes while a run reads are not
reported; require_verified holds a swap until a clean verify; the Python
oracle agrees with the result (an independent check)."""
import json
import threading

from streamer_oracle import wait_for
from streamer_workload import Workload, create_items_table


def _doc(env, index, doc_id):
    st, b = env.es.req("GET", "/%s/_doc/%s" % (index, doc_id))
    return st, b


def test_clean_then_planted_differences_found_and_repaired(env):
    audit = env.create_audit_slot("audit")
    create_items_table(env, "vitems", 3000, toast_every=40)
    env.start_streamer("verify")
    job = env.begin("vitems", "vitems", "vitems_v1", {"settings": {"number_of_shards": 2}})
    load = Workload(env, "vitems", 100000, seed=5)
    load.run_until(lambda: env.job_state(job) == "ready", max_steps=2000, min_steps=100)
    env.wait_job(job, "ready")
    load.run(100)

    rows = env.one("SELECT count(*) FROM vitems")
    (clean,) = env.assert_verified(["vitems_v1"])
    assert clean["rows_checked"] == rows and clean["docs_checked"] == rows, clean
    assert clean["samples"] == {} and clean["repaired"] == 0
    status = env.sql("SELECT verified_at IS NOT NULL, verify FROM reindex.reindex_status('vitems')")[0]
    assert status[0] and status[1].startswith("clean: %d rows" % rows), status

    # plant one difference of each kind, as a lost event or a stray write would
    ids = [r[0] for r in env.sql("SELECT id FROM vitems ORDER BY id LIMIT 3")]
    lost, changed_behind, low = (str(i) for i in ids)
    st, d = _doc(env, "vitems_v1", lost)
    assert st == 200
    st, _ = env.es.req("DELETE", "/vitems_v1/_doc/%s?version=%d&version_type=external"
                       % (lost, d["_version"] + 1))
    assert st == 200
    st, d = _doc(env, "vitems_v1", changed_behind)
    st, _ = env.es.req("PUT", "/vitems_v1/_doc/%s?version=%d&version_type=external_gte"
                       % (changed_behind, d["_version"]), {"name": "not the row"})
    assert st in (200, 201)
    st, _ = env.es.req("PUT", "/vitems_v1/_settings", {"index.gc_deletes": "0ms"})
    assert st == 200
    st, d = _doc(env, "vitems_v1", low)
    env.es.req("DELETE", "/vitems_v1/_doc/%s?version=%d&version_type=external" % (low, d["_version"] + 1))
    wait_for(lambda: env.es.req("PUT", "/vitems_v1/_doc/%s?version=7&version_type=external" % low,
                                d["_source"])[0] == 201, 30, "the tombstone of %s to expire" % low)
    st, _ = env.es.req("PUT", "/vitems_v1/_doc/no-such-row?version=9&version_type=external", {"x": 1})
    assert st == 201
    env.es.req("PUT", "/vitems_v1/_settings", {"index.gc_deletes": "60s"})

    found = env.verify("vitems_v1")
    assert found["state"] == "done", found
    assert (found["missing"], found["extra"], found["stale"], found["mismatched"]) == (1, 1, 1, 1), found
    assert found["samples"] == {"missing": [lost], "extra": ["no-such-row"], "stale": [low],
                                "mismatched": [changed_behind]}, found
    status = env.one("SELECT verify FROM reindex.reindex_status('vitems')")
    assert status == "1 missing, 1 extra, 1 stale, 1 mismatched", status

    fixed = env.verify("vitems_v1", repair=True)
    assert fixed["state"] == "done" and fixed["repaired"] == 4 and fixed["repair_failed"] == 0, fixed
    again = env.verify("vitems_v1")
    assert (again["missing"], again["extra"], again["stale"], again["mismatched"]) == (0, 0, 0, 0), again
    st, d = _doc(env, "vitems_v1", changed_behind)
    assert d["_source"]["name"] != "not the row"
    assert _doc(env, "vitems_v1", "no-such-row")[0] == 404

    # the independent check agrees
    env.reconcile(["vitems_v1"], audit)

    # writes while a run reads it are not reported as differences
    stop = threading.Event()
    writer = Workload(env, "vitems", 200000, seed=9)

    def write():
        while not stop.is_set():
            writer.step()

    th = threading.Thread(target=write)
    th.start()
    try:
        busy = env.verify("vitems_v1", options={"batch_size": 100})
    finally:
        stop.set()
        th.join()
    assert busy["state"] == "done", busy
    assert (busy["missing"], busy["extra"], busy["stale"], busy["mismatched"]) == (0, 0, 0, 0), busy
    assert sum(writer.counts.values()) > 0
    env.reconcile(["vitems_v1"], audit)


def test_require_verified_holds_the_swap(env):
    create_items_table(env, "vgate", 500, toast_every=100)
    env.start_streamer("gate")
    job = env.begin("vgate", "vgate", "vgate_v1", {"require_verified": True})
    env.wait_job(job, "ready")
    try:
        env.swap("vgate")
        raise AssertionError("swap without a verify went through")
    except Exception as e:                      # psycopg2 error, not ours
        assert "has no clean verify" in str(e), e
    assert env.job_state(job) == "ready"
    env.assert_verified(["vgate_v1"])
    env.swap("vgate")
    assert env.job_state(job) == "swapped"
    assert env.es.alias_indices("vgate") == ["vgate_v1"]
    # verify by alias: the index it points to
    r = env.verify("vgate", options={"content": False})
    assert r["state"] == "done" and r["index_name"] == "vgate_v1" and r["rows_checked"] == 500, r
