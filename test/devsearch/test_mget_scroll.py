"""_mget, hash-looked-up ids queries and the scroll API (what reindex_verify reads)."""
import json


def _load(ds, index, n, start=0):
    lines = []
    for i in range(start, start + n):
        lines.append({"index": {"_index": index, "_id": str(i), "version": 100 + i,
                                "version_type": "external"}})
        lines.append({"n": i, "s": "x" * (i % 7)})
    st, _ = ds.bulk(lines)
    assert st == 200


def test_mget_ids_and_docs_forms(ds):
    _load(ds, "m", 20)
    ds.json("DELETE", "/m/_doc/3?version=500&version_type=external")
    # realtime: no refresh needed
    st, b = ds.json("POST", "/m/_mget", {"ids": ["1", "3", "404", "19"]})
    assert st == 200
    docs = b["docs"]
    assert [d["_id"] for d in docs] == ["1", "3", "404", "19"]
    assert docs[0]["found"] is True and docs[0]["_version"] == 101
    assert docs[0]["_source"] == {"n": 1, "s": "x"}
    assert docs[1] == {"_index": "m", "_id": "3", "found": False}
    assert docs[2]["found"] is False
    assert docs[3]["_version"] == 119
    # the _source bytes are the stored bytes
    r, raw = ds.request("POST", "/m/_mget?_source=false", {"ids": ["2"]})
    assert r.status == 200 and b'"_source"' not in raw and b'"found":true' in raw
    # docs form, with an index per item; a missing index is an item error
    st, b = ds.json("POST", "/_mget", {"docs": [{"_index": "m", "_id": "5"},
                                                {"_index": "nope", "_id": "5"}]})
    assert st == 200
    assert b["docs"][0]["_source"]["n"] == 5
    assert b["docs"][1]["error"]["type"] == "index_not_found_exception"
    # bad bodies
    st, b = ds.json("POST", "/_mget", {"ids": ["1"]})
    assert st == 400
    st, b = ds.json("POST", "/m/_mget", {})
    assert st == 400 and b["error"]["type"] == "action_request_validation_exception"


def test_ids_query_uses_lookups_and_keeps_order(ds):
    _load(ds, "q", 3000)
    ds.request("POST", "/q/_refresh")
    ids = [str(i) for i in range(2999, 0, -7)] + ["x-missing", "5"]
    st, b = ds.json("POST", "/q/_search", {"size": 1000, "query": {"ids": {"values": ids}}})
    assert st == 200
    want = sorted({int(i) for i in ids if i.isdigit()})
    got = [int(h["_id"]) for h in b["hits"]["hits"]]
    assert b["hits"]["total"]["value"] == len(want)
    assert got == want  # index (insertion) order, each once
    st, b = ds.json("POST", "/q/_count", {"query": {"ids": {"values": ["1", "2", "2", "nope"]}}})
    assert b["count"] == 2


def test_scroll_returns_every_document_once_under_writes(ds):
    _load(ds, "s", 2500)
    ds.request("POST", "/s/_refresh")
    st, b = ds.json("POST", "/s/_search?scroll=1m",
                    {"size": 400, "_source": False, "version": True, "sort": ["_doc"]})
    assert st == 200, b
    sid = b["_scroll_id"]
    seen = [h["_id"] for h in b["hits"]["hits"]]
    assert all("_source" not in h and "_version" in h for h in b["hits"]["hits"])
    # writes while scrolling: deletes (holes), updates, inserts at the end
    lines = []
    for i in range(0, 2500, 2):
        lines.append({"delete": {"_index": "s", "_id": str(i)}})
    ds.bulk(lines)
    _load(ds, "s", 10, start=5000)
    ds.request("POST", "/s/_refresh")
    while True:
        st, b = ds.json("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": sid})
        assert st == 200, b
        if not b["hits"]["hits"]:
            break
        seen += [h["_id"] for h in b["hits"]["hits"]]
    assert len(seen) == len(set(seen))
    # every odd id (present throughout) was returned
    assert {str(i) for i in range(1, 2500, 2)} <= set(seen)
    st, b = ds.json("DELETE", "/_search/scroll", {"scroll_id": [sid]})
    assert st == 200 and b["num_freed"] == 1
    st, b = ds.json("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": sid})
    assert st == 404 and b["error"]["type"] == "search_context_missing_exception"


def test_scroll_refuses_other_orders(ds):
    _load(ds, "o", 3)
    st, b = ds.json("POST", "/o/_search?scroll=1m", {"sort": [{"n": "asc"}]})
    assert st == 400
    st, b = ds.json("POST", "/o/_search?scroll=bogus", {})
    assert st == 400
    st, b = ds.json("POST", "/o/_count?scroll=1m", {})
    assert st == 400
