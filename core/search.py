"""Query ranking, all-pairs duplicates, duplicate groups, copies per image and which copy to keep.

One code path for every method: scores come from ``method.pairwise`` in the method's natural unit, the direction
from ``method.higher_is_closer``, thresholds are applied by ``method.is_match`` only.

Result DataFrames (documented columns):

* :func:`search` -> ``rank`` (1 = closest), ``name``, ``score``, ``match`` (bool)
* :func:`find_duplicates` -> :class:`Duplicates`, whose tables are

  - ``pairs``: ``a``, ``b`` (names, ``a`` before ``b`` in dataset order), ``score``, closest first;
  - ``groups``: ``group_id``, ``name``, ``size``, ``pixels``, ``bytes``, ``keep`` (bool: the suggested copy to keep);
  - ``copies``: ``name``, ``copies`` (other images in the same group).

Memory: every all-pairs loop walks bounded row x column blocks (:mod:`core.blocks`), and the pair list is cut at
``config.budgets().max_pairs`` (the closest pairs kept, the total counted, groups computed from every pair).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from . import blocks as _blocks
from . import config
from . import kernels as _kernels
from . import scale as _scale
from .encoding import Features

Progress = Callable[[int, int, str], None]

#: Bytes of one block of the all-pairs loops (scores + the float64 copies ``pairwise`` makes of its inputs): never
#: an N x N matrix. None: ``core.config.budgets().block_bytes``; tests set a tiny value to force many blocks.
BLOCK_BYTES: int | None = None
#: ``max_pairs`` default of :func:`find_duplicates`: ``config.budgets().max_pairs``.
BUDGET = "budget"
#: Smallest dataset for which :func:`search` with ``top_k`` uses the float32 top-k kernel of :mod:`core.kernels`
#: (below it the full float64 scoring takes well under 10 ms anyway).
TOPK_FAST_MIN = 5_000
#: Smallest dataset for which :func:`pair_indices` uses the Hamming all-pairs kernel of :mod:`core.kernels`.
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
    routed = _scale.search_rows(features, q[0], top_k, keep)  # an IVF index already built for these features
    if routed is None and top_k is not None and len(features) >= TOPK_FAST_MIN:
        # float32 pass + exact re-scoring of the rows that can reach the top k (same result as the full sort)
        cand = _kernels.topk_candidates(features, q[0], max(0, int(top_k)), keep)
    if routed is not None:
        order, s = routed
    elif cand is not None:
        s_c = _blocks.score_rows(_Subset(features, cand), q, BLOCK_BYTES)[0]
        o = m.order(s_c)[:max(0, int(top_k))]
        order, s = cand[o], s_c[o]
    else:
        scores = _blocks.score_rows(features, q, BLOCK_BYTES)[0]  # column blocks: no float64 copy of all rows
        idx = np.flatnonzero(keep)
        order = idx[m.order(scores[idx])]
        if top_k is not None:
            order = order[:max(0, int(top_k))]
        s = scores[order]
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1, dtype=np.int64), "name": names[order],
                         "score": s.astype(np.float64), "match": np.asarray(m.is_match(s, threshold), dtype=bool)})


class _Subset:
    """Rows ``idx`` of a Features, seen as a Features by :func:`core.blocks.score_rows`."""

    def __init__(self, features: Features, idx: np.ndarray):
        self.data = features.data[idx]
        self.pairwise = features.pairwise

    def __len__(self) -> int:
        return len(self.data)


def _max_pairs(max_pairs) -> int | None:
    return config.budgets().max_pairs if max_pairs == BUDGET else (None if max_pairs is None else int(max_pairs))


def _hamming_fast(features: Features, threshold: float) -> bool:
    """True when the method's record declares an exact all-pairs kernel and the rows are packed bits (distances)."""
    X = features.data
    return (features.method.pairs_kernel is not None and not features.method.higher_is_closer
            and X.dtype == np.uint8 and X.ndim == 2 and len(X) >= PAIRS_FAST_MIN
            and np.isfinite(threshold) and threshold < 8 * X.shape[1] / 2)


