"""Fault injection: what a client sees must be what a real cluster sends."""
import http.client
import json
import socket
import time

import pytest


def bulk_lines(n, index="f"):
    out = []
    for i in range(n):
        out += [{"index": {"_index": index, "_id": str(i)}}, {"n": i}]
    return out


def test_bulk_item_429_envelope_es(ds_factory):
    ds = ds_factory("--fault", "bulk_item_429:rate=0.5", "--seed", "7")
    st, body = ds.bulk(bulk_lines(200))
    assert st == 200
    assert body["errors"] is True
    rejected = [it["index"] for it in body["items"] if it["index"]["status"] == 429]
    ok = [it["index"] for it in body["items"] if it["index"]["status"] == 201]
    assert 50 < len(rejected) < 150 and len(rejected) + len(ok) == 200
    r = rejected[0]
    assert set(r) == {"_index", "_id", "status", "error"}
    assert r["error"]["type"] == "es_rejected_execution_exception"
    assert r["error"]["reason"].startswith("rejected execution of ")
    assert "EsThreadPoolExecutor[name = devsearch/write" in r["error"]["reason"]
    # rejected items were not applied
    st, got = ds.json("GET", "/f/_doc/" + r["_id"])
    assert st == 404 and got["found"] is False


def test_bulk_item_429_is_deterministic_with_seed(ds_factory):
    runs = []
    for _ in range(2):
        ds = ds_factory("--fault", "bulk_item_429:rate=0.3", "--seed", "42")
        st, body = ds.bulk(bulk_lines(100))
        runs.append([it["index"]["status"] for it in body["items"]])
        ds.stop()
    assert runs[0] == runs[1]
    assert 429 in runs[0] and 201 in runs[0]


def test_bulk_item_429_opensearch_type(ds_factory):
    ds = ds_factory("--flavor", "opensearch", "--fault", "bulk_item_429")
    st, body = ds.bulk(bulk_lines(3))
    assert [it["index"]["status"] for it in body["items"]] == [429, 429, 429]
    assert body["items"][0]["index"]["error"]["type"] == "rejected_execution_exception"


@pytest.mark.parametrize("kind,status,etype", [
    ("http_429", 429, "es_rejected_execution_exception"),
    ("http_503", 503, "cluster_block_exception"),
])
def test_whole_request_faults(ds, kind, status, etype):
    st, _ = ds.json("POST", "/_dev/faults", {"type": kind, "path": "_bulk", "count": 1})
    assert st == 200
    st, body = ds.bulk(bulk_lines(2))
    assert st == status
    assert body["status"] == status
    assert body["error"]["type"] == etype
    assert body["error"]["root_cause"][0]["type"] == etype
    # count=1: the next request goes through and nothing was applied before
    st, body = ds.bulk(bulk_lines(2))
    assert st == 200 and body["items"][0]["index"]["result"] == "created"
    # other paths were never affected
    st, _ = ds.json("GET", "/")
    assert st == 200


def test_delay_is_a_lower_bound(ds):
    ds.json("POST", "/_dev/faults", {"type": "delay", "ms": 300, "path": "_cluster"})
    t0 = time.monotonic()
    st, _ = ds.json("GET", "/_cluster/health")
    assert st == 200
    assert time.monotonic() - t0 >= 0.3
    # a delay on one connection does not block another one
    ds.json("POST", "/_dev/faults", {"type": "delay", "ms": 2000, "path": "_cluster"})
    slow = ds.conn(timeout=10)
    slow.request("GET", "/_cluster/health")
    t0 = time.monotonic()
    st, _ = ds.json("GET", "/")
    assert st == 200 and time.monotonic() - t0 < 1.5
    assert slow.getresponse().status == 200


def test_reset_mid_body(ds):
    ds.json("POST", "/_dev/faults", {"type": "reset", "path": "_cat"})
    ds.json("PUT", "/abc")
    c = ds.conn()
    c.request("GET", "/_cat/indices?format=json")
    r = c.getresponse()
    assert r.status == 200
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    ds.json("DELETE", "/_dev/faults")
    st, body = ds.json("GET", "/_cat/indices?format=json")
    assert st == 200 and body[0]["index"] == "abc"


