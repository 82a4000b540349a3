"""Experiments 1 and 2 — :func:`speed_accuracy`: precision@3 (the article's protocol), mAP, pair F1 at the method's
default threshold, encode throughput, time per pair amortised (features once, vectorised all-pairs) and time per pair
*with encoding* (decode both files + the article-style reference ``compare``, as the article timed it)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import images as _images
from ..datasets import Dataset, Skipped
from ..encoding import Features, encode_dataset
from ..evaluation import mean_average_precision, pair_prf, precision_at_k
from ..methods import Method
from .progress import Progress, sub_progress

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


def time_all_pairs(features: Features, repeats: int = 3) -> float:
    """Seconds per pair of the vectorised all-pairs comparison (best of ``repeats`` runs, block-wise).

    Best-of, as :mod:`timeit` recommends: on a shared CPU the slower runs measure other processes, not the code."""
    from ..blocks import iter_blocks

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
    groups = dataset.groups_by_name()
    rows, feats, skipped = [], {}, []
    queries = 0
    n_images = 0
    for k, m in enumerate(methods):
        p = m.resolve_params((params or {}).get(m.name))
        warm_up(m, p)  # model loading / lazy imports are start-up costs, not encode throughput
        f = encode_dataset(dataset, m, p, cache=cache, progress=sub_progress(progress, k, len(methods), m.label))
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

