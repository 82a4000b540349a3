"""The per-file pipeline every source shares: probe a file's bytes and turn each file into one item or one
skipped entry, within the per-dataset :class:`~core.datasets.limits.Limits`.

Each file is read once to hash it, its header is probed and the common truncations are checked
(:func:`core.images.probe` with ``verify=True``); no pixels are decoded.
"""

from __future__ import annotations

import hashlib

import posixpath
from dataclasses import dataclass

from .. import images
from . import names
from .labels import GROUND_TRUTH, LABELS_REASON, relabel
from .limits import Limits, Progress, human_bytes
from .model import Dataset, Item, Skipped
from .names import HIDDEN_REASON, is_hidden, natural_key

@dataclass(frozen=True)
class Probe:
    """What a file's bytes say: content hash and header facts, or the reason it is not usable."""

    content_id: str | None = None
    format: str | None = None
    width: int = 0
    height: int = 0
    reason: str | None = None


def examine(data: bytes, archive: bool, max_pixels: int | None) -> Probe:
    """Hash, probe and verify one (non-CSV) file's bytes; never raises for a bad file."""
    if not data:
        return Probe(reason="empty file")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        # zip-based (zip, docx, apk...): never expanded, but say so plainly
        return Probe(reason="nested archive not expanded (ZIP)" if archive else "archive not expanded (ZIP)")
    try:
        info = images.probe(data, max_pixels=max_pixels, verify=True)
    except images.ImageError as e:
        return Probe(reason=e.reason)
    return Probe(content_id=hashlib.sha256(data).hexdigest(), format=info.format, width=info.width,
                  height=info.height)


class Builder:
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
        if is_hidden(name):
            return HIDDEN_REASON
        if name.lower().endswith(".csv"):
            return self._csv_pre_check(name, size)
        if size is not None:
            if size == 0:
                return "empty file"
            if size > self.limits.max_file_bytes:
                return f"file too large: {human_bytes(size)} exceeds the {human_bytes(self.limits.max_file_bytes)} limit"
        if self.examined >= self.limits.max_files:
            return f"over the {self.limits.max_files:,}-file limit (DUPFINDER_MAX_FILES)"
        if size is not None and self.kept_bytes + size > self.limits.max_total_bytes:
            return (f"dataset size limit reached ({human_bytes(self.limits.max_total_bytes)}, "
                    "DUPFINDER_MAX_TOTAL_BYTES)")
        return None

    def _csv_pre_check(self, name: str, size: int | None) -> str | None:
        """CSV files are read (small) so they can serve as labels later, within the file limit, their own size cap
        and the budget of CSV bytes kept; the reason for a CSV that is read is decided in :meth:`csv`."""
        if self.examined >= self.limits.max_files:
            return f"over the {self.limits.max_files:,}-file limit (DUPFINDER_MAX_FILES)"
        if size is not None and size > self.limits.max_csv_bytes:
            return self.csv_too_large(size)
        if self.csv_cap(name) <= 0 or (size is not None and size > self.csv_cap(name)):
            return self.csv_budget_reason(name)
        if size is not None and self.kept_bytes + size > self.limits.max_total_bytes:
            return (f"dataset size limit reached ({human_bytes(self.limits.max_total_bytes)}, "
                    "DUPFINDER_MAX_TOTAL_BYTES)")
        return None

    def csv_too_large(self, size: int | None) -> str:
        what = f"{human_bytes(size)} exceeds" if size is not None else "exceeds"
        return f"CSV file too large: {what} the {human_bytes(self.limits.max_csv_bytes)} limit (DUPFINDER_MAX_CSV_BYTES)"

    def csv_budget_reason(self, name: str) -> str:
        kind = "labels files" if self.is_labels_file(name) else "CSV files"
        return (f"CSV file not read: the {human_bytes(self.limits.max_csv_bytes)} of {kind} one dataset may read is used "
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
            name == names.normalise(self.arg) or name.endswith("/" + names.normalise(self.arg)))

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
            self.skip(name, self.csv_too_large(len(data)))
            return
        if over_budget:
            self.skip(name, self.csv_budget_reason(name))
            return
        if self.kept_bytes + len(data) > self.limits.max_total_bytes:
            self.skip(name, f"dataset size limit reached ({human_bytes(self.limits.max_total_bytes)}, "
                            "DUPFINDER_MAX_TOTAL_BYTES)")
            return
        self.label_files[name] = data
        self.kept_bytes += len(data)
        self.skip(name, LABELS_REASON if labels else "not an image (CSV file)")

    def add(self, name: str, data: bytes, *, path: str | None = None, archive: bool = False) -> Probe | None:
        """Examine one file's bytes: item or skipped. Returns what was learnt from the bytes (for the stat memo),
        or None for CSV files."""
        if name.lower().endswith(".csv"):
            self.csv(name, data)
            return None
        probe = examine(data, archive, self.limits.max_pixels)
        self.accept(name, probe, len(data), path=path, data=None if path is not None else data)
        return probe

    def accept(self, name: str, probe: Probe, size: int, *, path: str | None, data: bytes | None) -> None:
        """Item or skipped, from a probe result (fresh or memoised)."""
        self.examined += 1
        if probe.reason is not None:
            self.skip(name, probe.reason)
            return
        if self.kept_bytes + size > self.limits.max_total_bytes:
            self.skip(name, f"dataset size limit reached ({human_bytes(self.limits.max_total_bytes)}, "
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
        return relabel(ds, self.kind, self.arg, None, strip_wrapper)
