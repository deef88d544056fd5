"""An index deleted behind the streamer's back (DELETE /<index>, or a search
server restarted empty) on a cluster that does not auto-create indexes
(action.auto_create_index: false; devsearch --no-auto-create-index): the
_bulk items fail with 404 index_not_found_exception.  That is a state of the
index, never a property of a document: the target's job fails with a reason
saying what happened and what to do, not one row is dead-lettered, nothing
recreates the index, and the other targets keep streaming.  Both targets are
on the database's shared slot: the failed one leaves it, and the shared slot
goes on confirming the other's changes.  The live index of a finished job
(no job to fail) is detached from the shared slot instead: its changes are
held in a slot of its own, not in the shared one.  On devsearch and on a
real OpenSearch 2.19 node (test/engine/)."""
import pytest

from streamer.conftest import _module_env
from streamer_oracle import slot_confirmed, wait_for
from streamer_workload import create_items_table


@pytest.fixture(scope="module", params=["devsearch", "opensearch"])
def engine_env(request):
    yield from _module_env(True, ["--no-auto-create-index"], engine=request.param,
                           engine_args=["-E", "action.auto_create_index=false"])


def two_on_the_shared_slot(env, tables, streamer):
    """A table, an alias and a target of 300 rows for each name, one
    streamer; returns the jobs (ready, both targets on the shared slot) and
    the streamer."""
    jobs = []
    for name in tables:
        create_items_table(env, name, 300)
        jobs.append(env.begin(name, name, name + "_v1"))
    s = env.start_streamer(streamer)
    for job, name in zip(jobs, tables):
        env.wait_job(job, "ready")
        env.wait_shared(name + "_v1")
    return jobs, s


def test_deleted_index_fails_its_target_only(engine_env):
    env = engine_env
    (lost, kept), s = two_on_the_shared_slot(env, ("lostix", "keptix"), "ix")

    st, res = env.es.req("DELETE", "/lostix_v1")
    assert st == 200, (st, res)
    env.sql("UPDATE lostix SET qty = qty + 1 WHERE id <= 40")
    env.sql("DELETE FROM lostix WHERE id > 290")
    env.sql("UPDATE keptix SET qty = qty + 1 WHERE id <= 40")

    env.wait_job(lost, "failed", timeout=60)
    err = env.one("SELECT error FROM reindex.job WHERE id = %s", (lost,))
    assert "lostix_v1" in err and "no longer exists" in err and "reindex_begin" in err, err
    row = env.sql("SELECT state, dead_lettered, message FROM reindex.reindex_status('lostix')"
                  " WHERE job_id = %s", (lost,))
    assert row[0][0] == "failed" and row[0][1] == 0, row
    assert row[0][2].startswith("failed: index lostix_v1 no longer exists"), row
    assert env.one("SELECT count(*) FROM reindex.dead_letter") == 0
    st, _ = env.es.req("GET", "/lostix_v1")
    assert st == 404, "the streamer recreated the index it lost"

    # the other target went on streaming: every change is in its index
    wait_for(lambda: env.one("SELECT lag_bytes FROM reindex.reindex_status('keptix')"
                             " WHERE job_id = %s", (kept,)) == 0, 60, "keptix to catch up")
    env.assert_verified(["keptix_v1"])
    assert env.job_state(kept) == "ready"
    # the shared slot was not held by the failed target, nor dropped with it
    mark = env.lsn()
    env.sql("UPDATE keptix SET qty = qty + 1 WHERE id <= 10")
    wait_for(lambda: (slot_confirmed(env.conn, env.shared_slot()) or 0) > mark, 60,
             "the shared slot to confirm past the failure")
    assert env.streamer_slots() == [env.shared_slot()]
    assert env.target_row("keptix_v1")["feed"] == "shared"
    assert s.alive(), s.output()[-2000:]
    assert env.stop_streamers() == {"ix": 0}


def test_deleted_live_index_is_detached_from_the_shared_slot(engine_env):
    env = engine_env
    (live, other), s = two_on_the_shared_slot(env, ("liveix", "otherix"), "live")
    env.swap("liveix")
    env.sql("SELECT reindex.reindex_finish(%s)", (live,))
    assert env.job_state(live) == "completed"

    st, res = env.es.req("DELETE", "/liveix_v1")
    assert st == 200, (st, res)
    env.sql("UPDATE liveix SET qty = qty + 1 WHERE id <= 40")
    env.sql("UPDATE otherix SET qty = qty + 1 WHERE id <= 40")

    wait_for(lambda: env.target_row("liveix_v1")["feed"] == "own", 60, "liveix_v1 to be detached")
    row = env.target_row("liveix_v1")
    assert "liveix_v1 no longer exists" in row["detached_reason"], row
    own = "reindex_%d" % row["id"]
    assert row["slot_name"] == own and env.streamer_slots() == sorted([own, env.shared_slot()]), row
    # its changes are held in its own slot: nothing confirmed past the writes above
    assert (slot_confirmed(env.conn, own) or 0) < env.lsn()
    assert env.job_state(live) == "completed"
    assert env.one("SELECT count(*) FROM reindex.dead_letter") == 0
    st, _ = env.es.req("GET", "/liveix_v1")
    assert st == 404, "the streamer recreated the index it lost"

    # the shared slot goes on for the other target
    mark = env.lsn()
    env.sql("UPDATE otherix SET qty = qty + 1 WHERE id <= 10")
    wait_for(lambda: (slot_confirmed(env.conn, env.shared_slot()) or 0) > mark, 60,
             "the shared slot to confirm past the detach")
    env.assert_verified(["otherix_v1"])
    assert env.job_state(other) == "ready"
    assert s.alive(), s.output()[-2000:]
    assert env.stop_streamers() == {"live": 0}


def test_index_lost_while_its_job_is_being_finished_is_detached(engine_env):
    """The index is deleted while a DBA's reindex_finish() holds the job row
    (not committed yet): the streamer cannot fail the job (its update skips
    a locked row) and must not stop the target either.  Once the finish
    commits, the target is a finished job's live index and is detached from
    the shared slot, as above.  Before, it left the shared stream and was
    retried a minute later, nothing detached meanwhile."""
    env = engine_env
    (live, other), s = two_on_the_shared_slot(env, ("finix", "finother"), "fin")
    env.swap("finix")
    dba = env.pg.connect(autocommit=False)
    try:
        with dba.cursor() as cur:
            cur.execute("SELECT reindex.reindex_finish(%s)", (live,))
        st, res = env.es.req("DELETE", "/finix_v1")
        assert st == 200, (st, res)
        env.sql("UPDATE finix SET qty = qty + 1 WHERE id <= 40")
        wait_for(lambda: "finix_v1 no longer exists" in s.output(), 60,
                 "the streamer to see finix_v1 gone")
        dba.commit()
    finally:
        dba.close()
    assert env.job_state(live) == "completed"
    env.sql("UPDATE finother SET qty = qty + 1 WHERE id <= 40")
    wait_for(lambda: env.target_row("finix_v1")["feed"] == "own", 30, "finix_v1 to be detached")
    row = env.target_row("finix_v1")
    assert "finix_v1 no longer exists" in row["detached_reason"], row
    assert env.one("SELECT count(*) FROM reindex.dead_letter") == 0
    wait_for(lambda: env.one("SELECT lag_bytes FROM reindex.reindex_status('finother')"
                             " WHERE job_id = %s", (other,)) == 0, 60, "finother to catch up")
    env.assert_verified(["finother_v1"])
    assert s.alive(), s.output()[-2000:]
    assert env.stop_streamers() == {"fin": 0}
