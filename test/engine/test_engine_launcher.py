"""test_engine_launcher.py: the real-engine launcher (test/engine/opensearch).

One node started as the suites start it: announced once green, answers as
OpenSearch 2.19, keeps external versions (a stale one is refused with 409),
stops with status 0 on SIGTERM and leaves no temporary home behind; bad
arguments are refused with status 2 and a message; in a chroot whose root is
not a mount point it says so (OpenSearch finds no file store there), and
starts once the root is one.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import pytest

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


def test_one_node_starts_serves_and_stops_clean(monkeypatch):
    work = tempfile.mkdtemp(prefix="reindex-engine-test.")
    # the temporary home in a folder of this test's: other engines run beside it
    monkeypatch.setenv("REINDEX_ENGINE_JAVA_OPTS", "-Djava.io.tmpdir=" + work)
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
        homes = glob.glob(os.path.join(work, "reindex-opensearch-*"))
        assert len(homes) == 1 and os.path.isdir(os.path.join(homes[0], "node-1", "data")), homes
    finally:
        rc = engine.stop()
    assert rc == 0, engine.stderr_tail()
    assert not any(os.path.exists(h) for h in homes), homes
    shutil.rmtree(work)


def test_bad_arguments_are_refused():
    for args, why in ((["--nodes", "0"], "--nodes must be 1 to 9"),
                      (["--port", "x"], "--port needs a number"),
                      (["--frobnicate"], "unknown argument --frobnicate")):
        p = subprocess.run([search_engine.OPENSEARCH] + args, capture_output=True, text=True, timeout=300)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert why in p.stderr, (args, p.stderr)
        assert p.stdout == "", (args, p.stdout)


# run as PID 1 of fresh mount and PID namespaces: ROOT gets bind mounts of
# this machine's programs, libraries, checkout and Maven repository (and,
# when SELF is 1, itself first: then it is a mount point), then the command
# runs chrooted there; every mount and process ends with the namespaces
CHROOT_SH = r'''
set -e
root=$1; self=$2; shift 2
[ "$self" = 0 ] || mount --bind "$root" "$root"
while read -r d; do
    if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$root/$d"
    else mkdir "$root/$d"; mount --rbind "/$d" "$root/$d"; fi
done <"$root.dirs"
mkdir "$root/proc" "$root/dev" "$root/tmp"
chmod 1777 "$root/tmp"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
exec chroot "$root" "$@"
'''


def run_in_chroot(root_is_mount_point, cmd, timeout=300):
    """cmd in a chroot of this machine's own files; (status, stdout, stderr)."""
    with open(os.path.join(search_engine.HERE, "target", "classpath.txt")) as f:
        jars = f.read().strip().split(":")
    java = os.path.realpath(subprocess.run(["sh", "-c", "command -v java"], capture_output=True,
                                           text=True, check=True).stdout.strip())
    dirs = {"usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32"}
    dirs |= {os.path.realpath(p).split("/")[1] for p in [search_engine.TOP, java] + jars}
    root = tempfile.mkdtemp(prefix="reindex-chroot-test.")
    with open(root + ".dirs", "w") as f:
        f.write("".join(d + "\n" for d in sorted(dirs) if os.path.lexists("/" + d)))
    proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child",
                             "--propagation", "private", "--", "sh", "-c", CHROOT_SH, "sh", root,
                             "1" if root_is_mount_point else "0"] + cmd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    finally:
        # the mounts lived in the namespace only; remove only what we made
        # (a directory that is still a mount point here would be refused by rmdir)
        with open("/proc/self/mountinfo") as f:
            assert not any(line.split()[4].startswith(root + "/") for line in f), root
        shutil.rmtree(os.path.join(root, "tmp"), ignore_errors=True)
        for name in os.listdir(root):
            path = os.path.join(root, name)
            os.unlink(path) if os.path.islink(path) else os.rmdir(path)
        os.rmdir(root)
        os.unlink(root + ".dirs")
    return proc.returncode, out, err


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="a chroot needs root and unshare (util-linux)")
def test_in_a_chroot_the_root_must_be_a_mount_point():
    """A chroot whose root is not a mount point (check-fresh's first roots): Java
    finds no file store for the data folder, and OpenSearch used to fail with
    "failed to obtain node locks" (caused by "Mount point not found").  The
    launcher names the cause; with the root bound onto itself, as / is on any
    machine, the node starts."""
    subprocess.run([search_engine.OPENSEARCH, "--build"], check=True, capture_output=True, timeout=600)
    rc, out, err = run_in_chroot(False, [search_engine.OPENSEARCH, "--exit-when-ready"])
    assert rc == 1, (rc, out, err)
    assert out == "", out
    assert "Mount point not found" in err and "make its root a mount point" in err, err
    assert "failed to obtain node locks" not in err, err

    rc, out, err = run_in_chroot(True, [search_engine.OPENSEARCH, "--exit-when-ready"])
    assert rc == 0, (rc, out, err)
    assert out.startswith("opensearch listening on http://127.0.0.1:"), (out, err)
