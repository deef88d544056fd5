#!/usr/bin/python3
"""streamer_latency_probe.py: commit -> visible-in-both-indexes latency probes.

Owns the latency measurement of streamer_latency.sh.  While pgbench drives
the background rate, this probe updates one dedicated row (id 0) every
1/--rate seconds, each time to a new value k, and polls realtime GETs of
that document in every index given until all of them show n == k.
latency = (first moment all indexes show k) - (moment just before the UPDATE
was sent); so it includes the commit itself, the decoding, batching, _bulk
and the polling resolution (about 1 ms).  Acknowledged by the cluster implies
visible to a realtime GET, so this bounds commit -> acknowledged from above.
With --ack-slot (once per target's slot) it measures acknowledgement instead
of visibility, without touching the engine: after each UPDATE it takes
pg_current_wal_lsn() and polls until every slot's confirmed_flush_lsn has
reached it.  The streamer confirms a position only once both indexes have
acknowledged everything before it, and sends that confirmation within 20 ms
(FEEDBACK_MIN_GAP_MS in src/streamer/stream.c), so this bounds commit ->
acknowledged from above without the refreshes a realtime GET forces on a
real engine.
Prints one JSON line: {"samples", "p50_ms", "p90_ms", "p99_ms", "max_ms", "timeouts"}.
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse

import psycopg2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--es-url", required=True)
    ap.add_argument("--index", action="append", required=True)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--ack-slot", action="append", default=[],
                    help="measure acknowledgement: the replication slot of each target")
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.es_url)
    es = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn = psycopg2.connect(args.dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT coalesce(max(n), 0) FROM lat WHERE id = 0")
    k = cur.fetchone()[0]
    lat, timeouts = [], 0
    start = time.monotonic()
    nxt = start
    while time.monotonic() - start < args.seconds:
        k += 1
        t0 = time.monotonic()
        cur.execute("UPDATE lat SET n = %s WHERE id = 0", (k,))
        pending = set(args.index)
        deadline = t0 + args.timeout
        if args.ack_slot:
            cur.execute("SELECT pg_current_wal_lsn()")
            lsn = cur.fetchone()[0]
            while pending and time.monotonic() < deadline:
                cur.execute("""SELECT count(*) FILTER (WHERE confirmed_flush_lsn >= %s::pg_lsn) = %s
                                 FROM pg_replication_slots WHERE slot_name = ANY(%s)""",
                            (lsn, len(args.ack_slot), args.ack_slot))
                if cur.fetchone()[0]:
                    pending.clear()
                else:
                    time.sleep(0.001)
        while pending and time.monotonic() < deadline:
            for ix in list(pending):
                es.request("GET", "/%s/_doc/0" % ix)
                r = es.getresponse()
                body = r.read()
                if r.status == 200 and json.loads(body)["_source"].get("n") == k:
                    pending.discard(ix)
            if pending:
                time.sleep(0.0005)
        if pending:
            timeouts += 1
        else:
            lat.append((time.monotonic() - t0) * 1000.0)
        nxt += 1.0 / args.rate
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)        # pacing of the probes, not synchronisation
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None

    print(json.dumps({"samples": len(lat), "p50_ms": pct(0.50), "p90_ms": pct(0.90),
                      "p99_ms": pct(0.99), "max_ms": round(lat[-1], 2) if lat else None,
                      "timeouts": timeouts}))
    return 0 if lat and not timeouts else 1


if __name__ == "__main__":
    sys.exit(main())
