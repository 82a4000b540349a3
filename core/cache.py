"""Persistent feature cache: one SQLite file, rows keyed by (file content hash, method key).

The method key (:meth:`core.methods.base.Method.params_key`) holds the method name, its parameters and the
encoder's version, so changing any of them misses the cache instead of returning stale features. Only features
(small arrays) are stored in that table — never pixels or file names.

A second table, the *stat memo*, lets :func:`core.datasets.load_folder` skip re-reading, re-hashing and
re-verifying files that have not changed since the last load: (absolute path) -> (size, mtime_ns, ctime_ns, inode,
a tag for the probe version and pixel limit, content hash, format, width, height, skip reason). It holds the local
paths of *folders the user loaded from their own disk* (CLI, "Folder path" source) and nothing else: zips and
uploads never write to it. :meth:`FeatureCache.clear` empties both tables.

Location: ``$DUPFINDER_CACHE_DIR/features.sqlite`` or ``~/.cache/dupfinder/features.sqlite``;
``DUPFINDER_NO_CACHE=1`` (or ``cache=False`` in the API, ``--no-cache`` in the CLI) turns it off.

Size cap: the feature rows hold at most ``config.budgets().disk_cache_bytes`` (``DUPFINDER_DISK_CACHE_BYTES``).
Each row records its size and its last use (to the minute: a read rewrites a row's clock at most once a minute, so
reading stays cheap); when the rows written push the total past the cap, the least recently used rows are deleted
in one batch down to :data:`EVICT_TO` of the cap. An index on (last use, size) answers both the total and the
eviction order without reading the feature blobs. The file itself does not shrink (SQLite reuses the freed pages),
so it stays near its high-water mark of about the cap.
"""
from __future__ import annotations

import io
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from core import config


def cache_dir() -> Path:
    """The user's cache directory for this project (created on demand by writers); see :mod:`core.config`."""
    return config.cache_root()


def cache_disabled_by_env() -> bool:
    return config.cache_disabled()


def _to_blob(row: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(row), allow_pickle=False)
    return buf.getvalue()


