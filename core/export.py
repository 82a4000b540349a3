"""Exports of a duplicate search: groups as CSV and JSON, and the de-duplicated image set as an in-memory .zip.

Pure library code (no streamlit): the dashboard's download buttons and any script can call it.

* :func:`groups_csv` -> bytes, columns ``group_id,name,size,pixels,bytes,keep`` (one row per image in a group)
* :func:`frame_csv` -> bytes, any table as CSV; like every CSV written here, text cells that a spreadsheet would run
  as a formula (starting with ``= + - @``, tab or CR) get a leading ``'`` (OWASP "CSV injection"): a file called
  ``=HYPERLINK("http://evil.example","Click")`` stays text when the export is opened in Excel or LibreOffice.
* :func:`duplicates_json` -> str, the same shape as ``python -m core duplicates --json``::

      {"method", "threshold", "images", "index": {"kind", "recall_at_10", ...}, "pairs": [{"a", "b", "score"}],
       "total_pairs", "truncated", "groups": [{"members", "keep"}], "copies": {name: n},
       "skipped": [{"file", "reason"}]}

  ``index`` says which index answered (:func:`core.scale.pairs_info`: exact, faiss binary, multi-index hashing or
  the IVF ANN index with its measured recall@10).

  ``pairs`` holds at most ``config.budgets().max_pairs`` (the closest); ``truncated`` says the list was cut and
  ``total_pairs`` counts every pair within the threshold.

* :func:`dedup_zip` -> bytes, a zip holding one copy of every group (the suggested one to keep) plus every
  singleton, under the images' dataset names; :func:`items_zip` builds it (and the Review page's cleaned set).
  Built in memory: nothing is written to disk.
"""
from __future__ import annotations

import io
import json
import math
import numbers
import posixpath
import zipfile
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .search import Duplicates

#: Formats already compressed: stored as-is in the zip (deflating them costs time and saves nothing).
_STORED_EXT = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".heif", ".avif", ".jp2", ".zip"}


#: First characters that make a spreadsheet cell a formula (OWASP CSV injection); tab and CR too, since some
#: spreadsheets strip them and then read what follows.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """``value`` with a leading ``'`` if it is text a spreadsheet would evaluate; anything else unchanged.

    Only ``str`` values are touched: numbers (``-3.5``) stay numbers.

    Examples
    --------
    >>> print(neutralise_formula('=HYPERLINK("http://evil.example")'))
    '=HYPERLINK("http://evil.example")
    >>> neutralise_formula(-3.5), neutralise_formula("a.jpg")
    (-3.5, 'a.jpg')
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells (object/string columns, the index and the column names) cannot run as
    formulas: :func:`neutralise_formula` on each; numeric columns untouched."""
    out = df.copy()
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = out[col].map(neutralise_formula)
    out.columns = [neutralise_formula(c) for c in out.columns]
    if not pd.api.types.is_numeric_dtype(out.index):
        out.index = out.index.map(neutralise_formula)
    return out


def frame_csv(df: pd.DataFrame, *, index: bool = False) -> bytes:
    """``df`` as UTF-8 CSV bytes with formula-like text cells neutralised (:func:`csv_safe`)."""
    return csv_safe(df).to_csv(index=index, lineterminator="\n").encode("utf-8")


def groups_csv(dup: Duplicates) -> bytes:
    """Groups table as UTF-8 CSV bytes (``group_id,name,size,pixels,bytes,keep``); header only if no groups.
    Names (and any other text) that start like a formula get a leading ``'`` (:func:`csv_safe`)."""
    cols = [c for c in ("group_id", "name", "size", "pixels", "bytes", "keep") if c in dup.groups.columns]
    return frame_csv(dup.groups[cols])


def _num(x):
    """JSON-safe number: ints stay ints (numpy ints included), NaN -> None."""
    if x is None or isinstance(x, bool):
        return x
    if isinstance(x, numbers.Integral):
        return int(x)
    f = float(x)
    return None if math.isnan(f) else f


def _skipped_list(skipped: Iterable | None) -> list[dict]:
    out = []
    for s in skipped or ():
        if isinstance(s, Mapping):
            out.append({"file": str(s["file"]), "reason": str(s["reason"])})
        else:
            out.append({"file": str(s.file), "reason": str(s.reason)})
    return out


