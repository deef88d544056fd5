"""The short fault soak of `make test` (the long one: `make soak`): two full
lifecycles (initial build, then a reindex with swap, rollback, swap and
finish) under a steady write load, with at least 20 kill -9 of the streamer
(during backfills too), immediate Postgres restarts during a backfill and
while streaming, devsearch faults (429 items, 429/503 requests, delays,
resets, _bulk answers stalled past the streamer's --request-timeout) and a gc_deletes replay; reindex_verify of every live index after
each scenario finds nothing; a reindex whose own slot the server
invalidates (max_slot_wal_keep_size) during its backfill fails saying a new
snapshot is needed, and the next reindex completes; then a new index
deleted while it is built fails its job and nothing else.  The report line gives the counts.  A shorter
one runs on a real OpenSearch node too."""
from soak import Soak


def test_short_soak(env):
    s = Soak(env, seed=20261203, duration=0, rows=150000).run(kills_bf=6, kills_st=8, stream_s=6)
    f = s.summary["faults"]
    assert f["kill9_backfill"] + f["kill9_stream"] >= 20, s.summary
    assert f["kill9_backfill"] >= 4 and f["pg_immediate_stream"] >= 1, s.summary
    assert s.summary["differences"] == 0 and s.summary["verify_runs"] >= 4, s.summary
    # at-least-once made idempotent: kills replay events the index already has
    assert s.summary["replayed_duplicates_rejected_409"] > 0, s.summary
    # counters written before a kill -9 survive it (retries happened: 429s fired)
    assert s.summary["faults_fired_by_devsearch"].get("bulk_item_429", 0) > 0, s.summary
    assert s.summary["retried_per_catalog"] > 0, s.summary
    assert f["index_lost"] == 1, s.summary
    assert f["slot_invalidated"] == 1, s.summary
    # _bulk answers stalled past --request-timeout were abandoned and sent again
    assert f["stall"] >= 2 and s.summary["faults_fired_by_devsearch"].get("stall", 0) > 0, s.summary


def test_short_soak_on_a_real_opensearch(env_real_opensearch):
    """The same lifecycles on a real OpenSearch 2.19 node: kills (during the
    backfill too), Postgres restarts and the gc_deletes replay (devsearch's
    fault injection does not exist there)."""
    s = Soak(env_real_opensearch, seed=7, duration=0, rows=60000, es_faults=False,
             lose_index=False).run(
        kills_bf=4, kills_st=8, stream_s=4)
    f = s.summary["faults"]
    assert f["kill9_backfill"] + f["kill9_stream"] >= 16 and f["pg_immediate_stream"] >= 1, s.summary
    assert s.summary["differences"] == 0 and s.summary["verify_runs"] >= 4, s.summary