def _from_blob(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


#: After an eviction the rows hold at most this share of the cap (evicting in batches, not one row per write).
EVICT_TO = 0.8
#: Bytes charged per row on top of its blob and keys (SQLite record and index overhead, roughly).
ROW_OVERHEAD = 64
#: The exact total is re-read from the index every this many writes (other processes write to the same file).
RESYNC_WRITES = 64


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class FeatureCache:
    """Thread-safe SQLite store of feature rows. ``get_many`` / ``put_many`` work in batches (one transaction).

    Parameters
    ----------
    path : path, optional
        The SQLite file (default: ``features.sqlite`` in :func:`cache_dir`).
    max_bytes : int, optional
        Size cap of the feature rows (default ``config.budgets().disk_cache_bytes``).
    """

    #: A read refreshes a row's last-use clock only when it is older than this (milliseconds).
    touch_every_ms = 60_000

    def __init__(self, path: str | os.PathLike | None = None, max_bytes: int | None = None):
        self.path = Path(path) if path is not None else cache_dir() / "features.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes) if max_bytes is not None else config.budgets().disk_cache_bytes
        self.evicted = 0
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS features (content_id TEXT NOT NULL, method_key TEXT NOT NULL,"
                               " value BLOB NOT NULL, PRIMARY KEY (content_id, method_key))")
            cols = {r[1] for r in self._conn.execute("PRAGMA table_info(features)")}
            if "last_used" not in cols:  # a cache written before the size cap: add the columns, size the rows once
                self._conn.execute("ALTER TABLE features ADD COLUMN last_used INTEGER NOT NULL DEFAULT 0")
                self._conn.execute("ALTER TABLE features ADD COLUMN nbytes INTEGER NOT NULL DEFAULT 0")
                self._conn.execute("UPDATE features SET nbytes = length(value) + length(content_id) "
                                   f"+ length(method_key) + {ROW_OVERHEAD}")
            self._conn.execute("CREATE INDEX IF NOT EXISTS features_lru ON features (last_used, nbytes)")
            self._conn.execute("CREATE TABLE IF NOT EXISTS file_stats (path BLOB PRIMARY KEY, size INTEGER NOT NULL,"
                               " mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, ino INTEGER NOT NULL,"
                               " tag TEXT NOT NULL, content_id TEXT, format TEXT, width INTEGER, height INTEGER,"
                               " reason TEXT)")
            self._conn.commit()
            self._total = self._exact_total()
            self._writes = 0

    # -- stat memo (folder loads only) ---------------------------------------------------------------------------
    def get_stats(self, paths: Iterable[bytes]) -> dict[bytes, tuple]:
        """Memo rows for absolute paths (``os.fsencode``'d): ``path -> (size, mtime_ns, ctime_ns, ino, tag,
        content_id, format, width, height, reason)``; paths never stored are absent. The caller compares the stat
        fields with the file's current ``os.stat`` and ignores a row that differs."""
        keys = list(dict.fromkeys(paths))
        out: dict[bytes, tuple] = {}
        with self._lock:
            for s in range(0, len(keys), 500):
                chunk = keys[s:s + 500]
                q = ("SELECT path, size, mtime_ns, ctime_ns, ino, tag, content_id, format, width, height, reason "
                     "FROM file_stats WHERE path IN (%s)" % ",".join("?" * len(chunk)))
                for row in self._conn.execute(q, chunk):
                    out[bytes(row[0])] = tuple(row[1:])
        return out

    def put_stats(self, rows: dict[bytes, tuple]) -> None:
        """Store memo rows (same layout as :meth:`get_stats` returns), replacing older rows for the same path."""
        if not rows:
            return
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO file_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   [(p, *v) for p, v in rows.items()])
            self._conn.commit()

    def count_stats(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM file_stats").fetchone()[0])

    def get_many(self, content_ids: Iterable[str], method_key: str) -> dict[str, np.ndarray]:
        ids = list(dict.fromkeys(content_ids))
        out: dict[str, np.ndarray] = {}
        now = _now_ms()
        with self._lock:
            for s in range(0, len(ids), 500):
                chunk = ids[s:s + 500]
                marks = ",".join("?" * len(chunk))
                q = f"SELECT content_id, value FROM features WHERE method_key = ? AND content_id IN ({marks})"
                for cid, blob in self._conn.execute(q, [method_key, *chunk]):
                    out[cid] = _from_blob(blob)
                # the rows just read are the most recently used (rewritten at most once per touch_every_ms)
                self._conn.execute(f"UPDATE features SET last_used = ? WHERE method_key = ? AND content_id IN "
                                   f"({marks}) AND last_used < ?", [now, method_key, *chunk, now - self.touch_every_ms])
            self._conn.commit()
        return out

    def put_many(self, rows: dict[str, np.ndarray], method_key: str) -> None:
        if not rows:
            return
        now = _now_ms()
        recs = []
        for cid, v in rows.items():
            blob = _to_blob(v)
            recs.append((cid, method_key, blob, now, len(blob) + len(cid) + len(method_key) + ROW_OVERHEAD))
        with self._lock:
            self._conn.executemany("INSERT OR REPLACE INTO features (content_id, method_key, value, last_used, nbytes)"
                                   " VALUES (?, ?, ?, ?, ?)", recs)
            self._conn.commit()
            self._total += sum(r[4] for r in recs)  # an upper bound: a replaced row is counted twice until resync
            self._writes += 1
            if self._writes % RESYNC_WRITES == 0:
                self._total = self._exact_total()
            if self._total > self.max_bytes:
                self._evict()

    def _exact_total(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(SUM(nbytes), 0) FROM features").fetchone()[0])

    def _evict(self) -> None:
        """Delete least recently used rows (ties: oldest written) down to ``EVICT_TO`` of the cap. Holds the lock."""
        total = self._exact_total()
        if total > self.max_bytes:
            to_free = total - int(self.max_bytes * EVICT_TO)
            doomed, freed = [], 0
            for rowid, nb in self._conn.execute("SELECT rowid, nbytes FROM features ORDER BY last_used, rowid"):
                doomed.append((rowid,))
                freed += nb
                if freed >= to_free:
                    break
            self._conn.executemany("DELETE FROM features WHERE rowid = ?", doomed)
            self._conn.commit()
            self.evicted += len(doomed)
            total -= freed
        self._total = total

    def size_bytes(self) -> int:
        """Bytes of the feature rows as charged against the cap."""
        with self._lock:
            return self._exact_total()

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM features").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM features")
            self._conn.execute("DELETE FROM file_stats")
            self._conn.commit()
            self._total = 0

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
