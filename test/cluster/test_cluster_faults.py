"""Real cluster faults: the streamer against a 3-node OpenSearch cluster
(test/engine/opensearch --nodes 3) whose indexes have one replica, each fault
made by the cluster itself, never simulated:
  - the node holding the primary is stopped mid-stream and started again:
    streaming goes on with two nodes (the replica is promoted) and nothing is
    lost;
  - real 429 es_rejected_execution_exception: the nodes run with a write
    thread pool of one thread and a queue of one (thread_pool.write.size /
    queue_size, static node settings) while other clients load the cluster;
    the rejected items are retried, none is dead-lettered;
  - a write block (index.blocks.write) set mid-stream answers every item 403
    cluster_block_exception: retried until the block is lifted, never
    dead-lettered, nothing lost;
  - a mapping conflict is dead-lettered with the engine's own error.
Once a fault is over and everything acknowledged, the replica is dropped
before the oracle reads (ThreeNodes.single_copy: its _doc scan is exact on
one shard copy only).
Each test ends with the per-document oracle (test/streamer/streamer_oracle.py:
ids, sources, versions), through the streamer suite's fixtures (Cluster, Env).
The cluster is private to this module and runs whatever REINDEX_TEST_ENGINE
says (these faults need a real cluster of several nodes), so the module lives
outside the folders test/run-all.sh runs once per engine: it runs once.
"""

import json
import os
import shutil
import sys
import tempfile
import threading

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for d in ("test", "test/streamer", "test/engine"):
    sys.path.insert(0, os.path.join(TOP, d))
from streamer.conftest import Cluster, Env  # noqa: E402
from streamer_oracle import http, lsn_to_int, quiesce, reconcile, wait_for  # noqa: E402
from streamer_workload import Workload, create_items_table  # noqa: E402
import search_engine  # noqa: E402

WRITE_POOL = ("-E", "thread_pool.write.size=1", "-E", "thread_pool.write.queue_size=1")


class ThreeNodes:
    """The engine as the conftest's Env sees it: a URL (node-1's HTTP), plus
    node control (stop/start through the launcher's stdin)."""
    kind = "opensearch"
    shared = False
    endpoint_args = {"auth": "none", "username": None, "secret": None, "ca_file": None,
                     "verify_tls": True}

    def __init__(self, workdir):
        self.engine = search_engine.start_opensearch(workdir, "--nodes", "3", *WRITE_POOL)
        self.url = self.engine.url
        assert len(self.engine.nodes) == 3, self.engine.nodes

    def req(self, method, path, body=None):
        return http(method, self.url + path, body)

    def primary_node(self, index):
        status, shards = self.req("GET", "/_cat/shards/%s?format=json" % index)
        assert status == 200, shards
        return [s["node"] for s in shards if s["prirep"] == "p" and s["state"] == "STARTED"]

    def nodes_up(self):
        status, res = self.req("GET", "/_cluster/health")
        return res["number_of_nodes"] if status == 200 else 0

    def rejected_writes(self):
        status, res = self.req("GET", "/_nodes/stats/thread_pool")
        assert status == 200, res
        return sum(n["thread_pool"]["write"]["rejected"] for n in res["nodes"].values())

    def single_copy(self, index):
        """Drop the replica once the fault is over, before the oracle reads:
        its _doc + search_after scan is a total order on one shard copy only
        (pages served by different copies skip or repeat documents).  Every
        write was acknowledged by then (quiesce), so this changes nothing the
        streamer did."""
        status, res = self.req("PUT", "/%s/_settings" % index, {"index.number_of_replicas": 0})
        assert status == 200, res

        def one():
            st, shards = self.req("GET", "/_cat/shards/%s?format=json" % index)
            return st == 200 and len(shards) == 1 and shards[0]["state"] == "STARTED"
        wait_for(one, 120, "index %s to have one shard copy" % index)

    def stop(self):
        rc = self.engine.stop()
        assert rc == 0, "opensearch exited %s:\n%s" % (rc, self.engine.stderr_tail())


