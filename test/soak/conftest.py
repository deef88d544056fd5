"""conftest.py: fixtures of test/soak, reused from test/streamer (a private
PostgreSQL cluster, a private development server and streamer runners per
module), as test/streamer_more does; devsearch runs with
--no-auto-create-index (the index_lost phase)."""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "streamer")))

import pytest  # noqa: E402

from streamer.conftest import _module_env, env_real_opensearch, pytest_runtest_makereport, shared_engine  # noqa: E402,F401


@pytest.fixture(scope="module")
def env():
    yield from _module_env(True, ["--no-auto-create-index"])
