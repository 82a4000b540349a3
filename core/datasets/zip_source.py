"""Load a dataset from a zip archive, in memory: entries are read streaming with a size cap, never extracted to
disk; the archive's directory is checked against the zip-bomb limits first (:mod:`core.datasets.zipdir`)."""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import zipfile
import zlib

from . import names, zipdir
from .builder import Builder
from .labels import parse_labels
from .limits import RATIO_FLOOR_BYTES, DatasetError, Limits, Progress, human_bytes, or_default
from .model import Dataset
from .names import HIDDEN_REASON, display_path, is_hidden

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
        As in :func:`core.datasets.folder.load_folder`.
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
    limits = or_default(limits)
    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    if name is None:
        name = "archive" if is_bytes else re.sub(r"\.zip$", "", os.path.basename(os.fsdecode(source)), flags=re.I)
    try:
        fp = io.BytesIO(bytes(source)) if is_bytes else open(os.fspath(source), "rb")
    except FileNotFoundError:
        raise DatasetError(f"no such file: {display_path(os.fsdecode(source))}") from None
    except OSError as e:
        raise DatasetError(f"cannot read the zip archive ({e.strerror or e})") from None
    with fp:
        return _load_zip(fp, names.printable(name), kind, arg, limits, progress)


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
            raise DatasetError(f"zip refused: it declares {human_bytes(declared)} uncompressed, over the "
                               f"{human_bytes(limits.max_zip_uncompressed)} limit (possible zip bomb; "
                               "DUPFINDER_MAX_ZIP_UNCOMPRESSED)")
        b = Builder(limits, kind, arg, progress)
        b.total = len(files)
        taken = names.UniqueNames()
        inflated = 0
        for info in files:
            raw = _zip_name(info)
            ename = names.unique(names.normalise(raw) or "unnamed", taken)
            reason = None
            if is_hidden(ename):
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
                    reason = (f"archive uncompressed-size limit reached ({human_bytes(limits.max_zip_uncompressed)}; "
                              "possible zip bomb)")
                elif cap == ratio_cap:
                    reason = (f"compression ratio over the {limits.max_zip_ratio:g}:1 limit "
                              "(possible zip bomb; DUPFINDER_MAX_ZIP_RATIO)")
                elif is_csv:
                    b.charge_csv(ename, len(data))
                    reason = (b.csv_too_large(None) if cap == limits.max_csv_bytes
                              else b.csv_budget_reason(ename))
                else:
                    reason = f"file too large: exceeds the {human_bytes(limits.max_file_bytes)} limit"
                b.examined += 1
                b.skip(ename, reason)
            else:
                b.add(ename, data, archive=True)
            b.tick(ename)
    return b.finish(name, None, strip_wrapper=True)
