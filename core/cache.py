"""Persistent feature cache: one SQLite file, rows keyed by (file content hash, method key).

The method key (:meth:`core.methods.base.Method.params_key`) holds the method name, its parameters and the
encoder's version, so changing any of them misses the cache instead of returning stale features. Only features
(small arrays) are stored — never pixels or file names — so the cache reveals nothing of the images themselves.

Location: ``$DUPFINDER_CACHE_DIR/features.sqlite`` or ``~/.cache/dupfinder/features.sqlite``;
``DUPFINDER_NO_CACHE=1`` (or ``cache=False`` in the API, ``--no-cache`` in the CLI) turns it off.
"""
from __future__ import annotations

import io
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable

import numpy as np


def cache_dir() -> Path:
    """The user's cache directory for this project (created on demand by writers)."""
    env = os.environ.get("DUPFINDER_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dupfinder"


def cache_disabled_by_env() -> bool:
    return os.environ.get("DUPFINDER_NO_CACHE", "").strip() not in ("", "0", "false", "no")


def _to_blob(row: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(row), allow_pickle=False)
    return buf.getvalue()


def _from_blob(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


class FeatureCache:
    """Thread-safe SQLite store of feature rows. ``get_many`` / ``put_many`` work in batches (one transaction)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else cache_dir() / "features.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS features (content_id TEXT NOT NULL, method_key TEXT NOT NULL,"
                               " value BLOB NOT NULL, PRIMARY KEY (content_id, method_key))")
            self._conn.commit()

    def get_many(self, content_ids: Iterable[str], method_key: str) -> dict[str, np.ndarray]:
        ids = list(dict.fromkeys(content_ids))
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for s in range(0, len(ids), 500):
                chunk = ids[s:s + 500]
                q = ("SELECT content_id, value FROM features WHERE method_key = ? AND content_id IN (%s)"
                     % ",".join("?" * len(chunk)))
                for cid, blob in self._conn.execute(q, [method_key, *chunk]):
                    out[cid] = _from_blob(blob)
        return out

    def put_many(self, rows: dict[str, np.ndarray], method_key: str) -> None:
        if not rows:
            return
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?)",
                                   [(cid, method_key, _to_blob(v)) for cid, v in rows.items()])
            self._conn.commit()

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM features").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM features")
            self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_default: FeatureCache | None = None
_default_lock = threading.Lock()


def default_cache() -> FeatureCache | None:
    """Process-wide cache at the default location, or None when disabled by ``DUPFINDER_NO_CACHE``."""
    global _default
    if cache_disabled_by_env():
        return None
    with _default_lock:
        want = cache_dir() / "features.sqlite"
        if _default is None or _default.path != want:
            _default = FeatureCache(want)
        return _default
