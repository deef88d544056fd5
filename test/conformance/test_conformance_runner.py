"""
test_conformance_runner.py - tests of the conformance runner itself.

Owns: checks that test/conformance/runner.py maps `do:` sections to the right
HTTP requests, applies the assertions and skip rules as the upstream Java
runner does, reports one line per test and the exact summary, and exits 1 on
a failure.  The server is a small echo server (started through --server-cmd,
so the listen-line parsing is covered too): it answers every request with a
JSON description of the request, with the status taken from an index name
"statusNNN", and HEAD 404 for ids starting with "missing".

Run: /usr/bin/python3 -m pytest test/conformance/test_conformance_runner.py -q
"""

import io
import json
import os
import subprocess
import sys
import textwrap
from contextlib import redirect_stdout

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402

ECHO_SERVER = r'''
import http.server, json, os, sys, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/_die":
            os._exit(3)
        status = 200
        for seg in u.path.split("/"):
            if seg.startswith("status") and seg[6:].isdigit():
                status = int(seg[6:])
        if self.command == "HEAD" and "/missing" in u.path:
            status = 404
        out = {"method": self.command, "path": u.path,
               "query": dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True)),
               "ctype": self.headers.get("Content-Type"),
               "accept": self.headers.get("Accept"),
               "body": body, "lines": body.split("\n"),
               "dotted.key": {"x": 1}, "list": [10, 20, 30], "n": 5}
        if status >= 400:
            out = {"error": {"type": "echo_exception", "reason": "status %d for %s" % (status, u.path)},
                   "status": status}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if "warn" in u.path:
            self.send_header("Warning", '299 OpenSearch-2.17.0 "this is deprecated"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = any
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("echo listening on http://127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
'''

SPECS = {
    "index": {"url": {"paths": [
        {"path": "/{index}/_doc/{id}", "methods": ["PUT", "POST"],
         "parts": {"index": {}, "id": {}}},
        {"path": "/{index}/_doc", "methods": ["POST"], "parts": {"index": {}}},
        {"path": "/{index}/{type}/{id}", "methods": ["PUT", "POST"],
         "parts": {"index": {}, "type": {}, "id": {}}, "deprecated": {"version": "7.0.0"}}]},
        "params": {"refresh": {}, "version": {}, "routing": {}}, "body": {"required": True}},
    "get": {"url": {"paths": [
        {"path": "/{index}/_doc/{id}", "methods": ["GET"], "parts": {"index": {}, "id": {}}}]},
        "params": {"_source_includes": {}, "stored_fields": {}}},
    "exists": {"url": {"paths": [
        {"path": "/{index}/_doc/{id}", "methods": ["HEAD"], "parts": {"index": {}, "id": {}}}]},
        "params": {}},
    "bulk": {"url": {"paths": [
        {"path": "/_bulk", "methods": ["POST", "PUT"]},
        {"path": "/{index}/_bulk", "methods": ["POST", "PUT"], "parts": {"index": {}}}]},
        "params": {"refresh": {}}, "body": {"serialize": "bulk"}},
    "die": {"url": {"paths": [{"path": "/_die", "methods": ["POST"]}]}, "params": {}},
}

