"""A streamer linked with another major's libpq runs the whole life of an
alias against this run's server: the streamer says which server and libpq it
has (and they differ in major), backfills, streams a bounded write load with
deletes, key changes and unchanged-TOAST updates into two indexes, swaps, and
every document is exact (the oracle: ids, sources, versions = commit end
LSNs).  Then a SIGTERM: it exits 0 after confirming."""

import json
import re

from streamer_oracle import wait_for
from streamer_workload import Workload, create_items_table


def versions_line(streamer):
    for line in streamer.output().splitlines():
        try:
            msg = json.loads(line).get("msg", "")
        except ValueError:
            continue
        m = re.match(r"connected to PostgreSQL (\d+)\S*( \(.*\))? with libpq (\d+)\.\d+$", msg)
        if m:
            return int(m.group(1)), int(m.group(3))
    return None


def test_streamer_of_another_major(env):
    server_major = int(env.one("SHOW server_version_num")) // 10000
    audit = env.create_audit_slot("audit")
    create_items_table(env, "items", 5000, toast_every=25)
    streamer = env.start_streamer("cross")

    versions = wait_for(lambda: versions_line(streamer), 60, "the streamer's versions line")
    assert versions[0] == server_major, versions
    assert versions[1] != server_major, "not a cross-major run: %r" % (versions,)

    job1 = env.begin("items", "items", "items_v1")
    load = Workload(env, "items", 100000, seed=5)
    load.run_until(lambda: env.job_state(job1) == "ready", max_steps=2000, min_steps=100)
    env.wait_job(job1, "ready")
    env.swap("items")
    env.sql("SELECT reindex.reindex_finish(%s)", (job1,))

    job2 = env.begin("items", "items", "items_v2")
    load.run_until(lambda: env.job_state(job2) == "ready", max_steps=2000, min_steps=100)
    env.wait_job(job2, "ready")
    load.run(150)                       # both indexes fed
    assert all(load.counts[k] > 0 for k in load.counts), load.counts
    env.reconcile(["items_v1", "items_v2"], audit)
    env.swap("items")
    assert env.es.alias_indices("items") == ["items_v2"]

    assert streamer.alive(), env.streamer_logs()
    assert streamer.terminate() == 0, env.streamer_logs()
