"""Datasets: the images to compare (from a folder, a zip or uploads) and their ground truth.

A :class:`Dataset` is a sorted list of :class:`Item` (name, content hash, header facts, optional
group label, and where the bytes are) plus the list of :class:`Skipped` files with a reason.
Loading never raises for a bad *file*: every file given ends up as exactly one item or one
skipped entry (``files_given == len(items) + len(skipped)``). Only a refused *source* (missing
folder, not a zip, zip bomb) raises :class:`DatasetError`.

Loading is cheap: each file is read once to hash it, its header is probed and the common
truncations are checked (:func:`core.images.probe` with ``verify=True``); no pixels are decoded.
Folders skip even that for files unchanged since a previous load: a stat memo in the feature
cache's SQLite file maps (absolute path, size, mtime_ns, ctime_ns, inode) to the content hash and
the probe's result (see :mod:`core.cache`; off when the cache is off, or inside
:func:`no_stat_memo`). Zips and uploads never use it, so their names are never stored.
Zip entries are read in memory, streaming with a size cap, and never extracted to disk.

Ground-truth conventions (``labels``), see :func:`parse_labels`:

``consecutive:K``  items sorted by name, every K consecutive ones form a group (SFBench: K=4)
``folders``        the parent folder is the group (root items: None); in a zip whose entries all
                   sit in one top-level folder, that wrapper folder is ignored
``csv[:PATH]``     a CSV with columns ``file,group`` (default ``GROUND_TRUTH.csv`` at the root)
``none``           unlabelled

Limits (:class:`Limits`) are read from the environment when a ``Limits()`` is created; sizes
accept ``K``/``M``/``G``/``T`` suffixes (binary: ``2G`` = 2 GiB):

``DUPFINDER_MAX_FILES``             files examined per dataset (default 10000)
``DUPFINDER_MAX_TOTAL_BYTES``       total bytes of the items kept (default 2G)
``DUPFINDER_MAX_FILE_BYTES``        bytes per file (default 200M)
``DUPFINDER_MAX_ZIP_ENTRIES``       entries per zip, else the zip is refused (default 20000)
``DUPFINDER_MAX_ZIP_UNCOMPRESSED``  uncompressed bytes per zip (default 4G)
``DUPFINDER_MAX_ZIP_RATIO``         uncompressed/compressed ratio per entry (default 200)
``DUPFINDER_MAX_PIXELS``            decompression-bomb limit in pixels (default ~179 M)
``DUPFINDER_MAX_CSV_BYTES``         bytes per CSV file (default 20M); CSV files count toward the file and byte
                                   limits too, and the bytes kept for relabelling are bounded (see ``_Builder.csv``)
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import posixpath
import re
import stat
import struct
import zipfile
import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import config, folder_access, images, label_csv, zipdir
from .names import UniqueNames as _UniqueNames  # display-safe, relative, unique names (core.names)
from .names import normalise as _normalise
from .names import printable as _printable
from .names import unique as _unique

__all__ = [
    "Dataset", "DatasetError", "Item", "Limits", "Skipped", "apply_labels", "load", "load_files",
    "load_folder", "load_zip", "natural_key", "no_stat_memo", "parse_labels",
]

Progress = Callable[[int, int, str], None]

HIDDEN_REASON = "hidden/system file"
LABELS_REASON = "labels file (not an image)"
GROUND_TRUTH = "ground_truth.csv"  # compared case-insensitively
_SYSTEM_NAMES = {".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r", "__macosx",
                 "$recycle.bin", "system volume information"}
#: Entries below this uncompressed size are never refused for their compression ratio: a
#: uniform 1000x1000 BMP legitimately deflates ~1000:1, and 1 MiB cannot be a bomb on its own
#: (the archive-wide limit bounds the sum).
RATIO_FLOOR_BYTES = 1 << 20


class DatasetError(Exception):
    """A whole source was refused (missing, not a folder/zip, zip bomb, bad labels file)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


# --------------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------------
def _env(name: str, default, kind=int):
    return field(default_factory=lambda: config.env_number(name, default, kind))


@dataclass(frozen=True)
class Limits:
    """Safety limits for loading; defaults come from ``DUPFINDER_MAX_*`` env vars (module doc)."""

    max_files: int = _env("DUPFINDER_MAX_FILES", 10_000)
    max_total_bytes: int = _env("DUPFINDER_MAX_TOTAL_BYTES", 2 << 30)
    max_file_bytes: int = _env("DUPFINDER_MAX_FILE_BYTES", 200 << 20)
    max_zip_entries: int = _env("DUPFINDER_MAX_ZIP_ENTRIES", 20_000)
    max_zip_uncompressed: int = _env("DUPFINDER_MAX_ZIP_UNCOMPRESSED", 4 << 30)
    max_zip_ratio: float = _env("DUPFINDER_MAX_ZIP_RATIO", 200, float)
    max_pixels: int = _env("DUPFINDER_MAX_PIXELS", images.DEFAULT_MAX_PIXELS)
    #: bytes of one CSV file; also the bytes of CSV files a dataset keeps, per kind (labels files, other CSVs)
    max_csv_bytes: int = field(default_factory=lambda: config.budgets().max_csv_bytes)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" or n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


