#!/usr/bin/python3
"""write_load.py: a bounded write load on the demo's packages table.

Owns: one loop of single-row transactions paced at --rate per second (70%
updates, 25% deletes, 5% inserts of new package names) that stops after --max-ops operations,
--max-seconds seconds, or when --stop-file exists, whichever comes first.
Prints what it did as one line: "write load: N updates, N deletes, N inserts
in S s".  Connection from the PG* environment.
"""
import argparse
import os
import random
import sys
import time

import psycopg2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-ops", type=int, default=5000)
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--stop-file")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rate", type=float, default=300, help="transactions per second (pacing)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT package FROM packages")
    names = [r[0] for r in cur.fetchall()]
    counts = {"updates": 0, "deletes": 0, "inserts": 0}
    t0 = time.monotonic()
    for i in range(args.max_ops):
        pause = t0 + i / args.rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)               # pacing: the load runs at --rate
        if time.monotonic() - t0 > args.max_seconds:
            break
        if args.stop_file and i % 10 == 0 and os.path.exists(args.stop_file):
            break
        r = rng.random()
        if r < 0.70 and names:
            name = rng.choice(names)
            cur.execute("""UPDATE packages SET version = version || '+demo' || %s,
                                  summary = summary || ' (rebuilt)', updated_at = now()
                            WHERE package = %s""", (i, name))
            counts["updates"] += 1
        elif r < 0.95 and names:
            name = names.pop(rng.randrange(len(names)))
            cur.execute("DELETE FROM packages WHERE package = %s", (name,))
            counts["deletes"] += 1
        else:
            name = "demo-package-%d" % i
            cur.execute("""INSERT INTO packages (package, version, section, summary, description, installed)
                           VALUES (%s, '1.0', 'demo', 'demo compression library', 'written during the reindex', false)""",
                        (name,))
            names.append(name)
            counts["inserts"] += 1
    print("write load: %(updates)d updates, %(deletes)d deletes, %(inserts)d inserts" % counts
          + " in %.1f s" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
