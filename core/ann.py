"""Approximate nearest neighbours for float feature vectors (CNN features): an inverted-file (IVF) index over the
caller's own feature matrix, whose candidates are always re-scored with the method's own ``pairwise``.

Why IVF (and not HNSW): measured on this machine (``bench/RESULTS.md``, "Search at scale"): at 100,000 x 1280-d
clustered vectors IVF builds 3-4x faster than HNSW (36 s vs 124 s), reaches recall@10 0.999 at ``nprobe=8`` where
HNSW (M=32, efSearch=256) stays at 0.98, and its candidate lists turn the all-pairs duplicate search into dense
block products (BLAS) instead of one graph walk per vector.

How it works
------------
* **Build** (:func:`build_ivf`): spherical k-means (faiss ``Kmeans``) on a sample gives ``nlist`` centroids; every
  row is assigned to its nearest centroid (faiss flat quantizer). The index holds the centroids and the row ids of
  each list (CSR) - 8 bytes per row plus ``nlist x d`` floats; the vectors are **not** copied (a faiss
  ``IndexIVFFlat`` would hold a second 5 GB copy of 1M x 1280 float32 features).
* **Recall**, measured at build time on a sample of rows used as queries: recall@10 = |IVF top-10 & exact top-10| /
  10, averaged. ``nprobe`` (lists visited per query) grows by half until it reaches ``target_recall``; the index
  stores the measured recall with its ``nprobe``.
* **Probing**: a query goes to its nearest list ``c``; its candidates are the rows of the ``nprobe`` lists nearest
  to centroid ``c`` (a table of ``nlist x nprobe`` computed once). Probing from the list rather than from each
  query makes every row of a list share one candidate set, so the all-pairs search is one dense block product per
  list: measured at 20,000 rows, the union of per-query probes of one list covers 2.8x more lists than
  ``nprobe=16``. The recall measurement uses this very rule, so the stored recall is the recall of what runs.
* **Top-k** (:func:`ivf_topk`): the candidates of each query are scored with the method's ``pairwise`` (float64,
  the very scores of exact search) and ranked with ``method.order``.
* **All pairs** (:func:`ivf_pairs`): the rows of one list against the candidates of that list. One float32 block
  product gives approximate scores; pairs that can pass the threshold within a proven float32 error bound are
  re-scored with the method's ``pairwise`` and kept by ``method.is_match``. A pair is found from either side, so
  all-pairs recall is at least the per-query recall.

Metric: ``cosine`` (``pairwise_cosine``: rows are L2-normalised block by block for the products) or ``l2``
(``pairwise_euclidean``). Other methods have no ANN path (exact search). Source: Jegou, Douze, Schmid, "Product
quantization for nearest neighbor search", TPAMI 2011 (IVF); https://github.com/facebookresearch/faiss/wiki.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

#: Float32 unit round-off; float32 products of normalised rows are within ~d * U of the float64 value.
U32 = 2.0 ** -24
#: Rows prepared (normalised, cast) at once while assigning rows to lists (bounds temporaries).
ASSIGN_CHUNK = 32_768
#: Default number of sample queries used to measure recall@10 at build time.
RECALL_QUERIES = 500
#: k of the recall measurement (recall@10).
RECALL_K = 10
#: Smallest mean list size: below it the block products get too small to be efficient.
MIN_LIST = 128


def metric_for(method) -> str | None:
    """``"cosine"`` / ``"l2"`` for the CNN methods' pairwise functions, None when the method has no ANN path."""
    from .methods.cnn import pairwise_cosine, pairwise_euclidean

    return {pairwise_cosine: "cosine", pairwise_euclidean: "l2"}.get(method.pairwise)


def prepare(X: np.ndarray, metric: str) -> np.ndarray:
    """Rows as contiguous float32, L2-normalised for ``cosine`` (all-zero rows stay zero)."""
    A = np.ascontiguousarray(X, dtype=np.float32)
    if metric == "cosine":
        nrm = np.linalg.norm(A, axis=1, keepdims=True)
        A = A / np.where(nrm == 0, 1.0, nrm)
    return A


