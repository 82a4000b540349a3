"""scripts/serve.py rehearses the first pages in-process before the server answers: the rehearsal runs the real
pages without an exception (a failure would only be logged, so it is checked here)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_rehearsal_runs_the_first_pages_without_an_exception():
    spec = importlib.util.spec_from_file_location("serve", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    pages = [(p, q) for p, q in serve.REHEARSED if q.get("method") != "cnn-cosine"]  # no CNN in the unit tests
    got = serve.rehearse(pages)
    assert [p for p, _ in got] == [p for p, _ in pages]
    assert all(err is None for _, err in got), got
