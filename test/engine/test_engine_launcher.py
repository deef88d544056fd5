"""test_engine_launcher.py: the real-engine launcher (test/engine/opensearch).

One node started as the suites start it: announced once green, answers as
OpenSearch 2.19, keeps external versions (a stale one is refused with 409),
stops with status 0 on SIGTERM and leaves no temporary home behind; bad
arguments are refused with status 2 and a message.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import search_engine  # noqa: E402


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_one_node_starts_serves_and_stops_clean():
    work = tempfile.mkdtemp(prefix="reindex-engine-test.")
    homes_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "reindex-opensearch-*")))
    engine = search_engine.start_opensearch(work)
    try:
        status, root = http("GET", engine.url + "/")
        assert status == 200, root
        assert root["version"]["distribution"] == "opensearch"
        assert root["version"]["number"].startswith("2.19."), root
        status, health = http("GET", engine.url + "/_cluster/health")
        assert health["status"] == "green" and health["number_of_nodes"] == 1, health

        status, res = http("PUT", engine.url + "/launcher_t/_doc/1?version=5&version_type=external", {"a": 1})
        assert status == 201, res
        status, res = http("PUT", engine.url + "/launcher_t/_doc/1?version=4&version_type=external", {"a": 0})
        assert status == 409 and res["error"]["type"] == "version_conflict_engine_exception", res
        homes = set(glob.glob(os.path.join(tempfile.gettempdir(), "reindex-opensearch-*"))) - homes_before
        assert len(homes) == 1, homes
    finally:
        rc = engine.stop()
    assert rc == 0, engine.stderr_tail()
    assert not any(os.path.exists(h) for h in homes), homes


def test_bad_arguments_are_refused():
    for args, why in ((["--nodes", "0"], "--nodes must be 1 to 9"),
                      (["--port", "x"], "--port needs a number"),
                      (["--frobnicate"], "unknown argument --frobnicate")):
        p = subprocess.run([search_engine.OPENSEARCH] + args, capture_output=True, text=True, timeout=300)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert why in p.stderr, (args, p.stderr)
        assert p.stdout == "", (args, p.stdout)