# --------------------------------------------------------------------------------------------
# data model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Skipped:
    """A file that was not used, and why (human-readable)."""

    file: str
    reason: str


@dataclass(frozen=True)
class Item:
    """One usable image of a dataset.

    Attributes
    ----------
    name : str
        Posix path relative to the dataset root (inside the zip for zips); unique in a dataset.
    content_id : str
        SHA-256 hex of the file bytes: the feature-cache key; identical files share it.
    size_bytes : int
        File size.
    width, height : int
        Pixel size after EXIF orientation (from the header).
    format : str
        Pillow format name ("JPEG", "PNG", "HEIF", ...).
    group : str or None
        Ground-truth group label, or None when unlabelled.
    path : str or None
        File on disk (folders).
    data : bytes or None
        The raw (still compressed) file bytes, for zips and uploads.
    """

    name: str
    content_id: str
    size_bytes: int
    width: int
    height: int
    format: str
    group: str | None = None
    path: str | None = field(default=None, repr=False)
    data: bytes | None = field(default=None, repr=False)

    def read_bytes(self) -> bytes:
        """The file's bytes (from memory, or read from disk)."""
        if self.data is not None:
            return self.data
        with open(self.path, "rb") as f:
            return f.read()

    @property
    def source(self):
        """``path`` or ``data``: what :func:`core.images.open_image` takes."""
        return self.data if self.data is not None else self.path


@dataclass
class Dataset:
    """Items (sorted by name), skipped files and the labelling convention used.

    ``files_given == len(items) + len(skipped)`` always. ``notes`` holds non-fatal remarks
    about labels (e.g. CSV rows matching no file). ``label_files`` keeps the bytes of CSV files
    found in the source so :func:`apply_labels` can relabel later without the source.
    """

    name: str
    items: list[Item]
    skipped: list[Skipped]
    labels: str | None = None
    files_given: int = 0
    notes: list[str] = field(default_factory=list)
    root: str | None = field(default=None, repr=False)
    #: why the source was not read to its end (a folder over the file limit), else None; what was not read is
    #: neither an item nor skipped, so it is not part of ``files_given``
    incomplete: str | None = None
    label_files: dict[str, bytes] = field(default_factory=dict, repr=False)
    _index: dict | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def has_labels(self) -> bool:
        """True if any item has a group."""
        return any(it.group is not None for it in self.items)

    def groups(self) -> list[str | None]:
        """Group label of each item, in item order."""
        return [it.group for it in self.items]

    def names(self) -> list[str]:
        """Item names, in item order."""
        return [it.name for it in self.items]

    def by_name(self, name: str) -> Item:
        """The item called ``name``; KeyError if none."""
        if self._index is None or len(self._index) != len(self.items):
            self._index = {it.name: it for it in self.items}
        return self._index[name]

    def __len__(self) -> int:
        return len(self.items)


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------
def natural_key(name: str):
    """Sort key: per path component, digit runs compare as numbers ("2.jpg" < "10.jpg").

    Ties (e.g. "01" vs "1", case) fall back to the plain string so the order is total.
    """
    parts = []
    for comp in name.split("/"):
        parts.append(tuple((0, int(t), t) if t.isdigit() else (1, 0, t.casefold())
                           for t in re.split(r"(\d+)", comp) if t))
    return (tuple(parts), name)


def _is_hidden(name: str) -> bool:
    for part in name.split("/"):
        if part.startswith(".") or part.lower() in _SYSTEM_NAMES:
            return True
    return False


# --------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------
_LABEL_FORMS = "'consecutive:K' (K >= 1), 'folders', 'csv' or 'csv:PATH', 'none'"


def parse_labels(spec: str | None) -> tuple[str, object]:
    """Parse a labelling convention.

    Parameters
    ----------
    spec : str or None
        ``"consecutive:K"``, ``"folders"``, ``"csv"``, ``"csv:PATH"``, ``"none"`` or None.

    Returns
    -------
    (kind, arg) : tuple
        ``("consecutive", K)``, ``("folders", None)``, ``("csv", PATH or None)`` or
        ``("none", None)``.

    Raises
    ------
    ValueError
        Naming the valid forms.
    """
    if spec is None:
        return ("none", None)
    if not isinstance(spec, str):
        raise ValueError(f"labels must be a string, one of {_LABEL_FORMS}; got {spec!r}")
    s = spec.strip()
    kind, _, arg = s.partition(":")
    kind = kind.strip().lower()
    if kind in ("", "none") and not arg:
        return ("none", None)
    if kind in ("folders", "folder") and not arg:
        return ("folders", None)
    if kind == "csv":
        return ("csv", arg.strip() or None)
    if kind == "consecutive":
        try:
            k = int(arg.strip())
        except ValueError:
            k = 0
        if k >= 1:
            return ("consecutive", k)
    raise ValueError(f"invalid labels {spec!r}: use one of {_LABEL_FORMS}")


