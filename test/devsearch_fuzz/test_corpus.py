"""
test_corpus.py - replays the devsearch fuzz corpus, plus generated malformed
inputs, against a running devsearch over HTTP.

Owns: the HTTP replay of contrib/devsearch/corpus/ (same input format as
contrib/devsearch/fuzz_dispatch.c: byte 0 picks the endpoint, the rest is the
body; the "raw" endpoint carries "<METHOD> <target>" on its first line) and of
corpus/crashes/.  Invariants checked for every input: the server answers; the
answer is well formed (JSON body unless HEAD or the empty-bodied 413; 4xx/5xx
with an error envelope whose status matches, except the documented non-error
404/409 bodies); no 5xx other than the 500 a real cluster gives for
illegal_state_exception; and the server is still alive afterwards.

Run: /usr/bin/python3 -m pytest test/devsearch_fuzz -q
"""

import functools
import glob
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEVSEARCH_DIR = os.path.join(ROOT, "contrib", "devsearch")
# REINDEX_DEVSEARCH (set by test/run-all.sh) may name another build, e.g. one
# with sanitizers
BINARY = os.environ.get("REINDEX_DEVSEARCH") or os.path.join(DEVSEARCH_DIR, "devsearch")
CORPUS = os.path.join(DEVSEARCH_DIR, "corpus")

# keep in step with targets[] in contrib/devsearch/fuzz_dispatch.c
TARGETS = [
    ("POST", "/_bulk", "application/x-ndjson"),
    ("POST", "/fz/_bulk?refresh=true", "application/x-ndjson"),
    ("PUT", "/fz/_doc/1", "application/json"),
    ("POST", "/fza/_doc", "application/json"),
    ("POST", "/fz/_search", "application/json"),
    ("POST", "/_search?seq_no_primary_term=true&version=true", "application/json"),
    ("POST", "/fz,fza/_count", "application/json"),
    ("POST", "/fz/_delete_by_query?refresh=true", "application/json"),
    ("POST", "/_aliases", "application/json"),
    ("PUT", "/newidx", "application/json"),
    ("PUT", "/fz/_settings", "application/json"),
    ("PUT", "/fz/_alias/fzb", "application/json"),
    (None, None, "application/json"),
]

FIXTURE_DOCS = (
    b'{"index":{"_index":"fz","_id":"1"}}\n'
    b'{"title":"Hello World","n":1,"tags":["a","b"],"o":{"x":1}}\n'
    b'{"index":{"_index":"fz","_id":"2"}}\n'
    b'{"title":"second doc","n":2.5,"flag":true}\n'
    b'{"index":{"_index":"fz","_id":"3","version":7,"version_type":"external"}}\n'
    b'{"title":null,"n":"3"}\n'
)
FIXTURE_ALIAS = b'{"actions":[{"add":{"index":"fz","alias":"fza","is_write_index":true}}]}'

# error types a real cluster answers with a 5xx
ALLOWED_5XX_TYPES = {"illegal_state_exception"}


