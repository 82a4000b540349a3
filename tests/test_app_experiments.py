"""AppTest of the Experiments page and the Robustness lab: each experiment runs on a small labelled set with fast
methods, and its charts and tables appear; the lab's scores table follows the strength slider."""
from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from core import transforms as T

from corpus import photo

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
FAST = ["ahash", "euclidean", "cosine"]


@pytest.fixture()
def labelled_folder(tmp_path):
    """2 groups x 4 images, consecutive naming."""
    for g in range(2):
        img = photo(128, 96, seed=g + 3)
        for k, v in enumerate([img, T.apply(img, "brightness", 1.2), T.apply(img, "scale", 0.6),
                               T.apply(img, "rotation", 3)]):
            v.save(tmp_path / f"g{g}_{k}.png")
    return tmp_path


@pytest.fixture()
def app(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("DUPFINDER_LOCAL", "1")  # local desktop mode: offers the "Folder path" source in the sidebar
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def _charts(at):
    return at.get("plotly_chart")


def _use_folder(at, folder):
    """Make the sidebar's dataset the labelled folder (source "Folder path", consecutive:4), through the sidebar
    widgets' session_state keys (the sidebar is drawn by app.py around the page)."""
    at.session_state["ds_source"] = "Folder path"
    at.session_state["ds_folder"] = str(folder)
    at.session_state["ds_labels"] = "consecutive"
    at.session_state["ds_k"] = 4
    at.run()
    assert not at.exception
    ds = at.session_state["_dataset"]
    assert ds is not None and len(ds.items) == 8 and ds.has_labels


def test_experiments_page_runs_all_three(app, labelled_folder):
    at = app
    _use_folder(at, labelled_folder)
    at.switch_page("pages/experiments.py").run()
    assert not at.exception
    assert at.radio(key="exp1::source").value == "current"  # the user's labelled data is the default
    n_charts = len(_charts(at))

    # Experiment 1 on the sidebar's folder (8 images, 2 queries)
    at.multiselect(key="exp1::methods").set_value(FAST).run()
    at.button(key="exp1::run").click().run()
    assert not at.exception
    assert len(_charts(at)) == n_charts + 2  # accuracy-vs-time + bars
    assert any("2 queries" in m.value for m in at.markdown)
    tables = [d.value for d in at.dataframe]
    speed = next(t for t in tables if "accuracy" in t.columns)
    assert list(speed["method"]) == FAST and "article_accuracy" in speed.columns
    assert at.button(key="exp1::run").label.endswith("Re-run")
    assert any("uint8" in m.value for m in at.markdown)  # the Euclidean 0 % explanation

    # Experiment 2a (multi-view demo set) with fast methods
    at.multiselect(key="exp2a::methods").set_value(["ahash", "cosine"]).run()
    at.button(key="exp2a::run").click().run()
    assert not at.exception
    assert len(_charts(at)) == n_charts + 4

    # Experiment 2b: 2 demo images, 2 transforms, 2 methods
    at.number_input(key="exp2b::n").set_value(2).run()
    at.multiselect(key="exp2b::methods").set_value(["ahash", "euclidean"]).run()
    at.multiselect(key="exp2b::transforms").set_value(["rotation", "brightness"]).run()
    at.button(key="exp2b::run").click().run()
    assert not at.exception
    assert len(_charts(at)) == n_charts + 6  # detected rate + margin facets
    breaks = [d.value for d in at.dataframe if "ahash" in d.value.columns]
    assert breaks and len(breaks[-1]) == 2

    # Experiment 3 on the sidebar's folder: pixels only, a few calls
    at.radio(key="exp3::source").set_value("current").run()
    at.multiselect(key="exp3::on").set_value(["pixels"]).run()
    at.number_input(key="exp3::calls").set_value(100).run()
    at.button(key="exp3::run").click().run()
    assert not at.exception
    assert len(_charts(at)) == n_charts + 7
    summary = next(d.value for d in at.dataframe if "max_abs_diff" in d.value.columns)
    assert summary["max_abs_diff"].max() <= 1e-9
    assert any("scipy / numpy" in m.label for m in at.metric)

    # results are kept: a plain rerun does not lose them
    at.run()
    assert len(_charts(at)) == n_charts + 7


def test_robustness_lab_slider_changes_scores(app):
    at = app
    at.switch_page("pages/robustness.py").run()
    assert not at.exception
    at.multiselect(key="lab::methods").set_value(FAST).run()
    assert not at.exception

    def scores():
        df = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
        return list(df["score"]), list(df["verdict"])

    at.selectbox(key="lab::transform").set_value("rotation").run()
    at.slider(key="lab::strength::rotation").set_value(0.0).run()
    s0, v0 = scores()
    assert len(s0) == len(FAST) and all(v.startswith("✔") for v in v0)  # identity: every method matches
    at.slider(key="lab::strength::rotation").set_value(90.0).run()
    s1, v1 = scores()
    assert s1 != s0 and any(v.startswith("✖") for v in v1)
    charts = _charts(at)
    assert len(charts) == 1
    at.selectbox(key="lab::curve_method").set_value("ahash").run()
    assert not at.exception and len(_charts(at)) == 1
    # binary transform: a toggle, not a slider
    at.selectbox(key="lab::transform").set_value("hflip").run()
    assert not at.exception
    assert at.toggle(key="lab::strength::hflip").value is True
