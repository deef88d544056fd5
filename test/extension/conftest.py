"""conftest.py: fixtures of the extension tests (test/extension): a private
cluster and a private development search server per module; the helpers
live in extension_helpers.py (a unique module name: test/streamer has a
conftest.py too).  Tests marked devsearch_only (they inject faults through
POST /_dev/faults) are skipped with their reason when REINDEX_TEST_ENGINE
names a real engine."""
import os
import subprocess
import sys
import tempfile

import pytest

from extension_helpers import TOP, Cluster, Devsearch

sys.path.insert(0, os.path.join(TOP, "test", "engine"))
import search_engine  # noqa: E402


def pytest_runtest_setup(item):
    search_engine.skip_if_devsearch_only(item)


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="reindex-ext-")
    os.chmod(d, 0o755)
    yield d
    subprocess.run(["rm", "-rf", d])


@pytest.fixture(scope="module")
def cluster(workdir):
    c = Cluster(workdir)
    yield c
    c.destroy()


@pytest.fixture(scope="module")
def devsearch(workdir):
    d = Devsearch(workdir)
    yield d
    d.stop()
