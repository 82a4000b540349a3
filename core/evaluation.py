"""Accuracy measures on labelled data.

* :func:`precision_at_k` — the article's protocol: files sorted by name, the first file of each group is a query,
  it is compared with every other image, the ``k = 3`` closest are kept; accuracy = correct / (k x queries).
* :func:`mean_average_precision` — for sets whose groups are not all of size 4: every image that has at least one
  other member in its group is a query; AP over the full ranking of the other images; mAP = mean AP.
* :func:`pair_prf` — precision / recall / F1 of the *pairs* declared duplicates at a threshold.
* :func:`threshold_sweep` / :func:`suggest_threshold` — the same across a grid of thresholds, and the best-F1 one.

Images without a label (group ``None``) are treated as unique (a group of their own).
All-pairs work is done in row blocks: memory stays bounded whatever the dataset size.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from . import blocks as _blocks
from .encoding import Features


def group_codes(groups: Sequence[str | None]) -> np.ndarray:
    """Integer group code per image; unlabelled images get unique negative codes (never equal to another)."""
    codes = np.empty(len(groups), dtype=np.int64)
    table: dict[str, int] = {}
    for i, g in enumerate(groups):
        if g is None or (isinstance(g, float) and np.isnan(g)):
            codes[i] = -(i + 1)
        else:
            codes[i] = table.setdefault(str(g), len(table))
    return codes


def _codes_for(features: Features, groups_by_name: dict[str, str | None]) -> np.ndarray:
    return group_codes([groups_by_name.get(n) for n in features.names])


def article_queries(names: Sequence[str], codes: np.ndarray) -> np.ndarray:
    """Indices of the queries of the article's protocol: the first file (by sorted name) of each group of >= 2."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    sizes = pd.Series(codes).value_counts()
    seen: set[int] = set()
    out = []
    for i in order:
        c = int(codes[i])
        if c >= 0 and sizes[c] >= 2 and c not in seen:
            seen.add(c)
            out.append(i)
    return np.asarray(out, dtype=np.int64)


def _query_score_blocks(features: Features, q: np.ndarray):
    """Yield (queries, their score rows against every image) in bounded blocks of queries."""
    step = _blocks.row_step(features)
    for s in range(0, len(q), step):
        qb = q[s:s + step]
        yield qb, _blocks.score_rows(features, features.data[qb])


def precision_at_k(features: Features, groups_by_name: dict[str, str | None], k: int = 3) -> dict:
    """The article's accuracy. Returns dict ``correct, total, accuracy, queries, per_query`` (DataFrame with
    ``query, retrieved, correct``)."""
    m = features.method
    codes = _codes_for(features, groups_by_name)
    q = article_queries(features.names, codes)
    rows, correct = [], 0
    for qb, S in _query_score_blocks(features, q):
        for r, qi in enumerate(qb):
            s = S[r]
            others = np.flatnonzero(np.arange(len(s)) != qi)
            top = others[m.order(s[others])][:k]
            c = int(np.sum(codes[top] == codes[qi]))
            correct += c
            rows.append({"query": features.names[qi], "retrieved": [features.names[t] for t in top], "correct": c})
    total = k * len(q)
    return {"correct": correct, "total": total, "accuracy": (correct / total) if total else float("nan"),
            "queries": int(len(q)), "per_query": pd.DataFrame(rows, columns=["query", "retrieved", "correct"])}


def average_precision(relevant_sorted: np.ndarray) -> float:
    """AP of one ranking given a boolean array of relevance in ranked order."""
    rel = np.asarray(relevant_sorted, dtype=bool)
    if not rel.any():
        return float("nan")
    hits = np.cumsum(rel)
    ranks = np.flatnonzero(rel) + 1
    return float(np.mean(hits[rel] / ranks))


def mean_average_precision(features: Features, groups_by_name: dict[str, str | None]) -> float:
    """mAP over every image that has at least one other image in its group (rankings of all other images)."""
    m = features.method
    codes = _codes_for(features, groups_by_name)
    n = len(codes)
    counts = pd.Series(codes).value_counts()
    q = np.asarray([i for i in range(n) if codes[i] >= 0 and counts[codes[i]] >= 2], dtype=np.int64)
    if not len(q):
        return float("nan")
    aps = []
    for qb, S in _query_score_blocks(features, q):
        for r, qi in enumerate(qb):
            others = np.flatnonzero(np.arange(n) != qi)
            ranked = others[m.order(S[r, others])]
            aps.append(average_precision(codes[ranked] == codes[qi]))
    return float(np.nanmean(aps))


