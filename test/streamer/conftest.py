"""conftest.py: fixtures of the reindex_streamer integration tests.

Owns, per test module: a private PostgreSQL cluster (test/pgcluster.sh) with
the extension created, a private development search server (devsearch
--port 0), a runner for reindex_streamer processes (logs kept in the module's
work directory and printed when a test fails), and helpers to drive the SQL
API (endpoint, reindex_begin, job state, swap) and the oracle.

Invariants:
  - nothing is shared between modules: restarts and faults stay private;
  - every wait polls a condition against a deadline (no sleep as
    synchronisation);
  - nothing is skipped: a prerequisite binary (the streamer or the
    development server) that is not built is a failure naming it (make test
    builds both);
  - every streamer started is stopped at teardown; one started without
    expecting a crash must exit 0 on SIGTERM.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import psycopg2
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import streamer_oracle as oracle  # noqa: E402

TOP = os.environ.get("REINDEX_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PGCLUSTER = os.path.join(TOP, "test", "pgcluster.sh")
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


def find_binary(env_name, candidates):
    p = os.environ.get(env_name)
    if p and os.access(p, os.X_OK):
        return p
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    return None


def streamer_binary():
    return find_binary("REINDEX_STREAMER", [os.path.join(TOP, "src", "streamer", "reindex_streamer"),
                                            os.path.join(PGBIN, "reindex_streamer")])


def devsearch_binary():
    return find_binary("REINDEX_DEVSEARCH", [os.path.join(TOP, "contrib", "devsearch", "devsearch")])


# ------------------------------------------------------------------ Postgres
class Cluster:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        out = subprocess.run([PGCLUSTER, "start", self.dir, "logical_decoding_work_mem = 64MB"],
                             check=True, capture_output=True, text=True).stdout
        self.env = {}
        for part in out.replace("export ", "").split():
            k, v = part.split("=", 1)
            self.env[k] = v.strip("'")
        self.host, self.port, self.user = self.env["PGHOST"], self.env["PGPORT"], self.env["PGUSER"]
        self.dbname = "postgres"

    def dsn(self, **extra):
        d = "host=%s port=%s user=%s dbname=%s" % (self.host, self.port, self.user, self.dbname)
        for k, v in extra.items():
            d += " %s=%s" % (k, v)
        return d

    def connect(self, autocommit=True):
        c = psycopg2.connect(self.dsn())
        c.autocommit = autocommit
        return c

    def restart(self):
        subprocess.run([PGCLUSTER, "restart", self.dir], check=True, capture_output=True)

    def destroy(self):
        subprocess.run([PGCLUSTER, "destroy", self.dir], capture_output=True)


# ---------------------------------------------------------------- engines
class EngineClient:
    """What the tests ask of any engine at self.url."""

    def req(self, method, path, body=None):
        return oracle.http(method, self.url + path, body)

    def count(self, index):
        self.req("POST", "/%s/_refresh" % index)
        status, res = self.req("GET", "/%s/_count" % index)
        assert status == 200, (status, res)
        return res["count"]

    def alias_indices(self, alias):
        status, res = self.req("GET", "/_alias/%s" % alias)
        assert status == 200, (status, res)
        return sorted(res.keys())


class RealOpenSearch(EngineClient):
    """A real OpenSearch 2.19 node (test/engine/opensearch, search_engine.py)."""

    def __init__(self, workdir, args=()):
        sys.path.insert(0, os.path.join(TOP, "test", "engine"))
        import search_engine
        self.engine = search_engine.start_opensearch(workdir, *args)
        self.url = self.engine.url

    def stop(self):
        self.engine.stop()


class DevSearch(EngineClient):
    def __init__(self, workdir, args=()):
        binary = devsearch_binary()
        if binary is None:
            pytest.fail("devsearch is not built (make builds it)", pytrace=False)
        self.out = open(os.path.join(workdir, "devsearch.out"), "w+")
        self.proc = subprocess.Popen([binary, "--port", "0"] + list(args), stdout=subprocess.PIPE,
                                     stderr=self.out, text=True)
        line = self.proc.stdout.readline()
        prefix = "devsearch listening on "
        if not line.startswith(prefix):
            self.proc.kill()
            raise AssertionError("devsearch did not start: %r" % line)
        self.url = line[len(prefix):].split()[0]

    def faults(self, *rules):
        """Install fault rules, replacing any (POST /_dev/faults, contrib/devsearch/faults.c):
        {"type": "bulk_item_429"|"http_429"|"http_503"|"delay"|"reset"|"stall",
         "rate": 0..1, "path": "substring", "ms": N, "count": N}"""
        status, res = self.req("POST", "/_dev/faults", {"faults": list(rules)})
        assert status == 200, (rules, status, res)

    def clear_faults(self):
        status, res = self.req("DELETE", "/_dev/faults")
        assert status == 200, (status, res)

    def stats(self):
        status, res = self.req("GET", "/_dev/stats")
        assert status == 200, (status, res)
        return res

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.out.close()


# ----------------------------------------------------------------- streamer
class Streamer:
    """One reindex_streamer process; output goes to a log file."""

    def __init__(self, binary, cluster, workdir, name, args):
        self.name = name
        self.log_path = os.path.join(workdir, "streamer-%s.log" % name)
        self.log = open(self.log_path, "ab")
        cmd = [binary, "-d", cluster.dsn(), "--no-progress", "--log-format=json",
               "--status-interval=200", "--id=%s" % name] + list(args)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout=60):
        """SIGTERM: must flush, confirm and exit 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("streamer %s ignored SIGTERM for %ss" % (self.name, timeout))
        return rc

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("streamer %s still running after %ss" % (self.name, timeout))

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Env:
    """Everything a test module needs: cluster, search server, streamers."""

    def __init__(self, workdir, cluster, es):
        self.workdir, self.pg, self.es = workdir, cluster, es
        self.streamers = []
        self.conn = cluster.connect()
        self.sql("CREATE EXTENSION IF NOT EXISTS reindex")
        self.endpoint = "default"
        add_endpoint(self.conn, self.endpoint, es.url)

    # -- SQL helpers
    def sql(self, query, args=None):
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            if cur.description is not None:
                return cur.fetchall()
        return None

    def one(self, query, args=None):
        rows = self.sql(query, args)
        assert rows and len(rows) == 1, (query, rows)
        return rows[0][0]

    def lsn(self):
        return oracle.current_lsn(self.conn)

    def create_audit_slot(self, name="audit"):
        """Before the test's first write: the history the oracle reads versions from."""
        self.sql("SELECT pg_create_logical_replication_slot(%s, 'reindex')", (name,))
        return name

    # -- lifecycle
    def begin(self, table, alias, index, options=None):
        return self.one("SELECT reindex.reindex_begin(%s::regclass, %s, %s, %s, %s::jsonb)",
                        (table, alias, index, self.endpoint, json.dumps(options or {})))

    def job_state(self, job):
        return self.one("SELECT state FROM reindex.job WHERE id = %s", (job,))

    def wait_job(self, job, states, timeout=120):
        states = (states,) if isinstance(states, str) else tuple(states)
        return oracle.wait_for(lambda: self.job_state(job) in states and self.job_state(job), timeout,
                               "job %s to reach %s (is %s)" % (job, states, self.job_state(job)))

    def swap(self, alias):
        self.sql("SELECT reindex.reindex_swap_alias(%s)", (alias,))

    def reconnect(self):
        """A new catalog connection (after a Postgres restart)."""
        try:
            self.conn.close()
        except Exception:
            pass
        self.conn = self.pg.connect()

    def target_of(self, index):
        return oracle.target_info(self.conn, index)

    def target_row(self, index):
        with self.conn.cursor() as cur:
            cur.execute("SELECT * FROM reindex.target WHERE index_name = %s ORDER BY id DESC LIMIT 1",
                        (index,))
            cols = [d[0] for d in cur.description]
            row = cur.fetchone()
        return dict(zip(cols, row)) if row else None

    # -- streamers
    def start_streamer(self, name="s1", args=()):
        binary = streamer_binary()
        if binary is None:
            pytest.fail("reindex_streamer is not built (make builds it)", pytrace=False)
        s = Streamer(binary, self.pg, self.workdir, name, args)
        self.streamers.append(s)
        return s

    def stop_streamers(self):
        rcs = {}
        for s in self.streamers:
            if s.alive():
                rcs[s.name] = s.terminate()
        self.streamers = [s for s in self.streamers if s.alive()]
        return rcs

    # -- reindex_verify (the product's own reconciliation)
    def verify(self, index, repair=False, options=None, timeout=300):
        """reindex_verify + reindex_verify_wait: the finished run as a dict."""
        run = self.one("SELECT reindex.reindex_verify(%s, %s, %s::jsonb)",
                       (index, repair, json.dumps(options or {})))
        with self.conn.cursor() as cur:
            cur.execute("SELECT * FROM reindex.reindex_verify_wait(%s, %s * interval '1 s')",
                        (run, timeout))
            cols = [d[0] for d in cur.description]
            row = dict(zip(cols, cur.fetchone()))
        assert row["state"] in ("done", "failed"), (row, self.streamer_logs())
        return row

    def assert_verified(self, indexes, timeout=300):
        """reindex_verify on each index: done, 0 missing / extra / stale /
        mismatched, and every row and document checked."""
        runs = []
        for index in indexes:
            r = self.verify(index, timeout=timeout)
            diffs = {k: r[k] for k in ("missing", "extra", "stale", "mismatched")}
            assert r["state"] == "done" and not any(diffs.values()), \
                (index, r, self.streamer_logs())
            assert r["rows_checked"] > 0 and r["docs_checked"] > 0, (index, r)
            runs.append(r)
        return runs

    # -- oracle
    def reconcile(self, indexes, audit_slot="audit", timeout=180, lsn=None):
        """Quiesce every index past the current WAL position, then compare;
        asserts 0 missing / extra / stale / wrong versions on each."""
        lsn = lsn if lsn is not None else self.lsn()
        reports = []
        for index in indexes:
            oracle.quiesce(self.conn, self.es.url, index, lsn, timeout)
        for index in indexes:
            rep = oracle.reconcile(self.conn, self.es.url, index, audit_slot)
            reports.append(rep)
        bad = [r.details() for r in reports if not r.ok()]
        assert not bad, "\n".join(bad) + "\n" + self.streamer_logs()
        for r in reports:
            assert r.checked > 0, r.summary()
        return reports

    def streamer_logs(self, tail=4000):
        out = []
        for name in sorted(os.listdir(self.workdir)):
            if name.startswith("streamer-") and name.endswith(".log"):
                with open(os.path.join(self.workdir, name), "rb") as f:
                    data = f.read().decode("utf-8", "replace")
                out.append("--- %s (last %d bytes)\n%s" % (name, tail, data[-tail:]))
        return "\n".join(out)

    def close(self):
        for s in self.streamers:
            if s.alive():
                s.proc.kill()
                s.proc.wait()
        try:
            self.conn.close()
        except Exception:
            pass