@pytest.fixture(scope="module")
def cenv():
    workdir = tempfile.mkdtemp(prefix="reindex-cluster-faults.")
    os.chmod(workdir, 0o755)
    es = ThreeNodes(workdir)
    cluster = Cluster(workdir)
    e = None
    try:
        e = Env(workdir, cluster, es)
        yield e
    finally:
        if e is not None:
            e.close()
        es.stop()
        cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def replicated(extra=None):
    """Index options: one replica; the copies kept off node-1 (the HTTP
    entry point of the streamer, which must stay up) when asked."""
    s = {"index": {"number_of_replicas": 1}}
    s["index"].update(extra or {})
    return {"settings": s}


def stream_ready(cenv, table, rows, index, options, name):
    audit = cenv.create_audit_slot("audit_" + table)
    create_items_table(cenv, table, rows)
    job = cenv.begin(table, table, index, options)
    cenv.start_streamer(name, ["--batch-docs=200"])
    cenv.wait_job(job, "ready", timeout=300)
    status, res = cenv.es.req("GET", "/%s/_settings" % index)
    assert res[index]["settings"]["index"]["number_of_replicas"] == "1", res
    return audit, Workload(cenv, table, rows + 1, seed=len(table))


def test_primary_node_stopped_and_restarted_mid_stream(cenv):
    audit, load = stream_ready(cenv, "nodestop", 5000, "nodestop_v1",
                               replicated({"routing": {"allocation": {"exclude": {"_name": "node-1"}}}}),
                               "nodestop")
    cenv.es.req("GET", "/_cluster/health/nodestop_v1?wait_for_status=green&timeout=120s")
    load.run(200)
    primary = cenv.es.primary_node("nodestop_v1")
    assert len(primary) == 1 and primary[0] != "node-1", primary
    answer = cenv.es.engine.control("stop %s" % primary[0])
    assert answer == "stopped %s" % primary[0], answer
    wait_for(lambda: cenv.es.nodes_up() == 2, 120, "the cluster to see 2 nodes")
    # streaming goes on with the node down: every write committed now is
    # acknowledged by the promoted replica
    load.run(300)
    quiesce(cenv.conn, cenv.es.url, "nodestop_v1", timeout=300)
    promoted = cenv.es.primary_node("nodestop_v1")
    assert promoted and promoted[0] not in (primary[0], "node-1"), promoted
    answer = cenv.es.engine.control("start %s" % primary[0], timeout=300)
    assert answer.startswith("started %s " % primary[0]), answer
    load.run(200)
    quiesce(cenv.conn, cenv.es.url, "nodestop_v1", timeout=300)
    cenv.es.single_copy("nodestop_v1")
    cenv.reconcile(["nodestop_v1"], audit, timeout=300)
    t = cenv.target_row("nodestop_v1")
    assert t["dead_lettered"] == 0, t
    load.close()
    assert cenv.stop_streamers().get("nodestop") == 0


class Noise:
    """Other clients of the cluster: threads sending _bulk requests of 500
    documents to an index of their own until stopped, so the one-thread write
    pools stay saturated and reject."""

    def __init__(self, url, threads=6):
        self.url, self.stop_flag = url, threading.Event()
        body = "".join('{"index":{"_index":"noise"}}\n{"n":%d,"pad":"%s"}\n' % (i, "x" * 200)
                       for i in range(500))
        self.threads = [threading.Thread(target=self.run, args=(body,), daemon=True)
                        for _ in range(threads)]
        self.sent = 0
        for t in self.threads:
            t.start()

    def run(self, body):
        while not self.stop_flag.is_set():
            http("POST", self.url + "/_bulk", body.encode())
            self.sent += 1

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(120)


def test_real_429_rejections_are_retried(cenv):
    audit, load = stream_ready(cenv, "rejected", 5000, "rejected_v1", replicated(), "rejected")
    before = cenv.target_row("rejected_v1")["retried"]
    rejected = cenv.es.rejected_writes()
    noise = Noise(cenv.es.url)
    try:
        # write until the cluster has rejected some of the streamer's own items
        load.run_until(lambda: cenv.target_row("rejected_v1")["retried"] > before,
                       max_steps=20000, min_steps=200)
        wait_for(lambda: cenv.target_row("rejected_v1")["retried"] > before, 120,
                 "the streamer to retry a rejected item")
    finally:
        noise.stop()
    assert cenv.es.rejected_writes() > rejected
    load.run(100)
    quiesce(cenv.conn, cenv.es.url, "rejected_v1", timeout=300)
    cenv.es.single_copy("rejected_v1")
    cenv.reconcile(["rejected_v1"], audit, timeout=300)
    t = cenv.target_row("rejected_v1")
    assert t["dead_lettered"] == 0, t
    load.close()
    assert cenv.stop_streamers().get("rejected") == 0


