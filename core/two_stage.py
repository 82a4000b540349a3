"""Two-stage matching: a method's global score proposes candidates, local-feature geometry confirms them.

First stage (the method, unchanged, score in its own unit):

* **search**: the query's ``pool`` closest images, ``pool = max(top_k, neighbours)``;
* **all pairs**: every pair within the method's threshold, plus each image's ``neighbours`` closest images that
  are within the *candidate threshold* (:func:`candidate_threshold`), so copies the method scores too far apart
  (a crop to half the area, a re-shot) still reach the second stage while the number of checks stays about
  ``neighbours`` per image, whatever the collection size.

Second stage: :class:`core.verification.LocalFeatureStore` checks each candidate pair (features computed once per
image). Search results are re-ranked (verified first, the method's order kept within each part); duplicate pairs
are the verified candidates. The method's ``score`` is reported unchanged beside ``inliers`` and ``verified``.

The candidate threshold is derived from the method's threshold spec, the same way for every method: the default
threshold moved half-way towards the far end of the slider (:data:`LOOSENESS`), e.g. PDQ 31 -> 143.5 bits,
CNN + cosine 0.7 -> 0.35, aHash 12 -> 38 bits. Half-way is loose enough that the per-image neighbour cap, not the
threshold, bounds the work for most methods; it is not fitted to any data set.
"""
from __future__ import annotations

from typing import Callable, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import config
from .encoding import Features
from .images import open_image
from .methods.base import Method
from .search import pair_indices
from .verification import LocalFeatureStore, Verification, VerifyConfig

#: Share of the way from the default threshold to the far end of the slider that gives the candidate threshold.
LOOSENESS = 0.5
#: Rows of the all-pairs neighbour pass scored at once (bounded like :mod:`core.search`'s blocks).
BLOCK_BYTES = 32 << 20


def candidate_threshold(method: Method, params: Mapping | None = None) -> float:
    """The looser first-stage threshold for ``method`` (module docstring), in the method's unit."""
    spec = method.threshold_spec(params)
    if method.higher_is_closer:
        return float(spec.default - LOOSENESS * (spec.default - spec.min))
    return float(spec.default + LOOSENESS * (spec.max - spec.default))


def dataset_store(items: Sequence, cfg: VerifyConfig = VerifyConfig(), extra: Mapping[Hashable, object] | None = None
                  ) -> LocalFeatureStore:
    """A feature store whose keys are item names (plus ``extra`` key -> source, e.g. the query file).

    Images are re-opened from the items' sources (path or bytes), JPEGs drafted to the verification size.
    """
    sources: dict[Hashable, object] = {it.name: it.source for it in items}
    sources.update(extra or {})
    return LocalFeatureStore(lambda key: open_image(sources[key], target_size=cfg.max_side), cfg)


# ------------------------------------------------------------------------------------------------ search
def rerank(ranked: pd.DataFrame, query_key: Hashable, store: LocalFeatureStore, top_k: int | None = None
           ) -> pd.DataFrame:
    """Verify every row of a search result against the query and put the verified rows first.

    Parameters
    ----------
    ranked : DataFrame
        :func:`core.search.search` output (``rank, name, score, match``), closest first: the first stage.
    query_key : hashable
        The query's key in ``store``.
    top_k : int, optional
        Rows kept after re-ranking.

    Returns
    -------
    DataFrame
        ``rank, name, score, match, inliers, verified, first_rank``: ``match`` is ``verified`` (the geometric check
        decides), ``first_rank`` the row's rank in the first stage, ``score`` the method's own.
    """
    checks = [store.verify(query_key, n) for n in ranked["name"]]
    out = ranked.copy()
    out["first_rank"] = out["rank"].astype(np.int64)
    out["inliers"] = np.array([c.inliers for c in checks], dtype=np.int64)
    out["verified"] = np.array([c.verified for c in checks], dtype=bool)
    out["match"] = out["verified"]
    out = out.sort_values("verified", ascending=False, kind="stable").reset_index(drop=True)
    if top_k is not None:
        out = out.iloc[:max(0, int(top_k))].reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1, dtype=np.int64)
    return out


def search_pool(top_k: int | None) -> int:
    """First-stage candidates of a verified search: ``max(top_k, neighbours)``, at most ``verify_max_pool``
    (each candidate costs a decode + SIFT: a visitor's top-k must not buy thousands of them)."""
    return min(max(int(top_k or 0), config.verify_neighbours()), config.verify_max_pool())


