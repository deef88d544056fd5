"""test_differential.py: devsearch against a real OpenSearch, request for request.

The same request sequences go to the development server (contrib/devsearch
--flavor opensearch) and to a real OpenSearch 2.19 (test/engine/opensearch):
  1. every YAML test the conformance runner runs (test/conformance/runner.py,
     reused through differential.yaml_exchanges): the shared OpenSearch REST
     suite and devsearch's own suite;
  2. the HTTP traffic of the streamer tests, recorded once into
     streamer_traffic.jsonl by record_traffic.py (devsearch's request log,
     --request-log / DEVSEARCH_REQUEST_LOG) and replayed in order.
Each answer pair is compared after normalising what legitimately differs
between two engines given the same requests:
  - took; uuids (index, cluster, history); creation dates and other timestamps;
  - node ids and names, the cluster name and the version block of GET /;
  - scroll ids; Java stack traces; cluster-state activity counters in
    _cluster/health (pending tasks, in-flight fetches, queue wait);
  - auto-generated document ids (20 characters of base64);
  - _doc order: a search sorted on _doc is replayed as a whole scan (each
    engine pages with its own search_after values) and compared as the set of
    its hits ordered by _id (see differential.replay_scan).
Every other difference is a devsearch infidelity: fixed in contrib/devsearch,
or listed in known_differences.txt with its reason.  The test fails on an
unlisted difference and on a listed entry that no longer matches anything,
and prints the number of compared exchanges and of differences.
"""

import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential as d  # noqa: E402

sys.path.insert(0, os.path.join(d.TOP, "test", "engine"))
import search_engine  # noqa: E402

SHARED = os.environ.get("REINDEX_SHARED") or os.path.join(d.TOP, "..", "shared")
YAML_SUITES = [
    ([os.path.join(SHARED, "conformance", "opensearch", "test")], None),
    ([os.path.join(d.TOP, "test", "conformance", "devsearch", "test")],
     [os.path.join(SHARED, "conformance", "opensearch", "api")]),
]
TRAFFIC = os.path.join(d.HERE, "streamer_traffic.jsonl")
KNOWN = os.path.join(d.HERE, "known_differences.txt")


@pytest.fixture(scope="module")
def engines():
    workdir = tempfile.mkdtemp(prefix="reindex-differential.")
    binary = os.path.join(d.TOP, "contrib", "devsearch", "devsearch")
    if not os.access(binary, os.X_OK):
        pytest.fail("devsearch is not built (make builds it)", pytrace=False)
    dev = search_engine.start_devsearch(workdir, binary, "--flavor", "opensearch")
    try:
        real = search_engine.start_opensearch(workdir)
    except BaseException:
        dev.stop()
        raise
    yield dev.url, real.url
    dev.stop()
    real.stop()


def test_devsearch_answers_as_opensearch(engines):
    dev_url, real_url = engines
    assert os.path.isdir(YAML_SUITES[0][0][0]), "the shared conformance suite is missing: %s" % YAML_SUITES[0][0][0]
    known = d.KnownDifferences(KNOWN)
    compared, diffs = 0, []
    for dirs, api in YAML_SUITES:
        dev = d.yaml_exchanges(dev_url, dirs, api)
        real = d.yaml_exchanges(real_url, dirs, api)
        assert set(dev) == set(real)
        for tid in dev:
            n, found = d.compare(tid, dev[tid], real[tid])
            compared += n
            diffs += found
    sessions = d.load_traffic(TRAFFIC)
    dev = d.traffic_exchanges(dev_url, sessions)
    real = d.traffic_exchanges(real_url, sessions)
    traffic = 0
    for name in dev:
        n, found = d.compare(name, dev[name], real[name])
        traffic += n
        diffs += found
    compared += traffic
    unlisted = [x for x in diffs if known.match(x) is None]
    stale = known.stale()
    print("differential: %d exchanges compared (%d of them recorded streamer traffic), "
          "%d differences: %d listed in known_differences.txt, %d unlisted; %d stale entries"
          % (compared, traffic, len(diffs), len(diffs) - len(unlisted), len(unlisted), len(stale)))
    assert compared > 500 and traffic > 100, (compared, traffic)
    assert not unlisted, "devsearch answers differently from OpenSearch (fix it or list it):\n" + \
        "\n".join(str(x) for x in unlisted)
    assert not stale, "entries of known_differences.txt that match nothing:\n" + \
        "\n".join("line %d: %s\t%s" % (e["line"], e["key"].pattern, e["path"]) for e in stale)
