"""Refused documents (issue 12): a swap must never put an incomplete index
behind the alias.

Every test runs twice: on the development server speaking as OpenSearch 2.x
(its error types) and on a real OpenSearch 2.19 node (test/engine/).  A table
t(id int, v text) is reindexed with the mapping v: long while some values of
v are not numbers:
  - 2,000 of 20,000 refused: the job is needs_attention (not ready), status
    shows the count and the grouped reason, the swap refuses without force;
    after the data is fixed, reindex_replay() resends the dead letters, they
    go, the job becomes ready and the per-document oracle finds every row;
  - all 20,000 refused: the backfill stops itself after the first 1,000
    refusals (refused_stop_sample, refused_stop_fraction), nothing more is
    pushed into dead_letter, even a forced swap refuses; begun again with a
    mapping that fits, everything arrives;
  - within an explicit budget (max_refused) the job is ready and the swap
    goes through, the refused documents explaining the difference in counts;
  - the mapping is fixed on the index (ignore_malformed turned on in place)
    and the replay brings every row (per-document oracle);
  - a dynamic mapping conflict (a jsonb field that is a number in most rows,
    text in some): on the real engine the dynamic mapping the first document
    made refuses the others; devsearch, which maps nothing dynamically, is
    given the mapping the real engine makes.
At every end the counters in reindex_status equal the rows of dead_letter.
"""

import psycopg2
import pytest

from streamer_oracle import lsn_to_int, wait_for
from streamer.conftest import DevSearch, _module_env

@pytest.fixture(scope="module", params=["devsearch", "opensearch"])
def engine_env(request):
    """devsearch --flavor opensearch, then a real OpenSearch node."""
    yield from _module_env(True, ["--flavor", "opensearch"], engine=request.param)


LONG_V = {"properties": {"id": {"type": "integer"}, "v": {"type": "long"}}}
REASON = "mapper_parsing_exception: failed to parse field [v] of type [long]"


def make_table(env, name, rows, bad_every):
    """t(id, v): v is id as text, except every bad_every-th row (1 = all) where it is not a number."""
    env.sql("CREATE TABLE %s (id int PRIMARY KEY, v text)" % name)
    env.sql("""INSERT INTO %s SELECT g, CASE WHEN g %% %s = 0 THEN 'n/a ' || g ELSE g::text END
                 FROM generate_series(1, %s) g""" % (name, bad_every, rows))
    env.sql("ANALYZE %s" % name)


def status(env, alias):
    with env.conn.cursor() as cur:
        cur.execute("SELECT * FROM reindex.reindex_status(%s) ORDER BY job_id DESC LIMIT 1", (alias,))
        cols = [d[0] for d in cur.description]
        return dict(zip(cols, cur.fetchone()))


def dead_letters(env, index):
    return env.one("SELECT count(*) FROM reindex.dead_letter WHERE target_id = %s",
                   (env.target_of(index)["id"],))


def assert_counters_match(env, alias, index, expected):
    """reindex_status counts exactly the rows of dead_letter (and they are `expected`)."""
    st = status(env, alias)
    assert dead_letters(env, index) == expected, st
    assert st["dead_lettered"] == expected, st


def swap_error(env, alias, force=False):
    with pytest.raises(psycopg2.Error) as exc:
        env.sql("SELECT reindex.reindex_swap_alias(%s, %s)", (alias, force))
    return exc.value


def alias_points_nowhere(env, alias):
    status_code, _ = env.es.req("GET", "/_alias/%s" % alias)
    return status_code == 404


