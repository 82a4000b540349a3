"""Which server paths a folder dataset may read, and a walk of a folder that stops at the file limit.

Two rules, both on the *resolved real path* (``os.path.realpath``: symlinks and ``..`` are resolved first, so neither
can lead out of a permitted tree):

* the system trees :data:`SYSTEM_ROOTS` (``/proc``, ``/sys``, ``/dev``) are never read, by any caller: their "files"
  are kernel state, devices and pipes (reading ``/dev/zero`` never ends, ``/proc/self/environ`` holds secrets);
* an optional allow-list of roots (the app passes :func:`core.config.allowed_roots`, from
  ``DUPFINDER_ALLOWED_ROOTS``): when given, only paths inside one of them are read. The CLI, a local tool run by
  the user on their own files, passes none.

:func:`refusal` says why a path is refused (or None); :func:`walk_files` lists a tree in name order and stops once
it has seen ``max_files`` files, so pointing the app at ``/`` or a home directory costs at most one limit's worth of
listing, never the whole tree.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["NOT_REGULAR", "SYSTEM_ROOTS", "Walk", "check_entry", "real_path", "refusal", "walk_files"]

#: Kernel and device trees: never listed, never opened.
SYSTEM_ROOTS = ("/proc", "/sys", "/dev")
#: Skip reason of a FIFO, socket or device found in a folder.
NOT_REGULAR = "not a regular file (device, FIFO or socket)"


def real_path(path) -> str:
    """``path`` with ``~`` expanded and every symlink and ``..`` resolved (the path that would really be read)."""
    return os.path.realpath(os.path.expanduser(os.fsdecode(os.fspath(path))))


def _inside(path: str, root: str) -> bool:
    """True when the real path ``path`` is ``root`` or below it (component-wise: ``/data2`` is not in ``/data``)."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives (Windows) or a mix of absolute and relative paths
        return False


def refusal(path, roots: Iterable | None = None) -> str | None:
    """Why ``path`` (a folder, a zip or one file inside a folder) may not be read, or None when it may.

    Parameters
    ----------
    path : str or os.PathLike
        As given (may hold ``~``, ``..`` or symlinks).
    roots : iterable of str or os.PathLike, optional
        Allow-list; None or empty means anywhere except :data:`SYSTEM_ROOTS`.

    Returns
    -------
    str or None
        A sentence for the user. It never echoes the resolved path, so a refusal does not reveal where a
        symlink points.
    """
    p = real_path(path)
    for sys_root in SYSTEM_ROOTS:
        if _inside(p, sys_root):
            return f"{sys_root} is a system folder (kernel state and devices): it is never read"
    allowed = [real_path(r) for r in (roots or ())]
    if allowed and not any(_inside(p, r) for r in allowed):
        return "not inside a folder this server allows (DUPFINDER_ALLOWED_ROOTS)"
    return None


def check_entry(full: str, roots: Iterable | None = None) -> tuple[str | None, os.stat_result | None, str]:
    """Whether one entry of a walk may be read, without opening it.

    ``lstat`` first: a symlink is followed only when its real target is allowed (:func:`refusal`), and then that
    real target is the path to open (open it without following symlinks, so one planted after this check fails
    instead of leading elsewhere). Anything but a regular file (FIFO, socket, device, folder symlink) is refused
    here, before an ``open`` could block on it.

    Returns
    -------
    (reason, None, full) to skip the entry, or (None, stat of the file, path to open).
    """
    target = full
    try:
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            why = refusal(full, roots)
            if why:
                return f"symlink not followed ({why})", None, full
            target = real_path(full)
            st = os.stat(target)
    except OSError as e:
        return ("broken symlink" if os.path.islink(full) else f"unreadable: {e.strerror or e}"), None, full
    if stat.S_ISDIR(st.st_mode):
        return "folder symlink not followed", None, full
    if not stat.S_ISREG(st.st_mode):
        return NOT_REGULAR, None, full
    return None, st, target


@dataclass
class Walk:
    """What :func:`walk_files` listed.

    Attributes
    ----------
    files : list of (str, str)
        (path relative to the root, full path) of every non-folder entry (regular files, symlinks, FIFOs, ...),
        each folder's entries in name order, a folder's files before its sub-folders' (like ``os.walk``).
    errors : list of (str, str)
        (relative path, reason) of each folder that could not be listed.
    stopped : bool
        True when the walk stopped at the limit: the tree holds more entries, which were neither listed nor
        examined.
    """

    files: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    stopped: bool = False


def walk_files(root: str, max_files: int, max_entries: int | None = None) -> Walk:
    """List the files under ``root`` (folder symlinks are listed as entries, never followed), at most ``max_files``.

    Each folder's entries are read (``os.scandir``) and sorted by name; files come before sub-folders, like
    ``os.walk``. The walk stops, and sets ``stopped``, when a folder holds more files than the room left under
    ``max_files`` (the first ones in name order are kept), or when it has read ``max_entries`` directory entries in
    all (default ``4 * max_files + 1000``: a tree of empty folders, or one folder of ten million names, is not read
    to its end either; a folder cut there keeps the entries read so far, in name order).
    """
    max_entries = 4 * max_files + 1000 if max_entries is None else max_entries
    out = Walk()
    stack = [root]
    seen = 0
    while stack and not out.stopped:
        folder = stack.pop()
        here: list[str] = []
        sub: list[str] = []
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    seen += 1
                    if seen > max_entries:
                        out.stopped = True
                        break
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        is_dir = False
                    (sub if is_dir else here).append(entry.name)
        except OSError as e:
            out.errors.append((os.path.relpath(folder, root), f"unreadable folder: {e.strerror or e}"))
            continue
        here.sort()
        room = max_files - len(out.files)
        if len(here) > room:
            out.stopped = True
            del here[room:]
        for name in here:
            full = os.path.join(folder, name)
            out.files.append((os.path.relpath(full, root), full))
        stack.extend(os.path.join(folder, name) for name in sorted(sub, reverse=True))
    return out
