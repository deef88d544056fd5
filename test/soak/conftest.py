"""conftest.py: fixtures of test/soak, reused from test/streamer (a private
PostgreSQL cluster, a private development server and streamer runners per
module), as test/streamer_more does."""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "streamer")))

from streamer.conftest import env, env_real_opensearch, pytest_runtest_makereport  # noqa: E402,F401
