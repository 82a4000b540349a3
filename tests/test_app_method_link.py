"""A link may name the method (``?method=NAME``): registry names are taken, anything else is ignored."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from helpers import APP


@pytest.mark.parametrize("given, shown", [("dhash", "dhash"), ("../../etc/passwd", "ahash"), ("", "ahash"),
                                          ("<script>", "ahash")])
def test_method_from_link(given, shown):
    at = AppTest.from_file(APP, default_timeout=120)
    if given:
        at.query_params["method"] = given
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="method").value == shown
