"""Reading and writing the index folder (the format is documented in :mod:`core.collection`)."""
from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "dupfinder-index"
VERSION = 1
MANIFEST = "manifest.json"
FILES = "files.csv"
SKIPPED = "skipped.csv"
FEATURES_DIR = "features"
FILE_COLUMNS = ("name", "size", "mtime_ns", "sha256", "width", "height", "format")


class IndexFormatError(Exception):
    """Not an index folder, an unknown version, or files that disagree with the manifest."""


@dataclass(frozen=True)
class FileRow:
    """One usable image of the indexed dataset (a line of ``files.csv``)."""

    name: str
    size: int
    mtime_ns: int | None
    sha256: str
    width: int
    height: int
    format: str


@dataclass
class MethodStore:
    """The features of one method + parameter set: ``data`` row k is the image ``names[k]`` (content ``sha256[k]``).

    ``skipped`` holds (name, sha256, reason) of images the method could not decode.
    """

    method: str
    params: dict[str, Any]
    params_key: str
    data: np.ndarray
    names: list[str]
    sha256: list[str]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (name, sha256, reason)

    @property
    def dir(self) -> str:
        return method_dir(self.method, self.params_key)


@dataclass
class Index:
    """An index folder in memory (features are memory-mapped when read)."""

    root: str
    files: list[FileRow]
    skipped: list[tuple[str, str]]
    methods: list[MethodStore]
    created: str = ""
    updated: str = ""
    last_update: dict[str, int] = field(default_factory=dict)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def method_dir(method: str, params_key: str) -> str:
    """Folder name of one method + parameter set: the method name and a short hash of its parameter key."""
    return f"{method}-{hashlib.sha256(params_key.encode()).hexdigest()[:12]}"


# ---------------------------------------------------------------------------------------------------------------
# writing (temporary name + rename: a reader never sees a half-written file)
# ---------------------------------------------------------------------------------------------------------------
def _replace_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_csv(path: Path, header, rows) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def read_columns(path: str | os.PathLike, columns: tuple[str, ...]) -> list[list[str]]:
    """The named columns of a CSV with a header row, each as a list (``csv.reader``: no dict per row, ~3x faster
    than :func:`_read_csv` on a 100,000-row files list). KeyError for a missing column."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, [])
        pos = [header.index(c) if c in header else None for c in columns]
        missing = [c for c, p in zip(columns, pos) if p is None]
        if missing:
            raise KeyError(missing[0])
        cols: list[list[str]] = [[] for _ in columns]
        width = max(pos) + 1 if pos else 0
        for r in rows:
            if len(r) < width:  # a short row: DictReader filled None; here the field is empty
                r = r + [""] * (width - len(r))
            for out, p in zip(cols, pos):
                out.append(r[p])
    return cols


def write_index(out: str | os.PathLike, index: Index) -> None:
    """Write ``index`` into ``out`` (created if missing); feature folders of methods no longer listed are left
    alone but no longer referenced by the manifest."""
    out = Path(out)
    (out / FEATURES_DIR).mkdir(parents=True, exist_ok=True)
    _write_csv(out / FILES, FILE_COLUMNS,
               [(r.name, r.size, "" if r.mtime_ns is None else r.mtime_ns, r.sha256, r.width, r.height, r.format)
                for r in index.files])
    _write_csv(out / SKIPPED, ("name", "reason"), index.skipped)
    entries = []
    for ms in index.methods:
        d = out / FEATURES_DIR / ms.dir
        d.mkdir(exist_ok=True)
        _replace_write(d / "features.npy", lambda f, X=ms.data: np.save(f, np.ascontiguousarray(X)))
        _write_csv(d / "files.csv", ("name", "sha256"), zip(ms.names, ms.sha256))
        _write_csv(d / "skipped.csv", ("name", "sha256", "reason"), ms.skipped)
        entries.append({"method": ms.method, "params": ms.params, "params_key": ms.params_key, "dir": ms.dir,
                        "rows": int(ms.data.shape[0]), "dim": int(ms.data.shape[1]) if ms.data.ndim == 2 else 0,
                        "dtype": str(ms.data.dtype), "skipped": len(ms.skipped)})
    manifest = {"format": FORMAT, "version": VERSION, "root": index.root, "created": index.created or now(),
                "updated": index.updated or now(), "files": len(index.files), "skipped": len(index.skipped),
                "methods": entries, "last_update": index.last_update}
    _replace_write(out / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=2, default=str).encode()))


# ---------------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------------
def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of the index at ``path``; :class:`IndexFormatError` if it is not a version-1 index."""
    p = Path(path) / MANIFEST
    if not p.is_file():
        raise IndexFormatError(f"not an index folder (no {MANIFEST}): {path}")
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexFormatError(f"unreadable {MANIFEST} in {path}: {e}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise IndexFormatError(f"{p} is not a dupfinder index manifest")
    if m.get("version") != VERSION:
        raise IndexFormatError(f"index version {m.get('version')!r} is not supported (this code reads {VERSION})")
    return m


def read_method_store(path: str | os.PathLike, entry: dict, *, mmap: bool = True) -> MethodStore:
    """One method's stored features (a ``methods`` entry of the manifest); :class:`IndexFormatError` if damaged."""
    path = Path(path)
    try:
        d = path / FEATURES_DIR / entry["dir"]
        data = np.load(d / "features.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        names, sha = read_columns(d / "files.csv", ("name", "sha256"))
        if len(names) != data.shape[0] or data.shape[0] != entry["rows"]:
            raise IndexFormatError(f"{d}: features.npy has {data.shape[0]} rows, files.csv {len(names)}, "
                                   f"the manifest {entry['rows']}")
        return MethodStore(entry["method"], dict(entry["params"]), entry["params_key"], data, names, sha,
                           [(r["name"], r["sha256"], r["reason"]) for r in _read_csv(d / "skipped.csv")])
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise IndexFormatError(f"damaged index {path}: {type(e).__name__}: {e}") from None


def read_index(path: str | os.PathLike, *, mmap: bool = True, files: bool = True, methods: bool = True) -> Index:
    """Read an index folder; feature matrices are memory-mapped (``mmap``) so opening a large index is cheap.

    ``files=False`` leaves ``Index.files`` empty and ``methods=False`` leaves ``Index.methods`` empty: a caller that
    reads ``files.csv`` itself with :func:`read_columns` and each method when it is first asked for with
    :func:`read_method_store` (the app's :mod:`.open`) does not pay for 100,000 :class:`FileRow` objects, nor for
    the name lists of methods nobody looks at."""
    path = Path(path)
    m = read_manifest(path)
    want_files, want_methods = files, methods
    try:
        files = []
        if want_files:
            cols = read_columns(path / FILES, FILE_COLUMNS)
            files = [FileRow(n, int(s), int(t) if t else None, h, int(w), int(ht), fmt)
                     for n, s, t, h, w, ht, fmt in zip(*cols)]
        skipped = [(r["name"], r["reason"]) for r in _read_csv(path / SKIPPED)]
        methods = [read_method_store(path, e, mmap=mmap) for e in m["methods"]] if want_methods else []
    except (OSError, KeyError, ValueError) as e:
        raise IndexFormatError(f"damaged index {path}: {type(e).__name__}: {e}") from None
    return Index(root=m["root"], files=files, skipped=skipped, methods=methods, created=m.get("created", ""),
                 updated=m.get("updated", ""), last_update=m.get("last_update", {}))
