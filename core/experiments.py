"""The article's experiments as functions that return tidy pandas DataFrames and take a progress callback.

* Experiment 1/2 — :func:`speed_accuracy`: precision@3 (the article's protocol), mAP, pair F1 at the method's
  default threshold, encode throughput, time per pair amortised (features once, vectorised all-pairs) and time
  per pair *with encoding* (decode both files + the article-style reference ``compare``, as the article timed it).
* Experiment 2 (transform sweep) — :func:`robustness_sweep` / :func:`robustness_summary`: every method's score of
  a transformed copy against its original, per transform of :data:`core.transforms.TRANSFORMS` and strength, and
  whether the copy is still detected at the method's threshold. :func:`transform_curve` and
  :func:`score_copies` serve the robustness lab (one image, one transform).
* Experiment 3 — :func:`scipy_vs_numpy` / :func:`scipy_numpy_summary`: per-call time and value of
  ``scipy.spatial.distance.euclidean`` vs ``numpy.linalg.norm(a - b)`` over the dataset's pairs, on resized raw
  pixels and on CNN features.
* :func:`run_cli_experiment` dispatches ``python -m core experiment speed|robustness|scipy-numpy``.

Every runner takes ``progress(done, total, message)`` (or None) and never imports streamlit.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from . import images as _images
from .datasets import Dataset, Skipped
from .encoding import Features, encode_dataset
from .evaluation import mean_average_precision, pair_prf, precision_at_k
from .methods import METHODS, Method
from . import transforms as _T

Progress = Callable[[int, int, str], None]

SPEED_COLUMNS = ["method", "label", "family", "accuracy", "correct", "total", "map", "pair_f1", "pair_precision",
                 "pair_recall", "threshold", "seconds_per_pair", "seconds_per_pair_with_encoding", "encode_seconds",
                 "images_per_second", "images", "queries"]


@dataclass
class SpeedAccuracy:
    table: pd.DataFrame  # SPEED_COLUMNS, one row per method
    images: int
    queries: int
    skipped: list[Skipped] = field(default_factory=list)
    features: dict[str, Features] = field(default_factory=dict)


def _sub_progress(progress: Progress | None, k: int, n_methods: int, label: str) -> Progress | None:
    if progress is None:
        return None

    def cb(done: int, total: int, message: str) -> None:
        frac = (k + (done / total if total else 1.0)) / n_methods
        progress(int(round(frac * 1000)), 1000, f"{label}: {message}")

    return cb


def time_all_pairs(features: Features, repeats: int = 3) -> float:
    """Seconds per pair of the vectorised all-pairs comparison (best of ``repeats`` runs, block-wise).

    Best-of, as :mod:`timeit` recommends: on a shared CPU the slower runs measure other processes, not the code."""
    from .blocks import iter_blocks

    n = len(features)
    if n < 2:
        return float("nan")
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _block in iter_blocks(features, upper=True):  # the same bounded blocks as the duplicate search
            pass
        runs.append(time.perf_counter() - t0)
    return float(min(runs)) / (n * (n - 1) / 2)


def time_reference_pairs(method: Method, params: dict, sources: Sequence, n_pairs: int = 6, seed: int = 0) -> float:
    """Median seconds of decode-both-files + ``method.compare`` over ``n_pairs`` random pairs (the article's way:
    every pair encodes both images)."""
    if len(sources) < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(n_pairs):
        i, j = rng.choice(len(sources), size=2, replace=False)
        t0 = time.perf_counter()
        try:
            a = _images.open_image(sources[i], target_size=method.input_size, fit="stretch")
            b = _images.open_image(sources[j], target_size=method.input_size, fit="stretch")
        except _images.ImageError:
            continue
        method.compare(a, b, **params)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) if times else float("nan")


def warm_up(method: Method, params: dict) -> None:
    """Encode one small image untimed, so the CNN model is loaded (and exported) before throughput is measured."""
    method.encode([Image.new("RGB", (256, 256), (128, 128, 128))], **params)


def speed_accuracy(dataset: Dataset, methods: Sequence[Method], *, cache=False, progress: Progress | None = None,
                   reference_pairs: int = 6, thresholds: dict[str, float] | None = None,
                   params: dict[str, dict] | None = None) -> SpeedAccuracy:
    """Experiment 1 (and 2 on a multi-view set): accuracy and speed of each method on a labelled dataset.

    Encoding is timed for real: the feature cache is off unless ``cache`` is given (then throughput reflects it).
    """
    groups = {it.name: it.group for it in dataset.items}
    rows, feats, skipped = [], {}, []
    queries = 0
    n_images = 0
    for k, m in enumerate(methods):
        p = m.resolve_params((params or {}).get(m.name))
        warm_up(m, p)  # model loading / lazy imports are start-up costs, not encode throughput
        f = encode_dataset(dataset, m, p, cache=cache, progress=_sub_progress(progress, k, len(methods), m.label))
        feats[m.name] = f
        if k == 0:
            skipped = list(f.skipped)
        n_images = len(f)
        thr = (thresholds or {}).get(m.name, m.threshold_spec(p).default)
        pk = precision_at_k(f, groups, k=3)
        queries = pk["queries"]
        prf = pair_prf(f, groups, thr)
        by_name = {it.name: it.source for it in dataset.items}
        enc_s = f.encode_seconds
        rows.append({
            "method": m.name, "label": m.label, "family": m.family,
            "accuracy": pk["accuracy"], "correct": pk["correct"], "total": pk["total"],
            "map": mean_average_precision(f, groups), "pair_f1": prf["f1"], "pair_precision": prf["precision"],
            "pair_recall": prf["recall"], "threshold": thr,
            "seconds_per_pair": time_all_pairs(f),
            "seconds_per_pair_with_encoding": time_reference_pairs(m, p, [by_name[n] for n in f.names],
                                                                   n_pairs=reference_pairs),
            "encode_seconds": enc_s,
            "images_per_second": (f.n_encoded / enc_s) if enc_s > 0 and f.n_encoded else float("nan"),
            "images": len(f), "queries": pk["queries"],
        })
    if progress:
        progress(1000, 1000, "done")
    return SpeedAccuracy(table=pd.DataFrame(rows, columns=SPEED_COLUMNS), images=n_images, queries=queries,
                         skipped=skipped, features=feats)


# ------------------------------------------------------------------------------------------------------------
# Experiment 2b: transform sweep (and the robustness lab)
# ------------------------------------------------------------------------------------------------------------
#: Columns of :func:`robustness_sweep` (one row per method x transform x strength x image).
#: ``margin`` = (score - threshold) / (perfect - threshold): 1 = as close as the image to itself, 0 = exactly at
#: the threshold, < 0 = no longer detected. It puts every method's score on one unit-free axis.
ROBUSTNESS_COLUMNS = ["method", "label", "transform", "strength", "severity", "image", "score", "threshold",
                      "detected", "margin"]
#: Columns of :func:`robustness_summary` (one row per method x transform x strength).
ROBUSTNESS_SUMMARY_COLUMNS = ["method", "label", "transform", "strength", "severity", "mean_score", "detected_rate",
                              "mean_margin", "images"]
#: Long side (px) the sweep images are shrunk to before transforming: every method looks at <= 256 px anyway, and it
#: bounds memory (8 images x ~110 strengths) and transform time.
SWEEP_MAX_SIDE = 512
#: Default number of sweep images (page and CLI).
SWEEP_IMAGES = 8


def _encode_key(m: Method, p: Mapping[str, Any]) -> tuple:
    # Methods sharing one encoder and parameters (cnn-euclidean / cnn-cosine) are encoded once.
    return id(m.encode), json.dumps(dict(p), sort_keys=True, default=str)


def _shrink(img: Image.Image, max_side: int | None) -> Image.Image:
    img = img.convert("RGB") if img.mode != "RGB" else img
    if max_side and max(img.size) > max_side:
        return _images.thumbnail(img, max_side)
    return img


def _default_strengths(transforms: Sequence[str], strengths: Mapping[str, Sequence[float]] | None):
    return {t: tuple(float(s) for s in ((strengths or {}).get(t) or _T.TRANSFORMS[t].sweep)) for t in transforms}


def robustness_sweep(images: Sequence[Image.Image], methods: Sequence[Method], transforms: Sequence[str] | None = None,
                     strengths: Mapping[str, Sequence[float]] | None = None,
                     thresholds: Mapping[str, float] | None = None, *, params: Mapping[str, dict] | None = None,
                     names: Sequence[str] | None = None, max_side: int | None = SWEEP_MAX_SIDE,
                     progress: Progress | None = None) -> pd.DataFrame:
    """Score transformed copies against their originals, for every method, transform and strength.

    Parameters
    ----------
    images : sequence of PIL.Image.Image
        The originals (any mode; converted to RGB and shrunk to ``max_side`` px on the long side first).
    methods : sequence of Method
    transforms : sequence of str, optional
        Names in :data:`core.transforms.TRANSFORMS` (default: all, in registry order).
    strengths : mapping transform name -> sequence of float, optional
        Default: each transform's ``sweep`` (starts at its identity strength).
    thresholds : mapping method name -> float, optional
        Default: the method's default threshold.
    params : mapping method name -> parameter dict, optional
    names : sequence of str, optional
        Image names for the ``image`` column (default ``image 1``, ``image 2``, ...).

    Returns
    -------
    DataFrame
        :data:`ROBUSTNESS_COLUMNS`; ``detected = method.is_match(score, threshold)``.

    Notes
    -----
    Each original is encoded once per encoder; the copies of one transform (all images x strengths) are made once
    and encoded in one batch per encoder, so memory is bounded by one transform's copies.
    """
    tnames = list(transforms) if transforms is not None else list(_T.TRANSFORMS)
    for t in tnames:
        if t not in _T.TRANSFORMS:
            raise ValueError(f"unknown transform {t!r}; valid: {', '.join(_T.TRANSFORMS)}")
    grid = _default_strengths(tnames, strengths)
    originals = [_shrink(im, max_side) for im in images]
    names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(originals))]
    if len(names) != len(originals):
        raise ValueError("names must have one entry per image")
    resolved = {m.name: m.resolve_params((params or {}).get(m.name)) for m in methods}
    thr = {m.name: float((thresholds or {}).get(m.name, m.threshold_spec(resolved[m.name]).default)) for m in methods}
    enc_groups: dict[tuple, list[Method]] = {}
    for m in methods:
        enc_groups.setdefault(_encode_key(m, resolved[m.name]), []).append(m)
    total = len(enc_groups) * (1 + len(tnames))
    done = 0
    if progress:
        progress(0, total, "encoding originals")
    orig_rows: dict[str, np.ndarray] = {}
    perfect: dict[str, np.ndarray] = {}
    for group in enc_groups.values():
        m0 = group[0]
        F = m0.encode(originals, **resolved[m0.name]) if originals else None
        for m in group:
            orig_rows[m.name] = F
            if F is not None:
                perfect[m.name] = np.array([m.pairwise(F[i:i + 1], F[i:i + 1], **resolved[m.name])[0, 0]
                                            for i in range(len(originals))])
        done += 1
        if progress:
            progress(done, total, f"encoded originals ({m0.label})")
    out: list[pd.DataFrame] = []
    for t in tnames:
        ss = grid[t]
        copies, img_idx, str_list = [], [], []
        for i, im in enumerate(originals):
            for s in ss:
                copies.append(_T.apply(im, t, s))
                img_idx.append(i)
                str_list.append(s)
        img_idx_a = np.asarray(img_idx, dtype=np.int64)
        sev = np.array([_T.severity(t, s) for s in str_list])
        for group in enc_groups.values():
            m0 = group[0]
            C = m0.encode(copies, **resolved[m0.name]) if copies else None
            for m in group:
                if C is None:
                    continue
                F = orig_rows[m.name]
                score = np.empty(len(copies))
                for i in range(len(originals)):  # one small (1 x n_strengths) block per image
                    sel = np.flatnonzero(img_idx_a == i)
                    score[sel] = m.pairwise(F[i:i + 1], C[sel], **resolved[m.name])[0]
                th = thr[m.name]
                best = perfect[m.name][img_idx_a]
                with np.errstate(invalid="ignore", divide="ignore"):
                    margin = np.where(best != th, (score - th) / (best - th), np.nan)
                out.append(pd.DataFrame({
                    "method": m.name, "label": m.label, "transform": t, "strength": str_list, "severity": sev,
                    "image": [names[i] for i in img_idx], "score": score, "threshold": th,
                    "detected": np.asarray(m.is_match(score, th), dtype=bool), "margin": margin}))
            done += 1
            if progress:
                progress(done, total, f"{_T.TRANSFORMS[t].label}: {m0.label}")
        del copies
    if not out:
        return pd.DataFrame(columns=ROBUSTNESS_COLUMNS)
    df = pd.concat(out, ignore_index=True)[ROBUSTNESS_COLUMNS]
    order = {m.name: k for k, m in enumerate(methods)}
    torder = {t: k for k, t in enumerate(tnames)}
    df = df.sort_values(["method", "transform", "severity", "image"],
                        key=lambda c: c.map(order) if c.name == "method" else
                        (c.map(torder) if c.name == "transform" else c), kind="stable").reset_index(drop=True)
    return df


def robustness_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Mean score, share detected and mean margin per method x transform x strength (:data:`ROBUSTNESS_SUMMARY_COLUMNS`)."""
    if sweep.empty:
        return pd.DataFrame(columns=ROBUSTNESS_SUMMARY_COLUMNS)
    g = sweep.groupby(["method", "label", "transform", "strength", "severity"], sort=False)
    s = g.agg(mean_score=("score", "mean"), detected_rate=("detected", "mean"), mean_margin=("margin", "mean"),
              images=("image", "nunique")).reset_index()
    return s[ROBUSTNESS_SUMMARY_COLUMNS]


