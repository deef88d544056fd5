"""hostile_cluster.py: a search "cluster" that answers badly, for the tests of
what the backend and the streamer do with broken answers.

HostileCluster(mode) listens on 127.0.0.1 (free port) in a thread and answers
every request with one kind of bad answer:
  garbage     200, Content-Type JSON, a body that is not JSON nor UTF-8
  notjson     200, Content-Type JSON, a text body that is not JSON
  truncated   Content-Length 1000, half a JSON document, then the connection closes
  huge_length Content-Length 2 GB, a few bytes, then the connection closes
  endless     chunked transfer encoding, chunks sent until the client goes away
  forward:URL every request forwarded to URL, except those whose path contains
              `hostile_path`, answered with `hostile_mode` the first `hostile_count`
              times (so a client that retries gets through afterwards)
Requests seen are counted per path in `hits`; `seen` keeps (method, path,
headers) of every request (header names in lower case).  stop() closes it.
With tls=(certfile, keyfile) it speaks HTTPS (url starts with https://);
make_tls_cert() writes a certificate for 127.0.0.1 that is its own CA.
"""
import os
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request


class HostileCluster:
    def __init__(self, mode, hostile_path=None, hostile_mode=None, hostile_count=0, tls=None):
        self.mode = mode
        self.tls = None
        if tls:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*tls)
        self.hostile_path, self.hostile_mode, self.hostile_left = hostile_path, hostile_mode, hostile_count
        self.hits = {}
        self.seen = []
        self.endless_bytes = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.sock.getsockname()[1])
        self.handshakes_failed = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass

    # ------------------------------------------------------------ serving
    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(f):
        line = f.readline()
        if not line:
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers = {}
        while True:
            h = f.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, v = h.decode("latin-1").split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = f.read(int(headers.get("content-length", "0") or 0))
        return method, path, headers, body

    def _serve(self, conn):
        if self.tls:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ValueError):
                with self.lock:
                    self.handshakes_failed += 1
                conn.close()
                return
        f = conn.makefile("rb")
        try:
            while True:
                req = self._read_request(f)
                if req is None:
                    return
                method, path, headers, body = req
                mode = self.mode
                with self.lock:
                    key = path.split("?")[0]
                    self.hits[key] = self.hits.get(key, 0) + 1
                    self.seen.append((method, path, headers))
                    if mode.startswith("forward:") and self.hostile_path and self.hostile_path in path \
                            and self.hostile_left > 0:
                        self.hostile_left -= 1
                        mode = self.hostile_mode
                if mode.startswith("forward:"):
                    self._forward(conn, mode[len("forward:"):], method, path, headers, body)
                    continue
                self._hostile(conn, mode)
                return
        except (OSError, ValueError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _hostile(self, conn, mode):
        if mode == "garbage":
            body = b"<html>this is not JSON \x00\xff</html>"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)
        elif mode == "notjson":
            body = b"<html>Service temporarily unavailable</html>"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)
        elif mode == "truncated":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                         b'{"took":1,"errors":false,"items":[{"index":{"_id":"1"')
        elif mode == "huge_length":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n"
                         b'{"took":1,')
        elif mode == "endless":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"1\r\n[\r\n")
            chunk = b'"x",' * 16384
            piece = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
            while not self.stopping:
                conn.sendall(piece)
                with self.lock:
                    self.endless_bytes += len(chunk)
        else:
            raise ValueError(mode)

    @staticmethod
    def _forward(conn, base, method, path, headers, body):
        fwd = {k: v for k, v in headers.items() if k in ("content-type", "authorization")}
        r = urllib.request.Request(base + path, data=body if method not in ("GET", "HEAD") or body else None,
                                   method=method, headers=fwd)
        try:
            with urllib.request.urlopen(r, timeout=60) as resp:
                status, ctype, data = resp.status, resp.headers.get("Content-Type", "application/json"), resp.read()
        except urllib.error.HTTPError as e:
            status, ctype, data = e.code, e.headers.get("Content-Type", "application/json"), e.read()
        head = "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (status, ctype, len(data))
        conn.sendall(head.encode() + (b"" if method == "HEAD" else data))


def make_tls_cert(directory, name="server"):
    """Write <name>.pem and <name>.key: a certificate for 127.0.0.1 (IP subject
    alternative name), self-signed so that it is its own CA file.  The
    directory and the certificate are made readable by the database server's
    user (the backend reads ca_file); returns (certfile, keyfile)."""
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=reindex test " + name, "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(directory, 0o755)
    os.chmod(cert, 0o644)
    return cert, key
