#!/usr/bin/python3
"""
runner.py - replays Elasticsearch/OpenSearch REST YAML tests over HTTP.

Owns: the mapping of each `do:` section to an HTTP request through the JSON
REST API specs, the assertions of the YAML test format, the skip rules and the
per-test report.  Invariants: a skipped test is never counted as passed; every
skip names its reason (an unsupported feature or version range found by the
runner, or an entry of the skip list); state is wiped between tests; the
summary line is exactly "N passed, N failed, N skipped"; the exit status is 1
when any test failed.

Usage:
  runner.py --url http://127.0.0.1:9200 [--skip-list FILE]... [-k PATTERN] [-v] TEST_DIR...
  runner.py --server-cmd "contrib/devsearch/devsearch --port 0 --flavor opensearch" TEST_DIR...

Only the Python standard library and python3-yaml are used.
"""

import argparse
import base64
import glob
import http.client
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import yaml

DEFAULT_SKIP_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "skip.txt")

# The version the server claims to be, for `skip: version:` ranges.
DEFAULT_SERVER_VERSION = "2.17.0"

# Features of the YAML test format this runner implements.
SUPPORTED_FEATURES = {
    "headers", "yaml", "warnings", "allowed_warnings", "warnings_regex",
    "allowed_warnings_regex", "stash_in_path", "stash_in_key",
    "stash_path_replace", "embedded_stash_key", "contains", "arbitrary_key",
    "transform_and_set", "catch_unauthorized", "default_shards",
}

# catch: name -> predicate on the HTTP status (as the Java runner defines them)
CATCHES = {
    "bad_request": lambda s: s == 400,
    "unauthorized": lambda s: s == 401,
    "forbidden": lambda s: s == 403,
    "missing": lambda s: s == 404,
    "request_timeout": lambda s: s == 408,
    "conflict": lambda s: s == 409,
    "unavailable": lambda s: s == 503,
    "request": lambda s: s >= 400 and s not in (400, 401, 403, 404, 408, 409),
}

# Specs that upstream keeps elsewhere and the shared copy lacks.
BUILTIN_SPECS = {
    "info": {
        "url": {"paths": [{"path": "/", "methods": ["GET"]}]},
        "params": {},
    },
    "indices.refresh": {
        "url": {"paths": [
            {"path": "/_refresh", "methods": ["POST", "GET"]},
            {"path": "/{index}/_refresh", "methods": ["POST", "GET"],
             "parts": {"index": {"type": "list"}}},
        ]},
        "params": {
            "ignore_unavailable": {"type": "boolean"},
            "allow_no_indices": {"type": "boolean"},
            "expand_wildcards": {"type": "enum"},
        },
    },
}

COMMON_PARAMS = {
    "pretty": {"type": "boolean"},
    "human": {"type": "boolean"},
    "error_trace": {"type": "boolean"},
    "source": {"type": "string"},
    "filter_path": {"type": "list"},
}


class ParamError(Exception):
    """A client-side error while building a request (catch: param)."""


class TestFailure(Exception):
    """An assertion or request that did not behave as the test expects."""


class TestSkip(Exception):
    """The test cannot run here; the message is the reason."""


# --------------------------------------------------------------------------
# API specs
# --------------------------------------------------------------------------

class Specs:
    def __init__(self, api_dirs):
        self.apis = {}
        for name, spec in BUILTIN_SPECS.items():
            self.apis[name] = spec
        self.common = dict(COMMON_PARAMS)
        for d in api_dirs:
            for path in sorted(glob.glob(os.path.join(d, "*.json"))):
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
                if os.path.basename(path) == "_common.json":
                    self.common.update(data.get("params", {}))
                    continue
                for name, spec in data.items():
                    self.apis[name] = spec

    def get(self, name):
        return self.apis.get(name)


