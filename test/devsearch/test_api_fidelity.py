"""API details fixed after the OpenSearch conformance run: put_alias forms,
aliases at index creation, mapping checks, soft-deletes, stored_fields,
disabled _source, update "get", allow_no_indices=false, error_trace."""
import json


def test_put_alias_forms(ds_factory):
    ds = ds_factory("--flavor", "opensearch")
    for n in ("i1", "i2"):
        assert ds.json("PUT", "/" + n)[0] == 200
    assert ds.json("PUT", "/i1/_alias", {"alias": "a1"})[0] == 200
    assert ds.json("PUT", "/_alias", {"index": "i1,i2", "alias": "a2"})[0] == 200
    assert ds.json("POST", "/_alias/a3", {"index": "i2"})[0] == 200
    # the body overrides the path (an unknown index in the path is harmless)
    assert ds.json("PUT", "/nope/_alias/ignored", {"index": "i1", "alias": "a4"})[0] == 200
    st, res = ds.json("GET", "/_alias")
    assert set(res["i1"]["aliases"]) == {"a1", "a2", "a4"}
    assert set(res["i2"]["aliases"]) == {"a2", "a3"}
    st, res = ds.json("PUT", "/i1/_alias/x", {"abc": 1})
    assert st == 400 and res["error"]["reason"] == "unknown field [abc]"
    assert ds.json("GET", "/_alias/x")[0] == 404
    # as OpenSearch 2.19 answers (its AliasActions setters refuse at once)
    st, res = ds.json("PUT", "/_alias", {"alias": "noindex"})
    assert st == 400 and res["error"]["type"] == "illegal_argument_exception", res
    assert res["error"]["reason"] == "[indices] can't be empty", res
    st, res = ds.json("PUT", "/i1/_alias", {"routing": "r"})
    assert st == 400 and res["error"]["reason"] == "[alias] can't be empty string", res
    st, res = ds.json("PUT", "/i1/_alias/r", {"searchRouting": "s", "index_routing": "x"})
    assert st == 200
    st, res = ds.json("GET", "/i1/_alias/r")
    assert res["i1"]["aliases"]["r"] == {"search_routing": "s", "index_routing": "x"}


def test_must_exist_flavors(ds_factory):
    body = {"actions": [{"remove": {"index": "m", "alias": "nope", "must_exist": True}}]}
    os_ = ds_factory("--flavor", "opensearch")
    os_.json("PUT", "/m")
    st, res = os_.json("POST", "/_aliases", body)
    assert st == 404 and res["error"]["type"] == "aliases_not_found_exception"
    assert res["error"]["reason"] == "aliases [nope] missing"
    st, res = os_.json("POST", "/_aliases", {"actions": [{"remove": {"index": "m", "aliases": []}}]})
    assert st == 400 and "[aliases] can't be empty" in json.dumps(res)
    es = ds_factory()
    es.json("PUT", "/m")
    st, res = es.json("POST", "/_aliases", body)
    assert st == 404 and res["error"]["type"] == "resource_not_found_exception"


def test_create_index_aliases_and_mapping_checks(ds_factory):
    ds = ds_factory("--flavor", "opensearch")
    st, _ = ds.json("PUT", "/c", {"aliases": {"plain": {}, "r": {"routing": "b"},
                                             "w": {"is_write_index": True, "search_routing": "s"}}})
    assert st == 200
    st, res = ds.json("GET", "/c/_alias")
    al = res["c"]["aliases"]
    assert al["plain"] == {}
    assert al["r"] == {"index_routing": "b", "search_routing": "b"}
    assert al["w"]["is_write_index"] is True and al["w"]["search_routing"] == "s"
    st, res = ds.json("PUT", "/t", {"mappings": {"_doc": {"properties": {"f": {"type": "keyword"}}}}})
    assert st == 400 and res["error"]["type"] == "illegal_argument_exception"
    assert "cannot be nested under a type [_doc]" in res["error"]["reason"]
    st, res = ds.json("PUT", "/t", {"mappings": {"properties": {"o": {"properties": {"": {"type": "keyword"}}}}}})
    assert st == 400 and res["error"]["caused_by"]["type"] == "illegal_argument_exception"
    assert ds.json("HEAD", "/t")[0] == 404
    r, _ = ds.request("PUT", "/sd", {"settings": {"soft_deletes.enabled": False}})
    assert r.status == 200
    assert "soft-deletes disabled is deprecated" in r.getheader("Warning")
    r, _ = ds.request("PUT", "/plain")
    assert r.getheader("Warning") is None
    es = ds_factory()
    st, res = es.json("PUT", "/sd", {"settings": {"index": {"soft_deletes": {"enabled": False}}}})
    assert st == 400


