"""streamer_oracle.py: the per-document reconciliation oracle of the streamer tests.

Owns: quiescing a target (its slot confirmed past a given LSN, then a refresh)
and comparing Postgres against one index, document by document:
  expected = SELECT reindex.document(table, t, include, exclude) FROM table t
  actual   = every hit of the index (scroll, sort _doc, version)
and the expected version of every document, taken from an AUDIT slot that uses
the `reindex` plugin and was created before the test's first write: the last
index/delete/refetch message per id gives the row's last commit end_lsn.

Invariants checked (DESIGN.md I1-I3):
  - no missing, no extra, no stale document (source differs);
  - version = end_lsn of the last transaction that changed the row when that
    is newer than the snapshot the row was backfilled from, else the
    consistent point of that snapshot.  A backfill resumed after a crash
    reads the remaining chunks from a fresh snapshot, so the allowed snapshot
    points are the target's consistent point and every chunk's snapshot_lsn;
    with no crash that set has one element and the check is exact.  A
    reindex_verify repair re-sends rows read from its own snapshot: the
    snapshot points of repairing runs are allowed too, and so are those of
    reindex_replay runs that resent dead letters the cluster accepted.
Used by the tests under test/streamer/ and by contrib/demo/demo.sh
(`/usr/bin/python3 test/streamer/streamer_oracle.py --help`).
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def lsn_to_int(lsn):
    """'16/B374D848' -> int; None stays None."""
    if lsn is None:
        return None
    hi, lo = str(lsn).split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def int_to_lsn(n):
    return "%X/%X" % (n >> 32, n & 0xFFFFFFFF)


# --------------------------------------------------------------------- HTTP
# What every request to the search engine carries: an Authorization header and
# a TLS context when the tests run against a user's cluster (configure_http).
HTTP_HEADERS = {}
HTTP_SSL_CONTEXT = None


def configure_http(headers=None, ssl_context=None):
    global HTTP_SSL_CONTEXT
    HTTP_HEADERS.clear()
    HTTP_HEADERS.update(headers or {})
    HTTP_SSL_CONTEXT = ssl_context


def http(method, url, body=None, timeout=60):
    """One HTTP request; returns (status, parsed JSON or raw text)."""
    data = None
    headers = dict(HTTP_HEADERS)
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=HTTP_SSL_CONTEXT) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def fetch_index_docs(es_url, index, page=None):
    """All documents of an index: {id: (version, canonical source)}.

    Reads through the scroll API with sort ["_doc"] (`version: true` for
    _version): one point-in-time view.  `_doc` with search_after is no total
    order on a real engine: documents are numbered per shard and segment, and
    renumbered by merges between two requests (a scan of 54,545 documents of
    a 2-shard OpenSearch 2.19 index after updates and deletes returned 54,521;
    see ../shared/reference/real-engine.md).  Ids are checked for duplicates.
    page: 1000 hits, or 10000 for indexes of more than 100,000 documents."""
    if page is None:
        status, res = http("GET", "%s/%s/_count" % (es_url, index))
        if status != 200:
            raise AssertionError("_count on %s failed: %s %s" % (index, status, res))
        page = 10000 if res["count"] > 100000 else 1000
    docs = {}
    body = {"query": {"match_all": {}}, "sort": ["_doc"], "size": page, "version": True}
    status, res = http("POST", "%s/%s/_search?scroll=5m" % (es_url, index), body)
    scroll_id = None
    try:
        while True:
            if status != 200:
                raise AssertionError("scroll of %s failed: %s %s" % (index, status, res))
            scroll_id = res.get("_scroll_id") or scroll_id
            hits = res["hits"]["hits"]
            for h in hits:
                if h["_id"] in docs:
                    raise AssertionError("the scan of %s returned %r twice" % (index, h["_id"]))
                docs[h["_id"]] = (h.get("_version"), canonical(h.get("_source")))
            if not hits:
                return docs
            status, res = http("POST", "%s/_search/scroll" % es_url, {"scroll": "5m", "scroll_id": scroll_id})
    finally:
        if scroll_id:
            http("DELETE", "%s/_search/scroll" % es_url, {"scroll_id": [scroll_id]})


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def split_document(text):
    """'<id JSON string> <document>' -> (id, document text)."""
    ident, end = json.JSONDecoder().raw_decode(text)
    if text[end:end + 1] != " ":
        raise AssertionError("malformed reindex.document output: %r" % text[:200])
    return ident, text[end + 1:]


# ----------------------------------------------------------------- Postgres
def target_info(conn, index):
    """The catalog row of the target feeding `index`."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT t.id, t.source::regclass::text, t.include_columns, t.exclude_columns,
                   t.slot_name, t.consistent_point::text
              FROM reindex.target t WHERE t.index_name = %s
             ORDER BY t.id DESC LIMIT 1""", (index,))
        row = cur.fetchone()
        if row is None:
            raise AssertionError("no target for index %s" % index)
        tid, source, inc, exc, slot, cp = row
        cur.execute("""SELECT DISTINCT snapshot_lsn::text FROM reindex.backfill_chunk
                        WHERE target_id = %s AND snapshot_lsn IS NOT NULL""", (tid,))
        cps = {lsn_to_int(r[0]) for r in cur.fetchall()}
        # a reindex_verify repair re-sends rows read from its own snapshot
        cur.execute("""SELECT DISTINCT snapshot_lsn::text FROM reindex.verify_run
                        WHERE target_id = %s AND repair AND repaired > 0
                          AND snapshot_lsn IS NOT NULL""", (tid,))
        cps |= {lsn_to_int(r[0]) for r in cur.fetchall()}
        # so does a reindex_replay of dead letters
        cur.execute("""SELECT DISTINCT snapshot_lsn::text FROM reindex.replay
                        WHERE target_id = %s AND resolved > 0 AND snapshot_lsn IS NOT NULL""", (tid,))
        cps |= {lsn_to_int(r[0]) for r in cur.fetchall()}
    conn.commit()
    if cp is not None:
        cps.add(lsn_to_int(cp))
    return {"id": tid, "source": source, "include": inc, "exclude": exc,
            "slot": slot, "consistent_point": lsn_to_int(cp), "snapshot_points": cps}


def current_lsn(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        lsn = cur.fetchone()[0]
    conn.commit()
    return lsn_to_int(lsn)


def slot_confirmed(conn, slot):
    with conn.cursor() as cur:
        cur.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                    (slot,))
        row = cur.fetchone()
    conn.commit()
    return lsn_to_int(row[0]) if row else None


def wait_for(cond, timeout, what, interval=0.05):
    """Poll cond() until it returns a true value; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def quiesce(conn, es_url, index, lsn=None, timeout=120):
    """Wait until the target of `index` has confirmed `lsn` (default: the
    current WAL position now, after the caller's last write), then refresh.
    The slot feeding a target changes when it is handed over to the shared
    slot (or detached from it), so it is looked up on every poll."""
    if lsn is None:
        lsn = current_lsn(conn)

    def confirmed():
        info = target_info(conn, index)
        return info["slot"], slot_confirmed(conn, info["slot"]) or 0

    wait_for(lambda: confirmed()[1] >= lsn, timeout,
             "the slot of index %s to confirm %s (%s at %s)" % (
                 index, int_to_lsn(lsn), confirmed()[0], int_to_lsn(confirmed()[1])))
    info = target_info(conn, index)
    status, res = http("POST", "%s/%s/_refresh" % (es_url, index))
    if status != 200:
        raise AssertionError("refresh of %s failed: %s %s" % (index, status, res))
    return info


