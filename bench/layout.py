"""Dataset map layout: scikit-learn TSNE vs openTSNE vs umap-learn at 10,000 x 1280 (PCA to 50 first), 2 cores.

Run each backend in its own process with the package on PYTHONPATH (installed with ``pip install --no-deps
--target DIR``, so the shared .venv is not touched):

    PYTHONPATH=/tmp/deps/sk python bench/layout.py sklearn
    PYTHONPATH=/tmp/deps/sk:/tmp/deps/ot python bench/layout.py opentsne
    PYTHONPATH=/tmp/deps/sk:/tmp/deps/um python bench/layout.py umap

Synthetic features: 10,000 rows of 1280 non-negative float32 (like EfficientNet's pooled features), in 500
clusters of 20 near-copies each. Prints wall seconds of the 2-D step, the trustworthiness of the layout at 10
neighbours is left out (costly); the share of points whose nearest 2-D neighbour is in its own cluster is printed.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core.layout import pca  # noqa: E402


def data(n=10_000, d=1280, clusters=500, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.gamma(1.0, 1.0, size=(clusters, d)).astype(np.float32)
    lab = np.repeat(np.arange(clusters), n // clusters)
    X = centres[lab] + rng.normal(0, 0.3, size=(n, d)).astype(np.float32)
    return np.maximum(X, 0), lab


def nn_same(xy, lab):
    from scipy.spatial import cKDTree
    _, k = cKDTree(xy).query(xy, 2)
    return float(np.mean(lab[k[:, 1]] == lab))


def main(which):
    X, lab = data()
    t0 = time.perf_counter()
    Y = pca(X, 50)
    t_pca = time.perf_counter() - t0
    t0 = time.perf_counter()
    if which == "sklearn":
        from sklearn.manifold import TSNE
        xy = TSNE(2, init="pca", learning_rate="auto", random_state=0).fit_transform(Y)
    elif which == "app":  # what the app runs: core.layout.tsne (scikit-learn, one OpenMP thread)
        from core.layout import tsne
        xy = tsne(Y)
    elif which == "opentsne":
        from openTSNE import TSNE
        xy = np.asarray(TSNE(n_jobs=int(os.environ.get("JOBS", "2")), random_state=0).fit(Y))
    elif which == "umap":
        import umap
        xy = umap.UMAP(random_state=None, n_jobs=2).fit_transform(Y)
    elif which == "pca":
        xy = Y[:, :2]
    elif which == "figure":  # what a re-run of the map page costs once the layout is cached
        from core.charts.dataset_map import map_figure
        xy = Y[:, :2]
        t1 = time.perf_counter()
        fig = map_figure(xy, [f"img{k:05d}.jpg" for k in range(len(xy))], (lab + 1) * (lab % 3 == 0))
        js = fig.to_json()
        print(f"figure: build + JSON {time.perf_counter() - t1:.2f} s, {len(js) / 1e6:.2f} MB sent, "
              f"{len(fig.data)} traces")
    t = time.perf_counter() - t0
    print(f"{which}: pca {t_pca:.1f} s, 2-D {t:.1f} s, nearest 2-D neighbour in own cluster {nn_same(xy, lab):.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
