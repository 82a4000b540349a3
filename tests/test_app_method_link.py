"""A link may name the method (``?method=NAME``): registry names are taken, anything else is ignored."""
from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    if "DUPFINDER_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("given, shown", [("dhash", "dhash"), ("../../etc/passwd", "ahash"), ("", "ahash"),
                                          ("<script>", "ahash")])
def test_method_from_link(given, shown):
    at = AppTest.from_file(APP, default_timeout=120)
    if given:
        at.query_params["method"] = given
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="method").value == shown