def test_some_refused_gate_ready_and_swap_then_replay(engine_env):
    env = engine_env
    audit = env.create_audit_slot("audit_refused")
    make_table(env, "ra", 20000, 10)
    job = env.begin("ra", "ra", "ra_v1", {"mappings": LONG_V})
    env.start_streamer("ra")
    env.wait_job(job, "needs_attention", timeout=180)

    st = status(env, "ra")
    assert st["message"].startswith("2,000 documents refused: %s (2,000)" % REASON), st
    assert "reindex_replay()" in st["hint"] and "force => true" in st["hint"], st
    assert_counters_match(env, "ra", "ra_v1", 2000)
    info = env.target_of("ra_v1")
    rows = env.sql("""SELECT DISTINCT op, http_status, error->>'type', document IS NULL, lsn::text
                        FROM reindex.dead_letter WHERE target_id = %s""", (info["id"],))
    assert len(rows) == 1, rows
    op, http_status, etype, no_body, lsn = rows[0]
    assert (op, http_status, etype, no_body) == ("index", 400, "mapper_parsing_exception", True), rows
    assert lsn_to_int(lsn) == info["consistent_point"], rows

    # the swap refuses, says why, and leaves the alias alone
    err = swap_error(env, "ra")
    assert "more refused documents than its budget" in str(err), err
    assert "2,000 documents refused: %s (2,000)" % REASON in (err.diag.message_detail or ""), err.diag.message_detail
    assert "reindex_replay()" in (err.diag.message_hint or ""), err.diag.message_hint
    assert alias_points_nowhere(env, "ra")
    assert env.es.count("ra_v1") == 18000

    # a streamed write the mapping refuses is a dead letter too
    env.sql("INSERT INTO ra VALUES (30000, 'not a number either')")
    wait_for(lambda: dead_letters(env, "ra_v1") == 2001, 60, "the streamed refusal to be recorded")

    # the data is fixed; the stream indexes the fixed rows, the dead letters stay until replayed
    env.sql("UPDATE ra SET v = id::text WHERE v !~ '^[0-9]+$'")
    assert env.job_state(job) == "needs_attention"
    assert env.one("SELECT reindex.reindex_replay(%s)", (job,)) == 2001
    wait_for(lambda: dead_letters(env, "ra_v1") == 0, 120,
             "the replay to remove the dead letters (%s left)" % dead_letters(env, "ra_v1"))
    env.wait_job(job, "ready", timeout=60)
    done = env.sql("SELECT state, resent, resolved, refused, snapshot_lsn IS NOT NULL FROM reindex.replay"
                   " WHERE target_id = %s", (info["id"],))
    assert done == [("done", 2001, 2001, 0, True)], done
    assert_counters_match(env, "ra", "ra_v1", 0)
    env.reconcile(["ra_v1"], audit)
    env.swap("ra")
    assert env.es.alias_indices("ra") == ["ra_v1"]
    assert env.es.count("ra") == 20001
    assert env.stop_streamers() == {"ra": 0}


def test_all_refused_stop_early_and_begin_again(engine_env):
    env = engine_env
    make_table(env, "rb", 20000, 1)
    job = env.begin("rb", "rb", "rb_v1", {"mappings": LONG_V})
    env.start_streamer("rb")
    env.wait_job(job, "needs_attention", timeout=180)

    st = status(env, "rb")
    assert env.target_row("rb_v1")["state"] == "backfilling", st
    assert st["message"].startswith("backfill stopped early: 1000 of the first 1000 documents were refused"), st
    assert "1,000 documents refused: %s (1,000)" % REASON in st["message"], st
    assert "reindex_replay()" in st["hint"], st
    assert_counters_match(env, "rb", "rb_v1", 1000)
    # the streamer's own counter: the given-back chunk's refusals counted once
    wait_for(lambda: env.target_row("rb_v1")["dead_lettered"] == 1000, 30,
             "the target's counter to reach 1000 (is %s)" % env.target_row("rb_v1")["dead_lettered"])
    # nothing is swapped to it, not even by force
    err = swap_error(env, "rb", force=True)
    assert (err.diag.message_detail or "").startswith("Backfill stopped early: 1000 of the first 1000 documents were refused"), err.diag.message_detail
    assert alias_points_nowhere(env, "rb")
    assert env.es.count("rb_v1") == 0

    # fix the mapping and begin again
    env.sql("SELECT reindex.reindex_cancel(%s)", (job,))
    job2 = env.begin("rb", "rb", "rb_v2", {"mappings": {"properties": {"v": {"type": "keyword"}}}})
    env.wait_job(job2, "ready", timeout=180)
    assert_counters_match(env, "rb", "rb_v2", 0)
    env.swap("rb")
    assert env.es.count("rb") == 20000
    assert env.stop_streamers() == {"rb": 0}


