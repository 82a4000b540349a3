"""Set A against set B: every cross pair (a from A, b from B) within the threshold, never a pair inside one set.

Used by ``python -m core compare`` (train/test leakage, new arrivals against a collection) and by ``index query``.
Scores come from ``method.pairwise`` on tiles of rows of A x rows of B (memory bounded by a few
:data:`core.search.BLOCK_BYTES`); packed-bit hashes go through a faiss binary range search when faiss is
importable (exact, the same integer distances).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..encoding import Features
from ..index import faiss_available
from ..blocks import block_shape, budget_bytes
from ..search import BLOCK_BYTES

#: Rows of A per faiss range search (bounds the result arrays held at once).
FAISS_QUERY_CHUNK = 20_000


def _hamming(a: Features, b: Features, threshold: float) -> bool:
    from ..methods.hashing import hamming_pairwise

    return (a.method.pairwise is hamming_pairwise and not a.method.higher_is_closer and a.data.dtype == np.uint8
            and b.data.dtype == np.uint8 and a.data.ndim == 2 and np.isfinite(threshold) and threshold >= 0)


def _cross_hamming_faiss(A: np.ndarray, B: np.ndarray, threshold: float, progress=None):
    import faiss

    index = faiss.IndexBinaryFlat(8 * B.shape[1])
    index.add(np.ascontiguousarray(B, dtype=np.uint8))
    radius = math.floor(threshold) + 1  # faiss keeps d < radius; ours is d <= threshold (integer distances)
    I, J, S = [], [], []
    for s in range(0, len(A), FAISS_QUERY_CHUNK):
        e = min(len(A), s + FAISS_QUERY_CHUNK)
        lims, D, L = index.range_search(np.ascontiguousarray(A[s:e], dtype=np.uint8), radius)
        I.append(np.repeat(np.arange(s, e, dtype=np.int64), np.diff(lims.astype(np.int64))))
        J.append(L.astype(np.int64))
        S.append(D.astype(np.float64))
        if progress:
            progress(e, len(A), "comparing A with B")
    return np.concatenate(I), np.concatenate(J), np.concatenate(S)


def _cross_blocks(a: Features, b: Features, threshold: float, progress=None):
    """Tiles of rows of A x rows of B: ``pairwise`` works in float64 on its inputs, so B is cut too (a 100,000 x
    1280 float32 index would otherwise become a 1 GB float64 copy, twice, per block of A)."""
    XA, XB = a.data, b.data
    d = XA.shape[1] if XA.ndim == 2 else 1
    rows, cols = block_shape(len(XA), len(XB), d, budget_bytes(BLOCK_BYTES))  # tiles + pairwise's float64 copies
    I, J, S = [], [], []
    for s in range(0, len(XA), rows):
        e = min(len(XA), s + rows)
        for c0 in range(0, len(XB), cols):
            c1 = min(len(XB), c0 + cols)
            block = a.pairwise(XA[s:e], XB[c0:c1])
            r, c = np.nonzero(np.asarray(a.method.is_match(block, threshold)))
            I.append(r.astype(np.int64) + s)
            J.append(c.astype(np.int64) + c0)
            S.append(block[r, c].astype(np.float64))
        if progress:
            progress(e, len(XA), "comparing A with B")
    return np.concatenate(I), np.concatenate(J), np.concatenate(S)


def cross_pairs(a: Features, b: Features, threshold: float, progress=None, *, use_faiss: bool | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i in A, j in B) with ``method.is_match(score, threshold)``.

    Parameters
    ----------
    a, b : Features
        Encoded with the same method and parameters.
    use_faiss : bool, optional
        Force (True) or forbid (False) the faiss path for hashes; default: when faiss is importable.

    Returns
    -------
    (i, j, score) : int64, int64, float64 arrays, ordered by i, then closest first, then j.
    """
    if a.method.name != b.method.name or a.params != b.params:
        raise ValueError("A and B must be encoded with the same method and parameters")
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    fast = _hamming(a, b, threshold) and (faiss_available() if use_faiss is None else use_faiss)
    i, j, s = (_cross_hamming_faiss(a.data, b.data, threshold, progress) if fast
               else _cross_blocks(a, b, threshold, progress))
    order = np.lexsort((j, -a.method.closeness(s), i))
    return i[order], j[order], s[order]


def compare(a: Features, b: Features, threshold: float, progress=None) -> pd.DataFrame:
    """DataFrame ``a, b, score`` of the cross pairs, closest first (ties: A order, then B order)."""
    i, j, s = cross_pairs(a, b, threshold, progress)
    order = np.lexsort((j, i, -a.method.closeness(s)))
    na, nb = np.asarray(a.names, dtype=object), np.asarray(b.names, dtype=object)
    return pd.DataFrame({"a": na[i[order]], "b": nb[j[order]], "score": s[order]})


def best_matches(queries: Features, target: Features, threshold: float, top_k: int | None = None,
                 progress=None) -> pd.DataFrame:
    """For each query row (in query order), the ``top_k`` closest target rows within the threshold: DataFrame
    ``query, name, score``. Equals :func:`core.search.search` per query, filtered to matches."""
    i, j, s = cross_pairs(queries, target, threshold, progress)
    if top_k is not None and len(i):
        starts = np.r_[0, np.flatnonzero(np.diff(i)) + 1]
        rank = np.arange(len(i)) - np.repeat(starts, np.diff(np.r_[starts, len(i)]))
        keep = rank < max(0, int(top_k))
        i, j, s = i[keep], j[keep], s[keep]
    nq, nt = np.asarray(queries.names, dtype=object), np.asarray(target.names, dtype=object)
    return pd.DataFrame({"query": nq[i], "name": nt[j], "score": s})
