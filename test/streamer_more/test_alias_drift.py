"""Alias drift repair (I5): the catalog says which index an alias points to;
when the cluster disagrees (changed by hand), the streamer converges it with
one _aliases request and logs it, but never touches an alias whose catalog
row is locked (a swap or rollback in progress holds that lock).
"""

import json

from streamer_oracle import wait_for
from streamer_workload import create_items_table


def aliases_of(env, alias):
    """Indexes the alias points to in the cluster ([] when it is gone)."""
    status, res = env.es.req("GET", "/_alias/%s" % alias)
    if status == 404:
        return []
    assert status == 200, (status, res)
    return sorted(res.keys())


def move_by_hand(env, alias, remove, add):
    actions = [{"remove": {"index": i, "alias": alias}} for i in remove]
    actions += [{"add": {"index": i, "alias": alias}} for i in add]
    status, res = env.es.req("POST", "/_aliases", {"actions": actions})
    assert status == 200, (status, res)


def wait_logged(env, alias, n):
    """The repair's log line follows the engine's answer to it, which a real
    engine sends after the new alias is already visible to other clients:
    the count is polled too, never read at once after seeing the alias."""
    wait_for(lambda: repairs_logged(env, alias) == n, 30, "%d repairs of %s logged (%d)"
             % (n, alias, repairs_logged(env, alias)))


def repairs_logged(env, alias):
    n = 0
    with open(env.streamers[0].log_path, "rb") as f:
        for line in f:
            msg = json.loads(line).get("msg", "")
            if msg.startswith("alias %s had drifted" % alias):
                n += 1
    return n


def test_drifted_alias_is_repaired_unless_locked(env):
    for name in ("drift_a", "drift_b"):
        create_items_table(env, name, 200)
        job = env.begin(name, name, name + "_v1")
        if name == "drift_a":
            env.start_streamer("alias", ["--alias-check-interval=100"])
        env.wait_job(job, "ready")
        env.swap(name)
        assert aliases_of(env, name) == [name + "_v1"]
    status, res = env.es.req("PUT", "/intruder", {})
    assert status == 200, (status, res)

    # moved to another index by hand: moved back, logged once
    move_by_hand(env, "drift_a", ["drift_a_v1"], ["intruder"])
    wait_for(lambda: aliases_of(env, "drift_a") == ["drift_a_v1"], 30, "drift_a to be repaired")
    wait_logged(env, "drift_a", 1)
    # added to a second index: removed from it
    move_by_hand(env, "drift_a", [], ["intruder"])
    wait_for(lambda: aliases_of(env, "drift_a") == ["drift_a_v1"], 30, "drift_a to be repaired again")
    # removed altogether: added back
    move_by_hand(env, "drift_a", ["drift_a_v1"], [])
    wait_for(lambda: aliases_of(env, "drift_a") == ["drift_a_v1"], 30, "drift_a to be restored")
    wait_logged(env, "drift_a", 3)

    # the catalog row of drift_a locked, as a swap in progress holds it
    locker = env.pg.connect(autocommit=False)
    try:
        with locker.cursor() as cur:
            cur.execute("SELECT 1 FROM reindex.alias WHERE name = 'drift_a' FOR UPDATE")
        move_by_hand(env, "drift_a", ["drift_a_v1"], ["intruder"])
        # drift_b, unlocked, is a witness that checks keep running meanwhile
        for _ in range(2):
            move_by_hand(env, "drift_b", ["drift_b_v1"], ["intruder"])
            wait_for(lambda: aliases_of(env, "drift_b") == ["drift_b_v1"], 30, "drift_b to be repaired")
        assert aliases_of(env, "drift_a") == ["intruder"], "a locked alias was changed"
        assert repairs_logged(env, "drift_a") == 3
    finally:
        locker.rollback()
        locker.close()
    wait_for(lambda: aliases_of(env, "drift_a") == ["drift_a_v1"], 30, "drift_a to be repaired after the lock")
    wait_logged(env, "drift_a", 4)
    # the search through the alias sees the catalog's index
    assert env.es.count("drift_a") == 200
    assert env.stop_streamers() == {"alias": 0}
