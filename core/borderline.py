"""The pairs a threshold decides by a hair, and the ones it gets wrong (the Threshold explorer's review, issue 11).

* borderline pairs: the ``k`` pairs closest to the threshold on each side (just inside = a match by a hair, just
  outside = missed by a hair), for a person to look at and say "same" or "different";
* on labelled data: false positives (matched, different groups) and false negatives (same group, not matched), the
  most confidently wrong first.

One pass over all pairs ``i < j`` in row blocks (memory bounded by ``block_bytes`` of scores per block), keeping
only ``k`` candidates per list and block; no Python loop over pairs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .encoding import Features

BLOCK_BYTES = 32 << 20
COLUMNS = ["a", "b", "score", "margin"]


def _margin(features: Features, scores: np.ndarray, threshold: float) -> np.ndarray:
    """How far inside the threshold a score is, in the method's unit: >= 0 is a match, < 0 is not."""
    return scores - threshold if features.method.higher_is_closer else threshold - scores


def _keep(best: dict, name: str, i: np.ndarray, j: np.ndarray, s: np.ndarray, key: np.ndarray, k: int) -> None:
    """Merge candidates into ``best[name]`` keeping the ``k`` smallest ``key`` values."""
    if len(key) == 0:
        return
    if len(key) > k:
        sel = np.argpartition(key, k - 1)[:k]
        i, j, s, key = i[sel], j[sel], s[sel], key[sel]
    pi, pj, ps, pk = best.get(name, (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) * 2)
    I, J, S, K = (np.concatenate(x) for x in ((pi, i), (pj, j), (ps, s), (pk, key)))
    if len(K) > k:
        sel = np.argpartition(K, k - 1)[:k]
        I, J, S, K = I[sel], J[sel], S[sel], K[sel]
    best[name] = (I, J, S, K)


def review_pairs(features: Features, threshold: float, groups: list | None = None, k: int = 6,
                 block_bytes: int = BLOCK_BYTES) -> dict[str, pd.DataFrame]:
    """The pairs worth a look at ``threshold``.

    Parameters
    ----------
    features : Features
        n encoded images.
    threshold : float
        In the method's unit.
    groups : list of (str or None), length n, optional
        Ground-truth group per image (None = unlabelled: never counted as a false positive or negative).
    k : int
        Pairs per list.

    Returns
    -------
    dict of DataFrame ``a, b, score, margin`` (margin: how far inside the threshold, in the method's unit)
        ``"inside"``: matches closest to the threshold; ``"outside"``: non-matches closest to it; with ``groups``
        also ``"false_positive"`` (matched, different groups, most inside first) and ``"false_negative"`` (same
        group, not matched, farthest outside first).
    """
    X, n = features.data, len(features)
    names = np.asarray(features.names, dtype=object)
    codes = None
    if groups is not None:
        uniq = {g: c for c, g in enumerate(dict.fromkeys(g for g in groups if g is not None))}
        codes = np.array([uniq.get(g, -1) if g is not None else -1 for g in groups], dtype=np.int64)
    best: dict = {}
    step = max(1, min(n, block_bytes // (8 * max(1, n))))
    for s0 in range(0, n, step):
        e0 = min(n, s0 + step)
        block = np.asarray(features.pairwise(X[s0:e0], X[s0:]), dtype=np.float64)
        ii, jj = np.nonzero(np.arange(s0, n)[None, :] > np.arange(s0, e0)[:, None])  # pairs i < j only
        sc = block[ii, jj]
        gi, gj = ii + s0, jj + s0
        mg = _margin(features, sc, threshold)
        inside = mg >= 0
        _keep(best, "inside", gi[inside], gj[inside], sc[inside], mg[inside], k)
        _keep(best, "outside", gi[~inside], gj[~inside], sc[~inside], -mg[~inside], k)
        if codes is not None:
            ci, cj = codes[gi], codes[gj]
            known = (ci >= 0) & (cj >= 0)
            same = known & (ci == cj)
            diff = known & (ci != cj)
            fp, fn = diff & inside, same & ~inside
            _keep(best, "false_positive", gi[fp], gj[fp], sc[fp], -mg[fp], k)
            _keep(best, "false_negative", gi[fn], gj[fn], sc[fn], mg[fn], k)
    out = {}
    lists = ["inside", "outside"] + (["false_positive", "false_negative"] if codes is not None else [])
    for name in lists:
        I, J, S, K = best.get(name, (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) * 2)
        order = np.argsort(K, kind="stable")
        mg = _margin(features, S[order], threshold)
        out[name] = pd.DataFrame({"a": names[I[order]], "b": names[J[order]], "score": S[order], "margin": mg},
                                 columns=COLUMNS)
    return out


def verdict_threshold(scores: np.ndarray, same: np.ndarray, higher_is_closer: bool) -> tuple[float, int] | None:
    """The threshold that agrees with the most of a person's verdicts, and how many it gets right.

    ``scores``: the reviewed pairs' scores; ``same``: the verdicts (True = the same picture). Candidate thresholds
    are the scores themselves (a pair at the threshold is a match). None without verdicts."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    if len(s) == 0:
        return None
    best = None
    for t in np.unique(s):
        pred = s >= t if higher_is_closer else s <= t
        right = int((pred == y).sum())
        if best is None or right > best[1]:
            best = (float(t), right)
    return best


__all__ = ["review_pairs", "verdict_threshold"]
