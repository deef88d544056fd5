"""differential.py: the same requests sent to devsearch and to a real OpenSearch,
answers compared.

Owns the machinery of test_differential.py:
  - RecordingClient: the conformance runner's HTTP client (test/conformance/
    runner.py), keeping every exchange a test makes (the runner's wipes between
    tests are not kept);
  - yaml_exchanges(): every YAML test of the given folders replayed by the
    runner's own Runner against one server, the exchanges per test id;
  - traffic_exchanges(): a recorded request sequence (streamer_traffic.jsonl,
    see record_traffic.py) replayed in order against one server;
  - normalise() and compare(): the answers with what legitimately differs
    between two engines replaced by a placeholder (the list is NORMALISED
    below), then compared value by value into differences (scope, path,
    devsearch's value, OpenSearch's value);
  - KnownDifferences: the listed differences (known_differences.txt), each
    with its reason.

Invariants: a difference is never dropped silently: it is either normalised
(a key of NORMALISED, for every answer alike) or matched by a listed entry; a
listed entry that matches nothing is reported as stale.
"""

import fnmatch
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "test", "conformance"))
import runner  # noqa: E402

# What legitimately differs between two engines given the same requests: keys
# whose values are replaced by "<normalised>" wherever they occur in an answer.
NORMALISED = {
    "took",                       # time spent
    "uuid", "index_uuid", "cluster_uuid", "history_uuid",   # random ids
    "creation_date", "creation_date_string",                # timestamps
    "timestamp", "start_time_in_millis", "expiry_time_in_millis",
    "name", "cluster_name",       # node and cluster names (only in GET / answers)
    "build_hash", "build_date", "build_type", "build_snapshot", "lucene_version",
    "number", "minimum_wire_compatibility_version",
    "minimum_index_compatibility_version", "tagline",
    "_scroll_id", "scroll_id",    # opaque scroll handles
    "stack_trace",                # Java stack traces (only with error_trace=true)
    "node",                       # node ids (failed_shards)
    "number_of_pending_tasks", "number_of_in_flight_fetch",  # cluster-state activity
    "task_max_waiting_in_queue_millis",
}
# NORMALISED keys that are names only in some answers: "name" and "number"
# are replaced only directly under the root object or under "version".
ROOT_ONLY = {"name", "cluster_name", "number", "tagline"}
# auto-generated document ids (POST without an id): 20 characters of URL-safe base64
AUTO_ID = re.compile(r"^[A-Za-z0-9_-]{20}$")


class RecordingClient(runner.Client):
    def __init__(self, url, timeout=60.0):
        super().__init__(url, timeout)
        self.exchanges = []
        self.recording = True

    def request(self, method, path, body=None, headers=None):
        resp = super().request(method, path, body, headers)
        if self.recording:
            self.exchanges.append(Exchange(method, path, body, resp.status, resp.body))
        return resp


class Exchange:
    def __init__(self, method, path, body, status, answer):
        self.method, self.path, self.body = method, path, body
        self.status, self.answer = status, answer

    def request_line(self):
        return "%s %s" % (self.method, self.path)


class _Runner(runner.Runner):
    """The conformance Runner; its wipes between tests are not recorded."""

    def wipe(self):
        self.client.recording = False
        try:
            super().wipe()
        finally:
            self.client.recording = True


class _Opts:
    def __init__(self, server_version):
        self.server_version = server_version


def yaml_exchanges(url, test_dirs, api_dirs=None, skip_list=runner.DEFAULT_SKIP_LIST,
                   server_version=runner.DEFAULT_SERVER_VERSION):
    """{test id: [Exchange]} of every test the runner would run (skipped tests
    are left out: the runner's skip list and version/feature skips apply)."""
    specs = runner.Specs(api_dirs or runner.find_api_dirs(test_dirs))
    skips = runner.load_skip_list(skip_list)
    server = runner.Server(url=url)
    server.client = RecordingClient(url)
    r = _Runner(_Opts(server_version), specs, server)
    out = {}
    try:
        for path in runner.collect_files(test_dirs):
            fid = runner.file_id(path)
            if "%s::*" % fid in skips:
                continue
            setup, teardown, tests = runner.parse_file(path)
            try:
                for step in setup or []:
                    if isinstance(step, dict) and "skip" in step:
                        r.check_skip(step["skip"])
            except runner.TestSkip:
                continue
            for name, steps in tests:
                tid = "%s::%s" % (fid, name)
                if tid in skips:
                    continue
                server.client.exchanges = []
                try:
                    r.run_test(setup, teardown, steps)
                except runner.TestSkip:
                    continue
                except runner.TestFailure:
                    pass          # the answers are compared all the same
                out[tid] = server.client.exchanges
    finally:
        server.stop()
    return out


