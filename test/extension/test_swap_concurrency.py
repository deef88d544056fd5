"""test_swap_concurrency.py: reindex_swap_alias against a slowed or failing
cluster, seen from a second session.

- reindex_status in another session answers at once while a swap waits on a
  slow POST /_aliases (it reads MVCC snapshots and takes no row locks);
- a failing _aliases request leaves both the catalog and the cluster as they
  were (one transaction, one atomic request);
- query cancel interrupts a swap stuck in its HTTP call.
"""
import threading
import time

import psycopg2
import pytest

from extension_helpers import wait_for

DELAY_MS = 4000

pytestmark = pytest.mark.devsearch_only("slows down or fails POST /_aliases through POST /_dev/faults")


@pytest.fixture(scope="module")
def db(cluster, devsearch):
    conn = cluster.connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION reindex")
    cur.execute("SELECT reindex.endpoint_add('default', %s)", (devsearch.url,))
    cur.execute("CREATE TABLE docs (id int PRIMARY KEY, body text)")
    cur.execute("INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 100) g")
    yield conn
    conn.close()


def ready_job(db, alias, index):
    """Begin a job and play the streamer's part up to 'ready'."""
    cur = db.cursor()
    cur.execute("SELECT reindex.reindex_begin('docs', %s, %s)", (alias, index))
    job = cur.fetchone()[0]
    cur.execute("""UPDATE reindex.target SET state = 'streaming', heartbeat_at = now(),
                          confirmed_lsn = pg_current_wal_lsn()
                    WHERE id = (SELECT new_target FROM reindex.job WHERE id = %s)""", (job,))
    cur.execute("UPDATE reindex.job SET state = 'ready' WHERE id = %s", (job,))
    # and its backfill: every row of docs in the new index (a swap checks the count)
    cur.execute("""SELECT status FROM reindex._http('default', 'POST', '/_bulk?refresh=true',
                       (SELECT string_agg(format(E'{"index":{"_index":%%s,"_id":%%s}}\n%%s\n', to_json(%s::text),
                                                 split_part(d, ' ', 1), substr(d, position(' ' IN d) + 1)), '')
                          FROM (SELECT reindex.document('docs', x) AS d FROM docs x) r))""", (index,))
    assert cur.fetchone()[0] == 200
    return job


def status(conn, alias):
    cur = conn.cursor()
    cur.execute("SELECT state FROM reindex.reindex_status(%s)", (alias,))
    return cur.fetchone()[0]


def run_in_thread(fn):
    result = {}

    def body():
        try:
            result["value"] = fn()
        except Exception as e:  # noqa: BLE001 - handed to the test
            result["error"] = e
    t = threading.Thread(target=body)
    t.start()
    return t, result


def wait_until_in_http_call(cluster, swapper_pid):
    """The swapper has changed the catalog (it has an xid) and is not waiting
    on a lock: it is inside the slowed _aliases request."""
    mon = cluster.connect()
    cur = mon.cursor()

    def in_call():
        cur.execute("""SELECT backend_xid IS NOT NULL AND state = 'active' AND wait_event_type IS NULL
                         FROM pg_stat_activity WHERE pid = %s""", (swapper_pid,))
        row = cur.fetchone()
        return row and row[0]
    wait_for(in_call, 20, "the swap to reach its HTTP call")
    mon.close()


def test_status_not_blocked_by_slow_swap(cluster, devsearch, db):
    job = ready_job(db, "slow", "slow_v1")
    swapper = cluster.connect()
    swapper_pid = swapper.get_backend_pid()
    devsearch.faults({"type": "delay", "ms": DELAY_MS, "path": "_aliases", "count": 1})
    try:
        t, result = run_in_thread(lambda: swapper.cursor().execute(
            "SELECT reindex.reindex_swap_alias('slow')"))
        wait_until_in_http_call(cluster, swapper_pid)

        reader = cluster.connect()
        reader.cursor().execute("SET statement_timeout = %s", (DELAY_MS // 2,))
        started = time.monotonic()
        # the swap is not committed yet: the reader sees the job as ready
        assert status(reader, "slow") == "ready"
        assert time.monotonic() - started < DELAY_MS / 2000.0
        assert t.is_alive(), "the swap finished before the reader was checked"

        t.join(30)
        assert "error" not in result, result.get("error")
        assert status(reader, "slow") == "swapped"
        reader.close()
    finally:
        devsearch.clear_faults()
        swapper.close()
    status_code, body = devsearch.req("GET", "/_alias/slow")
    assert status_code == 200 and list(body) == ["slow_v1"]
    cur = db.cursor()
    cur.execute("""SELECT a.current_target = j.new_target FROM reindex.alias a
                     JOIN reindex.job j ON j.alias = a.name WHERE j.id = %s""", (job,))
    assert cur.fetchone()[0]


def test_failed_alias_request_changes_nothing(cluster, devsearch, db):
    ready_job(db, "flaky", "flaky_v1")
    devsearch.faults({"type": "http_503", "path": "_aliases", "count": 1})
    cur = db.cursor()
    try:
        with pytest.raises(psycopg2.Error) as err:
            cur.execute("SELECT reindex.reindex_swap_alias('flaky')")
    finally:
        devsearch.clear_faults()
    assert 'could not move alias "flaky" on search endpoint "default"' in str(err.value)
    assert status(db, "flaky") == "ready"
    cur.execute("SELECT current_target FROM reindex.alias WHERE name = 'flaky'")
    assert cur.fetchone()[0] is None
    status_code, _ = devsearch.req("GET", "/_alias/flaky")
    assert status_code == 404
    # and the swap works once the cluster answers again
    cur.execute("SELECT reindex.reindex_swap_alias('flaky')")
    assert status(db, "flaky") == "swapped"


def test_cancel_interrupts_http_call(cluster, devsearch, db):
    ready_job(db, "stuck", "stuck_v1")
    swapper = cluster.connect()
    swapper_pid = swapper.get_backend_pid()
    devsearch.faults({"type": "delay", "ms": 20000, "path": "_aliases", "count": 1})
    try:
        t, result = run_in_thread(lambda: swapper.cursor().execute(
            "SELECT reindex.reindex_swap_alias('stuck')"))
        wait_until_in_http_call(cluster, swapper_pid)
        started = time.monotonic()
        db.cursor().execute("SELECT pg_cancel_backend(%s)", (swapper_pid,))
        t.join(15)
        assert not t.is_alive(), "the swap ignored the cancel"
        assert time.monotonic() - started < 10
        assert isinstance(result.get("error"), psycopg2.extensions.QueryCanceledError)
    finally:
        devsearch.clear_faults()
        swapper.close()
    assert status(db, "stuck") == "ready"
