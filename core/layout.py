"""A 2-D layout of a set's feature vectors for the Dataset map: PCA to a few dozen dimensions, then t-SNE.

Why t-SNE from scikit-learn (measured in ``bench/layout.py``, results in ``bench/LAYOUT.md``): at 10,000 x 1280
CNN features on 2 shared cores, scikit-learn's Barnes-Hut TSNE on one OpenMP thread took 39-50 s, openTSNE 169-224 s
and umap-learn (with numba's first-call compilation) the longest; all kept near-copies next to each other. The install
differs by an order of magnitude too: scikit-learn + joblib + threadpoolctl + cloudpickle are ~54 MB, openTSNE needs
scikit-learn as well (+13 MB), umap-learn pulls numba + llvmlite + pynndescent (~210 MB). t-SNE preserves small
neighbourhoods, which is what a duplicate map shows. When scikit-learn is not importable the layout falls back to
the first two principal components (numpy only): global structure, no local clustering.

PCA: the eigenvectors of the d x d covariance (float64, d = 1280 for the CNN), so memory is one centred float32
copy of the data plus d^2 floats.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

#: Dimensions kept by PCA before t-SNE (the usual pre-reduction: removes noise, makes t-SNE ~25x cheaper).
PCA_DIMS = 50
#: t-SNE perplexity (effective neighbours per point); capped below n / 3 for small sets.
PERPLEXITY = 30.0
#: Fewest points for t-SNE; below this the PCA plane is shown (t-SNE needs n > 3 * perplexity to mean anything).
TSNE_MIN_POINTS = 12
METHODS = ("auto", "tsne", "pca")
#: OpenMP threads of the t-SNE gradient loop. One: on a shared server (other sessions encoding, a busy machine)
#: two spinning OpenMP threads were measured 12x slower than one (240 points: 28.6 s vs 2.3 s at load 20 on
#: 2 cores), and the app has other work for the second core.
TSNE_THREADS = 1


@dataclass
class Layout:
    """2-D coordinates of a set.

    Attributes
    ----------
    xy : ndarray, shape (n, 2), float32
        One point per feature row, same order.
    method : str
        ``"t-SNE"`` or ``"PCA"`` (what was actually computed).
    seconds : float
        Wall time of the computation.
    note : str
        Why a fallback was used, else "".
    """

    xy: np.ndarray
    method: str
    seconds: float
    note: str = ""


def tsne_available() -> bool:
    try:
        from sklearn.manifold import TSNE  # noqa: F401
    except Exception:  # noqa: BLE001 - missing or broken install: PCA fallback
        return False
    return True


def pca(X: np.ndarray, k: int = PCA_DIMS) -> np.ndarray:
    """Project the rows of ``X`` (n, d) on their first ``k`` principal components: (n, min(k, d, n)) float32."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        X = X.reshape(len(X), -1)
    n, d = X.shape
    k = max(1, min(k, d, n))
    if n == 0:
        return np.zeros((0, k), np.float32)
    Xc = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
    # float32 product (no float64 copy of the data), eigen-decomposed in float64: precise enough for a picture
    cov = (Xc.T @ Xc).astype(np.float64) if d <= 4096 else None
    if cov is None:  # very wide rows: thin SVD instead of a d x d matrix
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
        V = vt[:k].T
    else:
        w, v = np.linalg.eigh(cov)
        V = v[:, np.argsort(w)[::-1][:k]]
    # fix each component's sign (largest coefficient positive) so the layout is the same from run to run
    V = V * np.where(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])] < 0, -1.0, 1.0)
    return (Xc @ V.astype(np.float32)).astype(np.float32)


def tsne(Y: np.ndarray, seed: int = 0, perplexity: float = PERPLEXITY) -> np.ndarray:
    """scikit-learn Barnes-Hut t-SNE of ``Y`` (n, k) to (n, 2) float32 (PCA initialisation: stable, global shape)."""
    from sklearn.manifold import TSNE

    n = len(Y)
    p = float(min(perplexity, max(2.0, (n - 1) / 3.0)))
    from threadpoolctl import threadpool_limits

    model = TSNE(n_components=2, perplexity=p, init="pca", learning_rate="auto", random_state=seed,
                 method="barnes_hut", n_jobs=1)
    with threadpool_limits(limits=TSNE_THREADS, user_api="openmp"):
        return model.fit_transform(np.asarray(Y, dtype=np.float32)).astype(np.float32)


def layout(X: np.ndarray, method: str = "auto", seed: int = 0) -> Layout:
    """2-D layout of feature rows ``X`` (n, d).

    Parameters
    ----------
    method : ``"auto"`` (t-SNE when scikit-learn is installed and n >= :data:`TSNE_MIN_POINTS`, else PCA),
        ``"tsne"`` or ``"pca"``.
    seed : int
        t-SNE random state (the same seed gives the same layout).
    """
    if method not in METHODS:
        raise ValueError(f"unknown layout {method!r}; valid: {', '.join(METHODS)}")
    t0 = time.perf_counter()
    X = np.asarray(X)
    n = len(X)
    if n == 0:
        return Layout(np.zeros((0, 2), np.float32), "PCA", 0.0)
    Y = pca(X, PCA_DIMS)
    note = ""
    use_tsne = method in ("auto", "tsne")
    if use_tsne and n < TSNE_MIN_POINTS:
        use_tsne, note = False, f"{n} images: too few for t-SNE, showing the first two principal components"
    elif use_tsne and not tsne_available():
        use_tsne, note = False, "scikit-learn is not installed: showing the first two principal components"
    if use_tsne:
        xy, name = tsne(Y, seed), "t-SNE"
    else:
        xy = Y[:, :2] if Y.shape[1] >= 2 else np.c_[Y[:, :1], np.zeros((n, 1), np.float32)]
        name = "PCA"
    return Layout(np.ascontiguousarray(xy, dtype=np.float32), name, time.perf_counter() - t0, note)


__all__ = ["Layout", "METHODS", "PCA_DIMS", "layout", "pca", "tsne", "tsne_available"]
