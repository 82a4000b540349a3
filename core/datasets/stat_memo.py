"""The stat memo: folders skip reading a file unchanged since a previous load.

It maps (absolute path, size, mtime_ns, ctime_ns, inode) to the content hash and the probe's result, in the
feature cache's SQLite file (see :mod:`core.cache`; off when the cache is off, or inside :func:`no_stat_memo`).
Zips and uploads never use it, so their names are never stored.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar

from .builder import Probe

#: Bump when what a probe records changes (new verification checks, new formats): memo rows with another tag
#: are ignored, so files are read and checked again.
STAT_MEMO_VERSION = "2"  # 2: probe reads PNG orientation from the header only
#: A file modified less than this long before it was read is not memoised: within the file system's timestamp
#: granularity, a second write of the same size could keep the same mtime (git's "racily clean" problem).
RACY_NS = 2_000_000_000


class StatMemo:
    """(absolute path, size, mtime_ns, ctime_ns, inode) -> probe result, in the feature cache's SQLite file.

    Used only by :func:`core.datasets.folder.load_folder` (a local folder the user points at); zips and uploads
    never touch it. Any cache error makes loading fall back to reading every file.
    """

    def __init__(self, store, tag: str):
        self.store, self.tag = store, tag
        self.rows: dict[bytes, tuple] | None = None
        self.new: dict[bytes, tuple] = {}

    @classmethod
    def open(cls, max_pixels) -> "StatMemo | None":
        from .. import cache as _cache  # lazy: keeps sqlite out of `import core.datasets`

        if not _memo_enabled():
            return None
        try:
            store = _cache.default_cache()
        except Exception:  # unwritable cache dir, corrupt file: the memo is an optimisation only
            return None
        return cls(store, f"{STAT_MEMO_VERSION}:{max_pixels}") if store is not None else None

    @staticmethod
    def _key(full: str) -> bytes:
        return os.fsencode(os.path.abspath(full))

    def prefetch(self, fulls: list[str]) -> None:
        """Fetch the rows of every file of the walk in one batch."""
        try:
            self.rows = self.store.get_stats([self._key(f) for f in fulls])
        except Exception:
            self.rows = {}

    def lookup(self, full: str, st: os.stat_result) -> Probe | None:
        row = (self.rows or {}).get(self._key(full))
        if row is None:
            return None
        size, mtime, ctime, ino, tag, cid, fmt, w, h, reason = row
        if (size, mtime, ctime, ino, tag) != (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, self.tag):
            return None
        if reason is None and cid is None:
            return None
        return Probe(content_id=cid, format=fmt, width=int(w or 0), height=int(h or 0), reason=reason)

    def record(self, full: str, st: os.stat_result, probe: Probe) -> None:
        import time

        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS:
            return
        self.new[self._key(full)] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, self.tag,
                                     probe.content_id, probe.format, probe.width, probe.height, probe.reason)

    def save(self) -> None:
        try:
            self.store.put_stats(self.new)
        except Exception:
            pass


_MEMO_ON: ContextVar[bool] = ContextVar("dupfinder_stat_memo", default=True)


def _memo_enabled() -> bool:
    return _MEMO_ON.get()


@contextmanager
def no_stat_memo():
    """Within this block :func:`core.datasets.folder.load_folder` neither reads nor writes the stat memo
    (CLI ``--no-cache``)."""
    token = _MEMO_ON.set(False)
    try:
        yield
    finally:
        _MEMO_ON.reset(token)