def _spec_string(kind: str, arg) -> str | None:
    if kind == "none":
        return None
    if kind == "consecutive":
        return f"consecutive:{arg}"
    if kind == "csv":
        return f"csv:{arg}" if arg else "csv"
    return kind


_read_csv_labels = label_csv.read_rows


def _csv_groups(names: list[str], data: bytes) -> tuple[dict[str, str | None], list[str]]:
    """Group of each name from a labels CSV (:func:`core.label_csv.match`), and notes about the match.

    Raises
    ------
    DatasetError
        The CSV is larger than ``DUPFINDER_MAX_CSV_BYTES``.
    """
    cap = config.budgets().max_csv_bytes
    if len(data) > cap:
        raise DatasetError(f"labels CSV too large: {_bytes(len(data))} exceeds the {_bytes(cap)} limit "
                           "(DUPFINDER_MAX_CSV_BYTES)")
    rows = label_csv.read_rows(data)
    out, unmatched = label_csv.match(names, rows)
    notes = []
    if not rows:
        notes.append("labels CSV has no rows")
    if unmatched:
        notes.append(f"{unmatched} labels CSV row(s) matched no image")
    missing = sum(1 for n in names if n not in out)
    if rows and missing:
        notes.append(f"{missing} image(s) not in the labels CSV (no group)")
    return out, notes


def _wrapper_prefix(names: Iterable[str]) -> str:
    """The single top-level folder every name sits in ("" if none): zips often wrap one."""
    tops = set()
    for n in names:
        if "/" not in n:
            return ""
        tops.add(n.split("/", 1)[0])
        if len(tops) > 1:
            return ""
    return (tops.pop() + "/") if tops else ""


def _labelled(ds: Dataset, kind: str, arg, csv_bytes: bytes | None, strip_wrapper: bool) -> Dataset:
    names = [it.name for it in ds.items]
    notes: list[str] = []
    if kind == "consecutive":
        order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
        groups: list[str | None] = [None] * len(names)
        for rank, i in enumerate(order):
            groups[i] = f"g{rank // arg:03d}"
        if names and len(names) % arg:
            notes.append(f"{len(names)} images is not a multiple of {arg}: the last group is smaller")
    elif kind == "folders":
        prefix = _wrapper_prefix(names) if strip_wrapper else ""
        groups = [posixpath.dirname(n[len(prefix):]) or None for n in names]
    elif kind == "csv":
        if csv_bytes is None:
            csv_bytes = _find_csv(ds, arg)
        mapping, notes = _csv_groups(names, csv_bytes)
        groups = [mapping.get(n) for n in names]
    else:
        groups = [None] * len(names)
    items = [it if it.group == g else dataclasses.replace(it, group=g) for it, g in zip(ds.items, groups)]
    return dataclasses.replace(ds, items=items, labels=_spec_string(kind, arg), notes=notes)


def _find_csv(ds: Dataset, arg: str | None) -> bytes:
    """Labels CSV bytes: from the files seen at load, else from disk (absolute, CWD, root)."""
    if arg is None:
        cands = [n for n in ds.label_files if posixpath.basename(n).lower() == GROUND_TRUTH]
        cands.sort(key=lambda n: (n.count("/"), n))
        if cands:
            return ds.label_files[cands[0]]
        raise DatasetError("labels 'csv': no GROUND_TRUTH.csv at the dataset root; "
                           "give 'csv:PATH' or upload the CSV")
    key = _normalise(arg)
    if key in ds.label_files:
        return ds.label_files[key]
    tails = [n for n in ds.label_files if n.endswith("/" + key)]
    if len(tails) == 1:
        return ds.label_files[tails[0]]
    paths = [arg] + ([os.path.join(ds.root, arg)] if ds.root and os.path.isdir(ds.root) else [])
    for p in paths:
        if os.path.isfile(p):
            try:
                cap = config.budgets().max_csv_bytes
                if os.path.getsize(p) > cap:
                    raise DatasetError(f"labels file too large: {_display(arg)} exceeds the {_bytes(cap)} limit "
                                       "(DUPFINDER_MAX_CSV_BYTES)")
                with open(p, "rb") as f:
                    return f.read()
            except OSError as e:
                raise DatasetError(f"cannot read labels file {arg}: {e.strerror or e}") from None
    raise DatasetError(f"labels file not found: {arg}")