# ------------------------------------------------------------------------------------------------ all pairs
def neighbour_pairs(features: Features, k: int, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each image's ``k`` closest other images that are within ``threshold``: unique pairs (i < j, score)."""
    m, X = features.method, features.data
    n = len(features)
    if n < 2 or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    k = min(k, n - 1)
    I, J, S = [], [], []
    step = max(1, min(n, BLOCK_BYTES // (8 * n)))
    for s in range(0, n, step):
        e = min(n, s + step)
        block = features.pairwise(X[s:e], X).astype(np.float64)
        close = m.closeness(block)
        close[np.arange(e - s), np.arange(s, e)] = -np.inf  # not itself
        nn = np.argpartition(-close, k - 1, axis=1)[:, :k]
        rows = np.repeat(np.arange(s, e), k)
        cols = nn.reshape(-1)
        sc = block[rows - s, cols]
        ok = np.asarray(m.is_match(sc, threshold), dtype=bool) & (cols != rows)
        I.append(np.minimum(rows, cols)[ok])
        J.append(np.maximum(rows, cols)[ok])
        S.append(sc[ok])
    i, j, sc = np.concatenate(I), np.concatenate(J), np.concatenate(S)
    key = i * n + j
    _, first = np.unique(key, return_index=True)
    return i[first], j[first], sc[first]


def candidate_pairs(features: Features, threshold: float, k: int | None = None, loose: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First stage of verified duplicates: pairs within ``threshold`` union each image's ``k`` nearest within the
    candidate threshold ``loose``. Unique (i < j), sorted by (i, j)."""
    m = features.method
    k = config.verify_neighbours() if k is None else k
    loose = candidate_threshold(m, features.params) if loose is None else loose
    i1, j1, s1 = pair_indices(features, threshold)
    i2, j2, s2 = neighbour_pairs(features, k, loose)
    n = max(1, len(features))
    i, j, s = np.concatenate([i1, i2]), np.concatenate([j1, j2]), np.concatenate([s1, s2])
    key = i * n + j
    _, first = np.unique(key, return_index=True)
    return i[first], j[first], s[first]


def verify_pairs(features: Features, i: np.ndarray, j: np.ndarray, store: LocalFeatureStore,
                 progress: Callable[[int, int, str], None] | None = None) -> list[Verification]:
    """Check the pairs (i, j) of ``features`` (store keys are the feature names)."""
    out = []
    for k, (a, b) in enumerate(zip(i.tolist(), j.tolist())):
        out.append(store.verify(features.names[a], features.names[b]))
        if progress and (k % 16 == 0 or k == len(i) - 1):
            progress(k + 1, len(i), "verifying candidate pairs")
    return out


def verified_pairs(features: Features, threshold: float, store: LocalFeatureStore, k: int | None = None,
                   progress=None) -> pd.DataFrame:
    """Candidates of :func:`candidate_pairs` with their check: DataFrame ``i, j, a, b, score, within, inliers,
    verified`` (``within`` = inside the method's own threshold), closest first by the method's score."""
    i, j, s = candidate_pairs(features, threshold, k)
    checks = verify_pairs(features, i, j, store, progress)
    names = np.asarray(features.names, dtype=object)
    df = pd.DataFrame({"i": i, "j": j, "a": names[i], "b": names[j], "score": s,
                       "within": np.asarray(features.method.is_match(s, threshold), dtype=bool),
                       "inliers": np.array([c.inliers for c in checks], dtype=np.int64),
                       "verified": np.array([c.verified for c in checks], dtype=bool)})
    return df.iloc[features.method.order(s)].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ evaluation
def _reranked_order(features: Features, q: int, store: LocalFeatureStore, pool: int) -> np.ndarray:
    """Other images ranked for query ``q``: the first ``pool`` by the method, verified first, then the rest."""
    m = features.method
    s = features.pairwise(features.data[q:q + 1], features.data)[0]
    others = np.flatnonzero(np.arange(len(s)) != q)
    ranked = others[m.order(s[others])]
    head, tail = ranked[:pool], ranked[pool:]
    ok = np.array([store.verify(features.names[q], features.names[t]).verified for t in head], dtype=bool)
    return np.concatenate([head[ok], head[~ok], tail])


def verified_metrics(features: Features, groups_by_name: Mapping[str, str | None], threshold: float,
                     store: LocalFeatureStore, k: int = 3, pool: int | None = None) -> dict:
    """The evaluation measures after verification, beside the method's own (:mod:`core.evaluation`).

    * ``accuracy`` / ``correct`` / ``total``: the article's precision@k on the re-ranked lists (query = first file
      of each group; the first ``pool`` candidates are verified and the verified ones moved first);
    * ``map``: mean average precision over every image with a group mate, same re-ranking;
    * ``pair_precision`` / ``pair_recall`` / ``pair_f1``: the verified candidate pairs (:func:`verified_pairs`)
      against all same-group pairs.
    """
    from .evaluation import article_queries, average_precision, group_codes

    pool = search_pool(k) if pool is None else pool
    codes = group_codes([groups_by_name.get(n) for n in features.names])
    n = len(codes)
    correct = 0
    queries = article_queries(features.names, codes)
    for q in queries:
        top = _reranked_order(features, int(q), store, pool)[:k]
        correct += int(np.sum(codes[top] == codes[q]))
    counts = pd.Series(codes).value_counts()
    aps = []
    for q in range(n):
        if codes[q] >= 0 and counts[codes[q]] >= 2:
            aps.append(average_precision(codes[_reranked_order(features, q, store, pool)] == codes[q]))
    pairs = verified_pairs(features, threshold, store)
    v = pairs[pairs["verified"]]
    tp = int(np.sum(codes[v["i"].to_numpy()] == codes[v["j"].to_numpy()]))
    fp = len(v) - tp
    n_pos = int(sum(c * (c - 1) // 2 for g, c in counts.items() if g >= 0))
    fn = n_pos - tp
    total = k * len(queries)
    return {"accuracy": correct / total if total else float("nan"), "correct": correct, "total": total,
            "map": float(np.nanmean(aps)) if aps else float("nan"),
            "pair_precision": tp / (tp + fp) if tp + fp else float("nan"),
            "pair_recall": tp / n_pos if n_pos else float("nan"),
            "pair_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
            "checked_pairs": int(len(pairs)), "verified_pairs": int(len(v))}
