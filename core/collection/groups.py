"""Duplicate groups from pairs: connected components (today's behaviour) or strict groups around a keeper.

``components``: A~B and B~C put A, B and C in one group even when A and C are far apart (a chain).
``strict``: a group holds only its keeper and the images within the threshold of the keeper. Each connected
component is split: pick its keeper, take the keeper's direct neighbours, then repeat on what is left (as its own
components, so the leftovers may form groups of their own or stay alone).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # core.search pulls in pandas and scipy: imported when groups are built, not by the CLI parser
    from ..datasets import Dataset
    from ..keeper import Candidate
    from ..search import Duplicates

MODES = ("components", "strict")


@dataclass(frozen=True)
class Group:
    """One duplicate group: member positions (ascending) and the keeper's position (one of them)."""

    members: list[int]
    keeper: int


def _components(members: list[int], adj: dict[int, set[int]]) -> list[list[int]]:
    """Connected components of ``members`` using only edges between members (ascending lists, by first member)."""
    left = set(members)
    out = []
    for start in members:
        if start not in left:
            continue
        comp, stack = [], [start]
        left.discard(start)
        while stack:
            k = stack.pop()
            comp.append(k)
            for nb in adj.get(k, ()):
                if nb in left:
                    left.discard(nb)
                    stack.append(nb)
        out.append(sorted(comp))
    return out


def build_groups(n: int, i: np.ndarray, j: np.ndarray, pick: Callable[[list[int]], int],
                 mode: str = "components") -> list[Group]:
    """Groups (size >= 2) of ``n`` images linked by the pairs (i, j).

    Parameters
    ----------
    n : int
        Number of images (positions 0..n-1).
    i, j : ndarray of int, shape (p,)
        Pairs within the threshold.
    pick : callable(list of positions) -> position
        Chooses the keeper among a group's candidates (e.g. via :func:`core.keeper.choose`).
    mode : "components" or "strict"

    Returns
    -------
    list of Group, ordered by their first member.
    """
    from ..blocks import Components

    if mode not in MODES:
        raise ValueError(f"unknown grouping {mode!r}; valid: {', '.join(MODES)}")
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    uf = Components(n)
    uf.union(i, j)
    labels = uf.labels()
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]]) if n else np.zeros(0, np.int64)
    comps = [c.tolist() for c in np.split(order, bounds[1:])] if n else []
    comps = [c for c in comps if len(c) >= 2]
    groups: list[Group] = []
    if mode == "components":
        groups = [Group(sorted(c), int(pick(sorted(c)))) for c in comps]
    else:
        adj: dict[int, set[int]] = {}
        for a, b in zip(i.tolist(), j.tolist()):
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
        todo = [sorted(c) for c in comps]
        while todo:
            members = todo.pop()
            keeper = int(pick(members))
            near = [m for m in members if m == keeper or m in adj.get(keeper, ())]
            groups.append(Group(near, keeper))
            rest = [m for m in members if m not in set(near)]
            todo.extend(c for c in _components(rest, adj) if len(c) >= 2)
    return sorted(groups, key=lambda g: g.members[0])


@dataclass(frozen=True)
class KeptGroup:
    """One duplicate group by name: its members (dataset order), the rule's keeper and why, in plain words."""

    members: list[str]
    keeper: str
    reason: str


def keeper_groups(dataset: Dataset, names: Sequence[str], i, j, *, rule: str = "original",
                  mode: str = "components", cands: Mapping[str, Candidate] | None = None) -> list[KeptGroup]:
    """The duplicate groups of ``names`` (the encoded images; (i, j) their pairs within the threshold), each with
    the keeper :func:`core.keeper.choose` picks under ``rule`` and its reason. What ``python -m core clean`` plans
    and the Review page shows.

    Parameters
    ----------
    i, j : ndarray of int, shape (p,)
        Pairs of row positions within the threshold (:func:`core.search.pair_indices`).
    rule : one of :data:`core.keeper.RULES`
    mode : ``"components"`` (chains stay in one group) or ``"strict"`` (split around each keeper)
    cands : optional name -> :class:`core.keeper.Candidate`, to reuse EXIF reads between calls (not modified)
    """
    from .. import keeper

    keeper.steps(rule)  # ValueError for an unknown rule, before any work
    seen = dict(cands) if cands is not None else {}

    def cand(k: int) -> Candidate:
        if names[k] not in seen:  # each image's EXIF header read once
            seen[names[k]] = keeper.candidate(dataset.by_name(names[k]))
        return seen[names[k]]

    def pick(members: list[int]) -> int:
        return members[keeper.choose([cand(k) for k in members], rule)[0]]

    out = []
    for g in build_groups(len(names), i, j, pick, mode):
        # worded for the final group (in strict mode it can be smaller than the component the keeper won in;
        # the keeper of a set is also the keeper of any subset holding it, so only the wording changes)
        pos, why = keeper.choose([cand(k) for k in g.members], rule)
        assert g.members[pos] == g.keeper
        out.append(KeptGroup([names[k] for k in g.members], names[g.keeper], why))
    return out


def duplicates_regrouped(dup: Duplicates, names: Sequence[str], mode: str,
                         choose_keeper: Callable[[list[str]], str] | None = None) -> Duplicates:
    """``dup`` with its groups rebuilt in ``mode``, keeping :func:`core.search.find_duplicates`' keep suggestion
    (most pixels, then largest file, then dataset order) and its pairs; copies per image follow the new groups."""
    import pandas as pd

    from ..search import Duplicates

    if mode == "components":
        return dup
    pos = {name: k for k, name in enumerate(names)}
    i = np.array([pos[a] for a in dup.pairs["a"]], dtype=np.int64)
    j = np.array([pos[b] for b in dup.pairs["b"]], dtype=np.int64)
    facts = {r.name: (int(r.pixels), int(r.bytes)) for r in dup.groups.itertuples()}

    def pick(members: list[int]) -> int:
        if choose_keeper is not None:  # the caller's rule (core.keeper.chooser), as in find_duplicates
            chosen = choose_keeper([names[k] for k in members])
            return next(k for k in members if names[k] == chosen)
        return min(members, key=lambda k: (-facts[names[k]][0], -facts[names[k]][1], k))

    groups = build_groups(len(names), i, j, pick, mode)
    rows = [(gid, names[k], len(g.members), *facts[names[k]], k == g.keeper)
            for gid, g in enumerate(groups, start=1) for k in g.members]
    table = pd.DataFrame(rows, columns=["group_id", "name", "size", "pixels", "bytes", "keep"])
    copies = dict.fromkeys(names, 0)
    for g in groups:
        for k in g.members:
            copies[names[k]] = len(g.members) - 1
    return Duplicates(pairs=dup.pairs, groups=table,
                      copies=pd.DataFrame({"name": list(names), "copies": [copies[nm] for nm in names]}),
                      threshold=dup.threshold, n_images=dup.n_images, total_pairs=dup.total_pairs,
                      max_pairs=dup.max_pairs, index=dup.index)
