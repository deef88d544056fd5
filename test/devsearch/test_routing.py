"""Shard routing: a document lives in the shard of its routing value (or id).

A read or delete routed to another shard does not see it (404), exactly as on
a multi-shard OpenSearch/Elasticsearch index; on a single-shard index every
routing value lands on shard 0.  A single-document write with refresh=true
refreshes only its own shard.
"""

FIVE = {"settings": {"index": {"number_of_shards": 5, "number_of_routing_shards": 5,
                               "number_of_replicas": 0}}}


def test_read_and_delete_with_other_routing_miss(ds):
    assert ds.json("PUT", "/r", FIVE)[0] == 200
    st, res = ds.json("PUT", "/r/_doc/1?routing=5", {"foo": "bar"})
    assert st == 201
    st, res = ds.json("GET", "/r/_doc/1?routing=5")
    assert st == 200 and res["_routing"] == "5" and res["_source"] == {"foo": "bar"}
    st, res = ds.json("GET", "/r/_doc/1")
    assert st == 404 and res["found"] is False
    r, _ = ds.request("HEAD", "/r/_doc/1")
    assert r.status == 404
    r, _ = ds.request("HEAD", "/r/_doc/1?routing=5")
    assert r.status == 200
    st, res = ds.json("GET", "/r/_source/1")
    assert st == 404
    st, res = ds.json("DELETE", "/r/_doc/1?routing=4")
    assert st == 404 and res["result"] == "not_found"
    # the miss did not touch the document
    st, res = ds.json("GET", "/r/_doc/1?routing=5")
    assert st == 200 and res["_version"] == 1
    st, res = ds.json("DELETE", "/r/_doc/1?routing=5")
    assert st == 200 and res["result"] == "deleted" and res["_version"] == 2


def test_single_shard_ignores_routing_and_reindex_clears_it(ds):
    st, _ = ds.json("PUT", "/one/_doc/1?routing=abc", {"a": 1})
    assert st == 201
    st, res = ds.json("GET", "/one/_doc/1?routing=other")
    assert st == 200 and res["_routing"] == "abc"
    st, res = ds.json("PUT", "/one/_doc/1", {"a": 2})
    assert st == 200 and res["_version"] == 2
    st, res = ds.json("GET", "/one/_doc/1")
    assert "_routing" not in res and res["_source"] == {"a": 2}


def test_refresh_true_refreshes_only_the_written_shard(ds):
    body = dict(FIVE)
    body["settings"] = {"index": dict(FIVE["settings"]["index"], refresh_interval=-1)}
    assert ds.json("PUT", "/s", body)[0] == 200
    for i in ("1", "3"):
        assert ds.json("PUT", "/s/_doc/%s?refresh=true" % i, {"foo": "bar"})[0] == 201
    q = {"query": {"terms": {"_id": ["1", "3"]}}}
    assert ds.json("POST", "/s/_count", q)[1]["count"] == 2
    ds.json("DELETE", "/s/_doc/1")
    assert ds.json("POST", "/s/_count", q)[1]["count"] == 2
    # ids 1 and 3 are in different shards: refreshing 3's shard keeps 1 visible
    ds.json("DELETE", "/s/_doc/3?refresh=true")
    assert ds.json("POST", "/s/_count", q)[1]["count"] == 1
    ds.json("POST", "/s/_refresh")
    assert ds.json("POST", "/s/_count", q)[1]["count"] == 0


def test_bad_shard_settings(ds):
    st, res = ds.json("PUT", "/b", {"settings": {"number_of_shards": 3, "number_of_routing_shards": 4}})
    assert st == 400 and res["error"]["type"] == "illegal_argument_exception"
    st, res = ds.json("PUT", "/b", {"settings": {"number_of_shards": 2000}})
    assert st == 400


def test_alias_index_routing_applies_to_single_document_ops(ds):
    assert ds.json("PUT", "/a", FIVE)[0] == 200
    assert ds.json("POST", "/_aliases", {"actions": [
        {"add": {"index": "a", "alias": "ar", "index_routing": "5", "is_write_index": True}}]})[0] == 200
    st, res = ds.json("PUT", "/ar/_doc/1", {"x": 1})
    assert st == 201 and res["_index"] == "a"
    st, res = ds.json("GET", "/a/_doc/1?routing=5")
    assert st == 200 and res["_routing"] == "5"
    assert ds.json("GET", "/a/_doc/1")[0] == 404
    assert ds.json("GET", "/ar/_doc/1")[0] == 200
    st, res = ds.json("PUT", "/ar/_doc/2?routing=4", {"x": 1})
    assert st == 400
    assert res["error"]["reason"] == ("Alias [ar] has index routing associated with it [5], "
                                      "and was provided with routing value [4], rejecting operation")
    st, res = ds.bulk([{"index": {"_index": "ar", "_id": "3"}}, {"x": 3},
                       {"index": {"_index": "ar", "_id": "4", "routing": "4"}}, {"x": 4}])
    assert res["items"][0]["index"]["status"] == 201
    assert res["items"][1]["index"]["status"] == 400
    assert ds.json("GET", "/a/_doc/3?routing=5")[0] == 200
    assert ds.json("DELETE", "/ar/_doc/3")[0] == 200


def test_required_routing(ds):
    assert ds.json("PUT", "/q", {"mappings": {"_routing": {"required": True}}})[0] == 200
    st, res = ds.json("PUT", "/q/_doc/1", {"x": 1})
    assert st == 400 and res["error"]["type"] == "routing_missing_exception"
    assert res["error"]["reason"] == "routing is required for [q]/[1]"
    assert ds.json("PUT", "/q/_doc/1?routing=r", {"x": 1})[0] == 201
    assert ds.json("GET", "/q/_doc/1")[0] == 400
    assert ds.json("GET", "/q/_doc/1?routing=r")[0] == 200
    st, res = ds.bulk([{"delete": {"_index": "q", "_id": "1"}}])
    assert res["items"][0]["delete"]["error"]["type"] == "routing_missing_exception"
    assert ds.json("DELETE", "/q/_doc/1?routing=r")[0] == 200