SUITE = r'''
---
"index maps to the typeless path with query params and a JSON body":
  - do:
      index: { index: i1, id: "7", refresh: true, body: { a: 1, b: [x] } }
  - match: { method: POST }
  - match: { path: /i1/_doc/7 }
  - match: { query.refresh: "true" }
  - match: { ctype: application/json }
  - match: { body: '{"a": 1, "b": ["x"]}' }

---
"bulk bodies are NDJSON with a final newline":
  - do:
      bulk:
        body:
          - index: { _index: a }
          - { f: 1 }
          - '{"delete":{"_index":"a","_id":"2"}}'
  - match: { ctype: application/x-ndjson }
  - match: { lines: [ '{"index": {"_index": "a"}}', '{"f": 1}', '{"delete":{"_index":"a","_id":"2"}}', '' ] }

---
"index list parts are comma joined, empty parts are dropped":
  - do:
      bulk: { index: [ a, b ], body: [ { index: {} }, { f: 1 } ] }
  - match: { path: "/a,b/_bulk" }
  - do:
      bulk: { index: [], body: [ { index: {} }, { f: 1 } ] }
  - match: { path: /_bulk }

---
"catch missing matches 404 and the error body stays readable":
  - do:
      catch: missing
      get: { index: status404, id: "1" }
  - match: { status: 404 }
  - match: { error.type: echo_exception }

---
"catch regex is searched in the error body":
  - do:
      catch: /status\s409\sfor/
      get: { index: status409, id: "1" }

---
"catch request is any other error status":
  - do:
      catch: request
      get: { index: status500, id: "1" }

---
"ignore lets an error through":
  - do:
      get: { index: status404, id: "1", ignore: 404 }
  - match: { status: 404 }

---
"HEAD 404 is no error and is_false of the empty path":
  - do:
      exists: { index: i, id: missing1 }
  - is_false: ''
  - do:
      exists: { index: i, id: here }
  - is_true: ''

---
"stash, regex match, escaped dots, numbers and comparisons":
  - do:
      get: { index: i, id: "abc" }
  - set: { path: p }
  - match: { path: $p }
  - match: { path: "/^\/i\/_doc\/ abc$/" }
  - match: { dotted\.key.x: 1.0 }
  - match: { list.1: 20 }
  - length: { list: 3 }
  - gt: { n: 4 }
  - gte: { n: 5 }
  - lt: { n: 6 }
  - lte: { n: 5 }
  - is_false: nothere
  - set: { n: num }
  - do:
      get: { index: i, id: "${num}x" }
  - match: { path: /i/_doc/5x }

---
"headers are sent":
  - skip:
      features: headers
  - do:
      headers: { Accept: application/yaml }
      get: { index: i, id: "1" }
  - match: { accept: application/yaml }

---
"expected warnings are checked":
  - skip:
      features: warnings
  - do:
      warnings: [ "this is deprecated" ]
      get: { index: warn, id: "1" }

---
"legacy Elasticsearch ranges do not skip an OpenSearch server":
  - skip:
      version: " - 6.99.99"
      reason: "types"
  - do:
      get: { index: i, id: "1" }

---
"an OpenSearch range containing the server version skips":
  - skip:
      version: " - 2.99.99"
      reason: "introduced in 3.0"
  - do:
      get: { index: status500, id: "1" }

---
"an unsupported feature skips":
  - skip:
      features: [ headers, node_selector ]
  - do:
      get: { index: status500, id: "1" }

---
"listed in the skip list":
  - do:
      get: { index: status500, id: "1" }

---
"catch param is not sent":
  - do:
      catch: param
      get: { index: i }

---
"FAILS: a wrong match is a failure":
  - do:
      get: { index: i, id: "1" }
  - match: { path: /i/_doc/2 }

---
"FAILS: an unexpected error status is a failure":
  - do:
      get: { index: status400, id: "1" }

---
"FAILS: catch conflict on a 404":
  - do:
      catch: conflict
      get: { index: status404, id: "1" }

---
"FAILS: a string does not equal a number":
  - do:
      get: { index: i, id: "1" }
  - match: { n: "5" }

---
"FAILS: an unknown parameter is a client-side error":
  - do:
      get: { index: i, id: "1", bogus: 1 }

---
"FAILS: an unexpected warning":
  - do:
      get: { index: warn, id: "1" }

---
"FAILS: the server dies":
  - do:
      die: {}

---
"after a death the server is restarted":
  - do:
      get: { index: i, id: "1" }
  - match: { method: GET }
'''

