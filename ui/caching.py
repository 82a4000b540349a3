"""The app's process-wide in-memory caches and their keys.

* :class:`ByteLRU`: least-recently-used dicts bounded in bytes (and, as a backstop, in entries), shared by every
  session and safe to use from Streamlit's threads. Bytes, not entries: one entry can be a 4 KB sweep table or a
  500 MB feature matrix, so "48 entries" bounded nothing. Sizes come from :func:`core.sizeof.nbytes`, measured once
  when an entry is stored. A value larger than the whole budget is returned to its caller but not kept.
* the two stores (:func:`feature_store` for feature matrices, :func:`memo` for derived results), sized by
  ``core.config.budgets()``;
* the keys: :func:`dataset_fingerprint` (a dataset's content), :func:`features_key`, :func:`labels_key`. Keys are
  content hashes, so one user can only hit an entry for data they hold themselves;
* :class:`ObjectNotes`: what the UI knows about a core object (a dataset's fingerprint, when features were
  encoded), kept beside the object, never set on it.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Hashable

import streamlit as st

from core import config
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


class ObjectNotes:
    """One note per live object, held beside it: the UI's own facts about core objects without attributes bolted
    onto them. Keyed by identity (a dataset or a feature set need not be hashable); a note goes when its object is
    garbage-collected, so an id reused by a later object never finds a stale note. Thread-safe."""

    def __init__(self) -> None:
        self._d: dict[int, Any] = {}
        self._lock = threading.Lock()

    def get(self, obj, default=None):
        with self._lock:
            return self._d.get(id(obj), default)

    def put(self, obj, note) -> None:
        key = id(obj)
        with self._lock:
            new = key not in self._d
            self._d[key] = note
        if new:
            weakref.finalize(obj, self._drop, key).atexit = False

    def _drop(self, key: int) -> None:
        with self._lock:
            self._d.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._d)


# ------------------------------------------------------------------------------------------------ the stores
@st.cache_resource(show_spinner=False)
def feature_store() -> ByteLRU:
    """Feature matrices, keyed by :func:`features_key` (see :func:`ui.features.cached_features`)."""
    b = config.budgets()
    return ByteLRU(b.ui_feature_bytes, b.ui_feature_entries)


@st.cache_resource(show_spinner=False)
def _result_store() -> ByteLRU:
    b = config.budgets()
    return ByteLRU(b.ui_result_bytes, b.ui_result_entries)


_MISS = object()


def memo(key: tuple, compute: Callable[[], Any]) -> Any:
    """Process-wide memo of a derived result (duplicates at a threshold, a sweep, ...). ``key`` must include
    the dataset fingerprint and method key so it never crosses datasets."""
    store = _result_store()
    hit = store.get(key, _MISS)
    if hit is not _MISS:
        return hit
    value = compute()
    store.put(key, value)
    return value


# ------------------------------------------------------------------------------------------------ the keys
_fingerprints = ObjectNotes()  # dataset -> (number of items, fingerprint)


def dataset_fingerprint(dataset) -> str:
    """Stable id of a dataset's *content*: sha256 over (name, content hash) of its items, in order."""
    cached = _fingerprints.get(dataset)
    if cached and cached[0] == len(dataset.items):
        return cached[1]
    h = hashlib.sha256()
    for it in dataset.items:
        h.update(it.name.encode("utf-8", "surrogatepass") + b"\0" + it.content_id.encode() + b"\n")
    fp = h.hexdigest()[:20]
    _fingerprints.put(dataset, (len(dataset.items), fp))
    return fp


def features_key(dataset, method, params: dict | None) -> tuple:
    """Key of the features of ``dataset`` for ``method`` + ``params``, and the prefix of every :func:`memo` key of
    a result derived from them."""
    return (dataset_fingerprint(dataset), method.params_key(params))


def labels_key(dataset) -> str:
    """Stable id of a dataset's ground truth (name and group of each item): part of the key of a labelled result."""
    h = hashlib.sha256()
    for it in dataset.items:
        h.update(f"{it.name}\0{it.group}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


__all__ = ["ByteLRU", "ObjectNotes", "dataset_fingerprint", "feature_store", "features_key", "labels_key", "memo"]
