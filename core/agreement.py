"""Which methods agree? Tables for the dashboard's Compare-methods page (and any script).

Input everywhere: ``results`` = ``{method_label: DataFrame}`` where each DataFrame is a :func:`core.search.search`
result for the *same* query (columns ``rank, name, score, match``), already cut to the top-k.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd


def agreement_table(results: Mapping[str, pd.DataFrame], groups: Mapping[str, str | None] | None = None,
                    query_group: str | None = None) -> pd.DataFrame:
    """One row per image that any method ranks in its top-k.

    Returns
    -------
    DataFrame
        ``name``; per method ``<label>`` = its rank of the image (``<NA>`` if not in its top-k) and
        ``<label> match`` (bool: in its top-k *and* within its threshold); ``in_top_k`` (how many methods rank it),
        ``matched_by`` (how many call it a match); ``true_duplicate`` (bool) when ``groups`` and ``query_group`` are
        given. Sorted by ``matched_by``, ``in_top_k`` (desc) then best mean rank.
    """
    labels = list(results)
    names: list[str] = []
    for df in results.values():
        for n in df["name"]:
            if n not in names:
                names.append(n)
    out = pd.DataFrame({"name": names})
    for lab in labels:
        df = results[lab].set_index("name")
        out[lab] = pd.array([int(df.at[n, "rank"]) if n in df.index else None for n in names], dtype="Int64")
        out[f"{lab} match"] = [bool(df.at[n, "match"]) if n in df.index else False for n in names]
    rank_cols = out[labels] if labels else pd.DataFrame(index=out.index)
    out["in_top_k"] = rank_cols.notna().sum(axis=1).astype(int) if labels else 0
    out["matched_by"] = out[[f"{lab} match" for lab in labels]].sum(axis=1).astype(int) if labels else 0
    if groups is not None and query_group is not None:
        out["true_duplicate"] = [groups.get(n) == query_group for n in names]
    mean_rank = rank_cols.astype("float64").mean(axis=1, skipna=True) if labels else pd.Series(0.0, index=out.index)
    out = out.assign(_mr=mean_rank).sort_values(["matched_by", "in_top_k", "_mr", "name"],
                                                ascending=[False, False, True, True])
    return out.drop(columns="_mr").reset_index(drop=True)


def _jaccard(a: set, b: set) -> float:
    u = a | b
    return len(a & b) / len(u) if u else float("nan")


def pairwise_agreement(results: Mapping[str, pd.DataFrame], on: str = "top_k") -> pd.DataFrame:
    """Methods x methods Jaccard overlap of their top-k lists (``on="top_k"``) or of their match sets
    (``on="match"``); NaN where both sets are empty."""
    if on not in ("top_k", "match"):
        raise ValueError("on must be 'top_k' or 'match'")
    labels = list(results)
    sets = {lab: set(df["name"] if on == "top_k" else df.loc[df["match"].astype(bool), "name"])
            for lab, df in results.items()}
    m = np.full((len(labels), len(labels)), np.nan)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            m[i, j] = _jaccard(sets[a], sets[b])
    return pd.DataFrame(m, index=labels, columns=labels)


__all__ = ["agreement_table", "pairwise_agreement"]
