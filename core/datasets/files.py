"""Load a dataset from uploaded files, and :func:`load`, which picks the folder or the zip loader by inspection."""

from __future__ import annotations

import os
import stat
import zipfile
from typing import Iterable

from .. import folder_access
from . import names
from .builder import Builder
from .folder import load_folder
from .labels import parse_labels
from .limits import DatasetError, Limits, Progress, or_default
from .model import Dataset
from .names import display_path
from .zip_source import load_zip

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
    limits = or_default(limits)
    b = Builder(limits, kind, arg, progress)
    b.total = len(files)
    taken = names.UniqueNames()
    for fname, data in files:
        ename = names.unique(names.normalise(str(fname)) or "unnamed", taken)
        data = bytes(data) if not isinstance(data, bytes) else data
        reason = b.pre_check(ename, len(data))
        if reason:
            b.skip(ename, reason)
        else:
            b.add(ename, data)
        b.tick(ename)
    return b.finish(names.printable(str(name)), None, strip_wrapper=True)


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
        raise DatasetError(f"no such file or folder: {display_path(os.fsdecode(p))}") from None
    if stat.S_ISREG(st.st_mode) and zipfile.is_zipfile(p):
        return load_zip(p, labels, limits, progress)
    raise DatasetError(f"not a folder or a zip archive: {display_path(os.fsdecode(p))}")