def apply_labels(dataset: Dataset, labels: str | None, csv_bytes: bytes | None = None) -> Dataset:
    """Relabel an already loaded dataset (new Dataset; items share their bytes).

    Parameters
    ----------
    dataset : Dataset
    labels : str or None
        Convention, see :func:`parse_labels`.
    csv_bytes : bytes, optional
        The labels CSV (e.g. uploaded); otherwise it is looked up among the dataset's CSV files
        and then on disk.

    Raises
    ------
    ValueError
        Bad ``labels`` spec.
    DatasetError
        ``csv`` requested and no CSV found.
    """
    kind, arg = parse_labels(labels)
    return _labelled(dataset, kind, arg, csv_bytes, strip_wrapper=dataset.root is None)


# --------------------------------------------------------------------------------------------
# the per-file pipeline
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Probe:
    """What a file's bytes say: content hash and header facts, or the reason it is not usable."""

    content_id: str | None = None
    format: str | None = None
    width: int = 0
    height: int = 0
    reason: str | None = None


def _examine(data: bytes, archive: bool, max_pixels: int | None) -> _Probe:
    """Hash, probe and verify one (non-CSV) file's bytes; never raises for a bad file."""
    if not data:
        return _Probe(reason="empty file")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        # zip-based (zip, docx, apk...): never expanded, but say so plainly
        return _Probe(reason="nested archive not expanded (ZIP)" if archive else "archive not expanded (ZIP)")
    try:
        info = images.probe(data, max_pixels=max_pixels, verify=True)
    except images.ImageError as e:
        return _Probe(reason=e.reason)
    return _Probe(content_id=hashlib.sha256(data).hexdigest(), format=info.format, width=info.width,
                  height=info.height)


