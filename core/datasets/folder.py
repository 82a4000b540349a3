"""Load a dataset from a local folder (recursively; folder symlinks are not followed, see :mod:`core.folder_access`)."""

from __future__ import annotations

import errno
import os
import stat
from typing import Iterable

from .. import folder_access
from . import names
from .builder import Builder
from .labels import parse_labels
from .limits import DatasetError, Limits, Progress, human_bytes, or_default
from .model import Dataset
from .names import HIDDEN_REASON, display_path, is_hidden
from .stat_memo import StatMemo

def read_file(path: str, limit: int) -> bytes:
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
    limits = or_default(limits)
    root = os.fsdecode(os.fspath(path))
    why = folder_access.refusal(root, roots)  # before any stat: outside the allow-list nothing is even looked at
    if why:
        raise DatasetError(f"folder refused: {why}")
    if not os.path.isdir(root):
        raise DatasetError(f"not a folder: {display_path(root)}")
    walk = folder_access.walk_files(root, limits.max_files)
    b = Builder(limits, kind, arg, progress)
    b.total = len(walk.files)
    taken = names.UniqueNames()
    memo = StatMemo.open(limits.max_pixels)
    if memo is not None:
        memo.prefetch([full for _, full in walk.files])  # keys only: no file is opened
    for rel, msg in walk.errors:
        b.skip(names.unique(display_path(rel), taken), msg)
    for rel, full in walk.files:
        name = names.unique(display_path(rel), taken)
        reason, st, target = folder_access.check_entry(full, roots)
        if reason == folder_access.NOT_REGULAR and is_hidden(name):
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
            data = read_file(target, limits.max_file_bytes + 1)  # the file may have grown since stat
        except OSError as e:
            b.skip(name, f"unreadable: {e.strerror or e}")
            b.tick(name)
            continue
        if len(data) > limits.max_file_bytes:
            b.skip(name, f"file too large: exceeds the {human_bytes(limits.max_file_bytes)} limit")
        else:
            probe = b.add(name, data, path=full)
            if memo is not None and probe is not None and len(data) == st.st_size:
                memo.record(full, st, probe)
        b.tick(name)
    if memo is not None:
        memo.save()
    base = os.path.basename(os.path.normpath(root)) or root
    ds = b.finish(display_path(base), root, strip_wrapper=False)
    if walk.stopped:
        ds.incomplete = (f"the folder holds more than {limits.max_files:,} files (DUPFINDER_MAX_FILES): reading "
                         f"stopped after {len(walk.files):,}, the rest was not listed or examined")
    return ds
