"""Versioning, tombstones, gc_deletes, refresh visibility, aliases."""
import time


def test_external_versions_and_tombstone_gc(ds_factory):
    ds = ds_factory("--gc-deletes", "100ms")
    st, b = ds.json("PUT", "/t/_doc/1?version=10&version_type=external", {"a": 1})
    assert st == 201 and b["_version"] == 10
    st, b = ds.json("PUT", "/t/_doc/1?version=10&version_type=external", {"a": 2})
    assert st == 409
    assert b["error"]["reason"] == "[1]: version conflict, current version [10] is higher or equal to the one provided [10]"
    st, b = ds.json("PUT", "/t/_doc/1?version=10&version_type=external_gte", {"a": 3})
    assert st == 200 and b["result"] == "updated"
    st, b = ds.json("DELETE", "/t/_doc/1?version=20&version_type=external")
    assert st == 200 and b["result"] == "deleted" and b["_version"] == 20
    # the tombstone blocks a stale write ...
    st, b = ds.json("PUT", "/t/_doc/1?version=15&version_type=external", {"stale": True})
    assert st == 409
    # ... until gc_deletes expires it: poll, no fixed sleep
    deadline = time.monotonic() + 10
    while True:
        st, b = ds.json("PUT", "/t/_doc/1?version=15&version_type=external", {"stale": True})
        if st == 201 or time.monotonic() > deadline:
            break
    assert st == 201 and b["result"] == "created"


def test_gc_deletes_per_index_dynamic(ds):
    ds.json("PUT", "/g", {"settings": {"index": {"gc_deletes": "1h"}}})
    st, b = ds.json("GET", "/g/_settings?flat_settings=true")
    assert b["g"]["settings"]["index.gc_deletes"] == "1h"
    ds.json("DELETE", "/g/_doc/x?version=5&version_type=external")
    st, b = ds.json("PUT", "/g/_doc/x?version=4&version_type=external", {})
    assert st == 409
    st, _ = ds.json("PUT", "/g/_settings", {"index.gc_deletes": "0ms"})
    assert st == 200
    deadline = time.monotonic() + 10
    while True:
        st, _ = ds.json("PUT", "/g/_doc/x?version=4&version_type=external", {})
        if st == 201 or time.monotonic() > deadline:
            break
    assert st == 201
    st, b = ds.json("PUT", "/g/_settings", {"index": {"gc_deletes": "soon"}})
    assert st == 400 and b["error"]["type"] == "illegal_argument_exception"


def test_delete_missing_external_records_tombstone(ds):
    st, b = ds.json("DELETE", "/nx/_doc/1?version=7&version_type=external")
    assert st == 404 and b["result"] == "not_found" and b["_version"] == 7
    assert "_seq_no" in b
    st, b = ds.json("PUT", "/nx/_doc/1?version=6&version_type=external", {})
    assert st == 409
    st, b = ds.json("DELETE", "/missing/_doc/1")
    assert st == 404 and b["error"]["type"] == "index_not_found_exception"


def test_seq_no_cas(ds):
    st, b = ds.json("PUT", "/c/_doc/1", {"a": 1})
    seq = b["_seq_no"]
    st, b = ds.json("PUT", "/c/_doc/1?if_seq_no=%d&if_primary_term=1" % seq, {"a": 2})
    assert st == 200
    st, b = ds.json("PUT", "/c/_doc/1?if_seq_no=%d&if_primary_term=1" % seq, {"a": 3})
    assert st == 409
    assert b["error"]["reason"] == ("[1]: version conflict, required seqNo [%d], primary term [1]. "
                                    "current document has seqNo [%d] and primary term [1]" % (seq, seq + 1))


def test_refresh_visibility(ds):
    ds.json("PUT", "/r", {"settings": {"refresh_interval": "-1"}})
    ds.json("PUT", "/r/_doc/1", {"a": 1})
    st, b = ds.json("GET", "/_cat/indices/r?format=json")
    assert b[0]["docs.count"] == "0"
    st, b = ds.json("GET", "/r/_doc/1")
    assert b["found"] is True  # GET is realtime
    ds.json("POST", "/r/_refresh")
    st, b = ds.json("GET", "/_cat/indices/r?format=json")
    assert b[0]["docs.count"] == "1"


def test_alias_atomicity_and_write_index(ds):
    ds.json("PUT", "/i1")
    ds.json("PUT", "/i2")
    st, b = ds.json("POST", "/_aliases", {"actions": [
        {"add": {"index": "i1", "alias": "a"}},
        {"add": {"index": "nope", "alias": "a"}}]})
    assert st == 404 and b["error"]["type"] == "index_not_found_exception"
    st, b = ds.json("GET", "/_alias/a")
    assert st == 404 and b == {"error": "alias [a] missing", "status": 404}
    st, b = ds.json("POST", "/_aliases", {"actions": [
        {"add": {"index": "i1", "alias": "a"}}, {"add": {"index": "i2", "alias": "a"}}]})
    assert st == 200
    st, b = ds.bulk([{"index": {"_index": "a", "_id": "1"}}, {"x": 1}])
    item = b["items"][0]["index"]
    assert item["status"] == 400 and item["_index"] == "a"
    assert item["error"]["reason"].startswith("no write index is defined for alias [a].")
    st, b = ds.json("PUT", "/a/_doc/1", {"x": 1})
    assert st == 400 and b["error"]["type"] == "illegal_argument_exception"
    st, b = ds.json("POST", "/_aliases", {"actions": [
        {"add": {"index": "i2", "alias": "a", "is_write_index": True}}]})
    st, b = ds.json("PUT", "/a/_doc/1", {"x": 1})
    assert st == 201 and b["_index"] == "i2"
    # swap: remove + add in one request
    st, b = ds.json("POST", "/_aliases", {"actions": [
        {"remove": {"index": "i2", "alias": "a"}},
        {"add": {"index": "i1", "alias": "a", "is_write_index": True}}]})
    st, b = ds.json("GET", "/_alias/a")
    assert b == {"i1": {"aliases": {"a": {"is_write_index": True}}}}
    st, b = ds.json("PUT", "/i1/_alias/i2")
    assert st == 400 and b["error"]["type"] == "invalid_alias_name_exception"


def test_record_memory_reuse_keeps_contents(ds):
    """Docs and sources of many sizes, freed (index deleted, updates) and
    reallocated: every document still reads back exactly."""
    import random
    rnd = random.Random(7)

    def body(i, gen):
        return {"i": i, "g": gen, "pad": "x" * rnd.randrange(0, 700)}

    for gen in range(3):
        lines, want = [], {}
        for i in range(400):
            doc_id = "d%d-%s" % (i, "k" * rnd.randrange(0, 90))
            want[doc_id] = body(i, gen)
            lines += [{"index": {"_index": "m", "_id": doc_id}}, want[doc_id]]
        st, res = ds.bulk(lines)
        assert st == 200 and res["errors"] is False
        # overwrite half of them (old sources are released)
        for doc_id in list(want)[::2]:
            want[doc_id] = body(-1, gen)
            assert ds.json("PUT", "/m/_doc/" + doc_id, want[doc_id])[0] == 200
        for doc_id, src in want.items():
            st, res = ds.json("GET", "/m/_doc/" + doc_id)
            assert st == 200 and res["_source"] == src, doc_id
        assert ds.json("DELETE", "/m")[0] == 200
