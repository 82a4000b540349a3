"""How many bytes a cached value holds: NumPy arrays, pandas objects, dataclasses and containers of them.

Used to bound in-memory caches in bytes rather than entries (one entry can be a 4 KB table or a 500 MB feature
matrix). Estimates, not exact accounting: arrays and DataFrames (``memory_usage(deep=True)``, which counts the
strings of object columns) dominate, and everything else is counted with :func:`sys.getsizeof` on the way down.
Shared objects are counted once per call; recursion stops at :data:`MAX_DEPTH`.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np

#: Containers nested deeper than this are counted by their own size only.
MAX_DEPTH = 8


def nbytes(obj) -> int:
    """Approximate bytes held by ``obj`` (arrays, DataFrames/Series, dataclasses, dicts, lists, tuples, sets)."""
    return _size(obj, set(), 0)


def _size(obj, seen: set, depth: int) -> int:
    if obj is None or isinstance(obj, (bool, int, float, complex)):
        return sys.getsizeof(obj)
    oid = id(obj)
    if oid in seen:
        return 0
    seen.add(oid)
    if isinstance(obj, np.ndarray):
        # a view is charged for what it keeps alive (its base), once
        base = obj.base if isinstance(obj.base, np.ndarray) else None
        if base is not None:
            if id(base) in seen:
                return 0
            seen.add(id(base))
            return int(base.nbytes)
        return int(obj.nbytes)
    if isinstance(obj, (str, bytes, bytearray, memoryview)):
        return sys.getsizeof(obj)
    mem = getattr(obj, "memory_usage", None)
    if callable(mem) and type(obj).__module__.startswith("pandas"):
        try:
            used = mem(deep=True)
        except TypeError:
            used = mem()
        return int(used.sum()) if hasattr(used, "sum") else int(used)
    if depth >= MAX_DEPTH:
        return sys.getsizeof(obj)
    if isinstance(obj, dict):
        return sys.getsizeof(obj) + sum(_size(k, seen, depth + 1) + _size(v, seen, depth + 1)
                                        for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sys.getsizeof(obj) + sum(_size(v, seen, depth + 1) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sys.getsizeof(obj) + sum(_size(getattr(obj, f.name, None), seen, depth + 1)
                                        for f in dataclasses.fields(obj))
    if callable(obj) or isinstance(obj, type):  # functions, classes, methods: shared code, not cached data
        return 0
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        return sys.getsizeof(obj) + _size(attrs, seen, depth + 1)
    return sys.getsizeof(obj)


__all__ = ["MAX_DEPTH", "nbytes"]
