"""test_make_fresh.py: the top-level Makefile, on a fresh machine and on a prepared one.

When `contrib/install-deps.sh --check` reports a missing package, the Makefile
takes its fresh-machine branch: install the packages, then make what was asked.
REINDEX_DEPS_PRETEND_MISSING makes the check fail here, and `make -n` shows what
would run without running it (make still runs the recursive makes, with -n
too), so nothing is installed, built or tested by this file.

Invariants checked:
  - on the fresh-machine path, for every target the README names, install-deps
    runs first, once (no make loop), and then that target's own recipe, with no
    "Leaving directory" of the second make after it (make test's last line is
    its summary);
  - in both branches those targets, and every target named like a folder of
    the checkout, are phony: test/ is a folder, and `make test` on a
    fresh machine once answered "'test' is up to date", ran nothing and
    exited 0.
"""

import os
import re
import signal
import subprocess
import threading

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INSTALL_DEPS = "./contrib/install-deps.sh"

# target -> a line of its own recipe (or of its sub-make's) in `make -n`
RECIPES = {
    "all": "all || exit 1",
    "install": "install || exit 1",
    "installcheck": "pg_regress",
    "test": "./test/run-majors.sh",     # make test PG=N runs ./test/run-all.sh
    "demo": "./contrib/demo/demo.sh",
    "bench": "./test/bench/run.sh",
    "clean": "rm -rf results regression.diffs regression.out",
    "tmp-install": "./test/tmp-install.sh",
    "check-fresh": "./test/check-fresh.sh",
}


def make(args, fresh, timeout=120, loop_check=True):
    """make ARGS in the checkout, as a user's shell would run it (none of the
    variables of an enclosing make); fresh: the dependency check fails.
    Returns (exit status, output).  make runs in a process group of its own,
    killed whole at the timeout or, with loop_check, when install-deps.sh
    shows up a second time (the sub-make took the fresh-machine branch again:
    under -n that never ends)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS",
                        "PG_CONFIG", "PGBIN", "DEPS_OK", "REINDEX_DEPS_PRETEND_MISSING",
                        "PG", "PG18_TRIED")}
    if fresh:
        env["REINDEX_DEPS_PRETEND_MISSING"] = "make"
    proc = subprocess.Popen(["make"] + args, cwd=TOP, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    lines, why = [], None
    timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    try:
        for raw in proc.stdout:
            lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
            if loop_check and sum(1 for line in lines if line.strip() == INSTALL_DEPS) > 1:
                why = "make loops: the sub-make took the fresh-machine branch again"
                break
    finally:
        timer.cancel()
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.stdout.close()
        rc = proc.wait()
    out = "\n".join(lines)
    if why is None and rc == -signal.SIGKILL:
        why = "make did not end in %d s" % timeout
    if why:
        pytest.fail("make %s: %s:\n%s" % (" ".join(args), why, out[-3000:]), pytrace=False)
    return rc, out


def test_pretend_missing_fails_the_check():
    """The switch this file relies on: the check fails, naming the package."""
    env = dict(os.environ, REINDEX_DEPS_PRETEND_MISSING="make")
    r = subprocess.run([os.path.join(TOP, "contrib", "install-deps.sh"), "--check"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 1
    assert re.search(rb"missing Debian packages:.* make\b", r.stderr), r.stderr


@pytest.mark.parametrize("target", sorted(RECIPES))
def test_fresh_machine_installs_then_makes_the_target(target):
    rc, out = make(["-n", target], fresh=True)
    lines = out.splitlines()
    assert "is up to date" not in out, out
    deps = [i for i, line in enumerate(lines) if line.strip() == INSTALL_DEPS]
    assert len(deps) == 1, "install-deps.sh should run exactly once:\n" + out
    recipe = [i for i, line in enumerate(lines) if RECIPES[target] in line]
    assert recipe and recipe[0] > deps[0], \
        "make %s should run after install-deps.sh:\n%s" % (target, out)
    # the target's own last line (make test's summary) is the last one shown
    assert not re.search(r"^make\[1\]: (Entering|Leaving) directory", out, re.M), out
    assert rc == 0, out


def database(fresh):
    """(targets with a rule, phony targets) of the top-level Makefile."""
    rc, out = make(["-pq", "no-such-target-of-test-make-fresh"], fresh=fresh, loop_check=False)
    assert "No rule to make target" in out, out[-2000:]
    phony, targets, not_a_target = set(), set(), False
    for line in out.splitlines():
        if line.startswith("# Not a target:"):
            not_a_target = True
            continue
        m = re.match(r"^([A-Za-z0-9_./+-]+):(?:\s+(.*))?$", line)
        if m and not line.startswith("#"):
            if m.group(1) == ".PHONY":
                phony.update((m.group(2) or "").split())
            elif not not_a_target:
                targets.add(m.group(1))
        not_a_target = False
    return targets, phony


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh machine", "prepared machine"])
def test_no_file_or_folder_shadows_a_target(fresh):
    targets, phony = database(fresh)
    missing = sorted(t for t in RECIPES if t not in phony)
    assert not missing, "not phony: %s (phony: %s)" % (missing, sorted(phony))
    named_like_a_folder = sorted(t for t in targets - phony if os.path.isdir(os.path.join(TOP, t)))
    assert not named_like_a_folder, "targets named like a folder of the checkout, " \
        "not phony: %s" % named_like_a_folder
