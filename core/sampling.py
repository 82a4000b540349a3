"""Samples for the analyses whose cost grows with the square of the set (the threshold explorer's histograms and
sweep, the borderline review, the dataset map): above a cap they run on a reproducible sample and say so.

Duplicate groups, copy counts and search are never sampled (they have exact fast paths, :mod:`core.scale`); only
what is *plotted* or reviewed by eye is. Every function takes a ``seed`` so the same set shows the same sample.

* :func:`sample_rows` - row positions: ``first`` rows kept, the rest drawn uniformly;
* :func:`group_rows` - whole labelled groups drawn at random (precision / recall need both members of a pair);
* :func:`subset` - those rows as a :class:`core.encoding.Features`;
* :func:`sampled_nearest_neighbours` - each sampled image's nearest other image among *all* rows (exact).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import blocks as _blocks
from .encoding import Features

#: Most rows an all-pairs analysis (nearest neighbours of every image, borderline pairs, labelled sweep) runs on;
#: 5,000 rows are 12.5 M pairs, a few seconds.
ALL_PAIRS_CAP = 5_000
#: Most points the dataset map lays out and plots (t-SNE of 5,000 points: ~20 s on 2 cores).
MAP_POINTS = 5_000
#: Most sampled images whose nearest neighbour is searched among all rows (fewer for long float vectors, see
#: :func:`nn_queries`).
NN_QUERIES = 2_000
#: Fewest sampled nearest-neighbour queries, whatever their cost.
NN_QUERIES_MIN = 200
#: Score evaluations (rows x columns x dimensions) a sampled nearest-neighbour pass may cost (~5 s here).
NN_BUDGET = 3e10


def sample_rows(n: int, cap: int, seed: int = 0, first: Sequence[int] = ()) -> np.ndarray:
    """Sorted row positions, at most ``cap``: every row when ``n <= cap``; else the ``first`` rows (up to ``cap``)
    and a uniform draw (``seed``) of the others."""
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    keep = np.unique(np.asarray(list(first), dtype=np.int64))[:cap] if len(first) else np.zeros(0, np.int64)
    rest = cap - len(keep)
    if rest > 0:
        pool = np.setdiff1d(np.arange(n, dtype=np.int64), keep, assume_unique=True)
        keep = np.concatenate([keep, np.random.default_rng(seed).choice(pool, size=rest, replace=False)])
    return np.sort(keep)


def group_rows(names: Sequence[str], groups_by_name: Mapping[str, str | None], cap: int, seed: int = 0
               ) -> np.ndarray:
    """Sorted row positions of whole labelled groups drawn at random until ``cap`` rows (unlabelled rows are
    left out: they can be neither a true nor a false pair). Every row when ``len(names) <= cap``."""
    n = len(names)
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    by_group: dict[str, list[int]] = {}
    for k, nm in enumerate(names):
        g = groups_by_name.get(nm)
        if g is not None:
            by_group.setdefault(g, []).append(k)
    keys = list(by_group)
    out: list[int] = []
    for gi in np.random.default_rng(seed).permutation(len(keys)):
        rows = by_group[keys[int(gi)]]
        if len(out) + len(rows) > cap:
            if out:
                continue
            rows = rows[:cap]
        out.extend(rows)
        if len(out) >= cap:
            break
    return np.sort(np.asarray(out, dtype=np.int64))


def subset(features: Features, rows: np.ndarray) -> Features:
    """Rows ``rows`` of ``features`` as a Features of their own (the same object when every row is kept)."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == len(features) and (len(rows) == 0 or (rows[0] == 0 and rows[-1] == len(features) - 1)):
        return features
    return Features(method=features.method, params=features.params, data=np.asarray(features.data[rows]),
                    names=[features.names[k] for k in rows], content_ids=[features.content_ids[k] for k in rows])


def nn_queries(features: Features, cap: int | None = None) -> int:
    """How many sampled images :func:`sampled_nearest_neighbours` searches for: ``cap``, fewer when one pass over
    every row is expensive (long float vectors), never under :data:`NN_QUERIES_MIN`."""
    cap = NN_QUERIES if cap is None else cap
    X = features.data
    d = int(X.shape[1]) if X.ndim == 2 else 1
    per_query = max(1, len(X)) * max(1, d // (8 if X.dtype == np.uint8 else 1))
    return int(max(NN_QUERIES_MIN, min(cap, NN_BUDGET // per_query)))


def sampled_nearest_neighbours(features: Features, cap: int | None = None, seed: int = 0,
                               block_bytes: int | None = None) -> pd.DataFrame:
    """``name, nearest, score`` like :func:`core.search.nearest_neighbours`, for a sample of the images (all of them
    when there are at most ``cap``): each sampled image's closest *other* image among every row, exactly.
    Bounded memory: query blocks x column blocks (:func:`core.blocks.score_rows`)."""
    m, n = features.method, len(features)
    cap = nn_queries(features) if cap is None else cap
    rows = sample_rows(n, cap, seed)
    best = np.zeros(len(rows), np.int64)
    best_s = np.full(len(rows), np.nan)
    step = max(1, _blocks.budget_bytes(block_bytes) // (8 * 4 * max(1, n)))
    for s in range(0, len(rows), step):
        q = rows[s:s + step]
        S = _blocks.score_rows(features, np.asarray(features.data[q]), block_bytes)
        c = m.closeness(S)
        c[np.arange(len(q)), q] = -np.inf  # never an image's own neighbour
        k = np.argmax(c, axis=1)
        best[s:s + len(q)] = k
        best_s[s:s + len(q)] = S[np.arange(len(q)), k]
    if n < 2:
        best_s[:] = np.nan
    names = np.asarray(features.names, dtype=object)
    return pd.DataFrame({"name": names[rows], "nearest": names[best] if n else names[rows], "score": best_s})


__all__ = ["ALL_PAIRS_CAP", "MAP_POINTS", "NN_QUERIES", "group_rows", "nn_queries", "sample_rows",
           "sampled_nearest_neighbours", "subset"]
