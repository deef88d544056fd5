"""conftest.py: fixtures of the reindex_streamer integration tests.

Owns, per test module: a private PostgreSQL cluster (test/pgcluster.sh) with
the extension created, the search engine chosen by REINDEX_TEST_ENGINE
(test/engine/search_engine.py):
  devsearch   a private development server per module (the default);
  opensearch  one real OpenSearch shared by every module of the run (the one
              test/run-all.sh started, REINDEX_TEST_OPENSEARCH_URL, or one this
              session starts), or a private one for a module marked
              private_engine (it pauses its engine);
  url         the cluster at REINDEX_TEST_ES_URL, with TLS and auth options;
a runner for reindex_streamer processes (logs kept in the module's work
directory and printed when a test fails), and helpers to drive the SQL API
(endpoint, reindex_begin, job state, swap) and the oracle.

Invariants:
  - nothing but a real engine is shared between modules: restarts and faults
    stay private; on a shared engine every index a module begins is deleted
    before (a leftover of an earlier run) and after the module, and index
    names are unique across the suites;
  - a test marked devsearch_only(reason) (it injects devsearch faults through
    POST /_dev/faults) is skipped on a real engine with that reason, listed in
    the run's summary; a fault call on a real engine from an unmarked test
    fails;
  - a real engine that cannot start is a failure, never a skip;
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
sys.path.insert(0, os.path.join(TOP, "test", "engine"))
import search_engine  # noqa: E402

ENGINE = search_engine.engine_kind()
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


# ------------------------------------------------------------ search engines
class SearchServer:
    """What the tests ask of any engine: requests, counts, aliases."""
    kind = None
    shared = False
    endpoint_args = search_engine.plain_endpoint_args()

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


class DevSearch(SearchServer):
    kind = "devsearch"

    def __init__(self, workdir, args=()):
        binary = devsearch_binary()
        if binary is None:
            pytest.fail("devsearch is not built (make builds it)", pytrace=False)
        self.engine = search_engine.start_devsearch(workdir, binary, *args)
        self.url = self.engine.url

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

    def slow_bulk(self, ms):
        """Make each _bulk take `ms` longer (so a backfill lasts long enough to
        be caught in the middle)."""
        self.faults({"type": "delay", "ms": ms, "path": "_bulk"})

    def end_slow_bulk(self):
        self.clear_faults()

    def block_writes(self):
        """Nothing can be acknowledged until unblock_writes(): every _bulk 503."""
        self.faults({"type": "http_503", "path": "_bulk"})

    def unblock_writes(self):
        self.clear_faults()

    def stop(self):
        self.engine.kill()
        self.engine.err.close()


class RealEngine(SearchServer):
    """OpenSearch started by us (shared or private) or a user's cluster."""

    def __init__(self, kind, url, engine=None, shared=True, endpoint_args=None):
        self.kind, self.url, self.engine, self.shared = kind, url, engine, shared
        if endpoint_args is not None:
            self.endpoint_args = endpoint_args

    def _no_faults(self, *a, **k):
        raise AssertionError("devsearch fault injection (POST /_dev/faults) on %s: mark the test "
                             "devsearch_only with its reason" % self.kind)

    faults = clear_faults = stats = _no_faults

    def slow_bulk(self, ms):
        """A real engine's own indexing cost stands in for the delay: the test's
        wait for a half-done backfill fails loudly if it is ever too fast."""

    def end_slow_bulk(self):
        pass

    def block_writes(self):
        """A real engine of our own is paused (SIGSTOP): nothing is acknowledged."""
        assert self.engine is not None and not self.shared, \
            "block_writes needs a private engine: mark the module private_engine"
        os.kill(self.engine.proc.pid, signal.SIGSTOP)

    def unblock_writes(self):
        os.kill(self.engine.proc.pid, signal.SIGCONT)

    def stop(self):
        if self.engine is not None and not self.shared:
            os.kill(self.engine.proc.pid, signal.SIGCONT)
            rc = self.engine.stop()
            assert rc == 0, "%s exited %s:\n%s" % (self.kind, rc, self.engine.stderr_tail())


