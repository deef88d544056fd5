"""Regression tests for the fuzz findings in contrib/devsearch/corpus/crashes/.

Each test drives the request that crashed (or leaked) through HTTP and asserts
the answer a real cluster gives.  The leak is checked under valgrind, which
reports it as "definitely lost" at exit when the resolve error path forgets
the partly built index list.
"""
import json
import os
import shutil
import signal
import subprocess

import pytest

from devsearch_client import BINARY, DevSearch


def test_bulk_action_float_out_of_long_range(ds):
    # crash-bulk-action-float-out-of-long-range: (long long) 1e307 was UB
    body = '{"index":{"_index":"b","_id":"1","version":1e307,"version_type":"external"}}\n{"a":1}\n'
    r, data = ds.request("POST", "/_bulk", body, {"Content-Type": "application/x-ndjson"})
    assert r.status == 400
    err = json.loads(data)["error"]
    assert err["type"] == "illegal_argument_exception"
    assert "out of range of long" in err["reason"] and "[version]" in err["reason"]
    for bad in ("-1e19", "9.3e18"):
        r, data = ds.request("POST", "/_bulk",
                             '{"index":{"_index":"b","_id":"1","version":%s,"version_type":"external"}}\n{"a":1}\n' % bad,
                             {"Content-Type": "application/x-ndjson"})
        assert r.status == 400, bad
    # an in-range exponent is truncated to a long like Jackson does
    st, res = ds.bulk([{"index": {"_index": "b", "_id": "1", "version": 1e3,
                                  "version_type": "external"}}, {"a": 1}])
    assert st == 200 and res["errors"] is False
    assert res["items"][0]["index"]["_version"] == 1000


def test_get_with_bad_version_type_is_400(ds):
    # crash-docs_get-uninitialised-EsError: status came from an uninitialised
    # EsError when only version_type was wrong
    ds.json("PUT", "/g/_doc/1", {"a": 1})
    for i in range(20):
        st, res = ds.json("GET", "/g/_doc/1?version_type=bogus%d" % i)
        assert st == 400
        assert res["status"] == 400
        assert res["error"]["type"] == "illegal_argument_exception"
        assert res["error"]["reason"] == "No version type match [bogus%d]" % i
    st, res = ds.json("GET", "/g/_doc/1?version=x")
    assert st == 400 and "Failed to parse long parameter [version]" in res["error"]["reason"]
    st, res = ds.json("GET", "/g/_doc/1?version=1&version_type=external")
    assert st == 200 and res["_source"] == {"a": 1}


def test_delete_index_list_with_missing_member(ds):
    # leak-indices_delete-IndexList-on-resolve-error (behaviour part)
    assert ds.json("PUT", "/fz")[0] == 200
    st, res = ds.json("DELETE", "/fz,missing")
    assert st == 404
    assert res["error"]["type"] == "index_not_found_exception"
    assert res["error"]["index"] == "missing"
    r, _ = ds.request("HEAD", "/fz")
    assert r.status == 200, "a failed multi-index delete must delete nothing"


def test_resolve_error_paths_do_not_leak(request):
    if shutil.which("valgrind") is None:
        pytest.fail("valgrind is not installed (contrib/install-deps.sh installs it)",
                    pytrace=False)
    if not os.path.exists(BINARY):
        subprocess.check_call(["make", "-s", "-C", os.path.dirname(BINARY), "devsearch"])
    cmd = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
           "--error-exitcode=99", BINARY, "--port", "0", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ds = DevSearch.__new__(DevSearch)
    ds.proc = proc
    line = proc.stdout.readline().decode()
    assert line.startswith("devsearch listening on http://127.0.0.1:"), line
    ds.port = int(line.strip().rsplit(":", 1)[1])
    request.addfinalizer(lambda: proc.poll() is None and proc.kill())
    for name in ("a", "b", "c"):
        assert ds.json("PUT", "/" + name)[0] == 200
    # every resolve failure after at least one index was collected
    assert ds.json("DELETE", "/a,b,c,missing")[0] == 404
    assert ds.json("GET", "/a,b,missing/_settings")[0] == 404
    assert ds.json("GET", "/a,b,nope*/_mapping?allow_no_indices=false")[0] == 404
    assert ds.json("POST", "/a,b,missing/_refresh")[0] == 404
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert rc == 0, err
