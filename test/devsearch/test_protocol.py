"""Protocol details: media types, gzip, 413, keep-alive, error envelopes."""
import gzip
import json
import socket


def test_root_and_product_header(ds, ds_factory):
    r, data = ds.request("GET", "/")
    assert r.status == 200
    assert r.getheader("X-Elastic-Product") == "Elasticsearch"
    assert json.loads(data)["tagline"] == "You Know, for Search"
    os_ = ds_factory("--flavor", "opensearch")
    r, data = os_.request("GET", "/")
    assert r.getheader("X-Elastic-Product") is None
    assert json.loads(data)["version"]["distribution"] == "opensearch"


def test_vendor_media_types_answered_in_kind(ds):
    h = {"Content-Type": "application/vnd.elasticsearch+json; compatible-with=8",
         "Accept": "application/vnd.elasticsearch+json; compatible-with=8"}
    r, data = ds.request("PUT", "/v/_doc/1", b'{"a":1}', h)
    assert r.status == 201
    assert r.getheader("Content-Type") == "application/vnd.elasticsearch+json;compatible-with=8"
    h = {"Content-Type": "application/vnd.elasticsearch+x-ndjson; compatible-with=7"}
    r, data = ds.request("POST", "/_bulk", b'{"index":{"_index":"v","_id":"2"}}\n{"a":2}\n', h)
    assert r.status == 200 and json.loads(data)["errors"] is False
    r, data = ds.request("PUT", "/v/_doc/3", b'{}', {"Content-Type": "application/vnd.elasticsearch+json; compatible-with=9"})
    assert r.status == 400
    assert json.loads(data)["error"]["type"] == "media_type_header_exception"


def test_content_type_errors_are_simple_406(ds):
    c = ds.conn()
    c.putrequest("PUT", "/x/_doc/1")
    c.putheader("Content-Length", "2")
    c.endheaders(b"{}")
    r = c.getresponse()
    assert r.status == 406
    assert json.loads(r.read()) == {"error": "Content-Type header is missing", "status": 406}
    r, data = ds.request("PUT", "/x/_doc/1", b"{}", {"Content-Type": "text/csv"})
    assert r.status == 406
    assert json.loads(data) == {"error": "Content-Type header [text/csv] is not supported", "status": 406}


def test_gzip_request_body(ds):
    body = gzip.compress(b'{"index":{"_index":"g","_id":"1"}}\n{"z":1}\n')
    r, data = ds.request("POST", "/_bulk?refresh=true", body,
                         {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    assert r.status == 200
    assert json.loads(data)["items"][0]["index"]["forced_refresh"] is True
    st, doc = ds.json("GET", "/g/_doc/1")
    assert doc["_source"] == {"z": 1}
    r, data = ds.request("POST", "/_bulk", b"not gzip at all",
                         {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    assert r.status == 400


def test_413_before_reading_body(ds_factory):
    ds = ds_factory("--max-content-length", "1kb")
    s = socket.create_connection(("127.0.0.1", ds.port), timeout=5)
    s.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
              b"Content-Length: 5000\r\n\r\n")
    resp = s.recv(4096).decode()
    assert resp.startswith("HTTP/1.1 413")
    assert "Content-Length: 0\r\n" in resp
    s.close()
    r, _ = ds.request("POST", "/_bulk", b'{"index":{"_index":"a"}}\n{}\n',
                      {"Content-Type": "application/x-ndjson"})
    assert r.status == 200


def test_keep_alive_reuses_one_connection(ds):
    c = ds.conn()
    ports = set()
    for i in range(20):
        c.request("PUT", "/k/_doc/%d" % i, body=b'{"a":1}', headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 201
        r.read()
        ports.add(c.sock.getsockname()[1])
    assert len(ports) == 1


def test_malformed_bodies_are_400_never_crash(ds):
    cases = [b'{"a":', b'\xff\xfe', b'{"a":"\xc3\x28"}', b"[" * 5000 + b"]" * 5000,
             b'{"a":1e999}', b'{"a":' + b"9" * 400 + b"}", b"nul", b"{}{}"]
    for body in cases:
        r, data = ds.request("PUT", "/m/_doc/1", body)
        assert r.status == 400, body[:20]
        err = json.loads(data)["error"]
        assert err["type"] in ("document_parsing_exception", "x_content_parse_exception")
    r, data = ds.request("PUT", "/m2", b'{"settings":' * 3000)
    assert r.status == 400
    st, _ = ds.json("GET", "/")
    assert st == 200


def test_bulk_whole_request_errors(ds):
    def raw(body):
        r, data = ds.request("POST", "/_bulk", body, {"Content-Type": "application/x-ndjson"})
        return r.status, json.loads(data)

    st, b = raw(b'{"index":{"_index":"a"}}\n{}')
    assert st == 400 and b["error"]["reason"] == "The bulk request must be terminated by a newline [\\n]"
    st, b = raw(b'{"index":{"_index":"a","foo":1}}\n{}\n')
    assert b["error"]["reason"] == "Action/metadata line [1] contains an unknown parameter [foo]"
    st, b = raw(b'{"upsert":{"_index":"a"}}\n{}\n')
    assert "expected field [create], [delete], [index] or [update] but found [upsert]" in b["error"]["reason"]
    st, b = raw(b'{"delete":{"_index":"a","_id":"1"}}\n{"x":1}\n')
    assert st == 400 and "Malformed action/metadata line [2]" in b["error"]["reason"]
    st, b = raw(b'{"update":{"_index":"a","_id":"1","version":2}}\n{"doc":{}}\n')
    assert b["error"]["reason"].startswith("Update requests do not support versioning")
    st, b = raw(b'{"create":{"_index":"a","_id":"1","version":2,"version_type":"external"}}\n{}\n')
    assert b["error"]["type"] == "action_request_validation_exception"
    assert b["error"]["reason"] == ("Validation Failed: 1: create operations only support internal "
                                    "versioning. use index instead;")
    st, b = raw(b'{"index":{"_index":"a","_id":"1","version_type":"external"}}\n{}\n')
    assert b["error"]["reason"] == "Validation Failed: 1: illegal version value [-3] for version type [EXTERNAL];"
    st, b = raw(b'{"index":{"_index":"a"}}\n')
    assert b["error"]["reason"] == "Validation Failed: 1: no requests added;"
    # nothing was executed by any of these
    st, _ = ds.json("HEAD", "/a")
    assert st == 404
    st, b = ds.json("POST", "/_bulk?refresh=maybe", b"{}\n", {"Content-Type": "application/x-ndjson"})
    assert st == 400 and b["error"]["reason"] == "Unknown value for refresh: [maybe]."