def find_api_dirs(test_dirs):
    """The `api/` folder next to a `test/` folder that holds a test dir."""
    found = []
    for t in test_dirs:
        p = os.path.abspath(t)
        while True:
            cand = os.path.join(p, "api")
            if os.path.isdir(cand) and os.path.isdir(os.path.join(p, "test")):
                if cand not in found:
                    found.append(cand)
                break
            parent = os.path.dirname(p)
            if parent == p:
                break
            p = parent
    return found


# --------------------------------------------------------------------------
# Stash
# --------------------------------------------------------------------------

STASH_RE = re.compile(r"\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_.]*)")


class Stash:
    def __init__(self):
        self.values = {}

    def clear(self):
        self.values = {}

    def lookup(self, key, body):
        if key == "body":
            return body
        if key not in self.values:
            raise TestFailure("stash has no value for $%s" % key)
        return self.values[key]

    def resolve(self, value, body=None):
        """Substitute stashed values in strings, recursively in containers."""
        if isinstance(value, str):
            m = re.fullmatch(r"\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)", value)
            if m:
                return self.lookup(m.group(1) or m.group(2), body)
            if "${" in value:
                return re.sub(r"\$\{([^}]+)\}",
                              lambda mm: java_str(self.lookup(mm.group(1), body)),
                              value)
            return value
        if isinstance(value, list):
            return [self.resolve(v, body) for v in value]
        if isinstance(value, dict):
            return {self.resolve(k, body) if isinstance(k, str) else k:
                    self.resolve(v, body) for k, v in value.items()}
        return value