def wipe(client):
    """Every index, alias and template gone (devsearch: POST /_dev/reset)."""
    r = client.request("POST", "/_dev/reset")
    if r.status < 300:
        return
    client.request("DELETE", "/*?expand_wildcards=all")
    client.request("DELETE", "/_index_template/*")
    client.request("DELETE", "/_template/*")


def load_traffic(path):
    """[[request, ...], ...]: the recorded sessions (one per server the
    recorded tests started), each a list of {"method", "path", "body", "ctype"}."""
    sessions = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            rec = json.loads(line)
            if rec.get("session") is not None:
                sessions.append((rec["session"], []))
                continue
            sessions[-1][1].append(rec)
    return sessions


def doc_scan(q):
    """The parsed body of a search sorted on _doc (a scan in index order), else None."""
    if q["method"] not in ("GET", "POST") or not q["path"].split("?")[0].endswith("/_search") \
            or not q.get("body"):
        return None
    try:
        body = json.loads(q["body"])
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("sort") == ["_doc"] else None


def replay_scan(client, q, body):
    """A whole _doc scan as a client makes it: pages with search_after taken
    from this server's own previous page, until a short page.  _doc order is
    each engine's internal document order (Lucene doc ids, devsearch's
    insertion slots), so the recorded search_after values mean nothing to
    another engine; the scan is one exchange whose answer is every hit,
    ordered by _id, without its sort value.  A scan through the scroll API
    (?scroll=) is replayed with this server's own scroll ids."""
    size = body.get("size", 10)
    page = dict(body)
    page.pop("search_after", None)
    scroll = "scroll=" in q["path"]
    hits, first = [], None
    client.recording = False
    try:
        r = client.request(q["method"], q["path"], json.dumps(page).encode(),
                           {"Content-Type": "application/json"})
        first = r
        while r.status == 200 and isinstance(r.body, dict):
            got = r.body["hits"]["hits"]
            hits.extend(got)
            if len(got) < size or not got:
                break
            if scroll:
                r = client.request("POST", "/_search/scroll", json.dumps(
                    {"scroll": "1m", "scroll_id": r.body["_scroll_id"]}).encode(),
                    {"Content-Type": "application/json"})
            else:
                page["search_after"] = got[-1]["sort"]
                r = client.request(q["method"], q["path"], json.dumps(page).encode(),
                                   {"Content-Type": "application/json"})
        if scroll and isinstance(r.body, dict) and r.body.get("_scroll_id"):
            client.request("DELETE", "/_search/scroll", json.dumps(
                {"scroll_id": r.body["_scroll_id"]}).encode(), {"Content-Type": "application/json"})
    finally:
        client.recording = True
    for h in hits:
        h.pop("sort", None)
    answer = first.body
    if first.status == 200:
        answer = {"hits": {"total": first.body["hits"].get("total"),
                           "hits": sorted(hits, key=lambda h: h["_id"])}}
    client.exchanges.append(Exchange(q["method"], q["path"] + " (whole _doc scan)",
                                     json.dumps(body.get("query")).encode(), first.status, answer))