def breaking_points(summary: pd.DataFrame, rate: float = 0.5) -> pd.DataFrame:
    """First strength (by severity) at which each method's detected rate drops below ``rate``, per transform.

    Columns ``method, label, transform, breaks_at, severity`` (NaN when it never drops on the sweep).
    """
    rows = []
    for (m, lab, t), g in summary.groupby(["method", "label", "transform"], sort=False):
        g = g.sort_values("severity")
        low = g[g["detected_rate"] < rate]
        rows.append({"method": m, "label": lab, "transform": t,
                     "breaks_at": float(low["strength"].iloc[0]) if len(low) else float("nan"),
                     "severity": float(low["severity"].iloc[0]) if len(low) else float("nan")})
    return pd.DataFrame(rows, columns=["method", "label", "transform", "breaks_at", "severity"])


def lab_strengths(transform: str, n: int = 25) -> tuple[float, ...]:
    """Strength grid for the robustness lab's curve: ``n`` even steps over the slider range, the sweep points and
    the identity, rounded to the slider step, sorted."""
    t = _T.TRANSFORMS[transform]
    if t.binary:
        return (float(t.min), float(t.max))
    pts = set(np.linspace(t.min, t.max, n).tolist()) | set(t.sweep) | {t.identity}
    step = t.step
    out = sorted({round(round((p - t.min) / step) * step + t.min, 6) for p in pts})
    return tuple(float(min(max(p, t.min), t.max)) for p in out)


