"""reindex_verify on devsearch speaking as OpenSearch and on a real
OpenSearch 2.19 node with 3 shards (test/engine/): _mget by id, the scroll in
_doc order (a total order across shards, unlike search_after on _doc),
_source bytes compared with the encoder's, differences planted behind the
streamer's back found, repaired, and a second run clean."""
import pytest

from streamer.conftest import _module_env
from streamer_workload import Workload, create_items_table


@pytest.fixture(scope="module", params=["devsearch", "opensearch"])
def engine_env(request):
    yield from _module_env(True, ["--flavor", "opensearch"], engine=request.param)


def test_verify_and_repair_on_each_engine(engine_env):
    env = engine_env
    create_items_table(env, "veng", 4000, toast_every=50)
    env.start_streamer("veng")
    job = env.begin("veng", "veng", "veng_v1",
                    {"settings": {"number_of_shards": 3, "number_of_replicas": 0}})
    load = Workload(env, "veng", 100000, seed=3)
    load.run_until(lambda: env.job_state(job) == "ready", max_steps=1000, min_steps=50)
    env.wait_job(job, "ready")
    load.run(100)
    rows = env.one("SELECT count(*) FROM veng")
    (clean,) = env.assert_verified(["veng_v1"])
    assert clean["rows_checked"] == rows and clean["docs_checked"] == rows, clean

    lost = str(env.one("SELECT min(id) FROM veng"))
    st, d = env.es.req("GET", "/veng_v1/_doc/%s" % lost)
    assert st == 200, (st, d)
    st, _ = env.es.req("DELETE", "/veng_v1/_doc/%s?version=%d&version_type=external"
                       % (lost, d["_version"] + 1))
    assert st == 200
    st, _ = env.es.req("PUT", "/veng_v1/_doc/stray?version=5&version_type=external", {"x": 1})
    assert st == 201
    found = env.verify("veng_v1")
    assert (found["missing"], found["extra"], found["stale"], found["mismatched"]) == (1, 1, 0, 0), found
    assert found["samples"] == {"missing": [lost], "extra": ["stray"]}, found
    fixed = env.verify("veng_v1", repair=True)
    assert fixed["repaired"] == 2 and fixed["repair_failed"] == 0, fixed
    env.assert_verified(["veng_v1"])
    load.close()
    assert env.stop_streamers() == {"veng": 0}
