"""conftest.py: fixtures of test/streamer_more (more reindex_streamer behaviour:
lag fall-back, alias drift repair, TRUNCATE, refused documents).

Owns nothing new: it reuses test/streamer's per-module fixtures (a private
PostgreSQL cluster, a private development server, streamer runners, the
per-document oracle) by importing that package, so both suites share one
implementation.  The same invariants hold: every wait polls a condition
against a deadline, and every streamer started is stopped at teardown.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from streamer.conftest import (env, env_no_streamer, env_opensearch, env_real_opensearch,  # noqa: E402,F401
                               shared_engine, pytest_runtest_makereport, pytest_runtest_setup)