def transform_curve(image: Image.Image, transform: str, methods: Sequence[Method],
                    strengths: Sequence[float] | None = None, thresholds: Mapping[str, float] | None = None, *,
                    params: Mapping[str, dict] | None = None, max_side: int | None = SWEEP_MAX_SIDE,
                    progress: Progress | None = None) -> pd.DataFrame:
    """Score vs strength for one image and one transform (the robustness lab's curve); :data:`ROBUSTNESS_COLUMNS`."""
    ss = tuple(strengths) if strengths is not None else lab_strengths(transform)
    return robustness_sweep([image], methods, [transform], {transform: ss}, thresholds, params=params,
                            names=["image"], max_side=max_side, progress=progress)


#: Columns of :func:`score_copies`.
LAB_COLUMNS = ["method", "label", "unit", "direction", "score", "threshold", "match"]


def encode_original(image: Image.Image, methods: Sequence[Method], *, params: Mapping[str, dict] | None = None,
                    max_side: int | None = SWEEP_MAX_SIDE) -> dict[str, np.ndarray]:
    """Feature row (shape (1, d)) of one image per method; shared encoders run once."""
    img = _shrink(image, max_side)
    out: dict[str, np.ndarray] = {}
    done: dict[tuple, np.ndarray] = {}
    for m in methods:
        p = m.resolve_params((params or {}).get(m.name))
        k = _encode_key(m, p)
        if k not in done:
            done[k] = m.encode([img], **p)
        out[m.name] = done[k]
    return out


