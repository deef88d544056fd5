#!/usr/bin/python3
"""record_traffic.py: record the HTTP traffic of test suites into a fixture of
the differential test (streamer_traffic.jsonl).

Owns the recording: runs pytest on the given test files with
DEVSEARCH_REQUEST_LOG set, so every development server those tests start
(contrib/devsearch, its request log: reqlog.c) appends one JSON line per
request it executes, in execution order, to a raw log; then writes the fixture:
  - one session per server process (pid), in the order the sessions began,
    as a line {"session": "<n>: <test files>"} followed by its requests
    {"method", "path", "ctype", "body"};
  - requests to the development server's own endpoints (/_dev/...) are left
    out: a real engine has none (they set faults and read statistics);
  - a _bulk body of more than --max-items actions keeps its first
    --max-items actions (each with its source line), and a session of more
    than --max-bulks bulk requests keeps that many, evenly spread over it
    (every other request is kept): the differential test compares two engines
    given the same sequence, any prefix of a bulk and any subsequence of the
    traffic is a valid sequence, and the fixture stays small enough to commit.

Usage (from the repository root, after make tmp-install):
  PGBIN=$PWD/tmp_install/usr/lib/postgresql/15/bin \\
  test/differential/record_traffic.py -o test/differential/streamer_traffic.jsonl \\
      test/streamer/test_streamer_lifecycle.py ...
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def cut_bulk(body, max_items):
    """The first max_items actions of an NDJSON bulk body."""
    lines = body.split("\n")
    out, items, i = [], 0, 0
    while i < len(lines) and items < max_items:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        action = json.loads(line)
        out.append(line)
        i += 1
        if "delete" not in action and i < len(lines):
            out.append(lines[i])
            i += 1
        items += 1
    return "\n".join(out) + "\n"


def is_bulk(q):
    return q["path"].split("?")[0].endswith("_bulk")


def thin_bulks(reqs, max_bulks):
    """At most max_bulks bulk requests, evenly spread; every other request kept."""
    n = sum(1 for q in reqs if is_bulk(q))
    if n <= max_bulks:
        return reqs
    out, k = [], 0
    for q in reqs:
        if is_bulk(q):
            k += 1
            # keep bulk number k when it crosses the next of max_bulks even steps
            if (k * max_bulks) // n == ((k - 1) * max_bulks) // n:
                continue
        out.append(q)
    return out


def write_fixture(raw_path, out_path, label, max_items, max_bulks):
    sessions = {}
    with open(raw_path, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            path = rec["target"]
            if path.startswith("/_dev/"):
                continue
            body = rec["body"]
            if body is not None and path.split("?")[0].endswith("_bulk"):
                body = cut_bulk(body, max_items)
            sessions.setdefault(rec["pid"], []).append(
                {"method": rec["method"], "path": path, "ctype": rec["ctype"], "body": body})
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("# recorded by test/differential/record_traffic.py from: %s\n" % label)
        for n, reqs in enumerate(sessions.values(), 1):
            reqs = sessions[list(sessions)[n - 1]] = thin_bulks(reqs, max_bulks)
            out.write(json.dumps({"session": "%d" % n}) + "\n")
            for q in reqs:
                out.write(json.dumps(q, ensure_ascii=False, separators=(",", ":")) + "\n")
    return sum(len(r) for r in sessions.values()), len(sessions)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--max-items", type=int, default=10)
    ap.add_argument("--max-bulks", type=int, default=120)
    ap.add_argument("--raw", help="an existing raw request log instead of running tests")
    ap.add_argument("tests", nargs="*")
    args = ap.parse_args()
    if args.raw:
        raw = args.raw
    else:
        fd, raw = tempfile.mkstemp(prefix="reindex-traffic.")
        os.close(fd)
        env = dict(os.environ, DEVSEARCH_REQUEST_LOG=raw)
        rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
                             + args.tests, cwd=TOP, env=env)
        if rc != 0:
            print("the recorded tests failed (exit %d): no fixture written" % rc, file=sys.stderr)
            return 1
    n, s = write_fixture(raw, args.output, " ".join(args.tests) or args.raw, args.max_items,
                         args.max_bulks)
    if not args.raw:
        os.unlink(raw)
    print("%d requests in %d sessions written to %s" % (n, s, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
