"""The Dataset map's layout (core.layout) and figure (core.charts.dataset_map) on generated feature matrices:
10,000 x 1280 rows (no images needed), near-copies kept together, one WebGL trace per colour class."""
from __future__ import annotations

import numpy as np
import pytest

from core import layout as L
from core.charts.dataset_map import map_figure


def clusters(n: int, d: int, k: int, seed: int = 0, noise: float = 0.3):
    """``n`` rows in ``k`` clusters of near-copies (non-negative, like pooled CNN features); (X, labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.gamma(1.0, 1.0, size=(k, d)).astype(np.float32)
    lab = np.arange(n) % k
    X = np.maximum(centres[lab] + rng.normal(0, noise, size=(n, d)).astype(np.float32), 0)
    return X, lab


def nn_same_cluster(xy: np.ndarray, lab: np.ndarray) -> float:
    from scipy.spatial import cKDTree

    _, k = cKDTree(xy).query(xy, 2)
    return float(np.mean(lab[k[:, 1]] == lab))


def test_pca_layout_of_10000_by_1280_features():
    X, lab = clusters(10_000, 1280, 50)
    lay = L.layout(X, "pca")
    assert lay.method == "PCA" and lay.xy.shape == (10_000, 2) and lay.xy.dtype == np.float32
    assert np.isfinite(lay.xy).all()
    np.testing.assert_array_equal(L.layout(X[:2000], "pca").xy, L.layout(X[:2000], "pca").xy)  # signs fixed
    # the first principal plane already separates many of the 50 clusters: far better than chance (0.02)
    assert nn_same_cluster(lay.xy, lab) > 0.2
    # and the first components carry the variance: projection variances are in decreasing order
    Y = L.pca(X[:3000], 10)
    v = Y.var(axis=0)
    assert np.all(np.diff(v) <= 1e-3 * v[0])


def test_tsne_keeps_near_copies_together():
    assert L.tsne_available(), "scikit-learn is a runtime dependency (requirements.txt): the map needs t-SNE"
    X, lab = clusters(240, 64, 12, seed=1)
    lay = L.layout(X, "auto")
    assert lay.method == "t-SNE" and lay.xy.shape == (240, 2)
    assert nn_same_cluster(lay.xy, lab) > 0.95
    assert nn_same_cluster(L.layout(X, "pca").xy, lab) < nn_same_cluster(lay.xy, lab)


def test_layout_falls_back_to_pca_and_says_why(monkeypatch):
    X, _ = clusters(100, 64, 5)
    monkeypatch.setattr(L, "tsne_available", lambda: False)
    lay = L.layout(X, "auto")
    assert lay.method == "PCA" and "scikit-learn is not installed" in lay.note
    small = L.layout(X[:5], "tsne")
    assert small.method == "PCA" and "too few" in small.note and small.xy.shape == (5, 2)
    assert L.layout(X[:0]).xy.shape == (0, 2)
    assert L.layout(X[:1]).xy.shape == (1, 2)
    with pytest.raises(ValueError, match="tsne"):
        L.layout(X, "umap")


def test_map_figure_at_10000_points_is_two_webgl_traces_with_escaped_names():
    n = 10_000
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(n, 2)).astype(np.float32)
    groups = np.where(rng.random(n) < 0.3, rng.integers(1, 800, n), 0)
    names = [f"img{k}.jpg" for k in range(n)]
    names[7] = "<b onmouseover=x>7</b>.jpg"
    fig = map_figure(xy, names, groups, selected=7)
    assert [t.type for t in fig.data] == ["scattergl"] * 3  # lone, grouped, the selected ring
    rows = np.concatenate([np.asarray(fig.data[0].customdata), np.asarray(fig.data[1].customdata)])
    assert sorted(rows.tolist()) == list(range(n))
    assert len(fig.data[1].x) == int((groups > 0).sum())
    texts = list(fig.data[0].text) + list(fig.data[1].text)
    assert "&lt;b onmouseover=x&gt;7&lt;/b&gt;.jpg" in texts and not any("<b" in t for t in texts)
    # one colour per group: members of one group share it
    g1 = groups[groups > 0]
    cols = np.asarray(fig.data[1].marker.color)
    assert len(cols) == len(g1)
    for gid in np.unique(g1)[:20]:
        assert len(set(cols[g1 == gid].tolist())) == 1
    assert len(set(cols.tolist())) > 10  # neighbouring group numbers get different colours
