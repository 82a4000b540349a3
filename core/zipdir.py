"""Count a zip archive's entries *before* :mod:`zipfile` parses its central directory.

Why: ``zipfile.ZipFile(...)`` builds one ``ZipInfo`` per central-directory entry (~320 B and ~80 µs each) before
anyone can look at ``len(infolist())``: a 500 MB upload can hold ~10 M entries, i.e. minutes of CPU and gigabytes of
memory spent before the entry limit is even checked. This module reads the end-of-central-directory record (and the
ZIP64 one, exactly where :mod:`zipfile` looks for them) and refuses as soon as the archive *declares* too many
entries; then, because :mod:`zipfile` walks the directory by its byte size and not by the declared count (a lying
record says 10 and holds 10 M), it walks the directory's fixed-size headers itself and stops at ``max_entries + 1``.
The work is O(min(entries, max_entries)) header reads, whatever the archive says.

The same walk bounds the other per-entry cost of parsing a directory: ``zipfile`` splits each entry's extra field
into records by re-slicing the remaining bytes (``ZipInfo._decodeExtra``), quadratic in the field's length: one
64 KiB field of empty records costs ~0.1 s, so a 20 MB upload of such entries is a minute of CPU. Extra fields
are legitimately tens of bytes (ZIP64 sizes, timestamps, Unix ids, a Unicode path): an entry's field over
:data:`MAX_EXTRA_FIELD_BYTES`, or fields whose total parsing work exceeds :data:`MAX_EXTRA_FIELD_WORK`, refuse the
archive.

Reference: APPNOTE.TXT (PKWARE), sections 4.3.12 (central directory header), 4.3.14-4.3.16 (ZIP64 end of central
directory record and locator, end of central directory record).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["MAX_EXTRA_FIELD_BYTES", "MAX_EXTRA_FIELD_WORK", "ZipDirectory", "ZipEntryLimit", "ZipRefused",
           "check_entry_count", "read_directory"]

_EOCD = struct.Struct("<4s4H2LH")  # signature, disk, cd disk, entries here, entries total, cd size, cd offset, comment
_EOCD_SIG = b"PK\x05\x06"
_LOC64 = struct.Struct("<4sLQL")  # signature, cd disk, ZIP64 EOCD offset, disks
_LOC64_SIG = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # ..., entries here, entries total, cd size, cd offset
_EOCD64_SIG = b"PK\x06\x06"
_CDH = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header (46 bytes + name + extra + comment)
_CDH_SIG = b"PK\x01\x02"
_MAX_COMMENT = 1 << 16
#: Bytes of one entry's extra field in the central directory (real ones: tens of bytes; a Unicode path: the name).
MAX_EXTRA_FIELD_BYTES = 4096
#: Sum over entries of (extra-field length)^2: what ``zipfile`` copies, to a constant, while splitting the fields.
#: 20,000 entries of 100-byte fields use 5% of it; 256 entries of the largest allowed field use all of it.
MAX_EXTRA_FIELD_WORK = 1 << 32


class ZipRefused(Exception):
    """The archive's directory is refused before ``zipfile`` parses it; ``reason`` says why (human-readable)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ZipEntryLimit(ZipRefused):
    """The archive holds more entries than allowed.

    Attributes
    ----------
    count : int
        Entries declared by the end record (``exact``), or the number counted before stopping (more exist).
    exact : bool
        True when ``count`` is the declared total; False when the walk stopped at ``max_entries + 1``.
    """

    def __init__(self, count: int, exact: bool):
        super().__init__(f"{count:,} entries" + ("" if exact else " or more"))
        self.count, self.exact = count, exact


@dataclass(frozen=True)
class ZipDirectory:
    """Where the central directory is and what the end record declares (bytes, from the start of the file)."""

    declared_entries: int
    start: int
    size: int


