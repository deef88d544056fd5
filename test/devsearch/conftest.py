"""Fixtures for the devsearch integration tests.

Each test gets its own devsearch process started on --port 0; the first stdout
line ("devsearch listening on http://127.0.0.1:PORT") gives the address.
Helpers speak raw HTTP/1.1 over sockets so tests see exact bytes.
"""
import os
import subprocess

import pytest

from devsearch_client import BINARY, DevSearch


def _make(request, args):
    if not os.path.exists(BINARY):
        subprocess.check_call(["make", "-s", "-C", os.path.dirname(BINARY), "devsearch"])
    ds = DevSearch(args)
    request.addfinalizer(lambda: ds.proc.poll() is None and ds.stop())
    return ds


@pytest.fixture
def ds(request):
    return _make(request, [])


@pytest.fixture
def ds_factory(request):
    return lambda *args: _make(request, list(args))
