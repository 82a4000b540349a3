"""Search's second stage in the app: the first stage's pool re-ranked by local-feature verification.

Thin wrapper over :mod:`core.two_stage` (the same functions as ``python -m core search --verify``): the pool is
``max(top_k, neighbours)`` candidates of the method, each checked against the query, verified ones first. The
result is memoised per (dataset, method, query, pool) so a slider move never re-runs SIFT.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from core.encoding import Features
from core.search import search
from core.two_stage import dataset_store, rerank, search_pool

from .caching import features_key, memo

QUERY_KEY = ("query",)  # the query's key in the feature store (never an item name: those are strings)


def query_source(q: dict, dataset) -> object:
    """Where the query's pixels come from: the item's source, or the uploaded / demo bytes."""
    return dataset.by_name(q["name"]).source if q["kind"] == "dataset" else q["data"]


def query_id(q: dict) -> str:
    """A stable identity of the query for memo keys (its name in the set, or a hash of its bytes)."""
    return "item:" + q["name"] if q["kind"] == "dataset" else "sha:" + hashlib.sha256(q["data"]).hexdigest()


def ranking(dataset, features: Features, params: dict, row: np.ndarray, q: dict, threshold: float, top_k: int,
            exclude: str | None) -> pd.DataFrame:
    """``rank, name, score, match, inliers, verified, first_rank`` (see :func:`core.two_stage.rerank`).

    ``match`` is ``verified``; the threshold only decides the first stage's pool order, which does not depend on it,
    so it is not part of the memo key.
    """
    pool = search_pool(top_k)
    key = features_key(dataset, features.method, params) + ("verified-search", query_id(q), exclude, pool,
                                                             int(top_k))

    def compute() -> pd.DataFrame:
        first = search(row, features, threshold, top_k=pool, exclude=exclude)
        store = dataset_store(dataset.items, extra={QUERY_KEY: query_source(q, dataset)})
        return rerank(first, QUERY_KEY, store, top_k=top_k)

    return memo(key, compute)


__all__ = ["QUERY_KEY", "query_id", "query_source", "ranking"]