class _Builder:
    """Accumulates items/skipped for one source, enforcing the per-dataset limits."""

    def __init__(self, limits: Limits, labels_kind: str, labels_arg, progress: Progress | None):
        self.limits = limits
        self.items: list[Item] = []
        self.skipped: list[Skipped] = []
        self.examined = 0
        self.kept_bytes = 0
        self.label_files: dict[str, bytes] = {}
        self.csv_read = {True: 0, False: 0}  # CSV bytes read: labels files / other CSV files
        self.kind, self.arg = labels_kind, labels_arg
        self.progress = progress
        self.done = 0
        self.total = 0

    def tick(self, name: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, name)

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skipped(name, reason))

    def pre_check(self, name: str, size: int | None) -> str | None:
        """Reason to skip without reading the bytes (hidden, CSV, limits), or None."""
        if _is_hidden(name):
            return HIDDEN_REASON
        if name.lower().endswith(".csv"):
            return self._csv_pre_check(name, size)
        if size is not None:
            if size == 0:
                return "empty file"
            if size > self.limits.max_file_bytes:
                return f"file too large: {_bytes(size)} exceeds the {_bytes(self.limits.max_file_bytes)} limit"
        if self.examined >= self.limits.max_files:
            return f"over the {self.limits.max_files:,}-file limit (DUPFINDER_MAX_FILES)"
        if size is not None and self.kept_bytes + size > self.limits.max_total_bytes:
            return (f"dataset size limit reached ({_bytes(self.limits.max_total_bytes)}, "
                    "DUPFINDER_MAX_TOTAL_BYTES)")
        return None

    def _csv_pre_check(self, name: str, size: int | None) -> str | None:
        """CSV files are read (small) so they can serve as labels later, within the file limit, their own size cap
        and the budget of CSV bytes kept; the reason for a CSV that is read is decided in :meth:`csv`."""
        if self.examined >= self.limits.max_files:
            return f"over the {self.limits.max_files:,}-file limit (DUPFINDER_MAX_FILES)"
        if size is not None and size > self.limits.max_csv_bytes:
            return self._csv_too_large(size)
        if self.csv_cap(name) <= 0 or (size is not None and size > self.csv_cap(name)):
            return self._csv_budget_reason(name)
        if size is not None and self.kept_bytes + size > self.limits.max_total_bytes:
            return (f"dataset size limit reached ({_bytes(self.limits.max_total_bytes)}, "
                    "DUPFINDER_MAX_TOTAL_BYTES)")
        return None

    def _csv_too_large(self, size: int | None) -> str:
        what = f"{_bytes(size)} exceeds" if size is not None else "exceeds"
        return f"CSV file too large: {what} the {_bytes(self.limits.max_csv_bytes)} limit (DUPFINDER_MAX_CSV_BYTES)"

    def _csv_budget_reason(self, name: str) -> str:
        kind = "labels files" if self.is_labels_file(name) else "CSV files"
        return (f"CSV file not read: the {_bytes(self.limits.max_csv_bytes)} of {kind} one dataset may read is used "
                "up (DUPFINDER_MAX_CSV_BYTES)")

    def csv_cap(self, name: str) -> int:
        """Bytes worth reading of the CSV ``name``: its size cap, within what is left of its kind's budget."""
        used = self.csv_read[self.is_labels_file(name)]
        return min(self.limits.max_csv_bytes, self.limits.max_csv_bytes - used)

    def charge_csv(self, name: str, n: int) -> None:
        """Count ``n`` bytes of CSV read (kept or not) against its kind's budget: a CSV that lies about its size
        and is refused after reading still used the budget, so CSV reads stay bounded per dataset."""
        self.csv_read[self.is_labels_file(name)] += n

    def is_labels_file(self, name: str) -> bool:
        base = posixpath.basename(name).lower()
        if base == GROUND_TRUTH:
            return True
        return self.kind == "csv" and self.arg is not None and (
            name == _normalise(self.arg) or name.endswith("/" + _normalise(self.arg)))

    def csv(self, name: str, data: bytes) -> None:
        """A CSV file: counted as examined, kept for labelling within the budgets, and listed as skipped (it is
        not an image). Labels files (``GROUND_TRUTH.csv``, the ``csv:PATH`` one) and other CSV files may each read
        ``max_csv_bytes`` per dataset, so a flood of other CSVs cannot push the labels out, and at most
        2 x ``max_csv_bytes`` of CSV is ever read or kept."""
        self.examined += 1
        labels = self.is_labels_file(name)
        over_budget = len(data) > self.csv_cap(name)
        self.charge_csv(name, len(data))
        if len(data) > self.limits.max_csv_bytes:
            self.skip(name, self._csv_too_large(len(data)))
            return
        if over_budget:
            self.skip(name, self._csv_budget_reason(name))
            return
        if self.kept_bytes + len(data) > self.limits.max_total_bytes:
            self.skip(name, f"dataset size limit reached ({_bytes(self.limits.max_total_bytes)}, "
                            "DUPFINDER_MAX_TOTAL_BYTES)")
            return
        self.label_files[name] = data
        self.kept_bytes += len(data)
        self.skip(name, LABELS_REASON if labels else "not an image (CSV file)")

    def add(self, name: str, data: bytes, *, path: str | None = None, archive: bool = False) -> _Probe | None:
        """Examine one file's bytes: item or skipped. Returns what was learnt from the bytes (for the stat memo),
        or None for CSV files."""
        if name.lower().endswith(".csv"):
            self.csv(name, data)
            return None
        probe = _examine(data, archive, self.limits.max_pixels)
        self.accept(name, probe, len(data), path=path, data=None if path is not None else data)
        return probe

    def accept(self, name: str, probe: _Probe, size: int, *, path: str | None, data: bytes | None) -> None:
        """Item or skipped, from a probe result (fresh or memoised)."""
        self.examined += 1
        if probe.reason is not None:
            self.skip(name, probe.reason)
            return
        if self.kept_bytes + size > self.limits.max_total_bytes:
            self.skip(name, f"dataset size limit reached ({_bytes(self.limits.max_total_bytes)}, "
                            "DUPFINDER_MAX_TOTAL_BYTES)")
            return
        self.kept_bytes += size
        self.items.append(Item(
            name=name, content_id=probe.content_id, size_bytes=size,
            width=probe.width, height=probe.height, format=probe.format, group=None,
            path=path, data=data))

    def finish(self, name: str, root: str | None, strip_wrapper: bool) -> Dataset:
        self.items.sort(key=lambda it: natural_key(it.name))
        self.skipped.sort(key=lambda s: natural_key(s.file))
        ds = Dataset(name=name, items=self.items, skipped=self.skipped, labels=None,
                     files_given=len(self.items) + len(self.skipped), root=root,
                     label_files=self.label_files)
        return _labelled(ds, self.kind, self.arg, None, strip_wrapper)


def _limits(limits: Limits | None) -> Limits:
    return limits if limits is not None else Limits()


# --------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------
def _display(rel: str) -> str:
    """Display form of an os.fsdecode'd relative path: undecodable bytes become U+FFFD."""
    raw = os.fsencode(rel)
    return _printable(raw.decode("utf-8", "replace").replace(os.sep, "/"))


def _read_file(path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file (one place, so tests can count the reads).

    Opened non-blocking, without following a final symlink, and checked with ``fstat`` before reading: a file
    swapped for a FIFO or a symlink after the walk's ``lstat`` raises OSError instead of blocking the load or
    reading elsewhere.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, folder_access.NOT_REGULAR)
        return f.read(limit)


