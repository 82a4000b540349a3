"""Query ranking, all-pairs duplicates, duplicate groups, copies per image and which copy to keep.

One code path for every method: scores come from ``method.pairwise`` in the method's natural unit, the direction
from ``method.higher_is_closer``, thresholds are applied by ``method.is_match`` only.

Result DataFrames (documented columns):

* :func:`search` -> ``rank`` (1 = closest), ``name``, ``score``, ``match`` (bool)
* :func:`duplicate_pairs` -> ``a``, ``b`` (names, ``a`` before ``b`` in dataset order), ``score``
* :func:`find_groups` -> ``group_id``, ``name``, ``size``, ``keep`` (bool: the suggested copy to keep)
* :func:`copies_per_image` -> ``name``, ``copies`` (other images in the same group)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.csgraph

from . import index as _index
from .encoding import Features

Progress = Callable[[int, int, str], None]

#: Bytes of score matrix computed at once by the all-pairs loops (bounds memory: never an N x N matrix).
BLOCK_BYTES = 32 << 20
#: Smallest dataset for which :func:`search` with ``top_k`` uses the float32 top-k kernel of :mod:`core.index`
#: (below it the full float64 scoring takes well under 10 ms anyway).
TOPK_FAST_MIN = 5_000
#: Smallest dataset for which :func:`pair_indices` uses the Hamming all-pairs kernel of :mod:`core.index`.
PAIRS_FAST_MIN = 256


def search(query: np.ndarray, features: Features, threshold: float, top_k: int | None = None,
           exclude: str | None = None) -> pd.DataFrame:
    """Rank every image of ``features`` by its score against one query row.

    Parameters
    ----------
    query : ndarray, shape (d,) or (1, d)
        The query's encoded row (same method and parameters as ``features``).
    threshold : float
        In the method's unit; ``match`` is ``method.is_match(score, threshold)``.
    top_k : int, optional
        Keep only the ``top_k`` closest.
    exclude : str, optional
        Name of a dataset image to leave out (the query itself when it was picked from the dataset).
    """
    m = features.method
    q = np.asarray(query).reshape(1, -1)
    cols = {"rank": pd.Series(dtype="int64"), "name": pd.Series(dtype="object"),
            "score": pd.Series(dtype="float64"), "match": pd.Series(dtype="bool")}
    if len(features) == 0:
        return pd.DataFrame(cols)
    names = np.asarray(features.names, dtype=object)
    keep = np.ones(len(names), dtype=bool)
    if exclude is not None:
        keep &= names != exclude
    cand = None
    if top_k is not None and len(features) >= TOPK_FAST_MIN:
        # float32 pass + exact re-scoring of the rows that can reach the top k (same result as the full sort)
        cand = _index.topk_candidates(features, q[0], max(0, int(top_k)), keep)
    if cand is not None:
        s_c = features.pairwise(q, features.data[cand])[0]
        o = m.order(s_c)[:max(0, int(top_k))]
        order, s = cand[o], s_c[o]
    else:
        scores = features.pairwise(q, features.data)[0]
        idx = np.flatnonzero(keep)
        order = idx[m.order(scores[idx])]
        if top_k is not None:
            order = order[:max(0, int(top_k))]
        s = scores[order]
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1, dtype=np.int64), "name": names[order],
                         "score": s.astype(np.float64), "match": np.asarray(m.is_match(s, threshold), dtype=bool)})


def _row_block(features: Features) -> int:
    n = max(1, len(features))
    return max(1, min(n, BLOCK_BYTES // (8 * n)))


def _hamming_fast(features: Features, threshold: float) -> bool:
    """True when the exact Hamming kernel applies: packed-bit rows scored by ``hamming_pairwise``, distances."""
    from .methods.hashing import hamming_pairwise

    X = features.data
    return (features.method.pairwise is hamming_pairwise and not features.method.higher_is_closer
            and X.dtype == np.uint8 and X.ndim == 2 and len(X) >= PAIRS_FAST_MIN
            and np.isfinite(threshold) and threshold < 8 * X.shape[1] / 2)


def pair_indices(features: Features, threshold: float, progress: Progress | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` whose score is within ``threshold``: (i, j, score) arrays, block by block.

    Memory is bounded by :data:`BLOCK_BYTES` of scores per block; no Python loop over pairs. Packed-bit hashes
    use the exact Hamming kernel of :mod:`core.index` (faiss range search; same pairs, same order).
    """
    m, X = features.method, features.data
    n = len(features)
    if _hamming_fast(features, threshold):
        return _index.hamming_pairs(X, threshold, progress)
    I, J, S = [], [], []
    step = _row_block(features)
    for s in range(0, n, step):
        e = min(n, s + step)
        block = features.pairwise(X[s:e], X[s:])  # upper triangle only: columns from s
        i, j, sc = _index.upper_hits(np.asarray(m.is_match(block, threshold)), block, s)
        I.append(i)
        J.append(j)
        S.append(sc)
        if progress:
            progress(e, n, "comparing all pairs")
    if not I:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return (np.concatenate(I).astype(np.int64), np.concatenate(J).astype(np.int64),
            np.concatenate(S).astype(np.float64))


def duplicate_pairs(features: Features, threshold: float, progress: Progress | None = None) -> pd.DataFrame:
    """DataFrame ``a, b, score`` of all pairs within ``threshold``, closest first."""
    i, j, s = pair_indices(features, threshold, progress)
    names = np.asarray(features.names, dtype=object)
    df = pd.DataFrame({"a": names[i], "b": names[j], "score": s})
    order = features.method.order(s)
    return df.iloc[order].reset_index(drop=True)