def test_refusals_within_the_budget(engine_env):
    env = engine_env
    make_table(env, "rc", 2000, 10)
    job = env.begin("rc", "rc", "rc_v1", {"mappings": LONG_V, "max_refused": 200})
    env.start_streamer("rc")
    env.wait_job(job, "ready", timeout=180)
    assert_counters_match(env, "rc", "rc_v1", 200)
    # one more refusal than the budget: needs attention again
    env.sql("INSERT INTO rc VALUES (5000, 'over budget')")
    env.wait_job(job, "needs_attention", timeout=60)
    env.sql("DELETE FROM rc WHERE id = 5000")
    env.sql("SELECT reindex.reindex_replay(%s)", (job,))
    env.wait_job(job, "ready", timeout=60)
    assert_counters_match(env, "rc", "rc_v1", 200)
    # 1,800 documents for 2,000 rows: explained by the 200 refused within the budget
    env.swap("rc")
    assert env.es.count("rc") == 1800
    assert env.stop_streamers() == {"rc": 0}


def test_replay_after_a_mapping_fix(engine_env):
    """The mapping is fixed on the index (ignore_malformed can be turned on in
    place); the replay resends every dead letter and the oracle finds every
    row, at the versions of its snapshots.  Bodies are kept on request."""
    env = engine_env
    audit = env.create_audit_slot("audit_mapping_fix")
    make_table(env, "rd", 2000, 10)
    job = env.begin("rd", "rd", "rd_v1", {"mappings": LONG_V, "dead_letter_documents": True})
    env.start_streamer("rd")
    env.wait_job(job, "needs_attention", timeout=180)
    assert_counters_match(env, "rd", "rd_v1", 200)
    bodies = env.sql("SELECT doc_id, document FROM reindex.dead_letter WHERE target_id = %s ORDER BY id LIMIT 1",
                     (env.target_of("rd_v1")["id"],))
    assert bodies[0][1] == '{"id":%s,"v":"n/a %s"}' % (bodies[0][0], bodies[0][0]), bodies
    # writes go on meanwhile: a refused row changes, another is deleted
    env.sql("UPDATE rd SET v = 'still n/a' WHERE id = 10")
    env.sql("DELETE FROM rd WHERE id = 20")
    status_code, res = env.es.req("PUT", "/rd_v1/_mapping",
                                  {"properties": {"v": {"type": "long", "ignore_malformed": True}}})
    assert status_code == 200, res
    assert env.one("SELECT reindex.reindex_replay(%s)", (job,)) == 200
    env.wait_job(job, "ready", timeout=120)
    assert_counters_match(env, "rd", "rd_v1", 0)
    env.reconcile(["rd_v1"], audit)
    env.swap("rd")
    assert env.es.count("rd") == 1999
    assert env.stop_streamers() == {"rd": 0}


def test_dynamic_mapping_conflict(engine_env):
    env = engine_env
    audit = env.create_audit_slot("audit_dynamic")
    env.sql("CREATE TABLE rj (id int PRIMARY KEY, attrs jsonb)")
    env.sql("""INSERT INTO rj SELECT g, CASE WHEN g % 10 = 0 THEN jsonb_build_object('x', 'text ' || g)
                                          ELSE jsonb_build_object('x', g) END
                 FROM generate_series(1, 2000) g""")
    options = {}
    if isinstance(env.es, DevSearch):
        options = {"mappings": {"properties": {"attrs": {"properties": {"x": {"type": "long"}}}}}}
    job = env.begin("rj", "rj", "rj_v1", options)
    env.start_streamer("rj")
    env.wait_job(job, "needs_attention", timeout=180)
    st = status(env, "rj")
    assert st["message"].startswith(
        "200 documents refused: mapper_parsing_exception: failed to parse field [attrs.x] of type [long] (200)"), st
    assert_counters_match(env, "rj", "rj_v1", 200)
    assert "more refused documents than its budget" in str(swap_error(env, "rj"))
    status_code, res = env.es.req("PUT", "/rj_v1/_mapping",
                                  {"properties": {"attrs": {"properties": {
                                      "x": {"type": "long", "ignore_malformed": True}}}}})
    assert status_code == 200, res
    env.sql("SELECT reindex.reindex_replay(%s)", (job,))
    env.wait_job(job, "ready", timeout=120)
    assert_counters_match(env, "rj", "rj_v1", 0)
    env.reconcile(["rj_v1"], audit)
    env.swap("rj")
    assert env.es.count("rj") == 2000
    assert env.stop_streamers() == {"rj": 0}
