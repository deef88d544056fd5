"""search_engine.py: starting the search engines the integration tests run against.

Owns the processes of a test's engines: the development server (devsearch) and a
real OpenSearch cluster (test/engine/opensearch, the Java launcher), both on
loopback with free ports, each announcing itself with one line
"<name> listening on http://127.0.0.1:PORT" on stdout.

Invariants:
  - an engine that does not announce itself within its deadline is an error
    carrying the tail of its stderr, never a skip;
  - stop() ends the process it started (SIGTERM, then SIGKILL to its process
    group after a deadline) and nothing else: each engine has a session of its own;
  - the OpenSearch launcher runs with --stdin-control, so its stdin pipe ties it
    to this process: a test runner that dies takes its engines with it.
"""

import os
import signal
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
OPENSEARCH = os.path.join(HERE, "opensearch")


class EngineProcess:
    """One engine process; .url is its first node's HTTP address, .nodes all of them."""

    def __init__(self, name, cmd, workdir, start_timeout, stdin_control=False):
        self.name = name
        self.err_path = os.path.join(workdir, "%s.%d.err" % (name, id(self)))
        self.err = open(self.err_path, "w+b")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.PIPE if stdin_control else subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        self.nodes = {}
        self.url = None
        lines = []
        # read the status lines in a thread so that the deadline holds on a silent process
        done = threading.Event()

        def read():
            for line in self.proc.stdout:
                lines.append(line)
                if " listening on " in line:
                    break
            done.set()

        threading.Thread(target=read, daemon=True).start()
        done.wait(start_timeout)
        for line in lines:
            w = line.split()
            if line.startswith("%s node " % name) and len(w) >= 4:
                self.nodes[w[2]] = w[3]
            if line.startswith("%s listening on " % name):
                self.url = w[3]
        if self.url is None:
            rc = None
            if done.is_set():   # its stdout ended: it exited, or is about to
                try:
                    rc = self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            self.kill()
            why = ("exited with status %d before announcing itself" % rc if rc is not None
                   else "did not start within %d s" % start_timeout)
            raise AssertionError("%s %s: %s\n--- stderr tail:\n%s"
                                 % (name, why, " ".join(cmd), self.stderr_tail()))

    def stderr_tail(self, n=4000):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-n:]

    def control(self, command, timeout=120):
        """OpenSearch with several nodes: "stop node-2" / "start node-2"; returns the answer."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = []
        t = threading.Thread(target=lambda: answer.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not answer or answer[0].startswith("error") or not answer[0]:
            raise AssertionError("%s: %r answered %r" % (self.name, command, answer))
        return answer[0].strip()

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status (SIGKILL after the deadline)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = None
        self.err.close()
        return rc

    def kill(self):
        """SIGKILL to the engine's process group (its own session): a launcher
        still building has children (Maven, the class archive's training run)
        that must not outlive it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def start_opensearch(workdir, *args, start_timeout=300):
    """A real OpenSearch cluster: args as test/engine/opensearch takes them
    (--nodes N, -E key=value, --data DIR).  The first start of a checkout builds
    the launcher (Maven), hence the generous deadline."""
    return EngineProcess("opensearch", [OPENSEARCH, "--stdin-control"] + list(args), workdir,
                         start_timeout, stdin_control=True)


def start_devsearch(workdir, binary, *args, start_timeout=30):
    return EngineProcess("devsearch", [binary, "--port", "0"] + list(args), workdir, start_timeout)


# ------------------------------------------------------------ engine choice
ENGINES = ("devsearch", "opensearch", "url")


def engine_kind():
    """REINDEX_TEST_ENGINE: devsearch (default), opensearch or url; anything
    else is an error, never a silent fall-back to the default."""
    kind = os.environ.get("REINDEX_TEST_ENGINE") or "devsearch"
    if kind not in ENGINES:
        raise SystemExit("REINDEX_TEST_ENGINE=%r: expected one of %s" % (kind, ", ".join(ENGINES)))
    return kind


class UrlConfig:
    """A user's cluster (REINDEX_TEST_ENGINE=url): where it is and how to reach it.
      REINDEX_TEST_ES_URL         http(s)://host:port (required)
      REINDEX_TEST_ES_AUTH        none (default) | basic | api_key
      REINDEX_TEST_ES_USER        user name for basic
      REINDEX_TEST_ES_SECRET      password (basic) or encoded API key (api_key)
      REINDEX_TEST_ES_CA_FILE     CA bundle (PEM) to verify the server with
      REINDEX_TEST_ES_VERIFY_TLS  1 (default) or 0 to accept any certificate"""

    def __init__(self, env=os.environ):
        self.url = (env.get("REINDEX_TEST_ES_URL") or "").rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise SystemExit("REINDEX_TEST_ENGINE=url needs REINDEX_TEST_ES_URL=http(s)://host:port, got %r"
                             % self.url)
        self.auth = env.get("REINDEX_TEST_ES_AUTH") or "none"
        if self.auth not in ("none", "basic", "api_key"):
            raise SystemExit("REINDEX_TEST_ES_AUTH=%r: expected none, basic or api_key" % self.auth)
        self.user = env.get("REINDEX_TEST_ES_USER") or None
        self.secret = env.get("REINDEX_TEST_ES_SECRET") or None
        if self.auth == "basic" and not (self.user and self.secret):
            raise SystemExit("REINDEX_TEST_ES_AUTH=basic needs REINDEX_TEST_ES_USER and REINDEX_TEST_ES_SECRET")
        if self.auth == "api_key" and not self.secret:
            raise SystemExit("REINDEX_TEST_ES_AUTH=api_key needs REINDEX_TEST_ES_SECRET")
        self.ca_file = env.get("REINDEX_TEST_ES_CA_FILE") or None
        verify = env.get("REINDEX_TEST_ES_VERIFY_TLS", "1")
        if verify not in ("0", "1"):
            raise SystemExit("REINDEX_TEST_ES_VERIFY_TLS=%r: expected 0 or 1" % verify)
        self.verify_tls = verify == "1"

    def endpoint_args(self):
        """The arguments of reindex.endpoint_add after name and url."""
        return {"auth": self.auth, "username": self.user, "secret": self.secret,
                "ca_file": self.ca_file, "verify_tls": self.verify_tls}

    def http_headers(self):
        import base64
        if self.auth == "basic":
            token = base64.b64encode(("%s:%s" % (self.user, self.secret)).encode()).decode()
            return {"Authorization": "Basic " + token}
        if self.auth == "api_key":
            return {"Authorization": "ApiKey " + self.secret}
        return {}

    def ssl_context(self):
        if not self.url.startswith("https://"):
            return None
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def plain_endpoint_args():
    return {"auth": "none", "username": None, "secret": None, "ca_file": None, "verify_tls": True}


def skip_if_devsearch_only(item):
    """pytest_runtest_setup of every integration suite: a test marked
    devsearch_only(reason) is skipped on a real engine, with that reason (run
    with -rs, the reasons are listed in the summary)."""
    import pytest
    m = item.get_closest_marker("devsearch_only")
    kind = engine_kind()
    if m is not None and kind != "devsearch":
        pytest.skip("devsearch-only (%s engine): %s" % (kind, m.args[0]))
