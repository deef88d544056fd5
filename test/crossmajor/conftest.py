"""conftest.py: fixtures of test/crossmajor (reindex_streamer linked with one
major's libpq against a server of another major).

The streamer under test is REINDEX_STREAMER_OTHER, set by make test: with
PG=18 the streamer of src/streamer (Debian's libpq, 15) against the 18
server; with PG=15 the one linked with 18's libpq against the 15 server.
Everything else is test/streamer's per-module fixtures (private cluster of
the major under test, private development server, oracle), reused by
importing that package; test/run-all.sh runs this folder only when
REINDEX_STREAMER_OTHER is set.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from streamer import conftest as streamer_conftest  # noqa: E402
from streamer.conftest import pytest_runtest_makereport  # noqa: E402,F401


@pytest.fixture(scope="module")
def env():
    """test/streamer's env, with REINDEX_STREAMER_OTHER as the streamer."""
    other = os.environ.get("REINDEX_STREAMER_OTHER")
    if not other or not os.access(other, os.X_OK):
        pytest.fail("REINDEX_STREAMER_OTHER names no streamer binary (make test sets it)", pytrace=False)
    saved = os.environ.get("REINDEX_STREAMER")
    os.environ["REINDEX_STREAMER"] = other
    try:
        yield from streamer_conftest._module_env(True)
    finally:
        if saved is None:
            del os.environ["REINDEX_STREAMER"]
        else:
            os.environ["REINDEX_STREAMER"] = saved