def add_endpoint(conn, name, url):
    """Register the development server under `name` through the SQL API."""
    with conn.cursor() as cur:
        cur.execute("SELECT reindex.endpoint_add(%s, %s)", (name, url))


def _module_env(need_streamer, devsearch_args=(), engine="devsearch", engine_args=()):
    if need_streamer and streamer_binary() is None:
        pytest.fail("reindex_streamer is not built (make builds it)", pytrace=False)
    workdir = tempfile.mkdtemp(prefix="reindex-streamer-test.")
    os.chmod(workdir, 0o755)
    es = RealOpenSearch(workdir, engine_args) if engine == "opensearch" else DevSearch(workdir, devsearch_args)
    cluster = Cluster(workdir)
    e = None
    try:
        e = Env(workdir, cluster, es)
        yield e
    finally:
        if e is not None:
            e.close()
        es.stop()
        cluster.destroy()
        if os.environ.get("REINDEX_KEEP_TEST_DIR"):
            print("kept", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def env():
    """Private cluster + search server for a module whose tests run streamers."""
    yield from _module_env(True)


@pytest.fixture(scope="module")
def env_opensearch():
    """The same with the development server speaking as OpenSearch 2.x
    (--flavor opensearch: its error types, such as mapper_parsing_exception)."""
    yield from _module_env(True, ["--flavor", "opensearch"])


@pytest.fixture(scope="module")
def env_real_opensearch():
    """The same with a real OpenSearch 2.19 node instead of the development server."""
    yield from _module_env(True, engine="opensearch")


@pytest.fixture(scope="module")
def env_no_streamer():
    """The same without requiring the streamer (tests of the oracle itself)."""
    yield from _module_env(False)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the streamer logs to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        e = (item.funcargs.get("env") or item.funcargs.get("env_opensearch")
             or item.funcargs.get("env_real_opensearch") or item.funcargs.get("engine_env")
             or item.funcargs.get("env_no_streamer"))
        if isinstance(e, Env):
            rep.sections.append(("streamer logs", e.streamer_logs()))
