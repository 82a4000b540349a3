"""Open a saved index as a :class:`core.datasets.Dataset` + :class:`core.encoding.Features` without touching an
image: what the app's "Saved index" source calls (the UI only calls this module).

* :func:`open_index` reads the manifest, ``files.csv`` and ``skipped.csv`` and memory-maps every feature matrix
  (:func:`.store.read_index`); nothing is decoded. Each indexed file becomes an ordinary :class:`core.datasets.Item`
  whose ``path`` points into the indexed folder and whose ``data`` is None, so an item is a name, header facts and a
  lazy loader (the file is read only when a page shows or inspects it). 100,000 items take about 60 MB.
* :func:`features` turns the stored rows of one method into :class:`core.encoding.Features` (no encoding; one
  object per method + parameter set and open index, so an IVF index built for it by :mod:`core.scale` is reused by
  every later search).
* :func:`live_source` says whether an indexed file can still be shown: it must pass the allow-list checks of
  :mod:`core.folder_access` and still have the size and modification time the index recorded; otherwise the caller
  shows a placeholder (missing, changed, or refused) instead of decoding something that no longer matches its
  features.
"""
from __future__ import annotations

import os
import posixpath
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .. import folder_access
from ..datasets import Dataset, DatasetError, Item, Skipped
from ..datasets.labels import GROUND_TRUTH
from ..encoding import Features
from ..methods import Method
from .query import NotInIndex, method_store
import numpy as np

from .store import (FILE_COLUMNS, FILES, Index, IndexFormatError, MethodStore, read_columns, read_index,
                    read_manifest, read_method_store)

#: Largest GROUND_TRUTH.csv read from the indexed folder (same order as DUPFINDER_MAX_CSV_BYTES' default).
MAX_LABEL_BYTES = 20 << 20

__all__ = ["IndexDataset", "IndexHandle", "NotInIndex", "features", "held_methods", "is_index", "live_source",
           "open_index", "param_sets"]


class IndexHandle:
    """What an opened index keeps beside its items: the manifest's method entries (each method's rows are read and
    memory-mapped when first asked for), each file's recorded modification time, the allow-list it was opened
    under, and the :class:`Features` made so far."""

    def __init__(self, index_dir: str, root: str, entries: list[dict], mtimes: dict[str, int | None],
                 roots: list | None, created: str = "", updated: str = ""):
        self.index_dir = index_dir
        self.root = root
        self.entries = entries
        #: one stand-in per entry (no rows) for :func:`core.collection.query.method_store`'s choice
        self.stubs = [MethodStore(e["method"], dict(e["params"]), e["params_key"], np.zeros((0, 0), np.uint8), [], [])
                      for e in entries]
        self.mtimes = mtimes
        self.roots = list(roots or [])
        self.created = created
        self.updated = updated
        self._features: dict[str, Features] = {}
        self._lock = threading.Lock()

    def methods(self) -> list[str]:
        """Method names held, in the order they were built."""
        return list(dict.fromkeys(e["method"] for e in self.entries))


@dataclass
class IndexDataset(Dataset):
    """A :class:`Dataset` read from a saved index (items are lazy: name, header facts, path)."""

    index_dir: str = ""
    handle: IndexHandle | None = field(default=None, repr=False, compare=False)


def is_index(dataset) -> bool:
    """True for a dataset opened by :func:`open_index` (its features come from the index, never from encoding)."""
    return isinstance(dataset, IndexDataset) and dataset.handle is not None


def _safe_name(name: str) -> bool:
    """A relative posix name that stays inside the indexed folder."""
    if not name or name[0] == "/" or "\\" in name or "\0" in name:
        return False
    if "." in name and ("/." in name or name[0] == "."):  # only then can a component be "." or ".."
        return posixpath.normpath(name) == name and not name.startswith("../") and name != ".."
    return "//" not in name and name[-1] != "/"


def _label_files(root: str, roots) -> dict[str, bytes]:
    """The indexed folder's GROUND_TRUTH.csv (for the "csv" labelling convention), if there is a small one.
    The name is matched case-insensitively elsewhere; here its two usual spellings are tried (listing a folder of
    millions of files to find it would cost more than the index)."""
    for name in (GROUND_TRUTH.upper().replace(".CSV", ".csv"), GROUND_TRUTH):
        p = os.path.join(root, name)
        if folder_access.refusal(p, roots):
            return {}
        why, st, target = folder_access.check_entry(p, roots)
        if why or st is None or st.st_size > MAX_LABEL_BYTES:
            continue
        try:
            with open(target, "rb") as f:
                return {name: f.read(MAX_LABEL_BYTES + 1)[:MAX_LABEL_BYTES]}
        except OSError:
            continue
    return {}


