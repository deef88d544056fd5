"""conftest.py: fixtures of the extension tests (test/extension): a private
cluster and a private development search server per module; the helpers
live in extension_helpers.py (a unique module name: test/streamer has a
conftest.py too)."""
import os
import subprocess
import tempfile

import pytest

from extension_helpers import Cluster, Devsearch


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
