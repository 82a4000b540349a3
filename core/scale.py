"""Which index answers a search, by collection size: the policy between exact search and the scale back-ends.

* **Float features with an ANN metric** (``cnn-cosine``, ``cnn-euclidean``): exact block products below
  ``DUPFINDER_ANN_MIN`` rows (default 25,000, the measured crossover); from there all-pairs duplicates go through an
  :class:`core.ann.IvfIndex` built once per feature matrix (cached on the ``Features``), tuned to recall@10 >=
  ``DUPFINDER_ANN_RECALL`` (default 0.99) against exact search. Every score returned is the method's own
  ``pairwise`` score, so a threshold means the same thing on every path.
* **Packed hashes**: always exact. faiss ``IndexBinaryFlat`` range search (brute force), or, from
  ``DUPFINDER_MIH_MIN`` codes (default 50,000) and when its cost model beats brute force, the multi-index hashing
  join of :mod:`core.mih` (same pairs: exact by the pigeonhole principle).
* **A single query** (:func:`search_rows`) never builds an index: one exact pass over the rows costs far less than a
  build (100,000 x 1280: ~30 ms per query vs ~40 s to build). It uses an IVF index only when one is already built
  for those features (after an all-pairs run, or attached from a saved index with :func:`attach`).

Every answer can say which index gave it (:func:`pairs_info`, :func:`search_info`): the ``index`` field of the
CLI's JSON, ``{"kind": "exact" | "faiss-binary-flat" | "numpy-binary" | "multi-index-hashing" | "faiss-ivf",
"recall_at_10": 1.0 for exact kinds or the measured value, ...parameters}``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import ann, config, mih
from . import kernels as _kernels

#: A verification in the numpy MIH join costs about this many faiss brute-force popcounts (measured at 200,000
#: codes, radius 8: MIH 5.6 s for 1.5e8 modelled operations, IndexBinaryFlat 53 s for 2e10 pairs -> ~14).
MIH_COST_FACTOR = 16.0
#: Query rows from which :func:`nearest` builds an IVF index instead of exact passes (a build at 100,000 x 1280
#: costs about as much as ~1,000 exact single-query passes).
ANN_BUILD_QUERIES = 1_000

EXACT = {"kind": "exact", "recall_at_10": 1.0}


# ---------------------------------------------------------------------------------------------------------- hashes
def hamming_backend(n: int, nbytes: int, threshold: float) -> dict:
    """The exact Hamming all-pairs back-end for ``n`` codes of ``nbytes`` bytes at ``threshold`` bits."""
    r = int(np.floor(threshold))
    settings = config.scale_settings()
    if n >= settings.mih_min and nbytes <= 8 and r >= 0:
        m, cost = mih.best_chunks(n, 8 * nbytes, r)
        if MIH_COST_FACTOR * cost < n * (n - 1) / 2.0:
            return {"kind": "multi-index-hashing", "recall_at_10": 1.0, "exact": True, "chunks": m,
                    "flips_per_chunk": r // m}
    if _kernels.faiss_available():
        return {"kind": "faiss-binary-flat", "recall_at_10": 1.0, "exact": True}
    return {"kind": "numpy-binary", "recall_at_10": 1.0, "exact": True}


def hamming_pairs(X: np.ndarray, threshold: float, progress: Callable | None = None):
    """All pairs within ``threshold`` bits, exactly; (i, j, bits) sorted by i, j (brute force or MIH)."""
    info = hamming_backend(len(X), X.shape[1], threshold)
    if info["kind"] == "multi-index-hashing":
        return mih.mih_pairs(X, threshold, progress, m=info["chunks"])
    return _kernels.hamming_pairs(X, threshold, progress)


# ---------------------------------------------------------------------------------------------------------- floats
def _cache(features) -> dict:
    # the per-Features cache of derived kernel data documented on core.encoding.Features (shared with core.kernels)
    return features._kernel_cache


def cached_ivf(features) -> ann.IvfIndex | None:
    """The IVF index built for (or attached to) exactly this feature matrix, if any."""
    hit = _cache(features).get("ivf")
    if hit is not None and hit[0] is features.data and hit[1].n == len(features.data):
        return hit[1]
    return None


def attach(features, index: ann.IvfIndex) -> None:
    """Use ``index`` (e.g. loaded from a saved collection index) for these features from now on."""
    if index.n != len(features.data):
        raise ValueError(f"the IVF index covers {index.n} rows, the features have {len(features.data)}")
    _cache(features)["ivf"] = (features.data, index)


def ann_applies(features) -> bool:
    """True when all-pairs search of these features goes through the IVF index (size and metric)."""
    X = features.data
    return (ann.metric_for(features.method) is not None and X.ndim == 2 and np.issubdtype(X.dtype, np.floating)
            and (cached_ivf(features) is not None or len(X) >= config.scale_settings().ann_min)
            and _kernels.faiss_available())


def ivf_for(features, progress: Callable | None = None) -> ann.IvfIndex:
    """The IVF index of ``features``: cached, or built now (recall target ``DUPFINDER_ANN_RECALL``) and cached."""
    idx = cached_ivf(features)
    if idx is None:
        idx = ann.build_ivf(features.data, ann.metric_for(features.method),
                            target_recall=config.scale_settings().ann_recall, progress=progress)
        attach(features, idx)
    return idx


def ann_pairs(features, threshold: float, progress: Callable | None = None):
    """All pairs within ``threshold`` through the IVF index, scored by the method's ``pairwise``."""
    return ann.ivf_pairs(ivf_for(features, progress), features, threshold, progress)


