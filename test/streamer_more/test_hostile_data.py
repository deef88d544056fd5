"""Hostile names and values, end to end (SQL API, output plugin, backfill,
stream, cluster):

- a schema, table and columns whose names hold quotes, backslashes, a
  newline, dots and non-ASCII letters are backfilled and streamed with their
  names as field names, byte for byte;
- index and alias names the cluster cannot take are refused by
  reindex_begin with a clear error, leaving nothing behind;
- a 10 MB document and jsonb nested 10,000 deep: the big one arrives, the one
  the cluster refuses (nesting) is dead-lettered and counted (I6), the
  streamer keeps running, and every other row arrives.
"""
import json

import psycopg2
import pytest

from streamer_oracle import wait_for

SCHEMA = 'sch."ema ü'
TABLE = 'we"ird\\ tab\nle ✓'
COLS = ['i"d', 'back\\slash', 'new\nline', 'ünï ✓', 'dot.ted']


def qi(name):
    return '"' + name.replace('"', '""') + '"'


def rel():
    return qi(SCHEMA) + "." + qi(TABLE)


def test_hostile_identifiers_end_to_end(env):
    env.sql("CREATE SCHEMA " + qi(SCHEMA))
    env.sql("CREATE TABLE %s (%s int PRIMARY KEY, %s text, %s text, %s jsonb, %s int)"
            % (rel(), *[qi(c) for c in COLS]))
    env.sql("INSERT INTO %s SELECT g, 'b\\' || g, E'l\\n' || g, jsonb_build_object('k\"', g), g FROM generate_series(1, 50) g"
            % rel())
    job = env.one("SELECT reindex.reindex_begin(%s::regclass, 'hostile_names', 'hostile_names_v1')", (rel(),))
    env.start_streamer("ident")
    env.wait_job(job, "ready")
    env.sql("UPDATE %s SET %s = 'changed' WHERE %s <= 5" % (rel(), qi(COLS[1]), qi(COLS[0])))
    env.sql("DELETE FROM %s WHERE %s = 50" % (rel(), qi(COLS[0])))
    env.assert_verified(["hostile_names_v1"])
    status, doc = env.es.req("GET", "/hostile_names_v1/_doc/7")
    assert status == 200, (status, doc)
    assert doc["_source"] == {'i"d': 7, 'back\\slash': 'b\\7', 'new\nline': 'l\n7',
                              'ünï ✓': {'k"': 7}, 'dot.ted': 7}, doc
    status, doc = env.es.req("GET", "/hostile_names_v1/_doc/4")
    assert doc["_source"]["back\\slash"] == "changed"
    assert env.stop_streamers() == {"ident": 0}


@pytest.mark.parametrize("index,alias", [
    ('Bad"Index', "ok_alias_1"),
    ("bad\\index", "ok_alias_2"),
    ("bad\nindex", "ok_alias_3"),
    ("bad index", "ok_alias_4"),
    ("ok_index_5", 'bad"alias'),
    ("ok_index_6", "bad\nalias"),
])
def test_bad_index_and_alias_names_are_refused(env, index, alias):
    env.sql("CREATE TABLE IF NOT EXISTS names_src (id int PRIMARY KEY)")
    with pytest.raises(psycopg2.Error) as e:
        env.sql("SELECT reindex.reindex_begin('names_src', %s, %s)", (alias, index))
    msg = e.value.pgerror
    assert msg.startswith("ERROR:  ") and ("index" in msg or "alias" in msg), msg
    assert env.one("SELECT count(*) FROM reindex.target WHERE index_name = %s", (index,)) == 0
    assert env.one("SELECT count(*) FROM reindex.alias WHERE name = %s", (alias,)) == 0
    if not any(c in index for c in '"\\\n '):
        status, _ = env.es.req("HEAD", "/" + index)
        assert status == 404, "an index was left behind"


def test_huge_and_deep_documents(env):
    env.sql("CREATE TABLE big_docs (id int PRIMARY KEY, j jsonb, t text)")
    env.sql("INSERT INTO big_docs SELECT g, jsonb_build_object('g', g), 'row ' || g FROM generate_series(1, 100) g")
    # 10 MB of text in one row, and a jsonb value nested 10,000 deep
    env.sql("INSERT INTO big_docs VALUES (1001, '{}', repeat('0123456789', 1024 * 1024))")
    env.sql("INSERT INTO big_docs VALUES (1002, (repeat('[', 10000) || repeat(']', 10000))::jsonb, 'deep')")
    job = env.one("SELECT reindex.reindex_begin('big_docs', 'big_docs', 'big_docs_v1')")
    env.start_streamer("big")
    # ready, or, when the cluster refuses the deep document, needs_attention
    # for that one alone (a refused document keeps a job from ready)
    if env.wait_job(job, ("ready", "needs_attention"), timeout=240) == "needs_attention":
        assert [r[0] for r in env.sql("SELECT doc_id FROM reindex.dead_letter")] == ["1002"]
    # and the same once more through the stream
    env.sql("INSERT INTO big_docs VALUES (2001, '{}', repeat('abcdefghij', 1024 * 1024))")
    env.sql("INSERT INTO big_docs VALUES (2002, (repeat('{\"a\":', 10000) || '1' || repeat('}', 10000))::jsonb, 'deep')")
    env.sql("INSERT INTO big_docs VALUES (2003, '{}', 'after')")
    wait_for(lambda: env.es.count("big_docs_v1") >= 103, 120, "the streamed rows")
    status, doc = env.es.req("GET", "/big_docs_v1/_doc/1001")
    assert status == 200 and len(doc["_source"]["t"]) == 10 * 1024 * 1024
    status, doc = env.es.req("GET", "/big_docs_v1/_doc/2001")
    assert status == 200 and len(doc["_source"]["t"]) == 10 * 1024 * 1024
    status, doc = env.es.req("GET", "/big_docs_v1/_doc/2003")
    assert status == 200
    # the deep ones: indexed, or refused and dead-lettered, never lost silently
    for key in ("1002", "2002"):
        status, _ = env.es.req("GET", "/big_docs_v1/_doc/" + key)
        if status != 200:
            wait_for(lambda: env.one("SELECT count(*) FROM reindex.dead_letter WHERE doc_id = %s", (key,)) == 1,
                     60, "document %s to be dead-lettered" % key)
    assert env.streamers[-1].alive()
    assert env.stop_streamers() == {"big": 0}