def score_copies(original_rows: Mapping[str, np.ndarray], copy: Image.Image, methods: Sequence[Method],
                 thresholds: Mapping[str, float] | None = None, *, params: Mapping[str, dict] | None = None,
                 max_side: int | None = SWEEP_MAX_SIDE) -> pd.DataFrame:
    """Every method's score of ``copy`` against the original rows of :func:`encode_original`; :data:`LAB_COLUMNS`.

    Only the copy is encoded (once per shared encoder)."""
    copy_rows = encode_original(copy, methods, params=params, max_side=max_side)
    rows = []
    for m in methods:
        p = m.resolve_params((params or {}).get(m.name))
        th = float((thresholds or {}).get(m.name, m.threshold_spec(p).default))
        s = float(m.pairwise(original_rows[m.name], copy_rows[m.name], **p)[0, 0])
        rows.append({"method": m.name, "label": m.label, "unit": m.unit,
                     "direction": "higher is closer" if m.higher_is_closer else "lower is closer",
                     "score": s, "threshold": th, "match": bool(m.is_match(s, th))})
    return pd.DataFrame(rows, columns=LAB_COLUMNS)


def sweep_images_from_dataset(dataset: Dataset, n: int = SWEEP_IMAGES, max_side: int | None = SWEEP_MAX_SIDE
                              ) -> tuple[list[Image.Image], list[str], list[Skipped]]:
    """Originals for a sweep: the first image (by name) of each group if labelled, else the first images; at most
    ``n``.

    Returns ``(images, names, skipped)``; unreadable files are skipped with their reason.
    """
    items = list(dataset.items)  # already in natural name order
    picked, seen = [], set()
    if getattr(dataset, "has_labels", False):
        for it in items:
            if it.group is not None and it.group not in seen:
                seen.add(it.group)
                picked.append(it)
    if not picked:  # unlabelled (other members of a group would only repeat their group's original)
        picked = items[:n]
    imgs, names, skipped = [], [], []
    for it in picked:
        if len(imgs) >= n:
            break
        try:
            imgs.append(_shrink(_images.open_image(it.source, target_size=max_side, fit="contain"), max_side))
            names.append(it.name)
        except _images.ImageError as e:
            skipped.append(Skipped(it.name, e.reason))
    return imgs, names, skipped