class Server:
    def __init__(self):
        if not os.path.exists(BINARY):
            subprocess.run(["make", "-C", DEVSEARCH_DIR], check=True,
                           stdout=subprocess.DEVNULL)
        self.proc = subprocess.Popen([BINARY, "--port", "0", "--flavor", "opensearch"],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline()
        prefix = "devsearch listening on http://"
        assert line.startswith(prefix), "unexpected first line %r" % line
        host, port = line[len(prefix):].strip().rstrip("/").split(":")
        self.host, self.port = host, int(port)
        self.conn = None
        # keep reading what the server prints so a full pipe never blocks it
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def request(self, method, target, body=None, ctype=None):
        """Send one request on a keep-alive connection; (status, headers, body)."""
        headers = {}
        if ctype and body is not None:
            headers["Content-Type"] = ctype
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                reused = False
            else:
                reused = True
            try:
                self.conn.putrequest(method, target, skip_accept_encoding=True)
                for k, v in headers.items():
                    self.conn.putheader(k, v)
                self.conn.putheader("Content-Length", str(len(body or b"")))
                self.conn.endheaders(body or b"")
                r = self.conn.getresponse()
                data = r.read()
                if r.will_close:
                    self.conn.close()
                    self.conn = None
                return r.status, r.getheaders(), data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if not reused or attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.conn:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def fixture_state(s):
    for method, target, body, ctype in (
            ("POST", "/_dev/reset", None, None),
            ("PUT", "/fz", b'{"settings":{"number_of_shards":1}}', "application/json"),
            ("POST", "/_bulk?refresh=true", FIXTURE_DOCS, "application/x-ndjson"),
            ("POST", "/_aliases", FIXTURE_ALIAS, "application/json")):
        status, _, data = s.request(method, target, body, ctype)
        assert status < 300, "fixture %s %s -> %d %r" % (method, target, status, data[:300])


def decode(data):
    """(method, target, body, content type) of a corpus input, or None."""
    if not data:
        return None
    method, target, ctype = TARGETS[data[0] % len(TARGETS)]
    body = data[1:]
    if method is not None:
        return method, target, body, ctype
    nl = body.find(b"\n")
    line, rest = (body, b"") if nl < 0 else (body[:nl], body[nl + 1:])
    if b" " not in line or len(line) >= 4096 or b"\0" in line:
        return None
    m, t = line.split(b" ", 1)
    try:
        m = m.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not m or not m.isalpha() or not t.startswith(b"/"):
        return None
    # bytes an HTTP request line cannot carry are sent percent-encoded; the
    # server decodes them back into the same bytes the harness passed
    t = "".join(chr(c) if 0x21 <= c <= 0x7e else "%%%02X" % c
                for c in t) if any(c < 0x21 or c > 0x7e for c in t) else t.decode("ascii")
    return m, t, rest, ctype


def check_answer(method, target, status, headers, data):
    where = "%s %s -> %d %r" % (method, target, status, data[:300])
    assert 100 <= status <= 599, where
    if method == "HEAD":
        assert data == b"", where
        return
    if status == 413 and data == b"":
        return
    assert data, "empty body: " + where
    try:
        body = json.loads(data)
    except ValueError as e:
        pytest.fail("answer is not JSON (%s): %s" % (e, where))
    if status < 400:
        return
    assert isinstance(body, dict), where
    if "error" in body:
        err = body["error"]
        assert body.get("status") == status, "envelope status differs: " + where
        if isinstance(err, dict):
            assert isinstance(err.get("type"), str) and err["type"], where
            assert isinstance(err.get("reason"), (str, type(None))), where
            assert isinstance(err.get("root_cause"), list), where
            etype = err["type"]
        else:
            assert isinstance(err, str) and err, where
            etype = None
        if status >= 500:
            assert etype in ALLOWED_5XX_TYPES, "5xx from the server: " + where
        return
    # the documented answers that are not error envelopes
    if status == 404:
        assert body.get("found") is False or body.get("result") == "not_found", where
    elif status == 409:
        assert isinstance(body.get("failures"), list) and body["failures"], where
    else:
        pytest.fail("4xx/5xx without an error envelope: " + where)


def replay(s, method, target, body, ctype):
    fixture_state(s)
    status, headers, data = s.request(method, target, body, ctype)
    check_answer(method, target, status, headers, data)
    assert s.alive(), "server died on %s %s" % (method, target)
    st, _, _ = s.request("GET", "/")
    assert st == 200, "server does not answer GET / after %s %s" % (method, target)


def corpus_files():
    """Corpus inputs that map to an HTTP request.  Inputs the harness itself
    does not send (empty, or a request line no HTTP client can produce) are
    left out at collection time."""
    files = sorted(f for f in glob.glob(os.path.join(CORPUS, "*")) if os.path.isfile(f))
    files += sorted(glob.glob(os.path.join(CORPUS, "crashes", "*")))
    out = []
    for f in files:
        with open(f, "rb") as fh:
            if decode(fh.read()) is not None:
                out.append(f)
    return out


def test_corpus_is_small():
    files = [f for f in glob.glob(os.path.join(CORPUS, "**"), recursive=True)
             if os.path.isfile(f)]
    assert 0 < len(files) < 200, "%d corpus files" % len(files)
    assert sum(os.path.getsize(f) for f in files) < 1024 * 1024


@pytest.mark.parametrize("path", corpus_files(),
                         ids=lambda p: os.path.relpath(p, CORPUS))
def test_corpus_file(server, path):
    with open(path, "rb") as f:
        req = decode(f.read())
    replay(server, *req)


def deep(n, open_s, close_s, inner=b"1"):
    return open_s * n + inner + close_s * n


def bulk_prefixes():
    """Every cut of a small valid bulk body (truncated lines)."""
    full = (b'{"index":{"_index":"fz","_id":"t1"}}\n{"a":"b","n":[1,2]}\n'
            b'{"delete":{"_index":"fz","_id":"t1"}}\n')
    return [full[:i] for i in range(0, len(full), 3)]


GENERATED = [
    # invalid UTF-8
    ("PUT", "/fz/_doc/u1", b'{"a":"\xff\xfe"}', "application/json"),
    ("PUT", "/fz/_doc/u2", b'{"\xc3\x28":1}', "application/json"),
    ("POST", "/_bulk", b'{"index":{"_index":"fz","_id":"\xed\xa0\x80"}}\n{"a":1}\n',
     "application/x-ndjson"),
    ("POST", "/_bulk", b'{"index":{"_index":"fz"}}\n{"a":"\xc0\xaf"}\n', "application/x-ndjson"),
    ("POST", "/fz/_search", b'{"query":{"term":{"a":"\xf8\x88\x80\x80\x80"}}}',
     "application/json"),
    ("POST", "/_aliases", b'{"actions":[{"add":{"index":"fz","alias":"\xff"}}]}',
     "application/json"),
    ("GET", "/fz/_doc/%FF%FE", None, None),
    ("PUT", "/%C3%28", b"{}", "application/json"),
    # 10,000-deep nesting
    ("PUT", "/fz/_doc/d1", deep(10000, b'{"a":', b"}"), "application/json"),
    ("PUT", "/fz/_doc/d2", deep(10000, b"[", b"]"), "application/json"),
    ("POST", "/_bulk", b'{"index":{"_index":"fz","_id":"d3"}}\n' +
     deep(10000, b"[", b"]") + b"\n", "application/x-ndjson"),
    ("POST", "/_bulk", deep(10000, b'{"index":', b"}", b"{}") + b"\n{}\n",
     "application/x-ndjson"),
    ("POST", "/fz/_search", b'{"query":' + deep(10000, b'{"bool":{"must":', b"}}",
                                                b'{"match_all":{}}') + b"}",
     "application/json"),
    ("POST", "/fz/_count", b'{"query":' + deep(10000, b'{"bool":{"filter":[', b"]}}",
                                               b'{"match_all":{}}') + b"}",
     "application/json"),
    ("POST", "/_aliases", b'{"actions":' + deep(10000, b"[", b"]") + b"}", "application/json"),
    ("PUT", "/newidx", b'{"settings":' + deep(10000, b'{"a":', b"}") + b"}", "application/json"),
    # huge numbers
    ("PUT", "/fz/_doc/h1?version=99999999999999999999&version_type=external", b"{}",
     "application/json"),
    ("PUT", "/fz/_doc/h2?version=9223372036854775808&version_type=external_gte", b"{}",
     "application/json"),
    ("PUT", "/fz/_doc/h3?if_seq_no=18446744073709551616&if_primary_term=1", b"{}",
     "application/json"),
    ("PUT", "/fz/_doc/h4", b'{"n":1e999,"m":-1e999,"k":123456789012345678901234567890}',
     "application/json"),
    ("POST", "/_bulk", b'{"index":{"_index":"fz","_id":"h5","version":1e400,'
     b'"version_type":"external"}}\n{}\n', "application/x-ndjson"),
    ("POST", "/fz/_search", b'{"size":1e400,"from":9223372036854775807}', "application/json"),
    ("POST", "/fz/_search", b'{"size":9223372036854775807}', "application/json"),
    ("POST", "/fz/_search?from=-9223372036854775808&size=1", None, None),
    ("POST", "/fz/_search", b'{"query":{"range":{"n":{"gte":1e999}}},"sort":[{"n":"asc"}],'
     b'"search_after":[99999999999999999999999]}', "application/json"),
    ("PUT", "/fz/_settings", b'{"index":{"number_of_replicas":99999999999999999999}}',
     "application/json"),
    ("PUT", "/fz/_settings", b'{"index":{"gc_deletes":"99999999999999999999d"}}',
     "application/json"),
    # odd bodies
    ("PUT", "/fz/_doc/o1", b"", "application/json"),
    ("PUT", "/fz/_doc/o2", b"null", "application/json"),
    ("PUT", "/fz/_doc/o3", b"[]", "application/json"),
    ("PUT", "/fz/_doc/o4", b'{"a":1}{"b":2}', "application/json"),
    ("PUT", "/fz/_doc/o5", b'{"a":"\x00"}', "application/json"),
    ("PUT", "/fz/_doc/" + "x" * 600, b"{}", "application/json"),
    ("POST", "/_bulk", b"\n\n\n", "application/x-ndjson"),
    ("POST", "/_bulk", b"{}\n", "application/x-ndjson"),
    ("POST", "/_search", b"[1,2]", "application/json"),
    ("POST", "/_aliases", b'{"actions":[{}]}', "application/json"),
]
GENERATED += [("POST", "/_bulk", b, "application/x-ndjson") for b in bulk_prefixes()]


@pytest.mark.parametrize("case", GENERATED, ids=lambda c: "%s %s %r" % (
    c[0], c[1][:40], (c[2] or b"")[:30]))
def test_generated(server, case):
    method, target, body, ctype = case
    replay(server, method, target, body, ctype)


def test_still_alive_and_consistent(server):
    """After everything above, the fixture still behaves normally."""
    fixture_state(server)
    status, _, data = server.request("POST", "/fz/_count", b'{"query":{"match_all":{}}}',
                                     "application/json")
    assert status == 200, data
    assert json.loads(data)["count"] == 3
    status, _, data = server.request("GET", "/fz/_doc/1")
    assert status == 200 and json.loads(data)["_source"]["n"] == 1


PROBE_SOURCE = b"int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)" \
    b" { return d && n > 1 && d[0] == 'x'; }\n"


@functools.lru_cache(maxsize=None)
def _toolchain_problem():
    """None when clang links a libFuzzer binary with ASan and UBSan, else why not.

    Exactly what fuzz.mk needs: the clang driver and its fuzzer and sanitizer
    runtime (Debian's libclang-rt-14-dev; clang alone links nothing).  Both are
    installed by contrib/install-deps.sh, so a missing one is a failure, not a
    skip."""
    if shutil.which("clang") is None:
        return "clang is not installed (contrib/install-deps.sh installs it)"
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "probe.c")
        with open(src, "wb") as f:
            f.write(PROBE_SOURCE)
        r = subprocess.run(["clang", "-fsanitize=fuzzer,address,undefined", "-o",
                            os.path.join(d, "probe"), src],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        return ("clang cannot link a libFuzzer binary with ASan and UBSan; its runtime "
                "is Debian's libclang-rt-14-dev (contrib/install-deps.sh installs it):\n"
                + r.stdout.decode("utf-8", "replace")[-2000:])
    return None


def _sanitized_harness():
    """Build contrib/devsearch/fuzz-build/fuzz_dispatch (ASan+UBSan) once."""
    problem = _toolchain_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    subprocess.run(["make", "-s", "-C", DEVSEARCH_DIR, "-f", "fuzz.mk"], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(DEVSEARCH_DIR, "fuzz-build", "fuzz_dispatch")


SANITIZER_ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                     UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")


def _run_harness(harness, files):
    r = subprocess.run([harness, "-runs=0"] + files, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=SANITIZER_ENV, timeout=300)
    out = r.stdout.decode("utf-8", "replace")
    finding = [line for line in out.splitlines()
               if "runtime error" in line or "ERROR:" in line or "bad HTTP status" in line
               or "not JSON" in line or " in " in line and "/contrib/devsearch/" in line]
    return r.returncode, "\n".join(finding[:25])


def test_corpus_under_sanitizers():
    """Every corpus input through server_dispatch with ASan and UBSan."""
    harness = _sanitized_harness()
    files = sorted(f for f in glob.glob(os.path.join(CORPUS, "*")) if os.path.isfile(f))
    code, finding = _run_harness(harness, files)
    assert code == 0, "sanitizer finding in the corpus replay:\n" + finding


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CORPUS, "crashes", "*"))),
                         ids=os.path.basename)
def test_crash_input_fixed(path):
    """Inputs that once crashed the harness must no longer do so."""
    harness = _sanitized_harness()
    code, finding = _run_harness(harness, [path])
    assert code == 0, "%s still fails:\n%s" % (os.path.basename(path), finding)