def traffic_exchanges(url, sessions):
    """{"streamer:<session>": [Exchange]}: each session replayed in order on a
    wiped server; a _doc scan (its first page and the continuation pages or
    scroll requests that follow it) is replayed whole by replay_scan()."""
    client = RecordingClient(url)
    out = {}
    try:
        for name, reqs in sessions:
            client.recording = False
            wipe(client)
            client.recording = True
            client.exchanges = []
            for q in reqs:
                if q["path"].startswith("/_search/scroll"):
                    continue        # the rest of a scroll: replay_scan made its own
                scan = doc_scan(q)
                if scan is not None:
                    if "search_after" not in scan:
                        replay_scan(client, q, scan)
                    continue        # a continuation page: replay_scan made its own
                body = q["body"].encode("utf-8") if q.get("body") is not None else None
                headers = {"Content-Type": q["ctype"]} if q.get("ctype") else {}
                client.request(q["method"], q["path"], body, headers)
            out["streamer:%s" % name] = client.exchanges
    finally:
        client.close()
    return out


# ------------------------------------------------------------- comparison
def normalise(value, path=()):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in NORMALISED and (k not in ROOT_ONLY or len(path) == 0 or path[-1] == "version"):
                out[k] = "<normalised>"
            elif k == "_id" and isinstance(v, str) and AUTO_ID.match(v):
                out[k] = "<auto id>"
            else:
                out[k] = normalise(v, path + (k,))
        return out
    if isinstance(value, list):
        return [normalise(v, path + ("*",)) for v in value]
    return value


def _diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            p = path + "." + k if path else k
            if k not in a:
                out.append((p, "<absent>", b[k]))
            elif k not in b:
                out.append((p, a[k], "<absent>"))
            else:
                _diff(a[k], b[k], p, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, "%s.%d" % (path, i) if path else str(i), out)
    elif not runner.values_equal(a, b) or type(a) is not type(b):
        out.append((path or "<body>", a, b))


class Difference:
    def __init__(self, scope, n, request, path, dev, real):
        self.scope, self.n, self.request = scope, n, request
        self.path, self.dev, self.real = path, dev, real

    def key(self):
        """What a listed entry is matched against: '<scope>#<n> <METHOD> <path>'."""
        return "%s#%d %s" % (self.scope, self.n, self.request)

    def __str__(self):
        return "%s: %s: devsearch %s, opensearch %s" % (
            self.key(), self.path, runner.short(self.dev, 160), runner.short(self.real, 160))


def compare(scope, dev_exchanges, real_exchanges):
    """(number of exchanges compared, [Difference]) for one test or session."""
    diffs = []
    n = min(len(dev_exchanges), len(real_exchanges))
    for i in range(n):
        d, r = dev_exchanges[i], real_exchanges[i]
        req = d.request_line()
        if req != r.request_line() or d.body != r.body:
            diffs.append(Difference(scope, i, req, "<request>", req, r.request_line()))
        if d.status != r.status:
            diffs.append(Difference(scope, i, req, "<status>", d.status, r.status))
        found = []
        _diff(normalise(d.answer), normalise(r.answer), "", found)
        diffs.extend(Difference(scope, i, req, p, x, y) for p, x, y in found)
    if len(dev_exchanges) != len(real_exchanges):
        diffs.append(Difference(scope, n, "", "<exchanges>", len(dev_exchanges), len(real_exchanges)))
    return n, diffs


class KnownDifferences:
    """known_differences.txt: lines '<key regex>\\t<path glob>\\t<reason>'.

    The key regex is searched in Difference.key() ('<test id or
    streamer:<session>>#<n> <METHOD> <path>'); the glob matches the JSON path
    of the difference (fnmatch: '*' crosses dots), or <status>, <request>,
    <exchanges>."""

    def __init__(self, path):
        self.entries = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) != 3 or not parts[2].strip():
                    raise ValueError("%s:%d: expected <key regex>TAB<path glob>TAB<reason>" % (path, n))
                self.entries.append({"line": n, "key": re.compile(parts[0]), "path": parts[1],
                                     "reason": parts[2], "used": 0})

    def match(self, diff):
        for e in self.entries:
            if e["key"].search(diff.key()) and fnmatch.fnmatchcase(diff.path, e["path"]):
                e["used"] += 1
                return e
        return None

    def stale(self):
        return [e for e in self.entries if not e["used"]]
