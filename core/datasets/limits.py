"""Safety limits of a dataset load (files, bytes, zip-bomb ratios, pixels, CSV bytes) and the refusal error.

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
                                   limits too, and the bytes kept for relabelling are bounded (see ``core.datasets.builder.Builder.csv``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .. import config, images

#: ``progress(done, total, name)`` after each file of a load
Progress = Callable[[int, int, str], None]

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


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" or n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover



def or_default(limits: Limits | None) -> Limits:
    return limits if limits is not None else Limits()