EXPECTED_SKIPS = {
    "an OpenSearch range containing the server version skips",
    "an unsupported feature skips",
    "listed in the skip list",
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    d = tmp_path_factory.mktemp("suite")
    (d / "api").mkdir()
    for name, spec in SPECS.items():
        (d / "api" / (name + ".json")).write_text(json.dumps({name: spec}))
    (d / "test" / "echo").mkdir(parents=True)
    (d / "test" / "echo" / "10_runner.yml").write_text(textwrap.dedent(SUITE))
    (d / "echo_server.py").write_text(ECHO_SERVER)
    (d / "skip.txt").write_text("# comment\necho/10_runner.yml::listed in the skip list\t"
                                "deliberately skipped by this test\n")
    return d


def run(suite, *extra):
    out = io.StringIO()
    with redirect_stdout(out):
        code = runner.main(["--server-cmd", "/usr/bin/python3 %s" % (suite / "echo_server.py"),
                            "--skip-list", str(suite / "skip.txt")] + list(extra)
                           + [str(suite / "test")])
    return code, out.getvalue().splitlines()


NAMES = [n for doc in yaml.safe_load_all(textwrap.dedent(SUITE)) if doc for n in doc]


def outcomes(lines):
    """{test name: (PASS|FAIL|SKIP, line)} for the lines about SUITE's tests."""
    res = {}
    for line in lines:
        for name in NAMES:
            for word in ("PASS", "FAIL", "SKIP"):
                prefix = "%s echo/10_runner.yml::%s" % (word, name)
                if line == prefix or line.startswith(prefix + ": "):
                    res[name] = (word, line)
    return res


def test_every_test_has_the_expected_outcome(suite):
    code, lines = run(suite)
    res = outcomes(lines)
    assert sorted(res) == sorted(NAMES), lines
    for name, (word, line) in res.items():
        if name.startswith("FAILS:"):
            assert word == "FAIL", line
        elif name in EXPECTED_SKIPS:
            assert word == "SKIP", line
        else:
            assert word == "PASS", line
    assert code == 1
    npass = sum(1 for w, _ in res.values() if w == "PASS")
    nfail = sum(1 for w, _ in res.values() if w == "FAIL")
    nskip = sum(1 for w, _ in res.values() if w == "SKIP")
    assert lines[-1] == "%d passed, %d failed, %d skipped" % (npass, nfail, nskip)


def test_skip_reasons_are_named(suite):
    _, lines = run(suite)
    res = outcomes(lines)
    assert "deliberately skipped by this test" in res["listed in the skip list"][1]
    assert "2.17.0" in res["an OpenSearch range containing the server version skips"][1]
    assert "introduced in 3.0" in res["an OpenSearch range containing the server version skips"][1]
    assert "node_selector" in res["an unsupported feature skips"][1]
    assert "died" in res["FAILS: the server dies"][1]


def test_filter_and_exit_status_zero_when_nothing_fails(suite):
    code, lines = run(suite, "-k", "bulk bodies|HEAD 404")
    assert code == 0
    assert lines[-1] == "2 passed, 0 failed, 0 skipped"


def test_url_mode_against_a_running_server(suite):
    proc = subprocess.Popen(["/usr/bin/python3", str(suite / "echo_server.py")],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split("listening on ")[1].strip()
        out = io.StringIO()
        with redirect_stdout(out):
            code = runner.main(["--url", url, "-k", "index maps", str(suite / "test")])
        assert code == 0, out.getvalue()
        assert out.getvalue().splitlines()[-1] == "1 passed, 0 failed, 0 skipped"
    finally:
        proc.terminate()
        proc.wait(10)


def test_version_ordering():
    assert runner.version_skipped(" - 6.99.99", "2.17.0") is False
    assert runner.version_skipped(" - 2.17.99", "2.17.0") is True
    assert runner.version_skipped("2.18.0 - ", "2.17.0") is False
    assert runner.version_skipped("7.0.0 - ", "2.17.0") is True
    assert runner.version_skipped("all", "2.17.0") is True
    assert runner.version_skipped("1.0.0 - 1.3.99, 2.10.0 - 2.17.0", "2.17.0") is True
