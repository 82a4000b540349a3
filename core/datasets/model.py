"""The data model of a loaded dataset: :class:`Item` (one usable image), :class:`Skipped` (a file not used and
why) and :class:`Dataset` (items sorted by name, skipped files, the labelling convention used)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    found in the source so :func:`core.datasets.labels.apply_labels` can relabel later without the source.
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

    def groups_by_name(self) -> dict[str, str | None]:
        """``{item name: group label or None}``: the ground truth as :mod:`core.evaluation` takes it."""
        return {it.name: it.group for it in self.items}

    def by_name(self, name: str) -> Item:
        """The item called ``name``; KeyError if none."""
        if self._index is None or len(self._index) != len(self.items):
            self._index = {it.name: it for it in self.items}
        return self._index[name]

    def __len__(self) -> int:
        return len(self.items)