def _iter_pair_blocks(features: Features, codes: np.ndarray):
    """Yield (scores, same_group) for the upper-triangle pairs of each row block (flat arrays)."""
    for r0, r1, c0, c1, block in _blocks.iter_blocks(features, upper=True):
        i = np.arange(r0, r1)[:, None]
        j = np.arange(c0, c1)[None, :]
        upper = j > i
        yield block[upper], (codes[i] == codes[j])[upper]


def pair_prf(features: Features, groups_by_name: dict[str, str | None], threshold: float) -> dict:
    """Precision, recall and F1 of the duplicate pairs at ``threshold`` (pairs of the same group are positives)."""
    m = features.method
    codes = _codes_for(features, groups_by_name)
    tp = fp = fn = 0
    for scores, same in _iter_pair_blocks(features, codes):
        pred = np.asarray(m.is_match(scores, threshold))
        tp += int(np.sum(pred & same))
        fp += int(np.sum(pred & ~same))
        fn += int(np.sum(~pred & same))
    return _prf(tp, fp, fn) | {"threshold": float(threshold)}


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def default_grid(features: Features, n: int = 201) -> np.ndarray:
    spec = features.method.threshold_spec(features.params)
    grid = np.linspace(spec.min, spec.max, n)
    if spec.step >= 1:  # integer units (hash bits): every integer
        grid = np.arange(spec.min, spec.max + 1, 1.0)
    return grid


def threshold_sweep(features: Features, groups_by_name: dict[str, str | None],
                    grid: np.ndarray | None = None) -> pd.DataFrame:
    """Pair precision / recall / F1 at every threshold of ``grid`` (exact counts, one pass over all pairs).

    Returns DataFrame ``threshold, precision, recall, f1, tp, fp, fn``.
    """
    m = features.method
    codes = _codes_for(features, groups_by_name)
    grid = np.sort(np.asarray(default_grid(features) if grid is None else grid, dtype=np.float64))
    pos = np.zeros(len(grid) + 1, dtype=np.int64)
    neg = np.zeros(len(grid) + 1, dtype=np.int64)
    n_pos = 0
    for scores, same in _iter_pair_blocks(features, codes):
        n_pos += int(same.sum())
        if m.higher_is_closer:  # matched at grid[k] iff score >= grid[k]  <=>  k < searchsorted(right)
            idx = np.searchsorted(grid, scores, side="right")
        else:  # matched at grid[k] iff score <= grid[k]  <=>  k >= searchsorted(left)
            idx = np.searchsorted(grid, scores, side="left")
        pos += np.bincount(idx[same], minlength=len(grid) + 1)
        neg += np.bincount(idx[~same], minlength=len(grid) + 1)
    if m.higher_is_closer:
        tp = np.cumsum(pos[::-1])[::-1][1:]  # count with idx > k
        fp = np.cumsum(neg[::-1])[::-1][1:]
    else:
        tp = np.cumsum(pos)[:-1]  # count with idx <= k
        fp = np.cumsum(neg)[:-1]
    fn = n_pos - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), np.nan)
        recall = np.where(n_pos > 0, tp / max(n_pos, 1), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), np.nan)
    return pd.DataFrame({"threshold": grid, "precision": precision, "recall": recall, "f1": f1,
                         "tp": tp, "fp": fp, "fn": fn})


def suggest_threshold(sweep: pd.DataFrame) -> float | None:
    """The threshold with the best F1 (middle of the best plateau, so it is not on a knife edge)."""
    f1 = sweep["f1"].to_numpy()
    if not np.isfinite(f1).any() or np.nanmax(f1) <= 0:
        return None
    best = np.flatnonzero(f1 >= np.nanmax(f1) - 1e-12)
    return float(sweep["threshold"].iloc[best[len(best) // 2]])


def labelled_pair_scores(features: Features, groups_by_name: dict[str, str | None], max_negatives: int = 20000,
                         seed: int = 0) -> pd.DataFrame:
    """Scores of all duplicate pairs and of a uniform sample of non-duplicate pairs: DataFrame ``score, duplicate``
    (for the overlaid histograms of the threshold explorer)."""
    codes = _codes_for(features, groups_by_name)
    n = len(codes)
    n_pairs = n * (n - 1) // 2
    rng = np.random.default_rng(seed)
    keep_p = 1.0 if n_pairs <= max_negatives else max_negatives / n_pairs
    pos_s, neg_s = [], []
    for scores, same in _iter_pair_blocks(features, codes):
        pos_s.append(scores[same])
        neg = scores[~same]
        if keep_p < 1.0:
            neg = neg[rng.random(len(neg)) < keep_p]
        neg_s.append(neg)
    pos = np.concatenate(pos_s) if pos_s else np.zeros(0)
    neg = np.concatenate(neg_s) if neg_s else np.zeros(0)
    return pd.DataFrame({"score": np.concatenate([pos, neg]),
                         "duplicate": np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])})
