"""Experiment 2b — the transform sweep: :func:`robustness_sweep` / :func:`robustness_summary` /
:func:`breaking_points`: every method's score of a transformed copy against its original, per transform of
:data:`core.transforms.TRANSFORMS` and strength, and whether the copy is still detected at the method's threshold;
and the sweep's originals (:func:`sweep_images_from_dataset`, :func:`demo_sweep_images`)."""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import images as _images
from .. import transforms as _T
from ..datasets import Dataset, Skipped
from ..methods import Method
from .progress import Progress

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


def encoder_key(m: Method, p: Mapping[str, Any]) -> tuple:
    # Methods sharing one encoder and parameters (cnn-euclidean / cnn-cosine) are encoded once.
    return id(m.encode), json.dumps(dict(p), sort_keys=True, default=str)




def shrink_to_side(img: Image.Image, max_side: int | None) -> Image.Image:
    """``img`` in RGB with its long side at most ``max_side`` px (None or 0: any size), aspect kept."""
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
    originals = [shrink_to_side(im, max_side) for im in images]
    names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(originals))]
    if len(names) != len(originals):
        raise ValueError("names must have one entry per image")
    resolved = {m.name: m.resolve_params((params or {}).get(m.name)) for m in methods}
    thr = {m.name: float((thresholds or {}).get(m.name, m.threshold_spec(resolved[m.name]).default)) for m in methods}
    enc_groups: dict[tuple, list[Method]] = {}
    for m in methods:
        enc_groups.setdefault(encoder_key(m, resolved[m.name]), []).append(m)
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
            imgs.append(shrink_to_side(_images.open_image(it.source, target_size=max_side, fit="contain"), max_side))
            names.append(it.name)
        except _images.ImageError as e:
            skipped.append(Skipped(it.name, e.reason))
    return imgs, names, skipped


def demo_sweep_images(n: int = SWEEP_IMAGES, max_side: int | None = SWEEP_MAX_SIDE
                      ) -> tuple[list[Image.Image], list[str]]:
    """The default sweep images: the originals of the demo groups (``data/demo/sources``), shrunk."""
    from .. import demo

    names = list(demo.GROUP_SOURCES)[:n]
    imgs = [shrink_to_side(_images.open_image(demo.sources_path() / f"{s}.jpg", target_size=max_side, fit="contain"),
                   max_side)
            for s in names]
    return imgs, names