def java_str(v):
    """How the Java runner prints a value (used by is_true/is_false, paths)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return repr(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class Response:
    def __init__(self, method, status, headers, raw):
        self.method = method
        self.status = status
        self.headers = headers
        self.raw = raw
        self.text = raw.decode("utf-8", errors="replace")
        ctype = (headers.get("content-type") or "").lower()
        self.body = None
        self.parsed = False
        if raw:
            if "yaml" in ctype:
                try:
                    self.body = yaml.safe_load(self.text)
                    self.parsed = True
                except yaml.YAMLError:
                    pass
            else:
                try:
                    self.body = json.loads(self.text)
                    self.parsed = True
                except ValueError:
                    self.body = self.text

    def warnings(self):
        out = []
        for k, v in self.headers.items_all:
            if k.lower() == "warning":
                m = re.match(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"', v)
                out.append(m.group(1).replace('\\"', '"').replace("\\\\", "\\")
                           if m else v)
        return out


class Headers:
    def __init__(self, pairs):
        self.items_all = pairs
        self.map = {k.lower(): v for k, v in pairs}

    def get(self, k):
        return self.map.get(k.lower())


class Client:
    def __init__(self, url, timeout=30.0):
        u = urllib.parse.urlparse(url)
        if u.scheme != "http":
            raise SystemExit("only http:// URLs are supported: %s" % url)
        self.host = u.hostname
        self.port = u.port or 80
        self.timeout = timeout
        self.conn = None
        self.conn_error = False

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                raw = r.read()
                resp = Response(method, r.status, Headers(r.getheaders()), raw)
                if r.will_close:
                    self.close()
                return resp
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError, http.client.BadStatusLine) as e:
                self.close()
                # a keep-alive connection closed by the server while idle:
                # retry once on a fresh connection
                if reused and attempt == 0:
                    continue
                self.conn_error = True
                raise TestFailure("%s %s: connection error: %r" % (method, path, e))
            except socket.timeout:
                self.close()
                raise TestFailure("%s %s: no answer within %.0fs"
                                  % (method, path, self.timeout))
            except OSError as e:
                self.close()
                self.conn_error = True
                raise TestFailure("%s %s: %r" % (method, path, e))
        raise AssertionError("unreachable")


# --------------------------------------------------------------------------
# Building requests from `do:`
# --------------------------------------------------------------------------

def param_to_str(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ",".join(param_to_str(x) for x in v)
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def encode_part(v):
    return urllib.parse.quote(param_to_str(v), safe=",*")


def serialize_body(api_name, spec, body):
    """Return (bytes, content type) for a request body."""
    ndjson = (spec.get("body") or {}).get("serialize") == "bulk" or \
        api_name in ("bulk", "msearch", "msearch_template")
    if ndjson:
        ctype = "application/x-ndjson"
        if isinstance(body, list):
            lines = []
            for item in body:
                lines.append(item if isinstance(item, str)
                             else json.dumps(item, ensure_ascii=False))
            data = "".join(line + "\n" for line in lines)
        elif isinstance(body, str):
            data = body
        else:
            data = json.dumps(body, ensure_ascii=False) + "\n"
        return data.encode("utf-8"), ctype
    if isinstance(body, str):
        return body.encode("utf-8"), "application/json"
    return json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"


def build_request(specs, api_name, args, stash, body_ctx):
    spec = specs.get(api_name)
    if spec is None:
        raise TestSkip("API [%s] has no spec" % api_name)
    args = dict(args or {})
    body = args.pop("body", None)
    if body is not None:
        body = stash.resolve(body, body_ctx)
    params = {k: stash.resolve(v, body_ctx) for k, v in args.items()}

    all_parts = set()
    for p in spec["url"]["paths"]:
        all_parts.update((p.get("parts") or {}).keys())
    # an empty part (`index: []`, `index: ''`) is no part at all: the client
    # picks a path without it (e.g. POST /_refresh)
    params = {k: v for k, v in params.items()
              if not (k in all_parts and v in ("", []))}
    # a null argument is an absent one (`index: null`), as in the Java runner
    params = {k: v for k, v in params.items() if v is not None}
    known = set(spec.get("params", {}).keys()) | set(specs.common.keys())
    for k in params:
        if k not in all_parts and k not in known:
            raise ParamError("param [%s] not supported by [%s]" % (k, api_name))

    # choose the path whose parts are all given, with the most parts;
    # typeless (non-deprecated) paths first
    best = None
    for p in spec["url"]["paths"]:
        parts = list((p.get("parts") or {}).keys())
        if not all(x in params for x in parts):
            continue
        if any(params[x] in (None, "", []) for x in parts):
            continue
        key = (0 if p.get("deprecated") else 1, len(parts))
        if best is None or key > best[0]:
            best = (key, p)
    if best is None:
        raise ParamError("no path of [%s] matches the given parts %s"
                         % (api_name, sorted(k for k in params if k in all_parts)))
    path_spec = best[1]
    parts = (path_spec.get("parts") or {}).keys()
    path = path_spec["path"]
    for part in parts:
        path = path.replace("{%s}" % part, encode_part(params[part]))
    query = [(k, param_to_str(v)) for k, v in params.items()
             if k not in parts and k in known]
    # a part name that only some paths use and is also a param stays a param;
    # a part that the chosen path lacks and that is no param is an error
    for k in params:
        if k in all_parts and k not in parts and k not in known:
            raise ParamError("part [%s] cannot be used with path %s of [%s]"
                             % (k, path_spec["path"], api_name))
    if query:
        path += "?" + urllib.parse.urlencode(query)

    methods = path_spec["methods"]
    if body is not None:
        pref = ["POST", "PUT", "GET", "DELETE"]
    else:
        pref = ["GET", "HEAD", "DELETE", "PUT", "POST"]
    method = next((m for m in pref if m in methods), methods[0])

    data = None
    headers = {}
    if body is not None:
        data, ctype = serialize_body(api_name, spec, body)
        headers["Content-Type"] = ctype
    return method, path, data, headers


# --------------------------------------------------------------------------
# Response paths
# --------------------------------------------------------------------------

def split_path(path):
    parts, cur, i = [], "", 0
    while i < len(path):
        c = path[i]
        if c == "\\" and i + 1 < len(path) and path[i + 1] == ".":
            cur += "."
            i += 2
            continue
        if c == ".":
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    return parts


def evaluate(resp, path, stash):
    """Value at `path` in the response body; None when absent."""
    if path == "$body":
        return resp.body
    if path == "":
        if resp.body is None and resp.method == "HEAD":
            return resp.status < 400
        return resp.body
    cur = resp.body
    for part in split_path(path):
        if part.startswith("$"):
            part = java_str(stash.resolve(part, resp.body))
        elif "${" in part:
            part = stash.resolve(part, resp.body)
        if cur is None:
            return None
        if isinstance(cur, dict):
            if part == "_arbitrary_key_":
                if not cur:
                    raise TestFailure("no key to pick at [%s]" % path)
                cur = next(iter(cur.keys()))
                continue
            cur = cur.get(part)
        elif isinstance(cur, list):
            try:
                idx = int(part)
            except ValueError:
                return None
            cur = cur[idx] if 0 <= idx < len(cur) else None
        else:
            return None
    return cur


# --------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------

def is_regex(v):
    return isinstance(v, str) and len(v.strip()) > 2 and \
        v.strip().startswith("/") and v.strip().endswith("/")


def values_equal(actual, expected):
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected if isinstance(actual, bool) and \
            isinstance(expected, bool) else False
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return float(actual) == float(expected)
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return False
        return all(values_equal(actual[k], expected[k]) for k in expected)
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return False
        return all(values_equal(a, e) for a, e in zip(actual, expected))
    return type(actual) is type(expected) and actual == expected


def short(v, n=300):
    s = json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) \
        else repr(v)
    return s if len(s) <= n else s[:n] + "..."


def to_number(v, what):
    if isinstance(v, bool) or v is None:
        raise TestFailure("%s is not a number: %s" % (what, short(v)))
    if isinstance(v, (int, float)):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        raise TestFailure("%s is not a number: %s" % (what, short(v)))


# --------------------------------------------------------------------------
# Test execution
# --------------------------------------------------------------------------

def parse_version(s):
    """Comparable key of a version.  As in OpenSearch's own runner, legacy
    Elasticsearch versions (major 5 to 7) sort before every OpenSearch
    version (1.x, 2.x, 3.x)."""
    s = s.strip()
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", s)
    if not m:
        raise ValueError("bad version [%s]" % s)
    v = tuple(int(x or 0) for x in m.groups())
    return (0,) + v if v[0] >= 5 else (1,) + v


def version_skipped(ranges, server_version):
    sv = parse_version(server_version)
    for r in str(ranges).split(","):
        r = r.strip()
        if r == "all":
            return True
        if "-" not in r:
            continue
        lo, hi = r.split("-", 1)
        lo = parse_version(lo) if lo.strip() else (0, 0, 0, 0)
        hi = parse_version(hi) if hi.strip() else (2, 0, 0, 0)
        if lo <= sv <= hi:
            return True
    return False


class Runner:
    def __init__(self, opts, specs, server):
        self.opts = opts
        self.specs = specs
        self.server = server
        self.stash = Stash()
        self.last = None
        self.reset_mode = None
        self.log = []

    @property
    def client(self):
        return self.server.client

    # -- skip -------------------------------------------------------------
    def check_skip(self, skip):
        if not isinstance(skip, dict):
            return
        reason = skip.get("reason", "")
        feats = skip.get("features")
        if feats is not None:
            if isinstance(feats, str):
                feats = [feats]
            missing = [f for f in feats if f not in SUPPORTED_FEATURES]
            if missing:
                raise TestSkip("unsupported feature(s) %s" % ",".join(missing))
        if "version" in skip:
            if version_skipped(skip["version"], self.opts.server_version):
                raise TestSkip("version %s in [%s]: %s"
                               % (self.opts.server_version,
                                  str(skip["version"]).strip(), reason))
        if "os" in skip:
            pass  # operating-system skips do not apply to an HTTP server

    # -- reset --------------------------------------------------------------
    def wipe(self):
        if self.reset_mode is None:
            r = self.client.request("POST", "/_dev/reset")
            self.reset_mode = "dev" if r.status < 300 else "delete"
            if self.reset_mode == "dev":
                return
        if self.reset_mode == "dev":
            r = self.client.request("POST", "/_dev/reset")
            if r.status >= 300:
                raise TestFailure("POST /_dev/reset answered %d" % r.status)
            return
        r = self.client.request("DELETE", "/*?expand_wildcards=all")
        if r.status >= 300 and r.status != 404:
            raise TestFailure("wiping indices answered %d: %s"
                              % (r.status, r.text[:200]))

    # -- steps --------------------------------------------------------------
    def run_steps(self, steps, where):
        for step in steps or []:
            if not isinstance(step, dict) or len(step) != 1:
                raise TestFailure("%s: malformed step %s" % (where, short(step)))
            (kind, arg), = step.items()
            getattr(self, "step_" + kind, self.step_unknown)(kind, arg)

    def step_unknown(self, kind, arg):
        raise TestSkip("unsupported section [%s]" % kind)

    def step_skip(self, kind, arg):
        self.check_skip(arg)

    def step_do(self, kind, arg):
        arg = dict(arg)
        catch = arg.pop("catch", None)
        headers = arg.pop("headers", None) or {}
        warnings = arg.pop("warnings", None) or []
        allowed = arg.pop("allowed_warnings", None) or []
        warnings_re = arg.pop("warnings_regex", None) or []
        allowed_re = arg.pop("allowed_warnings_regex", None) or []
        arg.pop("node_selector", None)
        if len(arg) != 1:
            raise TestFailure("do: expected one API call, got %s" % list(arg))
        (api, params), = arg.items()
        params = dict(params or {})
        ignore = params.pop("ignore", None)
        ignore = {int(x) for x in (ignore if isinstance(ignore, list)
                                   else [ignore])} if ignore is not None else set()
        body_ctx = self.last.body if self.last is not None else None
        try:
            method, path, data, hdrs = build_request(self.specs, api, params,
                                                     self.stash, body_ctx)
        except ParamError as e:
            if catch == "param":
                return
            raise TestFailure("%s: %s" % (api, e))
        if catch == "param":
            # As the upstream Java runner does: a `catch: param` request is
            # never sent (the API specs here may be newer than the tests and
            # accept what the test expects a client to refuse).
            self.log.append("catch: param, not sent: %s %s" % (method, path))
            return
        for k, v in headers.items():
            hdrs[k] = param_to_str(self.stash.resolve(v, body_ctx))
        resp = self.client.request(method, path, data, hdrs)
        self.last = resp
        self.log.append("%s %s -> %d %s" % (method, path, resp.status,
                                            resp.text[:500]))
        where = "%s (%s %s)" % (api, method, path)
        status = resp.status
        if catch is not None:
            if status < 400:
                raise TestFailure("%s: expected error [%s], got %d %s"
                                  % (where, catch, status, resp.text[:300]))
            if is_regex(catch):
                rx = catch.strip()[1:-1]
                if not re.search(rx, resp.text):
                    raise TestFailure("%s: error body does not match /%s/: %s"
                                      % (where, rx, resp.text[:400]))
            elif catch in CATCHES:
                if not CATCHES[catch](status):
                    raise TestFailure("%s: expected [%s], got %d %s"
                                      % (where, catch, status, resp.text[:300]))
            else:
                raise TestSkip("unsupported catch [%s]" % catch)
        elif status >= 400 and status not in ignore and \
                not (method == "HEAD" and status == 404):
            raise TestFailure("%s: unexpected %d %s" % (where, status, resp.text[:400]))

        got = resp.warnings()
        for w in warnings:
            if w not in got:
                raise TestFailure("%s: expected warning [%s], got %s" % (where, w, got))
        for w in warnings_re:
            if not any(re.search(w, g) for g in got):
                raise TestFailure("%s: expected warning /%s/, got %s" % (where, w, got))
        for g in got:
            if g in warnings or g in allowed or \
                    any(re.search(w, g) for w in warnings_re + allowed_re):
                continue
            raise TestFailure("%s: unexpected warning [%s]" % (where, g))

    def _pairs(self, kind, arg):
        if not isinstance(arg, dict) or len(arg) != 1:
            raise TestFailure("%s: expected one {path: value}" % kind)
        return next(iter(arg.items()))

    def _need_response(self, kind):
        if self.last is None:
            raise TestFailure("%s before any do" % kind)
        return self.last

    def step_match(self, kind, arg):
        resp = self._need_response(kind)
        path, expected = self._pairs(kind, arg)
        actual = evaluate(resp, path, self.stash)
        if is_regex(expected):
            rx = expected.strip()[1:-1]
            if actual is None or not re.search(rx, java_str(actual), re.X):
                raise TestFailure("match [%s]: %s does not match /%s/"
                                  % (path, short(actual), rx))
            return
        expected = self.stash.resolve(expected, resp.body)
        if not values_equal(actual, expected):
            raise TestFailure("match [%s]: expected %s, got %s"
                              % (path, short(expected), short(actual)))

    def step_contains(self, kind, arg):
        resp = self._need_response(kind)
        path, expected = self._pairs(kind, arg)
        actual = evaluate(resp, path, self.stash)
        expected = self.stash.resolve(expected, resp.body)
        if not isinstance(actual, list):
            raise TestFailure("contains [%s]: not a list: %s" % (path, short(actual)))

        def sub(a, e):
            if isinstance(e, dict) and isinstance(a, dict):
                return all(k in a and values_equal(a[k], v) for k, v in e.items())
            return values_equal(a, e)
        if not any(sub(a, expected) for a in actual):
            raise TestFailure("contains [%s]: %s not in %s"
                              % (path, short(expected), short(actual)))

    def step_is_true(self, kind, arg):
        resp = self._need_response(kind)
        path = arg if isinstance(arg, str) else str(arg)
        actual = evaluate(resp, path, self.stash)
        if actual is None or java_str(actual).lower() in ("", "false", "0"):
            raise TestFailure("is_true [%s]: got %s" % (path, short(actual)))

    def step_is_false(self, kind, arg):
        resp = self._need_response(kind)
        path = arg if isinstance(arg, str) else str(arg)
        actual = evaluate(resp, path, self.stash)
        if actual is not None and java_str(actual).lower() not in ("", "false", "0"):
            raise TestFailure("is_false [%s]: got %s" % (path, short(actual)))

    def step_length(self, kind, arg):
        resp = self._need_response(kind)
        path, expected = self._pairs(kind, arg)
        actual = evaluate(resp, path, self.stash)
        expected = self.stash.resolve(expected, resp.body)
        if not isinstance(actual, (list, dict, str)):
            raise TestFailure("length [%s]: no length for %s" % (path, short(actual)))
        if len(actual) != int(expected):
            raise TestFailure("length [%s]: expected %s, got %d (%s)"
                              % (path, expected, len(actual), short(actual)))

    def _compare(self, kind, arg, op, sym):
        resp = self._need_response(kind)
        path, expected = self._pairs(kind, arg)
        actual = to_number(evaluate(resp, path, self.stash), "[%s]" % path)
        expected = to_number(self.stash.resolve(expected, resp.body), "expected")
        if not op(actual, expected):
            raise TestFailure("%s [%s]: %s is not %s %s" % (kind, path, actual,
                                                            sym, expected))

    def step_gt(self, kind, arg):
        self._compare(kind, arg, lambda a, b: a > b, ">")

    def step_gte(self, kind, arg):
        self._compare(kind, arg, lambda a, b: a >= b, ">=")

    def step_lt(self, kind, arg):
        self._compare(kind, arg, lambda a, b: a < b, "<")

    def step_lte(self, kind, arg):
        self._compare(kind, arg, lambda a, b: a <= b, "<=")

    def step_set(self, kind, arg):
        resp = self._need_response(kind)
        for path, name in arg.items():
            self.stash.values[name] = evaluate(resp, path, self.stash)

    def step_transform_and_set(self, kind, arg):
        resp = self._need_response(kind)
        for name, expr in arg.items():
            m = re.fullmatch(r"#base64EncodeCredentials\(([^,]+),([^)]+)\)", expr.strip())
            if not m:
                raise TestSkip("unsupported transform [%s]" % expr)
            a = evaluate(resp, m.group(1).strip(), self.stash)
            b = evaluate(resp, m.group(2).strip(), self.stash)
            self.stash.values[name] = base64.b64encode(
                ("%s:%s" % (a, b)).encode()).decode()

    # -- a whole test -------------------------------------------------------
    def run_test(self, setup, teardown, steps):
        self.stash.clear()
        self.last = None
        self.log = []
        failure = None
        try:
            self.wipe()
            # skips of the test are honoured before its setup runs
            for step in steps or []:
                if isinstance(step, dict) and "skip" in step:
                    self.check_skip(step["skip"])
            self.run_steps(setup, "setup")
            self.last = None
            self.run_steps(steps, "test")
        except TestFailure as e:
            failure = str(e)
        finally:
            if teardown:
                try:
                    self.last = None
                    self.run_steps(teardown, "teardown")
                except TestFailure as e:
                    if failure is None:
                        failure = "teardown: %s" % e
                except TestSkip:
                    pass
        if failure is not None:
            raise TestFailure(failure)


# --------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------

LISTEN_RE = re.compile(r"listening on (http://\S+)")


class Server:
    def __init__(self, url=None, cmd=None, timeout=30.0):
        self.url = url
        self.cmd = cmd
        self.proc = None
        self.timeout = timeout
        self.client = None
        if cmd:
            self.start()
        else:
            self.client = Client(url, timeout)

    def start(self):
        self.proc = subprocess.Popen(shlex.split(self.cmd), stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = LISTEN_RE.search(line)
        if not m:
            self.stop()
            raise SystemExit("server did not print its listen line; got %r" % line)
        self.url = m.group(1).rstrip("/")
        self.client = Client(self.url, self.timeout)
        # keep reading what the server prints so a full pipe never blocks it
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def alive(self):
        return self.proc is None or self.proc.poll() is None

    def restart_if_dead(self):
        """Return a description when the server had died (and restart it).
        After a connection error, wait (bounded) for the process to exit so a
        crash is attributed to the test that caused it."""
        if self.proc is None:
            return None
        if self.client.conn_error:
            self.client.conn_error = False
            try:
                self.proc.wait(2.0)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            return None
        code = self.proc.returncode
        self.client.close()
        self.start()
        return "server died (exit status %s); restarted" % code

    def stop(self):
        if self.client:
            self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------
# Collection
# --------------------------------------------------------------------------

def collect_files(test_dirs):
    files = []
    for d in test_dirs:
        if os.path.isfile(d):
            files.append(d)
            continue
        for root, _dirs, names in os.walk(d):
            for n in names:
                if n.endswith((".yml", ".yaml")):
                    files.append(os.path.join(root, n))
    return sorted(set(os.path.abspath(f) for f in files))


def file_id(path):
    return "%s/%s" % (os.path.basename(os.path.dirname(path)), os.path.basename(path))


def load_skip_list(path):
    entries = {}
    if not path:
        return entries
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "\t" not in line:
                raise SystemExit("%s:%d: expected <file>::<test>\\t<reason>" % (path, n))
            key, reason = line.split("\t", 1)
            if not reason.strip():
                raise SystemExit("%s:%d: a skip needs a reason" % (path, n))
            entries[key.strip()] = reason.strip()
    return entries


def parse_file(path):
    """Return (setup, teardown, [(name, steps)]) or raise yaml.YAMLError."""
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    setup, teardown, tests = None, None, []
    for d in docs:
        if not isinstance(d, dict):
            raise yaml.YAMLError("a section is not a mapping")
        for name, steps in d.items():
            if name == "setup":
                setup = steps
            elif name == "teardown":
                teardown = steps
            else:
                tests.append((str(name), steps))
    return setup, teardown, tests


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="base URL of a running server")
    ap.add_argument("--server-cmd", help="command that starts the server and prints "
                    "'... listening on http://HOST:PORT' as its first line")
    ap.add_argument("--api-dir", action="append", default=[],
                    help="folder of JSON API specs (default: api/ next to test/)")
    ap.add_argument("--skip-list", action="append",
                    help="file of <file>::<test>\\t<reason> lines; may be given "
                    "several times (default: skip.txt next to this script; '' for none)")
    ap.add_argument("-k", dest="pattern", help="run tests whose <file>::<name> "
                    "matches this regular expression")
    ap.add_argument("-v", dest="verbose", action="store_true",
                    help="print the requests of failed tests")
    ap.add_argument("--server-version", default=DEFAULT_SERVER_VERSION,
                    help="version used for skip ranges (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds to wait for each answer")
    ap.add_argument("test_dirs", nargs="+", metavar="TEST_DIR")
    opts = ap.parse_args(argv)
    if bool(opts.url) == bool(opts.server_cmd):
        ap.error("give exactly one of --url and --server-cmd")

    api_dirs = opts.api_dir or find_api_dirs(opts.test_dirs)
    specs = Specs(api_dirs)
    skips = {}
    for path in opts.skip_list if opts.skip_list is not None else [DEFAULT_SKIP_LIST]:
        skips.update(load_skip_list(path))
    used_skips = set()
    pattern = re.compile(opts.pattern) if opts.pattern else None

    server = Server(url=opts.url, cmd=opts.server_cmd, timeout=opts.timeout)
    runner = Runner(opts, specs, server)
    passed = failed = skipped = 0
    try:
        for path in collect_files(opts.test_dirs):
            fid = file_id(path)
            try:
                setup, teardown, tests = parse_file(path)
            except yaml.YAMLError as e:
                tid = "%s::*" % fid
                if pattern and not pattern.search(tid):
                    continue
                if tid in skips:
                    used_skips.add(tid)
                    print("SKIP %s: %s" % (tid, skips[tid]))
                    skipped += 1
                else:
                    msg = str(e).replace("\n", " ")
                    print("FAIL %s: cannot parse the file: %s" % (tid, msg[:200]))
                    failed += 1
                continue
            file_skip = None
            try:
                for step in setup or []:
                    if isinstance(step, dict) and "skip" in step:
                        runner.check_skip(step["skip"])
            except TestSkip as e:
                file_skip = str(e)
            for name, steps in tests:
                tid = "%s::%s" % (fid, name)
                if pattern and not pattern.search(tid):
                    continue
                for key in (tid, "%s::*" % fid):
                    if key in skips:
                        used_skips.add(key)
                        print("SKIP %s: %s" % (tid, skips[key]))
                        skipped += 1
                        break
                else:
                    if file_skip:
                        print("SKIP %s: %s" % (tid, file_skip))
                        skipped += 1
                        continue
                    try:
                        runner.run_test(setup, teardown, steps)
                        died = server.restart_if_dead()
                        if died:
                            raise TestFailure(died)
                        print("PASS %s" % tid)
                        passed += 1
                    except TestSkip as e:
                        print("SKIP %s: %s" % (tid, e))
                        skipped += 1
                    except TestFailure as e:
                        died = server.restart_if_dead()
                        msg = str(e).replace("\n", " ")
                        if died:
                            msg = "%s; %s" % (died, msg)
                        print("FAIL %s: %s" % (tid, msg))
                        failed += 1
                        if opts.verbose:
                            for line in runner.log:
                                print("    " + line.replace("\n", " "))
                sys.stdout.flush()
    finally:
        server.stop()
    if not pattern:
        collected = {file_id(p) for p in collect_files(opts.test_dirs)}
        for key in sorted(set(skips) - used_skips):
            if key.split("::", 1)[0] not in collected:
                continue
            print("NOTE skip-list entry matches no collected test: %s" % key,
                  file=sys.stderr)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