def default_nlist(n: int) -> int:
    """``4 sqrt(n)`` lists (balances assigning n rows to lists with scanning ``nprobe`` lists per row), capped so
    lists hold at least :data:`MIN_LIST` rows on average."""
    return int(max(1, min(round(4 * math.sqrt(n)), n // MIN_LIST)))


@dataclass
class IvfIndex:
    """An IVF index over a feature matrix held by the caller (rows are never copied).

    Attributes
    ----------
    metric : "cosine" | "l2"
    centroids : ndarray (nlist, d) float32
    offsets : ndarray (nlist + 1,) int64
        Rows of list ``c`` are ``members[offsets[c]:offsets[c + 1]]``.
    members : ndarray (n,) int64
        Row ids grouped by list.
    nprobe : int
        Lists visited per query (chosen at build time to reach the target recall).
    recall_at_10 : float
        Measured recall@10 against exact search with this ``nprobe`` (on ``recall_queries`` sample rows).
    """

    metric: str
    centroids: np.ndarray
    offsets: np.ndarray
    members: np.ndarray
    nprobe: int
    recall_at_10: float
    recall_queries: int
    build_seconds: float = 0.0
    recall_curve: dict = field(default_factory=dict)  # nprobe -> measured recall@10
    _quantizer: object = field(default=None, init=False, repr=False, compare=False)
    _tables: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    kind = "faiss-ivf"

    @property
    def nlist(self) -> int:
        return len(self.centroids)

    @property
    def n(self) -> int:
        return len(self.members)

    def describe(self) -> dict:
        """The JSON ``index`` field: which index answered and its measured recall setting."""
        return {"kind": self.kind, "recall_at_10": round(float(self.recall_at_10), 4),
                "recall_queries": int(self.recall_queries), "metric": self.metric, "nlist": int(self.nlist),
                "nprobe": int(self.nprobe), "rows": int(self.n), "build_seconds": round(self.build_seconds, 3),
                "rescored_with": "method pairwise (exact scores)"}

    def quantizer(self):
        if self._quantizer is None:
            import faiss

            q = faiss.IndexFlatIP(self.centroids.shape[1]) if self.metric == "cosine" else \
                faiss.IndexFlatL2(self.centroids.shape[1])
            q.add(self.centroids)
            self._quantizer = q
        return self._quantizer

    def assign(self, Q: np.ndarray) -> np.ndarray:
        """The nearest list of each prepared query row: (m,) int64."""
        _, L = self.quantizer().search(np.ascontiguousarray(Q, dtype=np.float32), 1)
        return L[:, 0].astype(np.int64)

    def probe_table(self, nprobe: int | None = None) -> np.ndarray:
        """(nlist, nprobe) int64: the lists whose rows are the candidates of a query of list ``c``."""
        k = min(self.nlist, int(nprobe or self.nprobe))
        hit = self._tables.get(k)
        if hit is None:
            _, L = self.quantizer().search(self.centroids, k)
            hit = self._tables[k] = L.astype(np.int64)
        return hit

    def candidates(self, c: int, nprobe: int | None = None) -> np.ndarray:
        """Row ids (ascending) that a query of list ``c`` is compared with."""
        return np.sort(self.rows_of(self.probe_table(nprobe)[c]))

    def rows_of(self, lists: np.ndarray) -> np.ndarray:
        """Row ids of the given lists, concatenated (ascending list order)."""
        lists = np.asarray(lists, dtype=np.int64)
        lo, hi = self.offsets[lists], self.offsets[lists + 1]
        if len(lists) == 0:
            return np.zeros(0, np.int64)
        sizes = hi - lo
        start = np.repeat(lo - (np.cumsum(sizes) - sizes), sizes)
        return self.members[start + np.arange(int(sizes.sum()), dtype=np.int64)]

    # ------------------------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> None:
        """Write ``ivf.npz`` (centroids, offsets, members) and ``ivf.json`` (settings, measured recall)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "ivf.npz", centroids=self.centroids, offsets=self.offsets, members=self.members)
        meta = {"format": "dupfinder-ivf", "version": 1, "metric": self.metric, "nprobe": self.nprobe,
                "recall_at_10": self.recall_at_10, "recall_queries": self.recall_queries,
                "build_seconds": self.build_seconds, "recall_curve": {str(k): v for k, v in self.recall_curve.items()}}
        (folder / "ivf.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> "IvfIndex":
        folder = Path(folder)
        meta = json.loads((folder / "ivf.json").read_text())
        if meta.get("format") != "dupfinder-ivf" or meta.get("version") != 1:
            raise ValueError(f"{folder}: not a dupfinder IVF index (version 1)")
        with np.load(folder / "ivf.npz", allow_pickle=False) as z:
            return cls(metric=meta["metric"], centroids=z["centroids"], offsets=z["offsets"], members=z["members"],
                       nprobe=int(meta["nprobe"]), recall_at_10=float(meta["recall_at_10"]),
                       recall_queries=int(meta["recall_queries"]), build_seconds=float(meta["build_seconds"]),
                       recall_curve={int(k): v for k, v in meta.get("recall_curve", {}).items()})


# ---------------------------------------------------------------------------------------------------------- build
def _assign(X: np.ndarray, metric: str, quantizer) -> np.ndarray:
    out = np.empty(len(X), np.int64)
    for s in range(0, len(X), ASSIGN_CHUNK):
        _, L = quantizer.search(prepare(X[s:s + ASSIGN_CHUNK], metric), 1)
        out[s:s + ASSIGN_CHUNK] = L[:, 0]
    return out


def _closeness32(Q: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    """float32 closeness (larger = closer) of prepared rows: dot product, or minus squared L2 distance."""
    G = Q @ B.T
    if metric == "cosine":
        return G
    return 2.0 * G - (Q * Q).sum(1)[:, None] - (B * B).sum(1)[None, :]


def exact_topk(X: np.ndarray, queries: np.ndarray, k: int, metric: str, block_bytes: int | None = None
               ) -> np.ndarray:
    """Row ids (m, k) of the exact float32 top-k of each query row among all rows of ``X`` (query rows excluded).

    ``queries`` are row ids of ``X``. One pass over ``X`` in blocks (the ground truth of the recall measurement);
    a block of rows and its (m, block) scores and ids each stay within ``block_bytes`` (default: the
    ``DUPFINDER_BLOCK_BYTES`` budget; 65,536-row blocks made this pass the peak of a 1M-row build).
    """
    from . import config

    block_bytes = block_bytes or config.budgets().block_bytes
    Q = prepare(X[queries], metric)
    m = len(queries)
    block = max(k + 1, min(block_bytes // (8 * X.shape[1]), block_bytes // (16 * max(1, m))))
    best_s = np.full((m, k), -np.inf, np.float32)
    best_i = np.full((m, k), -1, np.int64)
    for s in range(0, len(X), block):
        B = prepare(X[s:s + block], metric)
        C = _closeness32(Q, B, metric)
        own = (queries >= s) & (queries < s + len(B))
        C[np.flatnonzero(own), queries[own] - s] = -np.inf  # a row is not its own neighbour
        allS = np.concatenate([best_s, C], axis=1)
        allI = np.concatenate([best_i, np.broadcast_to(np.arange(s, s + len(B)), C.shape)], axis=1)
        top = np.argpartition(-allS, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(allS, top, 1)
        best_i = np.take_along_axis(allI, top, 1)
    return best_i


def _ivf_topk32(index: IvfIndex, X: np.ndarray, queries: np.ndarray, k: int, nprobe: int) -> list[np.ndarray]:
    """float32 IVF top-k row ids of each query row (query rows excluded) at a given ``nprobe``."""
    Q = prepare(X[queries], index.metric)
    own = index.assign(Q)
    out = []
    for a in range(len(queries)):
        cand = index.candidates(own[a], nprobe)
        cand = cand[cand != queries[a]]
        c = _closeness32(Q[a:a + 1], prepare(X[cand], index.metric), index.metric)[0]
        out.append(cand[np.argsort(-c, kind="stable")[:k]])
    return out


def measure_recall(index: IvfIndex, X: np.ndarray, queries: np.ndarray, nprobes, k: int = RECALL_K,
                   truth: np.ndarray | None = None) -> dict[int, float]:
    """Recall@k of the IVF top-k against exact top-k for sample query rows, for each ``nprobe`` given."""
    truth = exact_topk(X, queries, k, index.metric) if truth is None else truth
    out = {}
    for npb in nprobes:
        got = _ivf_topk32(index, X, queries, k, npb)
        out[int(npb)] = float(np.mean([len(np.intersect1d(g, t)) / k for g, t in zip(got, truth)]))
    return out


def build_ivf(X: np.ndarray, metric: str, *, nlist: int | None = None, target_recall: float = 0.99,
              recall_queries: int = RECALL_QUERIES, seed: int = 0, niter: int = 10,
              progress: Callable | None = None) -> IvfIndex:
    """Build an :class:`IvfIndex` over ``X`` (n, d) and tune ``nprobe`` to ``target_recall`` (measured).

    Parameters
    ----------
    X : ndarray (n, d) float
        Feature rows (not copied; the index keeps row ids only).
    metric : "cosine" | "l2"
    nlist : int, optional
        Number of lists (default :func:`default_nlist`).
    target_recall : float
        Smallest acceptable recall@10 against exact search; ``nprobe`` grows by half until it is reached (at worst
        ``nprobe = nlist``, which is exact).
    recall_queries : int
        Sample rows used as queries for the measurement (exact search costs one pass over ``X`` for all of them).
    """
    import faiss

    t0 = time.perf_counter()
    n, d = X.shape
    nlist = int(nlist or default_nlist(n))
    rng = np.random.default_rng(seed)
    # k-means on a sample: 32 rows per centroid is enough for coarse lists (faiss' own minimum is 39; the cost is
    # the sample size x nlist x d per iteration)
    sample = np.sort(rng.choice(n, size=min(n, 32 * nlist), replace=False))
    if progress:
        progress(0, 3, f"training {nlist} IVF lists")
    km = faiss.Kmeans(d, nlist, niter=niter, seed=seed, spherical=(metric == "cosine"),
                      max_points_per_centroid=1 << 30, min_points_per_centroid=1)
    km.train(prepare(X[sample], metric))
    centroids = np.ascontiguousarray(km.centroids, dtype=np.float32)
    index = IvfIndex(metric=metric, centroids=centroids, offsets=np.zeros(nlist + 1, np.int64),
                     members=np.zeros(0, np.int64), nprobe=1, recall_at_10=0.0, recall_queries=0)
    if progress:
        progress(1, 3, "assigning rows to lists")
    lists = _assign(X, metric, index.quantizer())
    index.members = np.argsort(lists, kind="stable").astype(np.int64)
    np.cumsum(np.bincount(lists, minlength=nlist), out=index.offsets[1:])
    del lists
    if progress:
        progress(2, 3, "measuring recall@10 against exact search")
    queries = np.sort(rng.choice(n, size=min(n, recall_queries), replace=False))
    k = min(RECALL_K, n - 1)
    curve: dict[int, float] = {}
    if k > 0:
        truth = exact_topk(X, queries, k, metric)
        npb = 1
        while True:
            curve.update(measure_recall(index, X, queries, [npb], k, truth))
            if curve[npb] >= target_recall or npb >= nlist:
                break
            npb = min(nlist, max(npb + 1, (npb * 3) // 2))  # 1, 2, 3, 4, 6, 9, 13, ...: little overshoot
    else:
        npb, curve = nlist, {nlist: 1.0}
    index.nprobe, index.recall_at_10, index.recall_queries = npb, curve[npb], len(queries)
    index.recall_curve = curve
    index.build_seconds = time.perf_counter() - t0
    if progress:
        progress(3, 3, f"IVF ready: recall@10 {curve[npb]:.3f} at nprobe {npb}")
    return index


# ---------------------------------------------------------------------------------------------------------- search
def ivf_topk(index: IvfIndex, features, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` closest rows of ``features`` to each query vector, by the method's own scores.

    Parameters
    ----------
    features : core.encoding.Features
        The rows the index was built over.
    queries : ndarray (m, d)
        Query feature vectors (same method and parameters).

    Returns
    -------
    ids : ndarray (m, k) int64, -1 where fewer than ``k`` candidates were found
    scores : ndarray (m, k) float64, the method's ``pairwise`` scores (NaN where ids is -1)
    """
    m = features.method
    Q = np.asarray(queries).reshape(len(queries), -1)
    own = index.assign(prepare(Q, index.metric))
    ids = np.full((len(Q), k), -1, np.int64)
    scores = np.full((len(Q), k), np.nan)
    for a in range(len(Q)):
        cand = index.candidates(own[a])  # dataset order, so ties rank as exact search ranks them
        if len(cand) == 0:
            continue
        s = features.pairwise(Q[a:a + 1], features.data[cand])[0]
        o = m.order(s)[:k]
        ids[a, :len(o)] = cand[o]
        scores[a, :len(o)] = s[o]
    return ids, scores


def _threshold_mask(C: np.ndarray, Qn: np.ndarray, Bn: np.ndarray, metric: str, threshold: float,
                     higher_is_closer: bool) -> np.ndarray:
    """Pairs whose float32 closeness may pass ``threshold`` once computed exactly (never drops a true match)."""
    d = Qn.shape[1]
    if metric == "cosine":
        err = 4.0 * d * U32 + 1e-6  # products of normalised float32 rows, plus the normalisation's own rounding
        return C >= threshold - err if higher_is_closer else C <= threshold + err
    # C = -squared distance; bound of the float32 expansion |q|^2 + |b|^2 - 2 q.b
    nq = (Qn * Qn).sum(1).astype(np.float64)[:, None]
    nb = (Bn * Bn).sum(1).astype(np.float64)[None, :]
    err = 8.0 * d * U32 * (nq + nb) + 1e-9
    return -C.astype(np.float64) <= max(threshold, 0.0) ** 2 + err


def ivf_pairs(index: IvfIndex, features, threshold: float, progress: Callable | None = None,
              block_bytes: int | None = None):
    """All pairs ``i < j`` within ``threshold`` found through the IVF lists, with the method's own scores.

    Returns (i, j, score) sorted by i then j, like :func:`core.search.pair_indices`. One block of float32 scores
    (and its float64 temporaries) stays within ``block_bytes`` (default: the ``DUPFINDER_BLOCK_BYTES`` budget).
    """
    from . import config

    block_bytes = block_bytes or config.budgets().block_bytes
    m, X = features.method, features.data
    metric = index.metric
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if len(X) < 2 or (metric == "l2" and threshold < 0):
        return empty
    I, J = [], []
    for c in range(index.nlist):
        members = index.members[index.offsets[c]:index.offsets[c + 1]]
        if len(members):
            # k-means lists are uneven: a big list and its candidates go in sub-blocks, so the prepared candidate
            # rows and one block of float32 scores (with its float64 temporaries) each stay within block_bytes
            cand_all = index.candidates(c)
            cstep = max(1, block_bytes // (4 * X.shape[1]))
            for b in range(0, len(cand_all), cstep):
                cand = cand_all[b:b + cstep]
                Bn = prepare(X[cand], metric)
                step = max(1, block_bytes // (8 * len(cand)))
                for s in range(0, len(members), step):
                    rows = members[s:s + step]
                    Qn = prepare(X[rows], metric)
                    C = _closeness32(Qn, Bn, metric)
                    r, k = np.nonzero(_threshold_mask(C, Qn, Bn, metric, threshold, m.higher_is_closer))
                    gi, gj = rows[r], cand[k]
                    keep = gi != gj
                    I.append(np.minimum(gi[keep], gj[keep]))
                    J.append(np.maximum(gi[keep], gj[keep]))
        if progress and (c % 64 == 0 or c == index.nlist - 1):
            progress(c + 1, index.nlist, "comparing all pairs (IVF)")
    if not I:
        return empty
    key = np.unique(np.concatenate(I) * len(X) + np.concatenate(J))  # each pair once (found from both sides)
    i, j = key // len(X), key % len(X)
    s = rescore_pairs(features, i, j)
    hit = np.asarray(m.is_match(s, threshold), dtype=bool)
    return i[hit], j[hit], s[hit]


def rescore_pairs(features, i: np.ndarray, j: np.ndarray, block: int = 256) -> np.ndarray:
    """The method's own ``pairwise`` score of each pair (i[k], j[k]); ``i`` sorted ascending.

    Rows are grouped by ``i``: one ``pairwise`` call per block of query rows, against the union of their partners.
    """
    out = np.empty(len(i), np.float64)
    if len(i) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
    X = features.data
    for b in range(0, len(starts), block):
        s0 = starts[b]
        s1 = starts[b + block] if b + block < len(starts) else len(i)
        ii, jj = i[s0:s1], j[s0:s1]
        ui, ri = np.unique(ii, return_inverse=True)
        uj, rj = np.unique(jj, return_inverse=True)
        S = features.pairwise(X[ui], X[uj])
        out[s0:s1] = S[ri, rj]
    return out