def start_real_engine(workdir, shared, kind=None, args=()):
    """A real engine: kind opensearch or url (default REINDEX_TEST_ENGINE's);
    args: options of an OpenSearch node started here."""
    if (kind or ENGINE) == "url":
        cfg = search_engine.UrlConfig()
        oracle.configure_http(cfg.http_headers(), cfg.ssl_context())
        return RealEngine("url", cfg.url, endpoint_args=cfg.endpoint_args())
    url = os.environ.get("REINDEX_TEST_OPENSEARCH_URL") if shared else None
    if url:
        return RealEngine("opensearch", url)
    engine = search_engine.start_opensearch(workdir, *args)
    return RealEngine("opensearch", engine.url, engine, shared)


# ----------------------------------------------------------------- streamer
class Streamer:
    """One reindex_streamer process; output goes to a log file."""

    def __init__(self, binary, cluster, workdir, name, args, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, "streamer-%s.log" % name)
        self.log = open(self.log_path, "ab")
        cmd = [binary, "-d", cluster.dsn(), "--no-progress", "--log-format=json",
               "--status-interval=200", "--id=%s" % name] + list(args)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))

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
        self.indexes = []              # begun here: deleted at close on a shared engine
        self.conn = cluster.connect()
        self.sql("CREATE EXTENSION IF NOT EXISTS reindex")
        self.endpoint = "default"
        add_endpoint(self.conn, self.endpoint, es.url, es.endpoint_args)

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
        if self.es.shared and index not in self.indexes:
            self.forget_index(index)   # a leftover of an earlier run on this cluster
        self.indexes.append(index)
        return self.one("SELECT reindex.reindex_begin(%s::regclass, %s, %s, %s, %s::jsonb)",
                        (table, alias, index, self.endpoint, json.dumps(options or {})))

    def job_state(self, job):
        return self.one("SELECT state FROM reindex.job WHERE id = %s", (job,))

    def wait_job(self, job, states, timeout=120):
        states = (states,) if isinstance(states, str) else tuple(states)
        return oracle.wait_for(lambda: self.job_state(job) in states and self.job_state(job), timeout,
                               "job %s to reach %s (is %s)" % (job, states, self.job_state(job)))

    def wait_shared(self, index, timeout=120):
        """Wait until the target of `index` is fed by the database's shared slot."""
        return oracle.wait_for(lambda: (self.target_row(index) or {}).get("feed") == "shared", timeout,
                               "index %s to be handed over to the shared slot" % index)

    def shared_slot(self):
        """The name of the database's shared slot."""
        return "reindex_shared_%s" % self.one("SELECT oid FROM pg_database WHERE datname = current_database()")

    def streamer_slots(self):
        """The streamer's slots (reindex_<id>, reindex_shared_<oid>) of the
        cluster, sorted: the tests' audit slots are left out."""
        return sorted(r[0] for r in self.sql("SELECT slot_name FROM pg_replication_slots"
                                             " WHERE slot_name LIKE 'reindex\\_%'"))

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
    def start_streamer(self, name="s1", args=(), env=None):
        binary = streamer_binary()
        if binary is None:
            pytest.fail("reindex_streamer is not built (make builds it)", pytrace=False)
        s = Streamer(binary, self.pg, self.workdir, name, args, env)
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

    def forget_index(self, index):
        status, res = self.es.req("DELETE", "/%s" % index)
        assert status in (200, 404), (index, status, res)

    def close(self):
        for s in self.streamers:
            if s.alive():
                s.proc.kill()
                s.proc.wait()
        if self.es.shared:
            for index in self.indexes:
                self.forget_index(index)
        try:
            self.conn.close()
        except Exception:
            pass


