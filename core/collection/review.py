"""The review of duplicate groups before a clean-up: each group's suggested keeper and why, chains, the user's
decisions, and the resulting plan as CSV / JSON / a zip of what stays.

Pure library code (the Review page and scripts call it). A :class:`ReviewGroup` is one duplicate group with its
suggested keeper (:func:`core.keeper.choose`, reason in plain words) and the members that are *not* within the
threshold of the keeper (a chain: A~B and B~C put A and C in one connected component although A and C are far
apart). :func:`final_plan` applies the user's decisions (another keeper, "not a duplicate") and returns the
:class:`core.collection.clean.PlannedGroup` s that :func:`core.collection.clean.apply` moves, or that the hosted
mode offers as a download.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..datasets import Dataset
from ..encoding import Features
from ..export import items_zip
from ..keeper import Candidate
from .clean import PlannedGroup
from .groups import keeper_groups


@dataclass(frozen=True)
class ReviewGroup:
    """One duplicate group as the Review page shows it.

    Attributes
    ----------
    gid : str
        Stable id within one grouping: the group's first member name (groups are disjoint).
    members : list of str
        Member names, dataset order.
    keeper : str
        The rule's suggestion.
    reason : str
        Why, in plain words (:func:`core.keeper.choose`).
    far : list of str
        Members not within the threshold of the suggested keeper (non-empty = a chained group).
    """

    gid: str
    members: list[str]
    keeper: str
    reason: str
    far: list[str]

    @property
    def chained(self) -> bool:
        return bool(self.far)


def far_from(features: Features, keeper: str, members: Sequence[str], threshold: float) -> list[str]:
    """Members of a group that are not within ``threshold`` of ``keeper`` (scores in the method's unit)."""
    rows = [features.index(n) for n in members]
    s = features.pairwise(features.data[[features.index(keeper)]], features.data[rows])[0]
    ok = np.asarray(features.method.is_match(s, threshold), dtype=bool)
    return [n for n, good in zip(members, ok) if not good and n != keeper]


def review_groups(dataset: Dataset, features: Features, i, j, threshold: float, *, rule: str = "original",
                  mode: str = "components", cands: Mapping[str, Candidate] | None = None
                  ) -> list[ReviewGroup]:
    """The duplicate groups of ``features`` (pairs (i, j) within ``threshold``) with keeper, reason and chain.

    Parameters
    ----------
    i, j : ndarray of int, shape (p,)
        Pairs of row positions within the threshold (:func:`core.search.pair_indices`).
    rule : one of :data:`core.keeper.RULES`
    mode : ``"components"`` (chains stay in one group, flagged) or ``"strict"`` (split around each keeper)
    cands : optional name -> Candidate, to reuse EXIF reads between calls
    """
    return [ReviewGroup(g.members[0], g.members, g.keeper, g.reason,
                        far_from(features, g.keeper, g.members, threshold))
            for g in keeper_groups(dataset, features.names, i, j, rule=rule, mode=mode, cands=cands)]


def final_plan(groups: Sequence[ReviewGroup], keepers: Mapping[str, str] | None = None,
               not_duplicates: set[str] | frozenset | None = None) -> list[PlannedGroup]:
    """What moves after the user's review.

    Parameters
    ----------
    keepers : gid -> member name chosen by the user (others: the suggestion)
    not_duplicates : gids the user marked "not a duplicate" (nothing of theirs moves)
    """
    keepers = keepers or {}
    skip = not_duplicates or set()
    out = []
    for g in groups:
        if g.gid in skip:
            continue
        keep = keepers.get(g.gid, g.keeper)
        if keep not in g.members:
            keep = g.keeper
        reason = g.reason if keep == g.keeper else f"chosen in the review (the rule suggested {g.keeper}: {g.reason})"
        out.append(PlannedGroup(keep, reason, [n for n in g.members if n != keep]))
    return out


def neutralise(cell) -> str:
    """A CSV text cell a spreadsheet shows as text (:func:`core.export.neutralise_formula`)."""
    from ..export import neutralise_formula

    return neutralise_formula("" if cell is None else str(cell))


def plan_csv(plan: Sequence[PlannedGroup]) -> bytes:
    """UTF-8 CSV ``group,action,name,keeper,reason`` (one row per image), cells neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["group", "action", "name", "keeper", "reason"])
    for gid, g in enumerate(plan, start=1):
        w.writerow([gid, "keep", neutralise(g.keep), neutralise(g.keep), neutralise(g.reason)])
        for n in g.move:
            w.writerow([gid, "move", neutralise(n), neutralise(g.keep), neutralise(g.reason)])
    return buf.getvalue().encode("utf-8")


def plan_json(plan: Sequence[PlannedGroup], **header) -> str:
    """``{..header, "groups": [{"keep", "reason", "move"}]}`` (the shape of ``clean --json``'s groups)."""
    return json.dumps({**header, "groups": [{"keep": g.keep, "reason": g.reason, "move": list(g.move)}
                                            for g in plan]}, indent=2, default=str)


def kept_names(dataset: Dataset, plan: Sequence[PlannedGroup]) -> list[str]:
    """Dataset names that stay after the plan (every image that is not moved), dataset order."""
    gone = {n for g in plan for n in g.move}
    return [it.name for it in dataset.items if it.name not in gone]


def kept_zip(dataset: Dataset, plan: Sequence[PlannedGroup]) -> bytes:
    """The cleaned set as zip bytes: every image that stays, original bytes, under its dataset name
    (:func:`core.export.items_zip`)."""
    return items_zip(dataset.by_name(name) for name in kept_names(dataset, plan))


__all__ = ["ReviewGroup", "far_from", "final_plan", "kept_names", "kept_zip",
           "neutralise", "plan_csv", "plan_json", "review_groups"]