class in_transaction:
    """Named (server-side) cursors need a transaction: lift autocommit meanwhile."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.saved = self.conn.autocommit
        self.conn.autocommit = False
        return self.conn

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.autocommit = self.saved


def audit_history(conn, audit_slot, table):
    """{id: (op, version)}: the last change of every id in the audit slot."""
    last = {}
    with in_transaction(conn), conn.cursor(name="audit_peek") as cur:
        cur.itersize = 20000
        cur.execute("""SELECT data FROM pg_logical_slot_peek_changes(%s, NULL, NULL,
                        'format_version', '1', 'table', %s, 'include_commit_time', 'false')""",
                    (audit_slot, table))
        for (data,) in cur:
            op, rest = data.split(" ", 1)
            if op not in ("index", "delete", "refetch"):
                if op == "truncate":
                    last.clear()
                continue
            version, rest = rest.split(" ", 1)
            _rel, end = json.JSONDecoder().raw_decode(rest)
            ident, _ = json.JSONDecoder().raw_decode(rest[end + 1:])
            last[ident] = (op, int(version))
    return last


def expected_docs(conn, info):
    """{id: canonical source} from reindex.document over the whole table."""
    docs = {}
    with in_transaction(conn), conn.cursor(name="oracle_expected") as cur:
        cur.itersize = 20000
        cur.execute("SELECT reindex.document(%s::regclass, t, %s, %s) FROM " + info["source"] + " t",
                    (info["source"], info["include"], info["exclude"]))
        for (text,) in cur:
            ident, doc = split_document(text)
            if ident in docs:
                raise AssertionError("two rows render id %r" % ident)
            docs[ident] = canonical(json.loads(doc))
    return docs


class Report:
    def __init__(self, index):
        self.index = index
        self.missing, self.extra, self.stale, self.wrong_version = [], [], [], []
        self.checked = 0

    def ok(self):
        return not (self.missing or self.extra or self.stale or self.wrong_version)

    def summary(self):
        return ("%s: %d documents checked, %d missing, %d extra, %d stale, %d wrong versions"
                % (self.index, self.checked, len(self.missing), len(self.extra),
                   len(self.stale), len(self.wrong_version)))

    def details(self, limit=5):
        out = [self.summary()]
        for name in ("missing", "extra", "stale", "wrong_version"):
            items = getattr(self, name)
            if items:
                out.append("  %s (first %d): %r" % (name, limit, items[:limit]))
        return "\n".join(out)


def reconcile(conn, es_url, index, audit_slot=None, page=None):
    """Compare Postgres against `index`; returns a Report.

    Without audit_slot versions are not checked (the demo's mode when it did
    not create an audit slot before its first write)."""
    info = target_info(conn, index)
    expected = expected_docs(conn, info)
    actual = fetch_index_docs(es_url, index, page)
    history = audit_history(conn, audit_slot, info["source"]) if audit_slot else None
    rep = Report(index)
    rep.checked = len(expected)
    points = sorted(info["snapshot_points"])
    for ident, src in expected.items():
        got = actual.get(ident)
        if got is None:
            rep.missing.append(ident)
            continue
        version, actual_src = got
        if actual_src != src:
            rep.stale.append((ident, source_diff(src, actual_src)))
        if history is not None:
            allowed = expected_versions(history.get(ident), points)
            if version not in allowed:
                rep.wrong_version.append((ident, version, sorted(allowed)))
    for ident in actual:
        if ident not in expected:
            rep.extra.append(ident)
    return rep


def source_diff(expected, actual):
    """The fields that differ, each as {field: [expected, actual]} (cut short)."""
    e, a = json.loads(expected), json.loads(actual)
    if not isinstance(e, dict) or not isinstance(a, dict):
        return {"<document>": [expected[:80], actual[:80]]}
    out = {}
    for k in sorted(set(e) | set(a)):
        if e.get(k, "<absent>") != a.get(k, "<absent>"):
            out[k] = [json.dumps(e.get(k, "<absent>"))[:80], json.dumps(a.get(k, "<absent>"))[:80]]
    return out


def expected_versions(last_change, points):
    """Allowed versions of a live document: its last change's end_lsn when that
    is newer than the snapshot it was read from, else that snapshot's point."""
    allowed = set()
    v = last_change[1] if last_change else None
    for p in points:
        allowed.add(v if v is not None and v > p else p)
    return allowed


def main():
    ap = argparse.ArgumentParser(description="Reconcile a Postgres table against an index.")
    ap.add_argument("--dsn", default="", help="libpq connection string (default: PG* environment)")
    ap.add_argument("--es-url", required=True)
    ap.add_argument("--index", action="append", required=True)
    ap.add_argument("--audit-slot")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    import psycopg2
    conn = psycopg2.connect(args.dsn)
    lsn = current_lsn(conn)
    ok = True
    for index in args.index:
        quiesce(conn, args.es_url, index, lsn, args.timeout)
        rep = reconcile(conn, args.es_url, index, args.audit_slot)
        print(rep.details())
        ok = ok and rep.ok()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
