"""Per-image quality of a method's features, and the images too weak to be matched on.

A method that rates its own features declares it in its record: ``extra["quality"]`` maps feature rows (n, d) to a
score per row (n,), and ``extra["min_quality"]`` is the cut below which a row is not matched (PDQ: quality 0..100,
cut 50, see :mod:`core.methods.pdq`). Near-flat images (a white page, a black frame) give hashes that are mostly
noise and "match" each other at random; such images are *flagged* (listed with their quality) and left out of the
search and the duplicate pairs, never silently dropped. Methods without the hook have no low-quality images.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .encoding import Features
from .methods.base import Method


def has_quality(method: Method) -> bool:
    """True if ``method`` rates its features."""
    return "quality" in method.extra


def quality_of(method: Method, rows: np.ndarray) -> np.ndarray | None:
    """Quality of each feature row, shape (n,), or None for methods without the hook."""
    fn = method.extra.get("quality")
    if fn is None:
        return None
    rows = np.asarray(rows)
    return fn(rows) if len(rows) else np.zeros(0, dtype=np.float64)


def low_quality_mask(method: Method, rows: np.ndarray) -> np.ndarray:
    """True for the rows below the method's ``min_quality``; all False for methods without the hook."""
    q = quality_of(method, rows)
    if q is None:
        return np.zeros(len(rows), dtype=bool)
    return q < float(method.extra.get("min_quality", 0))


def split_low_quality(features: Features) -> tuple[Features, list[dict]]:
    """Leave the low-quality rows out of ``features``.

    Returns
    -------
    kept : Features
        ``features`` itself when nothing is flagged, else a copy without the flagged rows (same order).
    flagged : list of dict
        ``{"name", "quality"}`` of each flagged image, in dataset order (JSON-ready).
    """
    low = low_quality_mask(features.method, features.data)
    if not low.any():
        return features, []
    q = quality_of(features.method, features.data)
    flagged = [{"name": features.names[i], "quality": float(q[i])} for i in np.flatnonzero(low)]
    keep = np.flatnonzero(~low)
    kept = dataclasses.replace(features, data=features.data[keep], names=[features.names[i] for i in keep],
                               content_ids=[features.content_ids[i] for i in keep])
    return kept, flagged
