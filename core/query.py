"""The query of a search, against a dataset: which image *is* the query file itself (issue 11, item 9), and which
images are truly the same picture as the query (its ground-truth group).

A query that is also in the searched set would come back as rank 1 with a perfect score and count as its own
match. It is recognised here and left out of the ranking and the match count by the callers
(:func:`core.search.search` with ``exclude=``). Byte-identical *other* files stay: those are real duplicates.
"""
from __future__ import annotations

import hashlib
import os
from typing import Sequence

from .demo import DEMO_QUERY_GROUP


def content_id(data: bytes) -> str:
    """The content hash datasets use for their items (``Item.content_id``): SHA-256 hex of the file bytes."""
    return hashlib.sha256(data).hexdigest()


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def self_item(items: Sequence, *, name: str | None = None, cid: str | None = None,
              path: str | os.PathLike | None = None) -> str | None:
    """Name of the item of ``items`` that is the query file itself, or None.

    Parameters
    ----------
    items : sequence of :class:`core.datasets.Item`
    name : str, optional
        The query's file name (an upload's name); compared by base name.
    cid : str, optional
        The query's content hash (:func:`content_id`).
    path : path, optional
        The query's file on disk (the CLI). An item whose file resolves to the same path is the query itself,
        whatever its bytes' twins elsewhere in the set.

    Returns
    -------
    str or None
        With a path and a set read from disk: the item at that resolved path. Otherwise: the first item with the same base name *and* the
        same content hash (another name with the same bytes is a real duplicate, not the query).
    """
    if path is not None:
        try:
            target = os.path.realpath(os.fspath(path))
        except (OSError, ValueError):
            target = None
        if target:
            on_disk = False
            for it in items:
                p = getattr(it, "path", None)
                on_disk = on_disk or bool(p)
                if p and os.path.realpath(p) == target:
                    return it.name
            if on_disk:  # a folder set: only the file itself is the query; a same-named copy is a duplicate
                return None
    if name and cid:
        base = _base(name)
        for it in items:
            if it.content_id == cid and _base(it.name) == base:
                return it.name
    return None


def query_group(dataset, *, name: str | None = None, demo: bool = False) -> str | None:
    """The ground-truth group of a query, or None when it is not known.

    Parameters
    ----------
    dataset : :class:`core.datasets.Dataset`
        The searched set; without labels no group is known.
    name : str, optional
        The query is this item of ``dataset`` (a pick from the set): its own group.
    demo : bool
        The query is the demo query (:func:`core.demo.demo_query_path`, a re-shot coffee cup that is in none of the
        demo sets): its known group :data:`core.demo.DEMO_QUERY_GROUP`.

    An uploaded query (neither) has no known group.
    """
    if not dataset.has_labels:
        return None
    if demo:
        return DEMO_QUERY_GROUP
    if name is not None:
        return next((it.group for it in dataset.items if it.name == name), None)
    return None


def same_picture(dataset, group: str | None) -> dict[str, bool]:
    """``{item name: whether it is truly the same picture as a query of ``group``}`` (the ground truth a ranking
    is judged by); empty when ``group`` is None (nothing is known)."""
    if group is None:
        return {}
    return {it.name: it.group == group for it in dataset.items}


__all__ = ["content_id", "query_group", "same_picture", "self_item"]