def test_write_block_mid_stream_is_retried_until_lifted(cenv):
    audit, load = stream_ready(cenv, "blocked", 5000, "blocked_v1", replicated(), "blocked")
    load.run(100)
    quiesce(cenv.conn, cenv.es.url, "blocked_v1", timeout=120)
    before = cenv.target_row("blocked_v1")["retried"]
    status, res = cenv.es.req("PUT", "/blocked_v1/_settings", {"index.blocks.write": True})
    assert status == 200, res
    try:
        load.run(200)
        blocked_lsn = cenv.lsn()
        # every item is refused while the block holds: retried, not acknowledged
        wait_for(lambda: cenv.target_row("blocked_v1")["retried"] > before, 120,
                 "the streamer to retry blocked items")
        t = cenv.target_row("blocked_v1")
        assert t["dead_lettered"] == 0, t
        slot = cenv.target_of("blocked_v1")["slot"]
        with cenv.conn.cursor() as cur:
            cur.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                        (slot,))
            confirmed = lsn_to_int(cur.fetchone()[0])
        assert confirmed < blocked_lsn, "the slot confirmed writes the blocked index refused"
    finally:
        status, res = cenv.es.req("PUT", "/blocked_v1/_settings", {"index.blocks.write": None})
        assert status == 200, res
    load.run(100)
    quiesce(cenv.conn, cenv.es.url, "blocked_v1", timeout=300)
    cenv.es.single_copy("blocked_v1")
    cenv.reconcile(["blocked_v1"], audit, timeout=300)
    t = cenv.target_row("blocked_v1")
    assert t["dead_lettered"] == 0, t
    dead = cenv.sql("SELECT count(*) FROM reindex.dead_letter WHERE target_id = %s",
                    (cenv.target_of("blocked_v1")["id"],))
    assert dead[0][0] == 0, dead
    load.close()
    assert cenv.stop_streamers().get("blocked") == 0


def test_mapping_conflict_is_dead_lettered_with_the_engines_error(cenv):
    audit = cenv.create_audit_slot("audit_conflict")
    cenv.sql("CREATE TABLE conflict (id int PRIMARY KEY, code text, note text)")
    cenv.sql("INSERT INTO conflict SELECT g, g::text, 'ok' FROM generate_series(1, 2000) g")
    options = replicated()
    options["mappings"] = {"dynamic": "strict",
                           "properties": {"id": {"type": "integer"}, "code": {"type": "integer"},
                                          "note": {"type": "keyword"}}}
    job = cenv.begin("conflict", "conflict", "conflict_v1", options)
    cenv.start_streamer("conflict")
    cenv.wait_job(job, "ready", timeout=300)
    cenv.sql("INSERT INTO conflict VALUES (5000, 'forty-two', 'streamed')")
    cenv.sql("UPDATE conflict SET note = 'still fine' WHERE id = 18")
    quiesce(cenv.conn, cenv.es.url, "conflict_v1", timeout=120)
    cenv.es.single_copy("conflict_v1")
    rep = reconcile(cenv.conn, cenv.es.url, "conflict_v1", audit)
    assert rep.missing == ["5000"], rep.details()
    assert not rep.extra and not rep.stale and not rep.wrong_version, rep.details()
    dead = cenv.sql("""SELECT doc_id, http_status, error::text FROM reindex.dead_letter
                        WHERE target_id = %s""", (cenv.target_of("conflict_v1")["id"],))
    assert len(dead) == 1 and dead[0][0] == "5000" and dead[0][1] == 400, dead
    err = json.loads(dead[0][2])
    err = err.get("error", err) if isinstance(err, dict) else err
    text = json.dumps(err)
    # the engine's own words, as OpenSearch 2.19 writes them
    assert "mapper_parsing_exception" in text, text
    assert "failed to parse field [code] of type [integer]" in text, text
    assert "forty-two" in text, text
    assert cenv.stop_streamers().get("conflict") == 0