def add_endpoint(conn, name, url, args=None):
    """Register the search engine under `name` through the SQL API (args: auth,
    username, secret, ca_file, verify_tls, as search_engine.UrlConfig gives them)."""
    a = args or search_engine.plain_endpoint_args()
    with conn.cursor() as cur:
        cur.execute("SELECT reindex.endpoint_add(%s, %s, %s, %s, %s, %s, %s)",
                    (name, url, a["auth"], a["username"], a["secret"], a["ca_file"], a["verify_tls"]))


def _module_env(need_streamer, devsearch_args=(), engine=None, private=False, shared_engine=None, engine_args=()):
    """engine: devsearch, opensearch or url (default: REINDEX_TEST_ENGINE).
    A real engine is the run's shared one unless private (or none is at hand:
    an opensearch module outside a run that shares one starts its own).
    engine_args: options of a real engine of its own (e.g. -E settings)."""
    engine = engine or ENGINE
    if need_streamer and streamer_binary() is None:
        pytest.fail("reindex_streamer is not built (make builds it)", pytrace=False)
    workdir = tempfile.mkdtemp(prefix="reindex-streamer-test.")
    os.chmod(workdir, 0o755)
    if engine == "devsearch":
        es = DevSearch(workdir, devsearch_args)
    elif private or engine_args:
        es = start_real_engine(workdir, shared=False, kind=engine, args=engine_args)
    elif shared_engine is not None and shared_engine.kind == engine:
        es = shared_engine
    elif engine == "url" or os.environ.get("REINDEX_TEST_OPENSEARCH_URL"):
        es = start_real_engine(workdir, shared=True, kind=engine)    # the run's, not stopped here
    else:
        es = start_real_engine(workdir, shared=False, kind=engine)   # this module's alone
    cluster = Cluster(workdir)
    e = None
    try:
        e = Env(workdir, cluster, es)
        yield e
    finally:
        if e is not None:
            e.close()
        if es is not shared_engine:
            es.stop()
        cluster.destroy()
        if os.environ.get("REINDEX_KEEP_TEST_DIR"):
            print("kept", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _private(request):
    """A module marked private_engine gets an engine of its own (never the url
    engine: that one cannot be paused)."""
    m = request.node.get_closest_marker("private_engine")
    if m is not None and ENGINE == "url":
        pytest.skip("needs an engine of its own to pause (%s); REINDEX_TEST_ENGINE=url has none" % m.args[0])
    return m is not None


@pytest.fixture(scope="session")
def shared_engine():
    """The real engine every module of the run shares (None with devsearch)."""
    if ENGINE == "devsearch":
        yield None
        return
    workdir = tempfile.mkdtemp(prefix="reindex-engine.")
    es = start_real_engine(workdir, shared=True)
    try:
        yield es
    finally:
        if es.engine is not None:
            rc = es.engine.stop()
            assert rc == 0, "opensearch exited %s:\n%s" % (rc, es.engine.stderr_tail())
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def env(request, shared_engine):
    """Private cluster + search engine for a module whose tests run streamers."""
    yield from _module_env(True, private=_private(request), shared_engine=shared_engine)


@pytest.fixture(scope="module")
def env_opensearch(request, shared_engine):
    """The same with the development server speaking as OpenSearch 2.x
    (--flavor opensearch: its error types, such as mapper_parsing_exception),
    or the real engine of the run."""
    yield from _module_env(True, ["--flavor", "opensearch"], private=_private(request),
                           shared_engine=shared_engine)


@pytest.fixture(scope="module")
def env_real_opensearch(request, shared_engine):
    """The same with a real OpenSearch 2.19 whatever REINDEX_TEST_ENGINE says
    (the run's shared one when it has one)."""
    yield from _module_env(True, engine="opensearch", private=_private(request), shared_engine=shared_engine)


@pytest.fixture(scope="module")
def env_no_streamer(request, shared_engine):
    """The same without requiring the streamer (tests of the oracle itself)."""
    yield from _module_env(False, private=_private(request), shared_engine=shared_engine)


def pytest_runtest_setup(item):
    search_engine.skip_if_devsearch_only(item)


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