def open_index(path: str | os.PathLike, roots: Iterable | None = None) -> IndexDataset:
    """The index folder at ``path`` as a dataset; :class:`core.datasets.DatasetError` when it is refused.

    Parameters
    ----------
    path : index folder (holds ``manifest.json``)
    roots : allow-list (``core.config.allowed_roots()`` in the app); both the index folder and the indexed folder
        (the manifest's ``root``, where thumbnails are read) must be inside it.
    """
    roots = list(roots or [])
    why = folder_access.refusal(path, roots)  # before any stat: no existence oracle outside the allowed roots
    if why:
        raise DatasetError(f"index refused: {why}")
    real = folder_access.real_path(path)
    try:
        manifest = read_manifest(real)
        entries = [e for e in manifest.get("methods") or [] if isinstance(e, dict)]
        for e in entries:
            if not all(k in e for k in ("method", "params", "params_key", "dir", "rows")):
                raise IndexFormatError(f"damaged index {path}: a method entry lacks a field")
        index = read_index(real, mmap=True, files=False, methods=False)
        cols = read_columns(os.path.join(real, FILES), FILE_COLUMNS)
        rows = list(zip(cols[0], map(int, cols[1]), cols[2], cols[3], map(int, cols[4]), map(int, cols[5]), cols[6]))
    except IndexFormatError as e:
        raise DatasetError(str(e)) from None
    except (OSError, KeyError, ValueError) as e:
        raise DatasetError(f"damaged index {path}: {type(e).__name__}: {e}") from None
    del cols
    root = str(index.root or "")
    if root and folder_access.refusal(root, roots):
        raise DatasetError("the folder this index was built from is not inside a folder this server allows "
                           "(DUPFINDER_ALLOWED_ROOTS)")
    items, skipped, mtimes = [], [Skipped(n, r) for n, r in index.skipped], {}
    base = root.rstrip(os.sep) + os.sep if root else None
    for name, size, mtime, sha, width, height, fmt in rows:
        if not _safe_name(name):
            skipped.append(Skipped(name, "name leaves the indexed folder: not shown"))
            continue
        # safe posix names: the path is the root + the name (os.path.join per item cost ~1 s at 100,000)
        path = None if base is None else base + (name if os.sep == "/" else name.replace("/", os.sep))
        items.append(Item(name, sha, size, width, height, fmt, None, path))
        mtimes[name] = int(mtime) if mtime else None
    del rows
    handle = IndexHandle(real, root, entries, mtimes, roots, index.created, index.updated)
    name = (os.path.basename(root.rstrip("/")) or os.path.basename(real.rstrip("/")) or "index") + " (saved index)"
    return IndexDataset(name=name, items=items, skipped=skipped, files_given=len(items) + len(skipped),
                        root=root or None, label_files=_label_files(root, roots) if root else {},
                        index_dir=real, handle=handle)


def held_methods(dataset) -> list[str]:
    """Method names the index holds features for (empty for another dataset)."""
    return dataset.handle.methods() if is_index(dataset) else []


def param_sets(dataset, method: Method) -> list[dict[str, Any]]:
    """The resolved parameter sets of ``method`` stored in the index (usually one)."""
    if not is_index(dataset):
        return []
    out = []
    for ms in dataset.handle.stubs:
        if ms.method == method.name:
            try:
                out.append(method.resolve_params(ms.params))
            except ValueError:
                continue
    return out


def features(dataset: IndexDataset, method: Method, params: Mapping[str, Any] | None = None) -> Features:
    """The stored rows of ``method`` (+ ``params``) as :class:`Features`; :class:`NotInIndex` when the index has
    none (or they were made by another encoder version). Never encodes, never opens an image."""
    h = dataset.handle
    stub = method_store(Index(root=h.root, files=[], skipped=[], methods=h.stubs), method, params or None)
    key = f"{stub.dir}|{method.params_key(stub.params)}"
    with h._lock:
        hit = h._features.get(key)
        if hit is None:
            try:
                k = next(k for k, s in enumerate(h.stubs) if s is stub)
                ms = read_method_store(h.index_dir, h.entries[k], mmap=True)
            except IndexFormatError as e:
                raise NotInIndex(f"its {method.name} features cannot be read ({e})") from None
            hit = Features(method=method, params=method.resolve_params(ms.params), data=ms.data, names=list(ms.names),
                           content_ids=list(ms.sha256), skipped=[Skipped(n, r) for n, _, r in ms.skipped])
            hit.index_dir = h.index_dir  # type: ignore[attr-defined]  # captions: "read from the saved index"
            h._features[key] = hit
        return hit


#: Placeholder reasons (short: they are drawn on the thumbnail).
MISSING, CHANGED, REFUSED = "missing on disk", "changed since indexed", "not allowed"


def live_source(dataset, item: Item) -> tuple[Any, str | None]:
    """(what :func:`core.images.open_image` takes, None), or (None, why) when an indexed file may not be shown.

    Any other dataset: ``(item.source, None)``. For an index: the file must pass :func:`core.folder_access.
    check_entry` under the index's allow-list and still have the recorded size and modification time (one
    ``stat``, no read): a file replaced since the index was built would show pixels its features do not describe.
    """
    if not is_index(dataset) or item.path is None:
        return item.source, None
    h = dataset.handle
    if h.roots and folder_access.refusal(item.path, h.roots):
        return None, REFUSED
    why, st, target = folder_access.check_entry(item.path, h.roots)
    if why:
        return None, MISSING if why.startswith(("unreadable", "broken")) else REFUSED
    recorded = h.mtimes.get(item.name)
    if st.st_size != item.size_bytes or (recorded is not None and st.st_mtime_ns != recorded):
        return None, CHANGED
    return target, None