def duplicates_dict(dup: Duplicates, method: str, threshold: float | None = None,
                    skipped: Iterable | None = None, *, images: int | None = None,
                    pairs: Sequence[Mapping] | None = None, extra: Mapping | None = None) -> dict:
    """The ``duplicates --json`` document as a dict (see module docstring): the CLI prints it, the Duplicates
    page offers it as a download.

    Parameters
    ----------
    skipped : iterable of ``{"file", "reason"}`` mappings or objects with ``file`` / ``reason``
    images : int, optional
        Images encoded (default ``dup.n_images``, the images searched).
    pairs : sequence of dict, optional
        The pairs to list (default ``dup.pairs`` as ``{"a", "b", "score"}``); the CLI passes its verified pairs
        (``{"a", "b", "score", "inliers", "verified"}``) when run with ``--verify``.
    extra : mapping, optional
        Fields appended after ``skipped`` (the CLI's options: ``verify``, ``low_quality``, ``checked_pairs`` ...).
    """
    thr = dup.threshold if threshold is None else threshold
    if pairs is None:
        pairs = [{"a": str(r.a), "b": str(r.b), "score": float(r.score)} for r in dup.pairs.itertuples()]
    return {
        "method": method,
        "threshold": _num(thr),
        "images": int(dup.n_images if images is None else images),
        "index": dict(dup.index),
        "pairs": list(pairs),
        "total_pairs": int(max(dup.total_pairs, len(dup.pairs))),
        "truncated": bool(dup.truncated),
        "groups": [{"members": g["members"], "keep": g["keep"]} for g in dup.group_members()],
        "copies": {str(r.name): int(r.copies) for r in dup.copies.itertuples()},
        "skipped": _skipped_list(skipped),
    } | dict(extra or {})


def duplicates_json(dup: Duplicates, method: str, threshold: float | None = None,
                    skipped: Iterable | None = None, indent: int | None = 2, **fields) -> str:
    """:func:`duplicates_dict` serialised (same shape as the CLI's ``duplicates --json``); ``fields`` are its
    keyword-only arguments."""
    return json.dumps(duplicates_dict(dup, method, threshold, skipped, **fields), indent=indent)


def safe_member_name(name: str) -> str:
    """A zip member name that cannot escape the extraction folder: forward slashes, no drive, no absolute path,
    no ``.``/``..`` components, no empty name."""
    n = str(name).replace("\\", "/")
    if len(n) >= 2 and n[1] == ":":  # C:foo
        n = n[2:]
    parts = [p for p in n.split("/") if p not in ("", ".", "..")]
    return posixpath.join(*parts) if parts else "unnamed"


def dedup_zip(dup: Duplicates, items: Sequence, *, compresslevel: int = 6) -> bytes:
    """The de-duplicated set as zip bytes: :meth:`Duplicates.keep_set` (one per group + singletons).

    Parameters
    ----------
    items : sequence of :class:`core.datasets.Item`
        The dataset's items; each kept name is read with ``item.read_bytes()`` (the original file, unchanged).
        Names not among ``items`` are ignored.
    """
    by_name = {it.name: it for it in items}
    return items_zip((by_name[n] for n in dup.keep_set() if n in by_name), compresslevel=compresslevel)


def items_zip(items: Iterable, *, compresslevel: int = 6) -> bytes:
    """Zip bytes holding each item's original file (``item.read_bytes()``) under its dataset name, in order.

    Member names go through :func:`safe_member_name`; two names that sanitise to the same member are both kept
    (``name~2.ext``). Already-compressed formats are stored, anything else deflated. Built in memory.
    """
    buf = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for it in items:
            arc = safe_member_name(it.name)
            stem, ext = posixpath.splitext(arc)
            k = 1
            while arc in used:  # two names that sanitise to the same member: keep both
                k += 1
                arc = f"{stem}~{k}{ext}"
            used.add(arc)
            comp = zipfile.ZIP_STORED if ext.lower() in _STORED_EXT else zipfile.ZIP_DEFLATED
            zf.writestr(arc, it.read_bytes(), compress_type=comp)
    return buf.getvalue()


__all__ = ["FORMULA_PREFIXES", "csv_safe", "dedup_zip", "duplicates_dict", "duplicates_json", "frame_csv",
           "groups_csv", "items_zip", "neutralise_formula", "safe_member_name"]
