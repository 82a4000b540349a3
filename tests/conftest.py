"""Test-wide setup: every test (and every subprocess it starts: CLI, streamlit server) uses a private cache
directory, so tests never read or write the user's feature cache, ONNX export or demo data.

Shared fixtures: ``hosted_mode`` (no mode variable) and ``offline_cnn`` (no network, private ONNX cache). Shared
AppTest helpers are in ``tests/helpers.py``.
"""
from __future__ import annotations

import os
import socket
import tempfile

import pytest

os.environ.setdefault("DUPFINDER_CACHE_DIR", tempfile.mkdtemp(prefix="dupfinder-test-cache-"))
os.environ.setdefault("DUPFINDER_WARMUP", "0")  # no background CNN load in AppTest runs (tests that need it set 1)


@pytest.fixture
def hosted_mode(monkeypatch):
    """Hosted mode, the default of ``streamlit run``: no mode variable and no folder allow-list, unless a test sets
    them (the private cache directory is set above, for every test)."""
    for var in ("DUPFINDER_LOCAL", "DUPFINDER_ALLOW_FOLDER", "DUPFINDER_ALLOWED_ROOTS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def offline_cnn(tmp_path_factory):
    """For a whole module: sockets refuse to connect (nothing may download weights), no weights file given, and
    ONNX exports go to a throw-away cache directory, which is yielded."""
    from core import cnn

    mp = pytest.MonkeyPatch()

    def no_network(*_a, **_k):
        raise OSError("network access is disabled in tests")

    mp.setattr(socket.socket, "connect", no_network)
    mp.setattr(socket, "create_connection", no_network)
    cache = tmp_path_factory.mktemp("dupfinder-cache")
    mp.setenv(cnn.CACHE_ENV, str(cache))
    mp.delenv(cnn.WEIGHTS_ENV, raising=False)
    cnn._get_model_cached.cache_clear()
    yield cache
    cnn._get_model_cached.cache_clear()
    mp.undo()
