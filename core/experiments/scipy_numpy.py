"""Experiment 3 — :func:`scipy_vs_numpy` / :func:`scipy_numpy_summary`: per-call time and value of
``scipy.spatial.distance.euclidean`` vs ``numpy.linalg.norm(a - b)`` over the dataset's pairs, on resized raw pixels and
on CNN features."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import images as _images
from ..datasets import Dataset, Skipped
from ..encoding import encode_dataset
from ..methods import METHODS
from .progress import Progress, sub_progress

#: Columns of :func:`scipy_vs_numpy` (one row per feature x implementation x call).
SCIPY_NUMPY_COLUMNS = ["feature", "implementation", "call", "seconds", "value", "dims"]
#: Columns of :func:`scipy_numpy_summary` (one row per feature).
SCIPY_NUMPY_SUMMARY_COLUMNS = ["feature", "dims", "calls", "numpy_median_s", "scipy_median_s", "ratio_scipy_numpy",
                               "numpy_mean_s", "scipy_mean_s", "max_abs_diff"]
#: Side of the square the pixels are resized to for Experiment 3 (Fruits360 images are 100 x 100).
SCIPY_PIXEL_SIZE = 100
N_CALLS = 2300


def _feature_matrix(kind: str, dataset: Dataset, pixel_size: int, cnn_method: str,
                    progress: Progress | None) -> tuple[np.ndarray, list[str], list[Skipped]]:
    if kind == "pixels":
        rows, names, skipped = [], [], []
        for k, it in enumerate(dataset.items):
            try:
                img = _images.open_image(it.source, target_size=pixel_size)
            except _images.ImageError as e:
                skipped.append(Skipped(it.name, e.reason))
                continue
            # float64, never uint8: uint8 subtraction wraps around (the article's likely Euclidean bug)
            rows.append(np.asarray(img.resize((pixel_size, pixel_size), Image.Resampling.BILINEAR),
                                   dtype=np.float64).reshape(-1))
            names.append(it.name)
            if progress:
                progress(k + 1, len(dataset.items), "pixels")
        return (np.stack(rows) if rows else np.zeros((0, 0))), names, skipped
    if kind == "cnn":
        if cnn_method not in METHODS:
            raise ValueError(f"CNN method {cnn_method!r} is not registered; valid: {', '.join(METHODS)}")
        f = encode_dataset(dataset, METHODS[cnn_method], None, cache=True, progress=progress)
        # float64: scipy upcasts float32 input to float64 while numpy computes float32 -> ~1e-6 differences that
        # would only measure the dtype, not the implementation
        return f.data.astype(np.float64), f.names, list(f.skipped)
    raise ValueError(f"unknown feature kind {kind!r}; valid: pixels, cnn")


def scipy_vs_numpy(dataset: Dataset, n_calls: int = N_CALLS, on: Sequence[str] = ("pixels", "cnn"), *,
                   pixel_size: int = SCIPY_PIXEL_SIZE, cnn_method: str = "cnn-euclidean", warmup: int = 20,
                   progress: Progress | None = None) -> pd.DataFrame:
    """Experiment 3: time ``scipy.spatial.distance.euclidean`` and ``numpy.linalg.norm(a - b)`` call by call.

    Parameters
    ----------
    dataset : Dataset
        Its unordered image pairs, in a fixed order, are cycled through until ``n_calls`` calls are made (the article:
        ~2,300 comparisons = 24 queries x 95 others).
    on : sequence of {"pixels", "cnn"}
        ``pixels``: images resized to ``pixel_size`` x ``pixel_size`` RGB, flattened as float64 0..255
        (dims ``3 * pixel_size**2``); ``cnn``: the CNN method's feature vectors (1280-d, pooled), as float64.
    warmup : int
        Untimed calls of each implementation before timing.

    Returns
    -------
    DataFrame
        :data:`SCIPY_NUMPY_COLUMNS`; ``seconds`` is the wall time of one call (``time.perf_counter``), ``value``
        the returned distance. The two implementations alternate which runs first, so neither profits from
        caches warmed by the other.
    """
    from ..methods.pixels import EUCLIDEAN_IMPLEMENTATIONS

    impls = list(EUCLIDEAN_IMPLEMENTATIONS.items())  # numpy, scipy
    out = []
    n_on = len(on)
    for k, kind in enumerate(on):
        sub = sub_progress(progress, k, n_on, kind)
        X, names, _ = _feature_matrix(kind, dataset, pixel_size, cnn_method,
                                      None if sub is None else (lambda d, t, m: sub(d, 2 * max(t, 1), m)))
        n = len(X)
        if n < 2:
            continue
        ii, jj = np.triu_indices(n, k=1)
        for w in range(min(warmup, len(ii))):
            for _, fn in impls:
                fn(X[ii[w]], X[jj[w]])
        secs = np.empty((len(impls), n_calls))
        vals = np.empty((len(impls), n_calls))
        perf = time.perf_counter
        for c in range(n_calls):
            p = c % len(ii)
            a, b = X[ii[p]], X[jj[p]]
            order = range(len(impls)) if c % 2 == 0 else range(len(impls) - 1, -1, -1)
            for r in order:
                fn = impls[r][1]
                t0 = perf()
                v = fn(a, b)
                secs[r, c] = perf() - t0
                vals[r, c] = v
            if sub and (c % 100 == 0 or c == n_calls - 1):
                sub(n_calls + c + 1, 2 * n_calls, f"{c + 1}/{n_calls} calls")
        for r, (name, _) in enumerate(impls):
            out.append(pd.DataFrame({"feature": kind, "implementation": name, "call": np.arange(n_calls),
                                     "seconds": secs[r], "value": vals[r], "dims": X.shape[1]}))
    if progress:
        progress(1000, 1000, "done")
    if not out:
        return pd.DataFrame(columns=SCIPY_NUMPY_COLUMNS)
    return pd.concat(out, ignore_index=True)[SCIPY_NUMPY_COLUMNS]


def scipy_numpy_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Medians, means, their ratio (scipy / numpy) and ``max |value_scipy - value_numpy|`` per feature."""
    rows = []
    for feat, g in df.groupby("feature", sort=False):
        npy = g[g["implementation"] == "numpy"].sort_values("call")
        scp = g[g["implementation"] == "scipy"].sort_values("call")
        rows.append({"feature": feat, "dims": int(g["dims"].iloc[0]), "calls": len(npy),
                     "numpy_median_s": float(npy["seconds"].median()), "scipy_median_s": float(scp["seconds"].median()),
                     "ratio_scipy_numpy": float(scp["seconds"].median() / npy["seconds"].median()),
                     "numpy_mean_s": float(npy["seconds"].mean()), "scipy_mean_s": float(scp["seconds"].mean()),
                     "max_abs_diff": float(np.max(np.abs(scp["value"].to_numpy() - npy["value"].to_numpy())))})
    return pd.DataFrame(rows, columns=SCIPY_NUMPY_SUMMARY_COLUMNS)