def nearest_neighbours(features: Features, progress: Progress | None = None) -> pd.DataFrame:
    """Each image's closest other image: DataFrame ``name``, ``nearest``, ``score`` (for unlabelled threshold
    exploration). Block-wise, bounded memory."""
    m, X = features.method, features.data
    n = len(features)
    best = np.zeros(n, dtype=np.int64)
    best_s = np.full(n, np.nan)
    step = _row_block(features)
    for s in range(0, n, step):
        e = min(n, s + step)
        block = features.pairwise(X[s:e], X).astype(np.float64)
        block[np.arange(e - s), np.arange(s, e)] = -np.inf if m.higher_is_closer else np.inf
        k = np.argmax(block, axis=1) if m.higher_is_closer else np.argmin(block, axis=1)
        best[s:e] = k
        best_s[s:e] = block[np.arange(e - s), k]
        if progress:
            progress(e, n, "finding nearest neighbours")
    if n < 2:
        best_s[:] = np.nan
    names = np.asarray(features.names, dtype=object)
    return pd.DataFrame({"name": names, "nearest": names[best] if n else names, "score": best_s})


def component_labels(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes given undirected edges (i, j)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    g = scipy.sparse.coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    _, labels = scipy.sparse.csgraph.connected_components(g, directed=False)
    return labels.astype(np.int64)


@dataclass
class Duplicates:
    """Everything the duplicates page, the CLI and exports need, for one method and threshold."""

    pairs: pd.DataFrame  # a, b, score
    groups: pd.DataFrame  # group_id, name, size, keep (only images in groups of size >= 2)
    copies: pd.DataFrame  # name, copies (every image)
    threshold: float
    n_images: int

    @property
    def n_groups(self) -> int:
        return int(self.groups["group_id"].nunique()) if len(self.groups) else 0

    def keep_set(self) -> list[str]:
        """Names of the de-duplicated set: the suggested copy of every group plus every singleton."""
        in_groups = set(self.groups["name"])
        kept = set(self.groups.loc[self.groups["keep"], "name"])
        return [n for n in self.copies["name"] if n not in in_groups or n in kept]

    def group_members(self) -> list[dict]:
        """``[{"group_id", "members": [...], "keep": name}]`` in group order (JSON-ready)."""
        g = self.groups
        if len(g) == 0:
            return []
        # one stable sort instead of a pandas groupby (~0.1 s for 600 groups: the Duplicates page calls this on
        # every re-run); order within a group is the table's order, as groupby keeps it
        gid = g["group_id"].to_numpy()
        order = np.argsort(gid, kind="stable")
        gid = gid[order]
        names = g["name"].to_numpy(dtype=object)[order]
        keep = g["keep"].to_numpy(dtype=bool)[order]
        starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
        ends = np.r_[starts[1:], len(gid)]
        out = []
        for s, e in zip(starts.tolist(), ends.tolist()):
            k = np.flatnonzero(keep[s:e])
            out.append({"group_id": int(gid[s]), "members": names[s:e].tolist(), "keep": str(names[s + int(k[0])])})
        return out


def find_duplicates(features: Features, threshold: float, info: dict[str, tuple[int, int]] | None = None,
                    progress: Progress | None = None, pairs: tuple | None = None) -> Duplicates:
    """All pairs within ``threshold``, their connected components (groups) and copies per image.

    Parameters
    ----------
    info : dict name -> (pixel_count, file_bytes), optional
        Used to suggest the copy to keep in each group: most pixels, then largest file, then first name.
    pairs : (i, j, score) arrays, optional
        The duplicate pairs decided elsewhere (e.g. the verified candidates of :mod:`core.two_stage`) instead of
        the pairs within ``threshold``.
    """
    n = len(features)
    i, j, s = pair_indices(features, threshold, progress) if pairs is None else pairs
    names = np.asarray(features.names, dtype=object)
    order = features.method.order(s)
    pairs = pd.DataFrame({"a": names[i][order], "b": names[j][order], "score": s[order]})
    labels = component_labels(n, i, j)
    sizes = np.bincount(labels, minlength=labels.max() + 1 if n else 0) if n else np.zeros(0, np.int64)
    copies = pd.DataFrame({"name": names, "copies": (sizes[labels] - 1) if n else np.zeros(0, np.int64)})
    in_group = np.flatnonzero(sizes[labels] >= 2) if n else np.zeros(0, np.int64)
    rows = []
    if len(in_group):
        # renumber groups 1..G by first member in dataset order
        first: dict[int, int] = {}
        for k in in_group:
            first.setdefault(int(labels[k]), len(first) + 1)
        for k in in_group:
            px, nbytes = (info or {}).get(names[k], (0, 0))
            rows.append((first[int(labels[k])], names[k], int(sizes[labels[k]]), int(px), int(nbytes), int(k)))
    groups = pd.DataFrame(rows, columns=["group_id", "name", "size", "pixels", "bytes", "_pos"])
    if len(groups):
        best = (groups.sort_values(["group_id", "pixels", "bytes", "_pos"], ascending=[True, False, False, True])
                .groupby("group_id", sort=False).head(1).index)
        groups["keep"] = groups.index.isin(best)
        groups = groups.sort_values(["group_id", "_pos"]).reset_index(drop=True)
    else:
        groups["keep"] = pd.Series(dtype=bool)
    groups = groups.drop(columns=["_pos"])
    return Duplicates(pairs=pairs, groups=groups, copies=copies, threshold=threshold, n_images=n)


def item_info(items: Sequence) -> dict[str, tuple[int, int]]:
    """name -> (pixel count, file bytes) for :func:`find_duplicates`' keep suggestion."""
    return {it.name: (int(it.width) * int(it.height), int(it.size_bytes)) for it in items}
