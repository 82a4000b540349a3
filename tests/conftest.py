"""Test-wide setup: every test (and every subprocess it starts: CLI, streamlit server) uses a private cache
directory, so tests never read or write the user's feature cache, ONNX export or demo data."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("DUPFINDER_CACHE_DIR", tempfile.mkdtemp(prefix="dupfinder-test-cache-"))
os.environ.setdefault("DUPFINDER_WARMUP", "0")  # no background CNN load in AppTest runs (tests that need it set 1)
