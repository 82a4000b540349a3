"""Ground-truth labels from a CSV: read ``(file, group)`` rows, match them to a dataset's names through indexes.

The CSV (header optional; ``,``, ``;`` or tab separated; columns found by name: ``file``/``filename``/``name``/
``path``/``image`` and ``group``/``label``/``class``/``group_id``) names files by path relative to the dataset,
by a shorter path suffix, or by base name. :func:`match` resolves each row to at most one name:

1. the exact path;
2. else the one name ending in ``"/" + file`` (a unique path suffix);
3. else the one name with the same base name;

otherwise the row matches nothing. Lookups go through indexes built once — a set for exact paths, the names
reversed and sorted for suffixes (the names ending in ``"/" + f`` are the reversed names starting with
``reversed(f) + "/"``: one contiguous run, found by bisection), a dict for base names — so 1M rows against 10k
names cost O((rows + names) log names) string comparisons, not rows x names (the former scan: ~36 min).

The size cap (``DUPFINDER_MAX_CSV_BYTES``) is checked by the callers before reading (:mod:`core.datasets`).
"""
from __future__ import annotations

import bisect
import csv
import posixpath
from typing import Sequence

from .names import normalise

__all__ = ["FILE_COLUMNS", "GROUP_COLUMNS", "match", "read_rows"]

FILE_COLUMNS = ("file", "filename", "file_name", "name", "path", "image")
GROUP_COLUMNS = ("group", "label", "class", "group_id")


def read_rows(data: bytes) -> list[tuple[str, str | None]]:
    """Rows ``(file, group)`` of a labels CSV; file names normalised (:func:`core.names.normalise`), empty group
    -> None, rows without a file name dropped.

    Parameters
    ----------
    data : bytes
        UTF-8 (BOM allowed), else read as Latin-1.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    first = lines[0]
    delim = max((",", ";", "\t"), key=first.count)
    rows = list(csv.reader(lines, delimiter=delim))
    fi, gi = 0, 1
    head = [c.strip().lower() for c in rows[0]]
    if any(c in FILE_COLUMNS for c in head) or any(c in GROUP_COLUMNS for c in head):
        fi = next((i for i, c in enumerate(head) if c in FILE_COLUMNS), 0)
        gi = next((i for i, c in enumerate(head) if c in GROUP_COLUMNS), 1 if fi != 1 else 0)
        rows = rows[1:]
    out = []
    width = max(fi, gi)
    for r in rows:
        if len(r) <= width:
            continue
        f = normalise(r[fi].strip())
        g = r[gi].strip()
        if f:
            out.append((f, g or None))
    return out


def match(names: Sequence[str], rows: Sequence[tuple[str, str | None]]) -> tuple[dict[str, str | None], int]:
    """Resolve CSV rows to dataset names (module docstring); a later row for the same name wins.

    Parameters
    ----------
    names : sequence of str
        The dataset's item names (unique, normalised). Iterated a constant number of times.
    rows : sequence of (file, group)
        :func:`read_rows`.

    Returns
    -------
    (groups, unmatched) : (dict name -> group or None, int)
        The group of each matched name, and the number of rows that matched no name.
    """
    exact = set(names)
    reversed_names = sorted(n[::-1] for n in names)
    by_base: dict[str, list[str]] = {}
    for n in names:
        hits = by_base.setdefault(posixpath.basename(n), [])
        if len(hits) < 2:  # unique or not is all that matters
            hits.append(n)

    def unique_suffix(f: str) -> str | None:
        key = f[::-1] + "/"
        i = bisect.bisect_left(reversed_names, key)
        if i < len(reversed_names) and reversed_names[i].startswith(key) and not (
                i + 1 < len(reversed_names) and reversed_names[i + 1].startswith(key)):
            return reversed_names[i][::-1]
        return None

    out: dict[str, str | None] = {}
    unmatched = 0
    for f, g in rows:
        if f in exact:
            out[f] = g
            continue
        hit = unique_suffix(f)
        if hit is not None:
            out[hit] = g
            continue
        cands = by_base.get(posixpath.basename(f), ())
        if len(cands) == 1:
            out[cands[0]] = g
        else:
            unmatched += 1
    return out, unmatched
