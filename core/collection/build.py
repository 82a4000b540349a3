"""Build an index once, then update it: only images whose content is new are encoded.

The work is a *map over files* followed by a *write of feature files*, so another engine (e.g. Ray) can replace
the map without touching the rest:

1. scan: :func:`core.datasets.load` walks the root (the same names, limits and skip reasons as every other command;
   unchanged files are not even re-read when the feature cache's stat memo knows them), giving one
   :class:`~core.datasets.Item` (name, size, sha256, header facts) per usable image;
2. diff (update only): by name against the stored ``files.csv`` -> added / changed (content hash differs) /
   removed / unchanged (same hash, even if the file was touched);
3. map: an :data:`Engine` encodes the items whose *content* has no stored row (a renamed or copied file reuses the
   row of its content) -> rows and failures by content id. :func:`local_engine` is
   :func:`core.encoding.encode_dataset` (process pool, feature cache);
4. write: :func:`core.collection.store.write_index` (stored rows gathered by index, new rows appended in dataset
   order).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..datasets import Dataset, Item
from ..encoding import encode_dataset
from ..methods import Method, get
from . import store


@dataclass
class Encoded:
    """What an engine returns for a list of items: rows and failure reasons keyed by content id (sha256)."""

    rows: dict[str, np.ndarray]
    failed: dict[str, str]
    n_encoded: int = 0


#: The map over files: (items, method, resolved params) -> Encoded. Items have distinct content ids.
Engine = Callable[[Sequence[Item], Method, dict], Encoded]


def local_engine(cache: bool = True, progress=None, workers: int | None = None) -> Engine:
    """The engine of this machine: :func:`core.encoding.encode_dataset` (feature cache, process pool)."""

    def run(items: Sequence[Item], method: Method, params: dict) -> Encoded:
        feats = encode_dataset(list(items), method, params, cache=cache, progress=progress, workers=workers)
        by_name = {it.name: it.content_id for it in items}
        rows = {cid: feats.data[k] for k, cid in enumerate(feats.content_ids)}
        failed = {by_name[s.file]: s.reason for s in feats.skipped}
        return Encoded(rows, failed, feats.n_encoded)

    return run


@dataclass
class Report:
    """Counts of a build or an update (by file name) and the rows encoded per method directory."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    encoded: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed, "unchanged": self.unchanged}


def file_rows(items: Sequence[Item]) -> list[store.FileRow]:
    """The ``files.csv`` rows of loaded items (mtime from the file system; None for zip entries)."""
    out = []
    for it in items:
        mtime = None
        if it.path is not None:
            try:
                mtime = os.stat(it.path).st_mtime_ns
            except OSError:
                pass
        out.append(store.FileRow(it.name, int(it.size_bytes), mtime, it.content_id, int(it.width), int(it.height),
                                 it.format or ""))
    return out


