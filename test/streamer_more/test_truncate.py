"""TRUNCATE while two indexes are fed (the alias's index and a reindex's new
index): each stream applies everything before the TRUNCATE, empties its index
with delete_by_query, and only then applies what follows, so rows inserted
after the TRUNCATE in the same transaction, and in the next, survive in both
indexes; reindex_verify finds 0 missing / extra / stale / mismatched.
"""

from streamer_oracle import wait_for
from streamer_workload import create_items_table


def test_truncate_is_a_barrier_in_both_indexes(env):
    create_items_table(env, "trunc", 500)
    job1 = env.begin("trunc", "trunc", "trunc_v1")
    env.start_streamer("trunc")
    env.wait_job(job1, "ready")
    env.swap("trunc")
    env.sql("SELECT reindex.reindex_finish(%s)", (job1,))  # initial build: nothing to retire
    job2 = env.begin("trunc", "trunc", "trunc_v2")
    env.wait_job(job2, "ready")

    # writes before the TRUNCATE in its own transaction, then rows after it
    env.sql("""BEGIN;
               UPDATE trunc SET qty = qty + 1 WHERE id <= 100;
               INSERT INTO trunc (id, name) SELECT g, 'before ' || g FROM generate_series(1001, 1100) g;
               TRUNCATE trunc;
               INSERT INTO trunc (id, name, qty) SELECT g, 'same txn ' || g, g FROM generate_series(1, 50) g;
               COMMIT""")
    env.sql("INSERT INTO trunc (id, name, qty) SELECT g, 'next txn ' || g, g FROM generate_series(51, 80) g")
    env.sql("UPDATE trunc SET name = 'updated after' WHERE id IN (1, 60)")

    for r in env.assert_verified(["trunc_v1", "trunc_v2"]):
        assert r["rows_checked"] == 80 and r["docs_checked"] == 80, r
    for index in ("trunc_v1", "trunc_v2"):
        assert env.es.count(index) == 80
        status, res = env.es.req("GET", "/%s/_doc/1" % index)
        assert status == 200 and res["_source"]["name"] == "updated after", res
        status, res = env.es.req("GET", "/%s/_doc/1050" % index)
        assert status == 404, res
    for index in ("trunc_v1", "trunc_v2"):
        wait_for(lambda: env.target_row(index)["dead_lettered"] == 0 and
                 env.target_row(index)["lag_bytes"] is not None, 30, "status of %s" % index)
    assert env.stop_streamers() == {"trunc": 0}


def test_truncate_of_one_partition_is_recorded_and_streaming_goes_on(env):
    """TRUNCATE of one partition of a partitioned source arrives as
    truncate_partition.  Its documents cannot be told apart from the other
    partitions' (emptying the index would lose those), so the streamer records
    it as a dead letter, shows it in status, and keeps streaming."""
    env.sql("""CREATE TABLE parted (region text, id int, name text, PRIMARY KEY (region, id))
                 PARTITION BY LIST (region);
               CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
               CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
               INSERT INTO parted SELECT r, g, 'row ' || g
                 FROM generate_series(1, 50) g, unnest(ARRAY['eu', 'us']) r""")
    job = env.begin("parted", "parted", "parted_v1")
    env.start_streamer("parted")
    env.wait_job(job, "ready")
    env.sql("TRUNCATE parted_eu")
    env.sql("INSERT INTO parted VALUES ('us', 1000, 'after the truncate')")

    def indexed_after():
        env.es.req("POST", "/parted_v1/_refresh")
        status, res = env.es.req("GET", "/parted_v1/_doc/us%7C1000")
        return status == 200 and res["_source"]["name"] == "after the truncate"

    wait_for(indexed_after, 60, "the insert after the partition TRUNCATE indexed")
    dead = env.sql("""SELECT op, doc_id, lsn IS NOT NULL, error->>'reason'
                        FROM reindex.dead_letter d JOIN reindex.target t ON t.id = d.target_id
                       WHERE t.index_name = 'parted_v1'""")
    assert len(dead) == 1 and dead[0][:3] == ("truncate_partition", "public.parted_eu", True), dead
    assert "not applied" in dead[0][3], dead
    wait_for(lambda: env.one("SELECT dead_lettered FROM reindex.reindex_status('parted')") == 1,
             30, "the dead letter counted in reindex_status")
    # the other partition's documents are all still there
    env.es.req("POST", "/parted_v1/_refresh")
    assert env.es.count("parted_v1") == 101
    assert env.stop_streamers() == {"parted": 0}
