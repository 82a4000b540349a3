"""Clean a folder: move every copy that is not its group's keeper into another folder, log it, undo it.

Nothing is ever deleted or overwritten:

* a move is a hard link at the destination (which fails if the name is taken) followed by removing the source
  name; across file systems, an exclusive-create copy whose SHA-256 is checked before the source name is removed;
* a destination name that is taken gets `` (moved N)`` before its extension, and the log says so;
* the undo log (JSON lines, in the move-to folder) is written line by line as files move, so even an interrupted
  clean can be undone. First line: ``{"format": "dupfinder-undo", "version": 1, "dataset", "move_to", "created",
  "method", "threshold", "keep", "groups"}``; then one line per move: ``{"source", "destination", "sha256",
  "size", "name", "keeper", "reason", "renamed"}`` (absolute paths); :func:`undo` appends ``{"undone": time}``.

:func:`undo` checks everything first (each moved file present with its logged SHA-256, each original place free)
and moves nothing if any check fails; then moves every file back and checks its hash again.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Sequence

from ..datasets import Dataset
from ..folder_access import real_path
from .groups import keeper_groups
from .store import now

LOG_FORMAT = "dupfinder-undo"
LOG_VERSION = 1


class UndoRefused(Exception):
    """Undo checks failed (a place occupied, a moved file missing or changed); nothing was moved."""


@dataclass
class PlannedGroup:
    keep: str
    reason: str
    move: list[str]


@dataclass
class Moved:
    name: str
    source: str
    destination: str
    renamed: bool


@dataclass
class Outcome:
    groups: list[PlannedGroup]
    moved: list[Moved] = field(default_factory=list)
    not_moved: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    log: str | None = None


def plan(dataset: Dataset, names: Sequence[str], i, j, *, rule: str = "original", mode: str = "components"
         ) -> list[PlannedGroup]:
    """The keeper of each duplicate group (``names`` are the encoded images, (i, j) their pairs) and what moves
    (:func:`core.collection.groups.keeper_groups`)."""
    return [PlannedGroup(g.keeper, g.reason, [n for n in g.members if n != g.keeper])
            for g in keeper_groups(dataset, names, i, j, rule=rule, mode=mode)]


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def move_file(src: str, dst: str) -> None:
    """Move ``src`` to ``dst`` without ever overwriting: FileExistsError if ``dst`` exists (checked atomically)."""
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EACCES):
            raise
        _copy_then_unlink(src, dst)
        return
    os.unlink(src)


def _copy_then_unlink(src: str, dst: str) -> None:
    want = sha256_file(src)
    with open(src, "rb") as fi, open(dst, "xb") as fo:  # "x": fails if the name was taken meanwhile
        shutil.copyfileobj(fi, fo, 1 << 20)
    shutil.copystat(src, dst)
    if sha256_file(dst) != want:
        os.unlink(dst)  # our own partial copy, never the user's file
        raise OSError(f"copy of {src} did not verify")
    os.unlink(src)


def _free_name(dst: str) -> str:
    """``dst`` or ``stem (moved N).ext`` with the first N whose name is free."""
    if not os.path.lexists(dst):
        return dst
    stem, ext = os.path.splitext(dst)
    n = 1
    while os.path.lexists(f"{stem} (moved {n}){ext}"):
        n += 1
    return f"{stem} (moved {n}){ext}"


def _open_log(move_to: str, header: dict):
    os.makedirs(move_to, exist_ok=True)
    stamp = now().replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    base = os.path.join(move_to, f"dupfinder-undo-{stamp}")
    n = 0
    while True:
        path = f"{base}{'' if n == 0 else f'-{n}'}.jsonl"
        try:
            f = open(path, "x", encoding="utf-8")
            break
        except FileExistsError:
            n += 1
    f.write(json.dumps(header) + "\n")
    f.flush()
    return path, f


def _keeper_gone(dataset: Dataset, name: str) -> str | None:
    """Why the keeper ``name`` is no longer the file that was scanned ("was removed", "changed"), or None."""
    it = dataset.by_name(name)
    try:
        return None if sha256_file(it.path) == it.content_id else "changed"
    except OSError:
        return "was removed or became unreadable"


def overlaps(move_to: str, root: str) -> bool:
    """True when ``move_to`` is the dataset folder ``root``, lies inside it or contains it (after resolving ``~``,
    ``..`` and symbolic links): a destination clean refuses (the CLI's ``--move-to`` and the Review page)."""
    t, r = real_path(move_to), real_path(root)
    try:
        return os.path.commonpath([t, r]) in (t, r)
    except ValueError:  # different drives (Windows): neither holds the other
        return False


def apply(dataset: Dataset, groups: Sequence[PlannedGroup], move_to: str, header: dict) -> Outcome:
    """Move every planned non-keeper of ``dataset`` (a folder) into ``move_to`` and log each move.

    A file is not moved (listed in ``not_moved`` with the reason) if it is a symbolic link, if its bytes changed
    since the dataset was scanned, if its group's keeper is gone or changed, or if the move fails.
    """
    root = os.path.abspath(dataset.root)
    move_to = os.path.abspath(move_to)
    out = Outcome(list(groups))
    log_path, log = None, None
    try:
        for g in groups:
            gone = _keeper_gone(dataset, g.keep)
            if gone:  # never move the copies away from a folder that no longer holds their keeper
                out.not_moved += [(name, f"not moved: its keeper {g.keep} {gone} since the scan") for name in g.move]
                continue
            for name in g.move:
                it = dataset.by_name(name)
                src = os.path.abspath(it.path)
                if os.path.islink(src):
                    out.not_moved.append((name, "symbolic link: not moved"))
                    continue
                try:
                    sha = sha256_file(src)
                except OSError as e:
                    out.not_moved.append((name, f"unreadable: {e.strerror or e}"))
                    continue
                if sha != it.content_id:
                    out.not_moved.append((name, "changed since it was scanned: not moved"))
                    continue
                want = os.path.join(move_to, os.path.relpath(src, root))
                dst = _free_name(want)
                try:
                    try:
                        move_file(src, dst)
                    except FileExistsError:  # taken between the check and the move
                        dst = _free_name(want)
                        move_file(src, dst)
                except OSError as e:
                    out.not_moved.append((name, f"move failed: {e.strerror or e}"))
                    continue
                if log is None:
                    log_path, log = _open_log(move_to, {"format": LOG_FORMAT, "version": LOG_VERSION,
                                                        "dataset": root, "move_to": move_to, "created": now(),
                                                        **header})
                log.write(json.dumps({"source": src, "destination": dst, "sha256": sha, "size": it.size_bytes,
                                      "name": name, "keeper": g.keep, "reason": g.reason,
                                      "renamed": dst != want}) + "\n")
                log.flush()
                os.fsync(log.fileno())
                out.moved.append(Moved(name, src, dst, dst != want))
    finally:
        if log is not None:
            log.close()
    out.log = log_path
    return out


def read_log(path: str) -> tuple[dict, list[dict], bool]:
    """(header, moves, already undone) of an undo log; ValueError if it is not one."""
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    if not lines or not isinstance(lines[0], dict) or lines[0].get("format") != LOG_FORMAT:
        raise ValueError(f"{path} is not a dupfinder undo log")
    if lines[0].get("version") != LOG_VERSION:
        raise ValueError(f"undo log version {lines[0].get('version')!r} is not supported")
    moves = [m for m in lines[1:] if "source" in m]
    return lines[0], moves, any("undone" in m for m in lines[1:])


def undo(path: str) -> list[dict]:
    """Put every file of the undo log at ``path`` back; returns the moves undone.

    Raises
    ------
    UndoRefused
        Listing every problem (original place occupied, moved file missing or changed, log already undone);
        nothing has been moved.
    ValueError
        Not an undo log.
    """
    _, moves, undone = read_log(path)
    if undone:
        raise UndoRefused(f"{path} was already undone")
    problems = []
    for m in moves:
        if os.path.lexists(m["source"]):
            problems.append(f"occupied: {m['source']} (a file is already there; move it away first)")
        if not os.path.isfile(m["destination"]):
            problems.append(f"missing: {m['destination']} (moved there by the clean, not found now)")
        elif sha256_file(m["destination"]) != m["sha256"]:
            problems.append(f"changed: {m['destination']} (its bytes differ from the logged SHA-256)")
    if problems:
        raise UndoRefused("nothing was moved back:\n  " + "\n  ".join(problems))
    for m in moves:
        move_file(m["destination"], m["source"])
        if sha256_file(m["source"]) != m["sha256"]:  # cannot happen with link/verified copy; say so if it does
            raise OSError(f"{m['source']} does not match its logged SHA-256 after moving back")
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"undone": now(), "files": len(moves)}) + "\n")
    return moves