# ---------------------------------------------------------------------------------------------------------- reports
def pairs_info(features, threshold: float) -> dict:
    """Which index answers (or answered) the all-pairs search of ``features`` at ``threshold``."""
    from .search import PAIRS_FAST_MIN  # the exact Hamming kernel's own size floor

    X = features.data
    if ann_applies(features):
        idx = cached_ivf(features)
        return idx.describe() if idx is not None else {"kind": "faiss-ivf", "recall_at_10": None}
    from .methods.hashing import hamming_pairwise

    if (features.method.pairwise is hamming_pairwise and X.dtype == np.uint8 and X.ndim == 2
            and len(X) >= PAIRS_FAST_MIN and np.isfinite(threshold) and threshold < 8 * X.shape[1] / 2):
        return hamming_backend(len(X), X.shape[1], threshold)
    return dict(EXACT)


def index_line(info: dict) -> str:
    """One human line for an ``index`` field, e.g. ``index faiss-ivf, recall@10 0.995 (nprobe 12 of 4000 lists)``."""
    if info.get("kind") == "faiss-ivf":
        return (f"index faiss-ivf, measured recall@10 {info.get('recall_at_10')} "
                f"(nprobe {info.get('nprobe')} of {info.get('nlist')} lists)")
    return f"index {info.get('kind')} (exact)"


def search_info(features) -> dict:
    """Which index answers one query against ``features`` (see :func:`search_rows`)."""
    idx = cached_ivf(features)
    return idx.describe() if idx is not None and ann_applies(features) else dict(EXACT)


# ---------------------------------------------------------------------------------------------------------- queries
def search_rows(features, query: np.ndarray, top_k: int | None, keep: np.ndarray | None):
    """(row ids, scores) of the ``top_k`` closest kept rows through an already built IVF index, else None.

    ``keep`` is a boolean mask of rows allowed in the answer (e.g. the query's own image excluded).
    """
    idx = cached_ivf(features)
    if top_k is None or idx is None or not ann_applies(features):
        return None
    k = max(0, int(top_k))
    dropped = 0 if keep is None else int(len(keep) - keep.sum())
    ids, s = ann.ivf_topk(idx, features, np.asarray(query).reshape(1, -1), k + dropped)
    ids, s = ids[0], s[0]
    ok = ids >= 0
    if keep is not None:
        ok &= keep[np.maximum(ids, 0)]
    return ids[ok][:k], s[ok][:k]


def nearest(features, queries: np.ndarray, k: int, *, index: ann.IvfIndex | None = None,
            progress: Callable | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The ``k`` closest rows of ``features`` to each query vector, with the index that answered.

    For callers that query a collection with many vectors at once (``index query``). The IVF index is used when
    given, already built for ``features``, or worth building (``len(features) >= DUPFINDER_ANN_MIN`` and at least
    :data:`ANN_BUILD_QUERIES` queries); otherwise exact search.

    Parameters
    ----------
    features : core.encoding.Features
    queries : ndarray (m, d)
        Encoded with the same method and parameters.
    k : int

    Returns
    -------
    ids : ndarray (m, k) int64 row ids of ``features``, closest first; -1 pads
    scores : ndarray (m, k) float64, the method's own ``pairwise`` scores; NaN pads
    info : dict, the ``index`` JSON field (kind, recall_at_10, parameters)
    """
    Q = np.asarray(queries)
    Q = Q.reshape(len(Q), -1)
    if index is not None:
        attach(features, index)
    if ann.metric_for(features.method) is not None and _kernels.faiss_available() and (
            cached_ivf(features) is not None
            or (len(features) >= config.scale_settings().ann_min and len(Q) >= ANN_BUILD_QUERIES)):
        idx = ivf_for(features, progress)
        ids, s = ann.ivf_topk(idx, features, Q, k)
        return ids, s, idx.describe()
    return (*exact_nearest(features, Q, k), dict(EXACT))


def exact_nearest(features, Q: np.ndarray, k: int, block_bytes: int | None = None):
    """Exact top-``k`` rows for each query row (blocks of queries; bounded memory): (ids, scores) as :func:`nearest`."""
    m, X = features.method, features.data
    n = len(X)
    ids = np.full((len(Q), k), -1, np.int64)
    scores = np.full((len(Q), k), np.nan)
    if n == 0 or k <= 0:
        return ids, scores
    step = max(1, (block_bytes or config.budgets().block_bytes) // (8 * n))
    for s in range(0, len(Q), step):
        S = features.pairwise(Q[s:s + step], X)
        for a in range(len(S)):
            o = m.order(S[a])[:k]
            ids[s + a, :len(o)] = o
            scores[s + a, :len(o)] = S[a, o]
    return ids, scores