#: Bump when what a probe records changes (new verification checks, new formats): memo rows with another tag
#: are ignored, so files are read and checked again.
STAT_MEMO_VERSION = "2"  # 2: probe reads PNG orientation from the header only
#: A file modified less than this long before it was read is not memoised: within the file system's timestamp
#: granularity, a second write of the same size could keep the same mtime (git's "racily clean" problem).
_RACY_NS = 2_000_000_000


class _StatMemo:
    """(absolute path, size, mtime_ns, ctime_ns, inode) -> probe result, in the feature cache's SQLite file.

    Used only by :func:`load_folder` (a local folder the user points at); zips and uploads never touch it. Any
    cache error makes loading fall back to reading every file.
    """

    def __init__(self, store, tag: str):
        self.store, self.tag = store, tag
        self.rows: dict[bytes, tuple] | None = None
        self.new: dict[bytes, tuple] = {}

    @classmethod
    def open(cls, max_pixels) -> "_StatMemo | None":
        from . import cache as _cache  # lazy: keeps sqlite out of `import core.datasets`

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

    def lookup(self, full: str, st: os.stat_result) -> _Probe | None:
        row = (self.rows or {}).get(self._key(full))
        if row is None:
            return None
        size, mtime, ctime, ino, tag, cid, fmt, w, h, reason = row
        if (size, mtime, ctime, ino, tag) != (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, self.tag):
            return None
        if reason is None and cid is None:
            return None
        return _Probe(content_id=cid, format=fmt, width=int(w or 0), height=int(h or 0), reason=reason)

    def record(self, full: str, st: os.stat_result, probe: _Probe) -> None:
        import time

        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < _RACY_NS:
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
    """Within this block :func:`load_folder` neither reads nor writes the stat memo (CLI ``--no-cache``)."""
    token = _MEMO_ON.set(False)
    try:
        yield
    finally:
        _MEMO_ON.reset(token)


def load_folder(path, labels: str | None = None, limits: Limits | None = None,
                progress: Progress | None = None, *, roots: Iterable | None = None) -> Dataset:
    """Load the files under ``path`` (recursively; folder symlinks are not followed), at most ``limits.max_files``.

    Parameters
    ----------
    path : str or os.PathLike
        The dataset folder.
    labels : str, optional
        Convention, see :func:`parse_labels`.
    limits : Limits, optional
        Defaults to ``Limits()`` (environment-aware).
    progress : callable, optional
        ``progress(done, total, name)`` after each file.
    roots : iterable of paths, optional
        Allow-list (the app's ``DUPFINDER_ALLOWED_ROOTS``): the folder, and the target of every file symlink in
        it, must resolve inside one of them. None: anywhere. ``/proc``, ``/sys`` and ``/dev`` are refused always
        (:mod:`core.folder_access`).

    Returns
    -------
    Dataset
        When the folder holds more than ``limits.max_files`` files, the walk stops there: ``incomplete`` says so
        and the rest is neither an item nor skipped (it was never listed), so ``used + skipped = given`` still
        counts exactly the files listed.

    Raises
    ------
    DatasetError
        Not a folder, a refused folder, or ``csv`` labels without a CSV.
    ValueError
        Bad ``labels`` spec.
    """
    kind, arg = parse_labels(labels)
    limits = _limits(limits)
    root = os.fsdecode(os.fspath(path))
    why = folder_access.refusal(root, roots)  # before any stat: outside the allow-list nothing is even looked at
    if why:
        raise DatasetError(f"folder refused: {why}")
    if not os.path.isdir(root):
        raise DatasetError(f"not a folder: {_display(root)}")
    walk = folder_access.walk_files(root, limits.max_files)
    b = _Builder(limits, kind, arg, progress)
    b.total = len(walk.files)
    taken = _UniqueNames()
    memo = _StatMemo.open(limits.max_pixels)
    if memo is not None:
        memo.prefetch([full for _, full in walk.files])  # keys only: no file is opened
    for rel, msg in walk.errors:
        b.skip(_unique(_display(rel), taken), msg)
    for rel, full in walk.files:
        name = _unique(_display(rel), taken)
        reason, st, target = folder_access.check_entry(full, roots)
        if reason == folder_access.NOT_REGULAR and _is_hidden(name):
            reason = HIDDEN_REASON  # e.g. a socket left by a sync tool in a hidden folder
        if reason:
            b.skip(name, reason)
            b.tick(name)
            continue
        reason = b.pre_check(name, st.st_size)
        if reason:
            b.skip(name, reason)
            b.tick(name)
            continue
        probe = memo.lookup(full, st) if memo is not None and not name.lower().endswith(".csv") else None
        if probe is not None:  # unchanged since a previous load: no read, no hash, no verify
            b.accept(name, probe, st.st_size, path=full, data=None)
            b.tick(name)
            continue
        try:
            data = _read_file(target, limits.max_file_bytes + 1)  # the file may have grown since stat
        except OSError as e:
            b.skip(name, f"unreadable: {e.strerror or e}")
            b.tick(name)
            continue
        if len(data) > limits.max_file_bytes:
            b.skip(name, f"file too large: exceeds the {_bytes(limits.max_file_bytes)} limit")
        else:
            probe = b.add(name, data, path=full)
            if memo is not None and probe is not None and len(data) == st.st_size:
                memo.record(full, st, probe)
        b.tick(name)
    if memo is not None:
        memo.save()
    base = os.path.basename(os.path.normpath(root)) or root
    ds = b.finish(_display(base), root, strip_wrapper=False)
    if walk.stopped:
        ds.incomplete = (f"the folder holds more than {limits.max_files:,} files (DUPFINDER_MAX_FILES): reading "
                         f"stopped after {len(walk.files):,}, the rest was not listed or examined")
    return ds


