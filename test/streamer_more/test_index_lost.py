"""An index deleted behind the streamer's back (DELETE /<index>, or a search
server restarted empty) on a cluster that does not auto-create indexes
(action.auto_create_index: false; devsearch --no-auto-create-index): the
_bulk items fail with 404 index_not_found_exception.  That is a state of the
index, never a property of a document: the target's job fails with a reason
saying what happened and what to do, not one row is dead-lettered, nothing
recreates the index, and the other targets keep streaming.  On devsearch and
on a real OpenSearch 2.19 node (test/engine/)."""
import pytest

from streamer.conftest import _module_env
from streamer_oracle import wait_for
from streamer_workload import create_items_table


@pytest.fixture(scope="module", params=["devsearch", "opensearch"])
def engine_env(request):
    yield from _module_env(True, ["--no-auto-create-index"], engine=request.param,
                           engine_args=["-E", "action.auto_create_index=false"])


def test_deleted_index_fails_its_target_only(engine_env):
    env = engine_env
    create_items_table(env, "lostix", 300)
    create_items_table(env, "keptix", 300)
    lost = env.begin("lostix", "lostix", "lostix_v1")
    kept = env.begin("keptix", "keptix", "keptix_v1")
    s = env.start_streamer("ix")
    env.wait_job(lost, "ready")
    env.wait_job(kept, "ready")

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
    assert s.alive(), s.output()[-2000:]
    assert env.stop_streamers() == {"ix": 0}
