"""The oracle itself: it must see every kind of difference, or the streamer
tests that end with it prove nothing.  No streamer here: documents are
written by hand (the way a correct streamer would, from the audit slot), then
broken one way each; the report must name exactly the broken ids.
"""

from streamer_oracle import audit_history, expected_versions, fetch_index_docs, reconcile, split_document


def put(env, index, ident, doc, version):
    status, res = env.es.req("PUT", "/%s/_doc/%s?version=%d&version_type=external_gte" % (index, ident, version), doc)
    assert status in (200, 201), (status, res)


def test_expected_versions_rule():
    # no change after the snapshot: the snapshot's point; a later change: its end_lsn
    assert expected_versions(None, [100]) == {100}
    assert expected_versions(("index", 90), [100]) == {100}
    assert expected_versions(("index", 150), [100]) == {150}
    # a resumed backfill: either snapshot may have read the row
    assert expected_versions(("index", 150), [100, 200]) == {150, 200}
    assert expected_versions(("index", 250), [100, 200]) == {250}


def test_split_document():
    assert split_document('"a b|c" {"x": 1}') == ("a b|c", '{"x": 1}')
    assert split_document('"q\\"" {}') == ('q"', "{}")


def test_oracle_detects_missing_extra_stale_and_wrong_versions(env_no_streamer):
    env = env_no_streamer
    audit = env.create_audit_slot("audit_oracle")
    env.sql("CREATE TABLE o (id int PRIMARY KEY, v text, n int)")
    env.sql("INSERT INTO o SELECT g, 'v' || g, g FROM generate_series(1, 6) g")
    env.begin("o", "o", "o_v1")
    # what a streamer's slot creation would record: the backfill's snapshot point
    env.sql("UPDATE reindex.target SET consistent_point = pg_current_wal_lsn() WHERE index_name = 'o_v1'")
    cp = env.target_of("o_v1")["consistent_point"]
    for (text,) in env.sql("SELECT reindex.document('o'::regclass, t) FROM o t"):
        ident, doc = split_document(text)
        put(env, "o_v1", ident, doc, cp)
    env.es.req("POST", "/o_v1/_refresh")
    rep = reconcile(env.conn, env.es.url, "o_v1", audit)
    assert rep.ok() and rep.checked == 6, rep.details()

    env.sql("UPDATE o SET v = 'changed' WHERE id = 2")      # not applied: stale + old version
    env.sql("DELETE FROM o WHERE id = 3")                    # not applied: extra
    env.sql("INSERT INTO o VALUES (7, 'new', 7)")            # not applied: missing
    doc4 = split_document(env.one("SELECT reindex.document('o'::regclass, t) FROM o t WHERE id = 4"))[1]
    put(env, "o_v1", "4", doc4, cp + 1)                      # right source, wrong version
    env.es.req("POST", "/o_v1/_refresh")
    rep = reconcile(env.conn, env.es.url, "o_v1", audit)
    assert rep.missing == ["7"], rep.details()
    assert rep.extra == ["3"], rep.details()
    assert [s[0] for s in rep.stale] == ["2"], rep.details()
    assert sorted(w[0] for w in rep.wrong_version) == ["2", "4"], rep.details()

    # apply what the stream carries (versions from the audit slot): exact again
    hist = audit_history(env.conn, audit, "o")
    assert hist["2"][1] > cp and hist["7"][1] > hist["2"][1]
    put(env, "o_v1", "2", split_document(env.one("SELECT reindex.document('o'::regclass, t) FROM o t WHERE id = 2"))[1],
        hist["2"][1])
    put(env, "o_v1", "7", split_document(env.one("SELECT reindex.document('o'::regclass, t) FROM o t WHERE id = 7"))[1],
        hist["7"][1])
    status, res = env.es.req("DELETE", "/o_v1/_doc/3?version=%d&version_type=external_gte" % hist["3"][1])
    assert status == 200, res
    env.es.req("POST", "/o_v1/_refresh")
    rep = reconcile(env.conn, env.es.url, "o_v1", audit)
    # only the document written with a made-up version is still wrong
    assert not rep.missing and not rep.extra and not rep.stale, rep.details()
    assert [w[0] for w in rep.wrong_version] == ["4"] and rep.checked == 6, rep.details()


def test_scan_reads_every_document_of_an_index_of_several_shards(env_no_streamer):
    """The scan follows the scroll to its end on an index of two shards,
    whatever the page size: every document once, none left out."""
    env = env_no_streamer
    index = "oracle_shards"
    env.forget_index(index)
    status, res = env.es.req("PUT", "/" + index, {"settings": {"number_of_shards": 2, "number_of_replicas": 0}})
    assert status == 200, (status, res)
    try:
        lines = []
        for i in range(1, 4001):
            lines.append('{"index":{"_index":"%s","_id":"%d"}}' % (index, i))
            lines.append('{"n":%d}' % i)
        status, res = env.es.req("POST", "/_bulk?refresh=true", "\n".join(lines) + "\n")
        assert status == 200 and not res["errors"], (status, str(res)[:500])
        for page in (100, 333, 1000):
            docs = fetch_index_docs(env.es.url, index, page)
            assert sorted(int(i) for i in docs) == list(range(1, 4001)), (page, len(docs))
    finally:
        env.forget_index(index)