def method_store(method: Method, params: dict[str, Any], items: Sequence[Item], engine: Engine,
                 old: store.MethodStore | None = None) -> tuple[store.MethodStore, int]:
    """The features of ``items`` for one method: stored rows reused by content id, the rest encoded by ``engine``.

    Returns the new store and the number of images handed to the engine (distinct contents).
    """
    p = method.resolve_params(params)
    key = method.params_key(p)
    if old is not None and old.params_key != key:
        old = None  # encoder or parameters changed: nothing stored is valid any more
    old_pos: dict[str, int] = {}
    old_fail: dict[str, str] = {}
    if old is not None:
        for k, sha in enumerate(old.sha256):
            old_pos.setdefault(sha, k)
        old_fail = {sha: reason for _, sha, reason in old.skipped}
    todo: dict[str, Item] = {}
    for it in items:
        if it.content_id not in old_pos and it.content_id not in old_fail:
            todo.setdefault(it.content_id, it)
    enc = engine(list(todo.values()), method, p) if todo else Encoded({}, {})
    failed = {**old_fail, **enc.failed}
    kept = [it for it in items if it.content_id in old_pos or it.content_id in enc.rows]
    if old is not None and old.data.ndim == 2 and old.data.shape[0]:
        dim, dtype = old.data.shape[1], old.data.dtype
    elif enc.rows:
        first = next(iter(enc.rows.values()))
        dim, dtype = first.shape[-1], first.dtype
    else:
        dim, dtype = 0, np.float32
    data = np.empty((len(kept), dim), dtype=dtype)
    reuse = np.array([it.content_id in old_pos for it in kept], dtype=bool)
    if reuse.any():  # one gather from the (memory-mapped) stored matrix
        data[reuse] = old.data[np.array([old_pos[it.content_id] for it in kept if it.content_id in old_pos])]
    for k in np.flatnonzero(~reuse):
        data[k] = enc.rows[kept[k].content_id]
    skipped = [(it.name, it.content_id, failed[it.content_id]) for it in items if it.content_id in failed]
    ms = store.MethodStore(method.name, p, key, data, [it.name for it in kept], [it.content_id for it in kept],
                           skipped)
    return ms, len(todo)


def _root_of(dataset: Dataset, given: str) -> str:
    return os.path.abspath(dataset.root if dataset.root else given)


def build(dataset: Dataset, specs: Sequence[tuple[Method, dict]], out: str | os.PathLike, *,
          root: str | None = None, engine: Engine | None = None) -> tuple[store.Index, Report]:
    """Encode ``dataset`` with every (method, params) of ``specs`` and write a new index into ``out``.

    ``root`` is the path the dataset was loaded from (recorded so ``update`` can re-scan it).
    """
    engine = engine or local_engine()
    items = list(dataset.items)
    rep = Report(added=len(items))
    methods = []
    for m, p in specs:
        ms, n = method_store(m, p, items, engine)
        rep.encoded[ms.dir] = n
        methods.append(ms)
    t = store.now()
    index = store.Index(root=_root_of(dataset, root or dataset.name), files=file_rows(items),
                        skipped=[(s.file, s.reason) for s in dataset.skipped], methods=methods, created=t,
                        updated=t, last_update={**rep.counts(), "encoded": sum(rep.encoded.values())})
    store.write_index(out, index)
    return index, rep


def diff(old: Sequence[store.FileRow], items: Sequence[Item]) -> Report:
    """Added / changed / removed / unchanged counts by name (changed = same name, other content hash)."""
    before = {r.name: r.sha256 for r in old}
    now = {it.name: it.content_id for it in items}
    rep = Report()
    for name, sha in now.items():
        if name not in before:
            rep.added += 1
        elif before[name] != sha:
            rep.changed += 1
        else:
            rep.unchanged += 1
    rep.removed = sum(1 for name in before if name not in now)
    return rep


def update(index_dir: str | os.PathLike, dataset: Dataset, *, engine: Engine | None = None
           ) -> tuple[store.Index, Report]:
    """Bring the index at ``index_dir`` up to date with ``dataset`` (the root re-scanned): encode only contents
    that have no stored row, drop removed files, keep the rows of the rest. Raises ValueError for a method the
    installed code no longer has."""
    engine = engine or local_engine()
    old = store.read_index(index_dir)
    items = list(dataset.items)
    rep = diff(old.files, items)
    methods = []
    for ms_old in old.methods:
        m = get(ms_old.method)
        ms, n = method_store(m, ms_old.params, items, engine, ms_old)
        rep.encoded[ms.dir] = n
        methods.append(ms)
    index = store.Index(root=old.root, files=file_rows(items), skipped=[(s.file, s.reason) for s in dataset.skipped],
                        methods=methods, created=old.created, updated=store.now(),
                        last_update={**rep.counts(), "encoded": sum(rep.encoded.values())})
    store.write_index(index_dir, index)
    return index, rep