# --------------------------------------------------------------------------------------------
# zips
# --------------------------------------------------------------------------------------------
def _zip_name(info: zipfile.ZipInfo) -> str:
    """Entry name as text: UTF-8 if flagged; else UTF-8 if it decodes, else cp437."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:  # zipfile decoded cp437; many tools write UTF-8 without setting the flag
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def load_zip(source, labels: str | None = None, limits: Limits | None = None,
             progress: Progress | None = None, *, name: str | None = None) -> Dataset:
    """Load the images of a zip archive, in memory (nothing is ever written to disk).

    Parameters
    ----------
    source : str, os.PathLike or bytes
        The archive.
    labels, limits, progress
        As in :func:`load_folder`.
    name : str, optional
        Dataset name (default: the archive's file name without ``.zip``, or "archive").

    Returns
    -------
    Dataset
        Entry names normalised (no leading '/', no '..'); directories are not counted as files.

    Raises
    ------
    DatasetError
        Not a zip, too many entries, or declared total size over the limit (zip bomb).
    """
    kind, arg = parse_labels(labels)
    limits = _limits(limits)
    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    if name is None:
        name = "archive" if is_bytes else re.sub(r"\.zip$", "", os.path.basename(os.fsdecode(source)), flags=re.I)
    try:
        fp = io.BytesIO(bytes(source)) if is_bytes else open(os.fspath(source), "rb")
    except FileNotFoundError:
        raise DatasetError(f"no such file: {_display(os.fsdecode(source))}") from None
    except OSError as e:
        raise DatasetError(f"cannot read the zip archive ({e.strerror or e})") from None
    with fp:
        return _load_zip(fp, _printable(name), kind, arg, limits, progress)


def _load_zip(fp, name: str, kind: str, arg, limits: Limits, progress: Progress | None) -> Dataset:
    try:
        # before zipfile builds one ZipInfo per entry: count from the end record, stop at the limit (core.zipdir)
        zipdir.check_entry_count(fp, limits.max_zip_entries)
    except zipdir.ZipEntryLimit as e:
        count = f"{e.count:,} entries exceed" if e.exact else f"more than {limits.max_zip_entries:,} entries exceed"
        raise DatasetError(f"zip refused: {count} the {limits.max_zip_entries:,}-entry limit (possible zip bomb; "
                           "DUPFINDER_MAX_ZIP_ENTRIES)") from None
    except zipdir.ZipRefused as e:
        raise DatasetError(f"zip refused: {e.reason} (possible zip bomb)") from None
    except (OSError, ValueError, EOFError, struct.error) as e:
        raise DatasetError(f"not a valid zip archive ({e})") from None
    try:
        fp.seek(0)
        zf = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise DatasetError(f"not a valid zip archive ({e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_zip_entries:
            raise DatasetError(f"zip refused: {len(infos):,} entries exceed the {limits.max_zip_entries:,}-entry "
                               "limit (possible zip bomb; DUPFINDER_MAX_ZIP_ENTRIES)")
        # not ZipInfo.is_dir(): it indexes filename[-1] and raises IndexError on an empty entry name (bench/fuzz.py)
        files = [i for i in infos if not i.filename.endswith("/")]
        declared = sum(i.file_size for i in files)
        if declared > limits.max_zip_uncompressed:
            raise DatasetError(f"zip refused: it declares {_bytes(declared)} uncompressed, over the "
                               f"{_bytes(limits.max_zip_uncompressed)} limit (possible zip bomb; "
                               "DUPFINDER_MAX_ZIP_UNCOMPRESSED)")
        b = _Builder(limits, kind, arg, progress)
        b.total = len(files)
        taken = _UniqueNames()
        inflated = 0
        for info in files:
            raw = _zip_name(info)
            ename = _unique(_normalise(raw) or "unnamed", taken)
            reason = None
            if _is_hidden(ename):
                reason = HIDDEN_REASON
            elif _is_symlink(info):
                reason = "symlink entry not followed"
            elif info.flag_bits & 0x1:
                reason = "encrypted entry"
            elif ename.lower().endswith(".zip"):
                reason = "nested archive not expanded"
            else:  # a CSV's declared size can refuse it unread (it cannot make it read more: reads are capped)
                reason = b.pre_check(ename, info.file_size if ename.lower().endswith(".csv") else None)
            if reason:
                b.skip(ename, reason)
                b.tick(ename)
                continue
            # never trust the header's file_size: read at most the cap + 1 byte
            ratio_cap = max(RATIO_FLOOR_BYTES, int(info.compress_size * limits.max_zip_ratio))
            remaining = limits.max_zip_uncompressed - inflated
            is_csv = ename.lower().endswith(".csv")
            file_cap = b.csv_cap(ename) if is_csv else limits.max_file_bytes
            cap = min(file_cap, ratio_cap, remaining)
            try:
                with zf.open(info) as f:
                    data = f.read(cap + 1)
            except NotImplementedError:
                b.skip(ename, f"unsupported zip compression method ({info.compress_type})")
                b.tick(ename)
                continue
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, ValueError, zlib.error) as e:
                b.skip(ename, f"corrupt zip entry ({e})")
                b.tick(ename)
                continue
            inflated += len(data)
            if len(data) > cap:
                if cap == remaining:
                    reason = (f"archive uncompressed-size limit reached ({_bytes(limits.max_zip_uncompressed)}; "
                              "possible zip bomb)")
                elif cap == ratio_cap:
                    reason = (f"compression ratio over the {limits.max_zip_ratio:g}:1 limit "
                              "(possible zip bomb; DUPFINDER_MAX_ZIP_RATIO)")
                elif is_csv:
                    b.charge_csv(ename, len(data))
                    reason = (b._csv_too_large(None) if cap == limits.max_csv_bytes
                              else b._csv_budget_reason(ename))
                else:
                    reason = f"file too large: exceeds the {_bytes(limits.max_file_bytes)} limit"
                b.examined += 1
                b.skip(ename, reason)
            else:
                b.add(ename, data, archive=True)
            b.tick(ename)
    return b.finish(name, None, strip_wrapper=True)


# --------------------------------------------------------------------------------------------
# uploads and dispatch
# --------------------------------------------------------------------------------------------
def load_files(files: list[tuple[str, bytes]], labels: str | None = None, limits: Limits | None = None,
               progress: Progress | None = None, *, name: str = "uploads") -> Dataset:
    """Load uploaded files ``[(file name, bytes), ...]``; a repeated name becomes ``a (2).jpg``.

    Parameters
    ----------
    files : list of (str, bytes)
    labels, limits, progress
        As in :func:`load_folder`.
    name : str
        Dataset name.

    Returns
    -------
    Dataset
    """
    kind, arg = parse_labels(labels)
    limits = _limits(limits)
    b = _Builder(limits, kind, arg, progress)
    b.total = len(files)
    taken = _UniqueNames()
    for fname, data in files:
        ename = _unique(_normalise(str(fname)) or "unnamed", taken)
        data = bytes(data) if not isinstance(data, bytes) else data
        reason = b.pre_check(ename, len(data))
        if reason:
            b.skip(ename, reason)
        else:
            b.add(ename, data)
        b.tick(ename)
    return b.finish(_printable(str(name)), None, strip_wrapper=True)


def load(path, labels: str | None = None, limits: Limits | None = None,
         progress: Progress | None = None, *, roots: Iterable | None = None) -> Dataset:
    """Load a folder or a zip archive, deciding by inspection (not by extension).

    ``roots`` is the allow-list of :func:`load_folder` (applies to a zip path as well); ``/proc``, ``/sys`` and
    ``/dev`` are refused always, and a path that is neither a folder nor a regular file (a FIFO, a device) is
    refused before anything opens it.
    """
    p = os.fspath(path)
    why = folder_access.refusal(p, roots)
    if why:
        raise DatasetError(f"refused: {why}")
    if os.path.isdir(p):
        return load_folder(p, labels, limits, progress, roots=roots)
    try:
        st = os.stat(p)
    except OSError:
        raise DatasetError(f"no such file or folder: {_display(os.fsdecode(p))}") from None
    if stat.S_ISREG(st.st_mode) and zipfile.is_zipfile(p):
        return load_zip(p, labels, limits, progress)
    raise DatasetError(f"not a folder or a zip archive: {_display(os.fsdecode(p))}")
