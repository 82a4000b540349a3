"""Bounded blocks of an all-pairs comparison, the pair cap and streaming connected components.

Every N x N computation of the project (duplicate pairs, nearest neighbours, evaluation) walks the score matrix in
blocks of rows x columns sized by ``core.config.budgets().block_bytes``: a block's scores, their temporaries *and*
the float64 copies a method's ``pairwise`` makes of its two inputs (pixel rows of 49,152 bytes become 393 KB each)
stay within the budget. No N x N or N x d float64 array is ever allocated.

* :func:`block_shape` / :func:`iter_blocks` / :func:`score_rows` - the blocks;
* :class:`ClosestPairs` - keeps the ``max_pairs`` closest matching pairs (ties: dataset order) while counting all of
  them, pruning its buffer whenever it doubles, so memory is O(max_pairs + one block);
* :class:`Components` - union-find over the pairs as they stream by, so duplicate groups stay exact when the pair
  list is cut.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from . import config

#: float64 arrays of a block's shape alive at once inside ``pairwise`` and the hit extraction (scores, masks,
#: index arrays): the budget is divided by this.
TEMPORARIES = 4


def budget_bytes(override: int | None = None) -> int:
    """``override`` or ``config.budgets().block_bytes``."""
    return int(override) if override else config.budgets().block_bytes


def block_shape(n_rows: int, n_cols: int, dim: int, budget: int) -> tuple[int, int]:
    """Rows x columns of one block of scores for rows of ``dim`` values, within ``budget`` bytes.

    One block holds ``TEMPORARIES`` float64 (r, c) arrays plus float64 copies of its r + c input rows.
    """
    d = max(1, int(dim))
    r = max(1, min(max(1, n_rows), math.isqrt(max(1, budget // (8 * TEMPORARIES * 2))), budget // (16 * d)))
    c = (budget - 8 * d * r) // (8 * (d + TEMPORARIES * r))
    return r, max(1, min(max(1, n_cols), int(c)))


def _dim(X: np.ndarray) -> int:
    return int(X.shape[1]) if X.ndim == 2 else 1


def iter_blocks(features, *, upper: bool = False, budget: int | None = None
                ) -> Iterator[tuple[int, int, int, int, np.ndarray]]:
    """Yield ``(r0, r1, c0, c1, scores)`` covering all rows x columns of ``features.pairwise`` (``upper``: only
    blocks that reach the upper triangle, i.e. columns from the first row of the block on)."""
    X = features.data
    n = len(X)
    r, c = block_shape(n, n, _dim(X), budget_bytes(budget))
    for r0 in range(0, n, r):
        r1 = min(n, r0 + r)
        for c0 in range(r0 if upper else 0, n, c):
            c1 = min(n, c0 + c)
            yield r0, r1, c0, c1, features.pairwise(X[r0:r1], X[c0:c1])


def row_step(features, budget: int | None = None) -> int:
    """Rows whose full score rows (against every column) fit in the budget next to one column block."""
    n = max(1, len(features))
    return max(1, min(n, budget_bytes(budget) // (8 * TEMPORARIES * n)))


def score_rows(features, A: np.ndarray, budget: int | None = None) -> np.ndarray:
    """``features.pairwise(A, features.data)``, shape (len(A), n), computed column block by column block (the
    caller bounds ``len(A)``, e.g. with :func:`row_step`)."""
    X = features.data
    n = len(X)
    A = np.asarray(A)
    out = np.empty((len(A), n), dtype=np.float64)
    _, c = block_shape(len(A), n, _dim(X), budget_bytes(budget))
    for c0 in range(0, n, c):
        out[:, c0:c0 + c] = features.pairwise(A, X[c0:c0 + c])
    return out


def block_hits(ok: np.ndarray, block: np.ndarray, r0: int, c0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j, score) with ``i < j`` where ``ok`` holds, for the block of rows ``r0..`` x columns ``c0..``."""
    r, c = np.nonzero(ok)
    i, j = r + r0, c + c0
    upper = j > i
    return i[upper].astype(np.int64), j[upper].astype(np.int64), np.asarray(block[r[upper], c[upper]], np.float64)


class ClosestPairs:
    """The ``max_pairs`` closest of a stream of pairs (i, j, score), and the count of all of them.

    Ties on score keep the pair first in dataset order (by i, then j), so the result does not depend on the block
    order. ``max_pairs=None`` keeps everything.
    """

    def __init__(self, method, max_pairs: int | None):
        self.method = method
        self.max_pairs = None if max_pairs is None else max(0, int(max_pairs))
        self.total = 0
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._held = 0

    def add(self, i: np.ndarray, j: np.ndarray, s: np.ndarray) -> None:
        if not len(i):
            return
        self.total += len(i)
        self._parts.append((np.asarray(i, np.int64), np.asarray(j, np.int64), np.asarray(s, np.float64)))
        self._held += len(i)
        if self.max_pairs is not None and self._held > 2 * self.max_pairs + 1024:
            self._prune()

    @property
    def truncated(self) -> bool:
        return self.max_pairs is not None and self.total > self.max_pairs

    def _concat(self):
        if not self._parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
        i, j, s = (np.concatenate(p) for p in zip(*self._parts))
        return i, j, s

    def _prune(self) -> None:
        i, j, s = self._concat()
        if self.max_pairs is not None and len(i) > self.max_pairs:
            keep = np.lexsort((j, i, -self.method.closeness(s)))[:self.max_pairs]
            i, j, s = i[keep], j[keep], s[keep]
        self._parts = [(i, j, s)]
        self._held = len(i)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Kept pairs sorted by i, then j (the order of the uncapped search)."""
        self._prune()
        i, j, s = self._concat()
        order = np.lexsort((j, i))
        return i[order], j[order], s[order]


class Components:
    """Union-find over ``n`` nodes fed with edge arrays, vectorised: memory O(n), each edge batch O(batch)."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)

    def _find(self, x: np.ndarray) -> np.ndarray:
        p = self.parent
        r = p[x]
        while True:
            rr = p[r]
            if np.array_equal(rr, r):
                break
            r = rr
        p[x] = r  # path compression for the nodes asked about
        return r

    def union(self, i: np.ndarray, j: np.ndarray) -> None:
        if not len(i):
            return
        ri, rj = self._find(np.asarray(i, np.int64)), self._find(np.asarray(j, np.int64))
        diff = ri != rj
        ri, rj = ri[diff], rj[diff]
        if not len(ri):
            return
        u, inv = np.unique(np.concatenate([ri, rj]), return_inverse=True)
        k = len(ri)
        g = scipy.sparse.coo_matrix((np.ones(k, np.int8), (inv[:k], inv[k:])), shape=(len(u), len(u)))
        _, lab = scipy.sparse.csgraph.connected_components(g, directed=False)
        rep = np.full(lab.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(rep, lab, u)  # each merged component's root: its smallest old root (itself a root)
        self.parent[u] = rep[lab]

    def labels(self) -> np.ndarray:
        """Component label of every node (0..k-1, numbered by first node)."""
        n = len(self.parent)
        if n == 0:
            return np.zeros(0, np.int64)
        roots = self._find(np.arange(n, dtype=np.int64))
        _, first, inv = np.unique(roots, return_index=True, return_inverse=True)
        return np.argsort(np.argsort(first, kind="stable"), kind="stable")[inv].astype(np.int64)


__all__ = ["ClosestPairs", "Components", "block_hits", "block_shape", "budget_bytes", "iter_blocks", "row_step", "score_rows"]