def iter_pairs(features: Features, threshold: float, progress: Progress | None = None
               ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (i, j, score) arrays of the pairs ``i < j`` within ``threshold``, one bounded block at a time.

    Blocks come from :func:`core.blocks.iter_blocks` (memory bounded by the block budget, no Python loop over
    pairs). Packed-bit hashes use the exact Hamming kernel of :mod:`core.kernels` (faiss range search).
    """
    m, X = features.method, features.data
    n = len(features)
    if _hamming_fast(features, threshold):
        if _scale.hamming_backend(n, X.shape[1], threshold)["kind"] == "multi-index-hashing":
            yield _scale.hamming_pairs(X, threshold, progress)  # exact multi-index hashing at scale
            return
        yield from features.method.pairs_kernel(X, threshold, progress, _blocks.budget_bytes(BLOCK_BYTES))
        return
    if _scale.ann_applies(features):  # past DUPFINDER_ANN_MIN rows: IVF candidates, re-scored by method.pairwise
        yield _scale.ann_pairs(features, threshold, progress)
        return
    for r0, r1, c0, c1, block in _blocks.iter_blocks(features, upper=True, budget=BLOCK_BYTES):
        yield _blocks.block_hits(np.asarray(m.is_match(block, threshold)), block, r0, c0)
        if progress and c1 == n:
            progress(r1, n, "comparing all pairs")


def pair_indices(features: Features, threshold: float, progress: Progress | None = None,
                 max_pairs: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` whose score is within ``threshold``: (i, j, score) arrays sorted by i, then j.

    ``max_pairs``: keep only that many, the closest (ties: dataset order); None keeps all.
    """
    kept = _blocks.ClosestPairs(features.method, max_pairs)
    for i, j, s in iter_pairs(features, threshold, progress):
        kept.add(i, j, s)
    return kept.result()


def nearest_neighbours(features: Features, progress: Progress | None = None) -> pd.DataFrame:
    """Each image's closest other image: DataFrame ``name``, ``nearest``, ``score`` (for unlabelled threshold
    exploration). Block-wise, bounded memory."""
    m, X = features.method, features.data
    n = len(features)
    best = np.zeros(n, dtype=np.int64)
    best_c = np.full(n, -np.inf)  # closeness (larger = closer) of the best column so far
    for r0, r1, c0, c1, block in _blocks.iter_blocks(features, budget=BLOCK_BYTES):
        c = m.closeness(block)
        rows = np.arange(r0, r1)
        on_diag = (rows >= c0) & (rows < c1)
        c[np.flatnonzero(on_diag), rows[on_diag] - c0] = -np.inf  # never an image's own neighbour
        k = np.argmax(c, axis=1)
        v = c[np.arange(r1 - r0), k]
        better = v > best_c[r0:r1]  # strict: on ties the earlier column wins, as one argmax over the row would
        best[r0:r1] = np.where(better, k + c0, best[r0:r1])
        best_c[r0:r1] = np.where(better, v, best_c[r0:r1])
        if progress and c1 == n:
            progress(r1, n, "finding nearest neighbours")
    best_s = best_c if m.higher_is_closer else -best_c
    if n < 2:
        best_s[:] = np.nan
    names = np.asarray(features.names, dtype=object)
    return pd.DataFrame({"name": names, "nearest": names[best] if n else names, "score": best_s})


@dataclass
class Duplicates:
    """Everything the duplicates page, the CLI and exports need, for one method and threshold."""

    pairs: pd.DataFrame  # a, b, score
    groups: pd.DataFrame  # group_id, name, size, keep (only images in groups of size >= 2)
    copies: pd.DataFrame  # name, copies (every image)
    threshold: float
    n_images: int
    #: every pair within the threshold; ``len(pairs)`` is smaller when the list was cut at ``max_pairs``
    total_pairs: int = 0
    max_pairs: int | None = None

    @property
    def truncated(self) -> bool:
        """True when ``pairs`` holds only the closest ``max_pairs`` of ``total_pairs`` (groups stay complete)."""
        return self.total_pairs > len(self.pairs)

    @property
    def message(self) -> str | None:
        """What to tell the user when the pair list was cut, else None."""
        if not self.truncated:
            return None
        return (f"{self.total_pairs:,} pairs at this threshold: showing the closest {len(self.pairs):,}; tighten the "
                "threshold to see them all. Groups and copy counts include every pair.")
    #: which index answered (``core.scale.pairs_info``): kind, measured recall@10, parameters
    index: dict = field(default_factory=lambda: dict(_scale.EXACT))

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
                    progress: Progress | None = None, max_pairs: int | str | None = BUDGET,
                    decided: tuple | None = None,
                    choose_keeper: Callable[[list[str]], str] | None = None) -> Duplicates:
    """All pairs within ``threshold``, their connected components (groups) and copies per image.

    Parameters
    ----------
    info : dict name -> (pixel_count, file_bytes), optional
        Used to suggest the copy to keep in each group: most pixels, then largest file, then first name.
    max_pairs : int, None or "budget"
        Pairs kept in ``Duplicates.pairs``: the closest ones (default ``config.budgets().max_pairs``; None = all).
        Groups and copies are computed from *every* pair (a streaming union-find), so they are exact either way;
        ``Duplicates.total_pairs`` / ``truncated`` / ``message`` tell when the list was cut.
    decided : (i, j, score) arrays, optional
        The duplicate pairs decided elsewhere (e.g. the verified candidates of :mod:`core.two_stage`) instead of
        the pairs within ``threshold``.
    choose_keeper : callable(list of names) -> name, optional
        Picks each group's keeper instead of the ``info`` rule (e.g. :func:`core.keeper.chooser`: the original,
        not the biggest file).
    """
    n = len(features)
    cap = _max_pairs(max_pairs)
    kept = _blocks.ClosestPairs(features.method, cap)
    comps = _blocks.Components(n)
    for bi, bj, bs in (iter_pairs(features, threshold, progress) if decided is None else [decided]):
        kept.add(bi, bj, bs)
        comps.union(bi, bj)
    i, j, s = kept.result()
    names = np.asarray(features.names, dtype=object)
    order = features.method.order(s)
    pairs = pd.DataFrame({"a": names[i][order], "b": names[j][order], "score": s[order]})
    labels = comps.labels()
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
        if choose_keeper is not None:
            keepers = {gid: choose_keeper(list(g.sort_values("_pos")["name"])) for gid, g in groups.groupby("group_id")}
            groups["keep"] = [keepers[gid] == name for gid, name in zip(groups["group_id"], groups["name"])]
        else:
            best = (groups.sort_values(["group_id", "pixels", "bytes", "_pos"], ascending=[True, False, False, True])
                    .groupby("group_id", sort=False).head(1).index)
            groups["keep"] = groups.index.isin(best)
        groups = groups.sort_values(["group_id", "_pos"]).reset_index(drop=True)
    else:
        groups["keep"] = pd.Series(dtype=bool)
    groups = groups.drop(columns=["_pos"])
    return Duplicates(pairs=pairs, groups=groups, copies=copies, threshold=threshold, n_images=n,
                      total_pairs=int(kept.total), max_pairs=cap, index=_scale.pairs_info(features, threshold))


def item_info(items: Sequence) -> dict[str, tuple[int, int]]:
    """name -> (pixel count, file bytes) for :func:`find_duplicates`' keep suggestion."""
    return {it.name: (int(it.width) * int(it.height), int(it.size_bytes)) for it in items}
