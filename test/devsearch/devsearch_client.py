"""A devsearch process for tests: started on --port 0, spoken to over raw HTTP/1.1.

Shared by the fixtures in conftest.py and by test modules that start servers
themselves (a module name of its own: every suite under test/ has a conftest).
"""
import http.client
import json
import os
import subprocess


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.path.join(ROOT, "contrib", "devsearch", "devsearch")


class DevSearch:
    def __init__(self, args):
        self.proc = subprocess.Popen([BINARY, "--port", "0", "--quiet"] + args,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("devsearch listening on http://127.0.0.1:"), line
        self.port = int(line.strip().rsplit(":", 1)[1])

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, timeout=10):
        c = conn or self.conn(timeout)
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if body is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r, data

    def json(self, method, path, body=None, headers=None):
        r, data = self.request(method, path, body, headers)
        return r.status, (json.loads(data) if data else None)

    def bulk(self, lines, path="/_bulk", headers=None):
        body = "".join(json.dumps(l) + "\n" for l in lines)
        h = {"Content-Type": "application/x-ndjson"}
        h.update(headers or {})
        return self.json("POST", path, body, h)

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=10)
        return rc