def read_directory(fp: BinaryIO) -> ZipDirectory | None:
    """Locate the central directory the way :mod:`zipfile` does (last end record; ZIP64 record just before it).

    Parameters
    ----------
    fp : binary file object, seekable

    Returns
    -------
    ZipDirectory or None
        None when there is no end record (``zipfile`` will then refuse the file itself).
    """
    fp.seek(0, 2)
    file_size = fp.tell()
    tail_start = max(0, file_size - _EOCD.size - _MAX_COMMENT)
    fp.seek(tail_start)
    tail = fp.read()
    at = tail.rfind(_EOCD_SIG)
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    rec = _EOCD.unpack_from(tail, at)
    entries, cd_size, cd_offset = rec[4], rec[5], rec[6]
    location = tail_start + at
    concat = location - cd_size - cd_offset  # bytes prepended to the archive (self-extractors), as zipfile computes
    loc_pos = location - _LOC64.size
    if loc_pos >= 0:
        fp.seek(loc_pos)
        loc = fp.read(_LOC64.size)
        rec64_pos = loc_pos - _EOCD64.size
        if len(loc) == _LOC64.size and loc[:4] == _LOC64_SIG and rec64_pos >= 0:
            fp.seek(rec64_pos)
            raw = fp.read(_EOCD64.size)
            if len(raw) == _EOCD64.size and raw[:4] == _EOCD64_SIG:
                r64 = _EOCD64.unpack(raw)
                entries, cd_size, cd_offset = r64[7], r64[8], r64[9]
                concat = location - cd_size - cd_offset - _EOCD64.size - _LOC64.size
    return ZipDirectory(declared_entries=entries, start=cd_offset + concat, size=cd_size)


def check_entry_count(fp: BinaryIO, max_entries: int) -> int | None:
    """Raise :class:`ZipEntryLimit` if the archive in ``fp`` holds more than ``max_entries`` entries, or
    :class:`ZipRefused` if its extra fields would make :mod:`zipfile`'s parsing quadratic (module docstring).

    First the declared total (no directory read), then a walk over the directory's headers that stops at
    ``max_entries + 1`` (a lying end record cannot make :mod:`zipfile` parse more). A malformed directory ends the
    walk quietly: :mod:`zipfile` reports it with its own error.

    Parameters
    ----------
    fp : binary file object, seekable
        Left at an unspecified position.
    max_entries : int

    Returns
    -------
    int or None
        Entries counted (<= ``max_entries``); None when ``fp`` has no end-of-central-directory record.
    """
    d = read_directory(fp)
    if d is None:
        return None
    if d.declared_entries > max_entries:
        raise ZipEntryLimit(d.declared_entries, exact=True)
    if d.start < 0:
        return 0
    fp.seek(d.start)
    pos = count = extra_work = 0
    buf, buf_pos = b"", 0  # a read-ahead window over the directory: one read per ~1 MiB, not per header
    while pos < d.size:
        if buf_pos + _CDH.size > len(buf):
            fp.seek(d.start + pos)
            buf, buf_pos = fp.read(min(d.size - pos, 1 << 20) + _CDH.size), 0
            if len(buf) < _CDH.size:
                break
        h = _CDH.unpack_from(buf, buf_pos)
        if h[0] != _CDH_SIG:
            break
        extra = h[13]
        if extra > MAX_EXTRA_FIELD_BYTES:
            raise ZipRefused(f"entry {count + 1:,} has a {extra:,}-byte extra field (over "
                             f"{MAX_EXTRA_FIELD_BYTES:,}; real ones are tens of bytes)")
        extra_work += extra * extra
        if extra_work > MAX_EXTRA_FIELD_WORK:
            raise ZipRefused(f"the entries' extra fields are too large to parse ({count + 1:,} entries with fields "
                             f"up to {MAX_EXTRA_FIELD_BYTES:,} bytes)")
        step = _CDH.size + h[12] + extra + h[14]  # + name, extra field and comment lengths
        pos += step
        buf_pos += step
        count += 1
        if count > max_entries:
            raise ZipEntryLimit(count, exact=False)
    return count