def demo_sweep_images(n: int = SWEEP_IMAGES, max_side: int | None = SWEEP_MAX_SIDE
                      ) -> tuple[list[Image.Image], list[str]]:
    """The default sweep images: the originals of the demo groups (``data/demo/sources``), shrunk."""
    from . import demo

    names = list(demo.GROUP_SOURCES)[:n]
    imgs = [_shrink(_images.open_image(demo.sources_path() / f"{s}.jpg", target_size=max_side, fit="contain"),
                   max_side)
            for s in names]
    return imgs, names


# ------------------------------------------------------------------------------------------------------------
# Experiment 3: scipy vs numpy Euclidean
# ------------------------------------------------------------------------------------------------------------
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
    from .methods.pixels import EUCLIDEAN_IMPLEMENTATIONS

    impls = list(EUCLIDEAN_IMPLEMENTATIONS.items())  # numpy, scipy
    out = []
    n_on = len(on)
    for k, kind in enumerate(on):
        sub = _sub_progress(progress, k, n_on, kind)
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


# ------------------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------------------
def run_cli_experiment(kind: str, dataset: Dataset, methods: Sequence[Method], *, cache=True,
                       progress: Progress | None = None) -> pd.DataFrame:
    """Dispatch for ``python -m core experiment KIND``; returns the tidy DataFrame written to ``--out``.

    * ``speed``: :data:`SPEED_COLUMNS`, one row per method (needs labels);
    * ``robustness``: :data:`ROBUSTNESS_COLUMNS` on the first image of each group (or the first images), at most
      :data:`SWEEP_IMAGES`, every transform at its default sweep strengths;
    * ``scipy-numpy``: :data:`SCIPY_NUMPY_COLUMNS`, on pixels, and on CNN features when a CNN method is among
      ``methods``.
    """
    if kind == "speed":
        if not getattr(dataset, "has_labels", True):
            raise ValueError("the speed experiment needs ground-truth labels (--labels consecutive:K|folders|csv:PATH)")
        return speed_accuracy(dataset, methods, cache=False, progress=progress).table
    if kind == "robustness":
        imgs, names, _ = sweep_images_from_dataset(dataset)
        return robustness_sweep(imgs, methods, names=names, progress=progress)
    if kind == "scipy-numpy":
        on = ["pixels"] + (["cnn"] if any(m.family == "cnn" for m in methods) else [])
        cnn = next((m.name for m in methods if m.family == "cnn"), "cnn-euclidean")
        return scipy_vs_numpy(dataset, on=on, cnn_method=cnn, progress=progress)
    raise ValueError(f"unknown experiment {kind!r}; valid: speed, robustness, scipy-numpy")