def test_stall_times_out_then_clears(ds):
    ds.json("POST", "/_dev/faults", {"type": "stall", "path": "_count_stall_probe"})
    ds.json("POST", "/_dev/faults", {"type": "stall", "path": "/stalled"})
    c = ds.conn(timeout=0.5)
    with pytest.raises(socket.timeout):
        c.request("GET", "/stalled")
        c.getresponse()
    # a second, patient client is released when the faults are cleared
    patient = ds.conn(timeout=10)
    patient.request("GET", "/stalled")
    # the patient request reaches the server asynchronously: poll the counter
    deadline = time.monotonic() + 10
    while True:
        st, body = ds.json("GET", "/_dev/faults")
        assert body["faults"][0]["type"] == "stall"
        if body["faults"][0]["fired"] >= 2 or time.monotonic() > deadline:
            break
    assert body["faults"][0]["fired"] >= 2
    ds.json("DELETE", "/_dev/faults")
    r = patient.getresponse()
    assert r.status == 404  # the index does not exist: a normal answer


def test_stall_with_ms_ends_by_itself(ds):
    ds.json("POST", "/_dev/faults", {"type": "stall", "ms": 200, "path": "/_cluster"})
    t0 = time.monotonic()
    st, _ = ds.json("GET", "/_cluster/health")
    assert st == 200 and time.monotonic() - t0 >= 0.2


def test_fault_spec_errors_and_reset(ds):
    st, body = ds.json("POST", "/_dev/faults", {"type": "nope"})
    assert st == 400 and body["error"]["type"] == "illegal_argument_exception"
    ds.json("PUT", "/x")
    st, _ = ds.json("POST", "/_dev/reset")
    assert st == 200
    st, _ = ds.json("GET", "/x")
    assert st == 404


def test_stats_count_requests_and_items(ds):
    ds.bulk(bulk_lines(5))
    ds.bulk(bulk_lines(3))
    st, body = ds.json("GET", "/_dev/stats")
    assert body["endpoints"]["bulk"]["requests"] == 2
    assert body["endpoints"]["bulk"]["items"] == 8


def test_sigterm_exits_zero(ds):
    assert ds.stop() == 0


def test_sigterm_ends_a_delayed_answer(ds):
    """A request delayed for a minute does not hold the exit: SIGTERM ends the
    delay and the server stops (a 20 s delay held a test's teardown); the
    client gets its answer or a closed connection, never a hang."""
    ds.json("POST", "/_dev/faults", {"type": "delay", "ms": 60000, "path": "/_cluster"})
    slow = ds.conn(timeout=30)
    slow.request("GET", "/_cluster/health")
    deadline = time.monotonic() + 10
    while True:      # the request reaches the server asynchronously
        st, body = ds.json("GET", "/_dev/faults")
        if body["faults"][0]["fired"] >= 1 or time.monotonic() > deadline:
            break
    assert body["faults"][0]["fired"] >= 1
    ds.proc.terminate()
    assert ds.proc.wait(timeout=15) == 0
    try:
        assert slow.getresponse().status == 200
    except (http.client.RemoteDisconnected, ConnectionResetError):
        pass        # closed by the stopping server: not a socket.timeout


def test_stats_count_single_document_operations(ds):
    ds.bulk(bulk_lines(3))
    assert ds.json("PUT", "/s/_doc/1", {"a": 1})[0] == 201
    assert ds.json("PUT", "/s/_create/1", {"a": 1})[0] == 409
    assert ds.json("POST", "/s/_update/1", {"doc": {"a": 2}})[0] == 200
    assert ds.json("GET", "/s/_doc/1")[0] == 200
    assert ds.json("GET", "/s/_source/2")[0] == 404
    assert ds.json("DELETE", "/s/_doc/1")[0] == 200
    st, body = ds.json("GET", "/_dev/stats")
    docs = body["docs"]
    assert docs["index"] == {"ok": 4, "failed": 0}
    assert docs["create"] == {"ok": 0, "failed": 1}
    assert docs["update"] == {"ok": 1, "failed": 0}
    assert docs["get"] == {"ok": 1, "failed": 1}
    assert docs["delete"] == {"ok": 1, "failed": 0}
    assert body["endpoints"]["doc"]["requests"] == 6
    assert body["endpoints"]["doc"]["4xx"] == 2
    ds.json("POST", "/_dev/reset")
    st, body = ds.json("GET", "/_dev/stats")
    assert body["docs"]["index"] == {"ok": 0, "failed": 0}
