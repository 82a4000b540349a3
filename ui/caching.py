"""The app's process-wide in-memory caches: least-recently-used dicts bounded in bytes (and, as a backstop, in
entries), shared by every session and safe to use from Streamlit's threads.

Bytes, not entries: one entry can be a 4 KB sweep table or a 500 MB feature matrix, so "48 entries" bounded
nothing. Sizes come from :func:`core.sizeof.nbytes`, measured once when an entry is stored. A value larger than
the whole budget is returned to its caller but not kept.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable

from core.sizeof import nbytes


class ByteLRU:
    """Thread-safe LRU dict holding at most ``max_bytes`` (by :func:`core.sizeof.nbytes`) and ``max_entries``.

    Attributes
    ----------
    total_bytes : int
        Bytes of the entries held now.
    evictions : int
        Entries dropped so far (to make room, or too large to keep).
    """

    def __init__(self, max_bytes: int, max_entries: int = 10_000):
        self.max_bytes = max(0, int(max_bytes))
        self.max_entries = max(1, int(max_entries))
        self._d: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.total_bytes = 0
        self.evictions = 0

    def get(self, key: Hashable, default=None):
        with self._lock:
            hit = self._d.get(key)
            if hit is None:
                return default
            self._d.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value, size: int | None = None) -> bool:
        """Store ``value`` (its size measured unless given); returns False when it is too large to keep."""
        size = nbytes(value) if size is None else int(size)  # measured outside the lock: deep sizes take time
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self.total_bytes -= old[1]
            if size > self.max_bytes:
                self.evictions += 1
                return False
            self._d[key] = (value, size)
            self.total_bytes += size
            while self._d and (self.total_bytes > self.max_bytes or len(self._d) > self.max_entries):
                _, (_, s) = self._d.popitem(last=False)
                self.total_bytes -= s
                self.evictions += 1
            return True

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._d

    def __len__(self) -> int:
        with self._lock:
            return len(self._d)


__all__ = ["ByteLRU"]
