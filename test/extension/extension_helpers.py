"""extension_helpers.py: helpers of the extension tests that pg_regress cannot do
(two sessions at once, query cancel, a server with another wal_level).

Each module gets a private PostgreSQL cluster (test/pgcluster.sh) and a
private development search server, so fault rules and restarts never leak
into other suites.  Both are torn down at the end of the module.
"""
import json
import os
import subprocess
import tempfile
import time
import urllib.request

import psycopg2
import pytest

TOP = os.environ.get("REINDEX_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PGCLUSTER = os.path.join(TOP, "test", "pgcluster.sh")
DEVSEARCH = os.environ.get("REINDEX_DEVSEARCH") or os.path.join(TOP, "contrib", "devsearch", "devsearch")


def wait_for(cond, timeout=30.0, what="condition"):
    """Poll cond() until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


class Cluster:
    def __init__(self, workdir, *conf):
        self.dir = os.path.join(workdir, "pg")
        out = subprocess.run([PGCLUSTER, "start", self.dir, *conf], check=True,
                             capture_output=True, text=True).stdout
        self.env = {}
        for part in out.split("export ", 1)[1].split():
            k, v = part.split("=", 1)
            self.env[k] = v.strip("'")

    def connect(self, autocommit=True):
        conn = psycopg2.connect(host=self.env["PGHOST"], port=self.env["PGPORT"],
                                user=self.env["PGUSER"], dbname="postgres")
        conn.autocommit = autocommit
        return conn

    def destroy(self):
        subprocess.run([PGCLUSTER, "destroy", self.dir], capture_output=True)


class Devsearch:
    def __init__(self, workdir):
        if not os.access(DEVSEARCH, os.X_OK):
            pytest.fail("development search server not built (make builds it): " + DEVSEARCH,
                        pytrace=False)
        self.out = open(os.path.join(workdir, "devsearch.out"), "w+")
        self.proc = subprocess.Popen([DEVSEARCH, "--port", "0"], stdout=self.out,
                                     stderr=subprocess.DEVNULL)

        def url():
            self.out.seek(0)
            for line in self.out:
                if line.startswith("devsearch listening on "):
                    return line.split()[3]
            assert self.proc.poll() is None, "devsearch exited"
            return None
        self.url = wait_for(url, 10, "devsearch to listen")

    def req(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        r = urllib.request.Request(self.url + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None

    def faults(self, *rules):
        status, _ = self.req("POST", "/_dev/faults", {"faults": list(rules)})
        assert status == 200

    def clear_faults(self):
        self.req("DELETE", "/_dev/faults")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except (AssertionError, ChildProcessError):
            pass  # already reaped elsewhere; nothing left to wait for
        self.out.close()


