"""core.charts.explore (DataFrame in, plotly Figure out) and core.agreement (the Compare page's tables)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.agreement import agreement_table, pairwise_agreement
from core.charts import (agreement_heatmap, copies_bar, nearest_neighbour_histogram, pair_score_histogram,
                         prf_curve)
from core.methods import get

AHASH, COS = get("ahash"), get("cosine")


def _vlines(fig: go.Figure) -> list[float]:
    return [s.x0 for s in fig.layout.shapes if s.type == "line"]


def _rects(fig: go.Figure) -> list[tuple[float, float]]:
    return [(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"]


def test_pair_histogram_two_classes_and_lines():
    df = pd.DataFrame({"score": [1, 2, 3, 20, 25, 30, 31], "duplicate": [True] * 3 + [False] * 4})
    fig = pair_score_histogram(df, AHASH, current=10, suggested=12)
    assert len(fig.data) == 2
    assert sorted(len(t.x) for t in fig.data) == [3, 4]
    assert _vlines(fig) == [10, 12]
    (x0, x1), = _rects(fig)
    assert x1 == 10 and x0 < 10  # distance: the match side is left of the threshold


def test_match_side_follows_direction():
    df = pd.DataFrame({"score": [0.99, 0.98, 0.5, 0.6], "duplicate": [True, True, False, False]})
    fig = pair_score_histogram(df, COS, current=0.9)
    (x0, x1), = _rects(fig)
    assert x0 == 0.9 and x1 > 0.9  # similarity: the match side is right of the threshold


def test_hash_bins_are_one_bit_wide():
    df = pd.DataFrame({"score": [0, 5, 9], "duplicate": [True, False, False]})
    fig = pair_score_histogram(df, AHASH)
    assert fig.data[0].xbins.size == 1


def test_prf_curve():
    sweep = pd.DataFrame({"threshold": np.arange(5.0), "precision": [1, 1, .8, .5, .4], "recall": [.1, .5, .8, 1, 1],
                          "f1": [.2, .6, .8, .6, .5]})
    fig = prf_curve(sweep, AHASH, current=1, suggested=2)
    assert [t.name for t in fig.data] == ["precision", "recall", "F1"]
    assert _vlines(fig) == [1, 2]


def test_prf_curve_without_suggestion():
    sweep = pd.DataFrame({"threshold": [0.0, 1.0], "precision": [np.nan, np.nan], "recall": [0, 0], "f1": [0, 0]})
    fig = prf_curve(sweep, AHASH, current=1, suggested=None)
    assert _vlines(fig) == [1]


def test_nearest_neighbour_histogram_counts_matches():
    nn = pd.DataFrame({"name": list("abcd"), "nearest": list("badc"), "score": [2.0, 2.0, 30.0, 30.0]})
    fig = nearest_neighbour_histogram(nn, AHASH, current=10)
    assert "2 of 4 images have a match" in fig.layout.title.text
    assert _vlines(fig) == [10]


def test_nearest_neighbour_histogram_nan_and_empty():
    nn = pd.DataFrame({"name": ["a"], "nearest": ["a"], "score": [np.nan]})
    assert isinstance(nearest_neighbour_histogram(nn, AHASH, current=10), go.Figure)
    empty = pd.DataFrame({"name": [], "nearest": [], "score": []})
    assert isinstance(nearest_neighbour_histogram(empty, COS, current=0.9), go.Figure)


def test_copies_bar_only_images_with_copies_and_short_names():
    copies = pd.DataFrame({"name": ["img/a.jpg", "img/b.jpg", "img/c.jpg"], "copies": [1, 0, 1]})
    fig = copies_bar(copies)
    assert list(fig.data[0].y) == ["a.jpg", "c.jpg"]
    assert list(fig.data[0].customdata) == ["img/a.jpg", "img/c.jpg"]
    none = copies_bar(copies.assign(copies=0))
    assert "no duplicates" in none.layout.title.text


def _res(names, matches):
    return pd.DataFrame({"rank": np.arange(1, len(names) + 1), "name": names, "score": np.linspace(0, 1, len(names)),
                         "match": matches})


def test_agreement_table_and_matrix():
    results = {"A": _res(["x", "y", "z"], [True, True, False]), "B": _res(["y", "x", "w"], [True, False, False])}
    t = agreement_table(results, groups={"x": "g", "y": "g", "z": "h", "w": "h"}, query_group="g")
    assert list(t["name"]) == ["y", "x", "w", "z"]  # matched by 2, by 1; then rank ties by name
    assert t.loc[t["name"] == "y", "matched_by"].item() == 2
    assert t.loc[t["name"] == "w", "in_top_k"].item() == 1
    assert pd.isna(t.loc[t["name"] == "w", "A"].item())
    assert t["true_duplicate"].tolist() == [True, True, False, False]
    top = pairwise_agreement(results, "top_k")
    assert top.loc["A", "B"] == pytest.approx(2 / 4) and top.loc["A", "A"] == 1
    match = pairwise_agreement(results, "match")
    assert match.loc["A", "B"] == pytest.approx(1 / 2)
    fig = agreement_heatmap(top)
    assert fig.data[0].z.shape == (2, 2)


def test_pairwise_agreement_empty_sets_are_nan():
    results = {"A": _res(["x"], [False]), "B": _res(["y"], [False])}
    assert np.isnan(pairwise_agreement(results, "match").loc["A", "B"])
    with pytest.raises(ValueError):
        pairwise_agreement(results, "nope")
