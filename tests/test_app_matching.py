"""AppTest of the sidebar's matching options (ui/matching.py) and the pair inspector (ui/pair_inspector.py)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.invariance import invariant
from core.methods import get

from helpers import APP, texts

TIMEOUT = 180
AHASH = get("ahash")

pytestmark = pytest.mark.usefixtures("hosted_mode")  # tests/conftest.py


def test_dihedral_choice_runs_search_and_duplicates_and_lands_in_the_url():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert at.sidebar.radio(key="match_invariance").value == "none"
    assert at.sidebar.toggle(key="match_verify").value is False
    at.sidebar.radio(key="match_invariance").set_value("dihedral").run()
    assert not at.exception, at.exception
    assert at.query_params.get("inv") in ("dihedral", ["dihedral"])
    wrapped = invariant(AHASH, "dihedral")
    key = wrapped.params_key(wrapped.default_params())
    assert key != AHASH.params_key(AHASH.default_params())  # features of the wrapped method never collide
    at.switch_page("pages/search.py").run()
    assert not at.exception, at.exception
    assert "[dihedral]" in texts(at)  # the method label shows the mode
    assert "of the top" in texts(at)
    at.switch_page("pages/duplicates.py").run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric][:2] == ["Images", "Duplicate pairs"]


@pytest.mark.parametrize("given, mode, verify", [("dihedral", "dihedral", True), ("flips", "flips", False),
                                                 ("../x", "none", False), ("<b>", "none", False)])
def test_invariance_and_verify_from_link(given, mode, verify):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["inv"] = given
    at.query_params["verify"] = "1" if verify else "yes"
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.radio(key="match_invariance").value == mode
    assert at.sidebar.toggle(key="match_verify").value is verify


def _search(verify: bool = False) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if verify:
        at.sidebar.toggle(key="match_verify").set_value(True).run()
    at.session_state["search_table_open"] = True  # "Results as a table" is built while it is open
    at.switch_page("pages/search.py").run()
    assert not at.exception, at.exception
    return at


def test_search_verification_adds_inliers_and_badges():
    off = _search()
    assert not any("inliers" in m.value for m in off.markdown)  # off by default
    at = _search(verify=True)
    text = texts(at)
    assert "Verified with local features" in text
    badges = [m.value for m in at.markdown if "inliers]" in m.value]
    assert badges, text
    assert any("verified ·" in b for b in badges)  # the demo's coffee cups are real copies of the query
    table = at.dataframe[0].value
    assert {"inliers", "verified"} <= set(table.columns)
    assert list(table["verified"]) == sorted(table["verified"], reverse=True)  # verified first


def test_search_inspect_shows_the_pair_and_the_transform_table():
    at = _search()
    buttons = [b for b in at.button if "::inspect::" in (b.key or "")]
    assert buttons
    n_images = len(at.get("image"))
    buttons[0].click().run()
    assert not at.exception, at.exception
    assert any("Pair inspector" in m.value for m in at.markdown)
    assert len(at.get("image")) == n_images + 1  # the drawn pair
    tables = [d.value for d in at.dataframe if "transform" in d.value.columns]
    assert tables and len(tables[0]) == 8
    assert tables[0]["closest"].sum() >= 1
    at.button(key="search::inspector_close").click().run()
    assert not any("Pair inspector" in m.value for m in at.markdown)


def test_duplicates_inspect_compares_a_copy_to_its_keeper():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/duplicates.py").run()
    assert not at.exception, at.exception
    buttons = [b for b in at.button if (b.key or "").startswith("dup_inspect::")]
    assert buttons  # the demo set has groups at the default threshold
    n_images = len(at.get("image"))
    buttons[0].click().run()
    assert not at.exception, at.exception
    assert any("Pair inspector" in m.value for m in at.markdown)
    assert len(at.get("image")) == n_images + 1
    tables = [d.value for d in at.dataframe if "transform" in d.value.columns]
    assert tables and len(tables[0]) == 8


def test_compare_inspect_uses_the_clicked_columns_method():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.session_state["cmp_methods"] = ["ahash", "dhash"]  # no CNN here: test_app covers the default selection
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    buttons = [b for b in at.button if (b.key or "").startswith("cmp_inspect::dhash::")]
    assert buttons
    buttons[0].click().run()
    assert not at.exception, at.exception
    assert any("Pair inspector" in m.value for m in at.markdown)
    assert any("Difference hash" in m.value for m in at.markdown if "each transform" in m.value)
    tables = [d.value for d in at.dataframe if "transform" in d.value.columns]
    assert tables and len(tables[0]) == 8


def test_robustness_lab_compares_invariance_and_verification():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.session_state["lab::methods"] = ["ahash"]
    at.switch_page("pages/robustness.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="lab::transform").set_value("rotation").run()
    n_charts = len(at.get("plotly_chart"))
    at.button(key="lab::inv_run").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == n_charts + 1
    table = next(d.value for d in at.dataframe if "any 90° rotation or mirror" in d.value.columns)
    by = table.set_index("strength")
    # a half turn on the same canvas is an exact pixel permutation: found with dihedral, missed as is
    assert bool(by.loc[180.0, "any 90° rotation or mirror"])
    assert not bool(by.loc[180.0, "as is"])
    assert bool(by.loc[0.0, "as is"]) and bool(by.loc[0.0, "verified (local features)"])