def test_stored_fields_and_disabled_source(ds):
    ds.json("PUT", "/s", {"mappings": {"properties": {"foo": {"type": "keyword", "store": True}}}})
    ds.json("PUT", "/s/_doc/1", {"foo": "bar", "n": 1})
    st, res = ds.json("GET", "/s/_doc/1?stored_fields=foo")
    assert res["fields"] == {"foo": ["bar"]} and "_source" not in res
    st, res = ds.json("GET", "/s/_doc/1?stored_fields=foo,_source")
    assert res["_source"] == {"foo": "bar", "n": 1}
    ds.json("PUT", "/ns", {"mappings": {"_source": {"enabled": False}}})
    ds.json("PUT", "/ns/_doc/1", {"foo": "bar"})
    st, res = ds.json("GET", "/ns/_doc/1")
    assert st == 200 and res["found"] is True and "_source" not in res
    st, res = ds.json("GET", "/ns/_source/1")
    assert st == 404 and res["error"]["reason"] == "Source not found [ns]/[1]"
    st, res = ds.json("GET", "/ns/_source/2")
    assert st == 404 and res["error"]["reason"] == "Document not found [ns]/[2]"


def test_update_returns_get_when_source_asked(ds):
    ds.bulk([{"index": {"_index": "u", "_id": "1"}}, {"foo": "a", "bar": "b"},
             {"index": {"_index": "u", "_id": "2"}}, {"foo": "c", "bar": "d"}])
    st, res = ds.bulk([{"update": {"_index": "u", "_id": "1", "_source": {"includes": "bar"}}},
                       {"doc": {"foo": "x"}},
                       {"update": {"_index": "u", "_id": "2"}},
                       {"_source": True, "doc": {"foo": "y"}},
                       {"update": {"_index": "u", "_id": "1"}},
                       {"doc": {"foo": "z"}}])
    items = [i["update"] for i in res["items"]]
    assert items[0]["get"]["_source"] == {"bar": "b"} and items[0]["get"]["found"] is True
    assert items[0]["get"]["_seq_no"] == items[0]["_seq_no"]
    assert items[1]["get"]["_source"] == {"foo": "y", "bar": "d"}
    assert "get" not in items[2]
    st, res = ds.bulk([{"update": {"_id": "2"}}, {"doc": {"foo": "w"}}],
                      path="/u/_bulk?_source_includes=foo")
    assert res["items"][0]["update"]["get"]["_source"] == {"foo": "w"}
    st, res = ds.json("POST", "/u/_update/2?_source=true", {"doc": {"foo": "v"}})
    assert st == 200 and res["get"]["_source"] == {"foo": "v", "bar": "d"}
    st, res = ds.json("POST", "/u/_update/2", {"doc": {"foo": "v"}, "_source": ["bar"]})
    assert res["result"] == "noop" and res["get"]["_source"] == {"bar": "d"}


def test_allow_no_indices_false(ds):
    st, res = ds.json("GET", "/missing/_mapping?ignore_unavailable=true")
    assert st == 200 and res == {}
    st, res = ds.json("GET", "/missing/_mapping?ignore_unavailable=true&allow_no_indices=false")
    assert st == 404 and res["error"]["type"] == "index_not_found_exception"


def test_error_trace(ds_factory):
    ds = ds_factory("--flavor", "opensearch")
    body = '{"update":{"_index":"t1","_id":"123"}}\n{"doc":{"f":1}}\n'
    h = {"Content-Type": "application/x-ndjson"}
    r, data = ds.request("POST", "/_bulk?error_trace=true", body, h)
    err = json.loads(data)["items"][0]["update"]["error"]
    assert err["type"] == "document_missing_exception"
    assert err["stack_trace"].startswith("[t1/")
    assert "[[t1][0]] DocumentMissingException[[123]: document missing]" in err["stack_trace"]
    r, data = ds.request("POST", "/_bulk", body, h)
    assert "stack_trace" not in json.loads(data)["items"][0]["update"]["error"]
    st, res = ds.json("GET", "/nope/_doc/1?error_trace=true")
    assert res["error"]["stack_trace"].startswith("[nope/_na_] IndexNotFoundException[no such index [nope]]")
    assert res["error"]["root_cause"][0]["stack_trace"] == res["error"]["stack_trace"]


def test_alias_collection_methods(ds):
    ds.json("PUT", "/i", {"aliases": {"a": {}}})
    st, res = ds.json("GET", "/_aliases")
    assert st == 200 and res == {"i": {"aliases": {"a": {}}}}
    r, data = ds.request("PUT", "/_aliases", {"index": "i", "alias": "b"})
    assert r.status == 405
    r, data = ds.request("DELETE", "/_alias", None)
    assert r.status == 405
    assert ds.json("PUT", "/_alias", {"index": "i", "alias": "b"})[0] == 200
