"""Ground-truth labels of a dataset: parse a convention, apply it, and suggest one from what the files look like.

Conventions (``labels``), see :func:`parse_labels`:

``consecutive:K``  items sorted by name, every K consecutive ones form a group (SFBench: K=4)
``folders``        the parent folder is the group (root items: None); in a zip whose entries all
                   sit in one top-level folder, that wrapper folder is ignored
``csv[:PATH]``     a CSV with columns ``file,group`` (default ``GROUND_TRUTH.csv`` at the root)
``none``           unlabelled

:func:`suggest_labels` is the rule the app (and any front end) uses to pick one on its own.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from typing import Iterable

from .. import config
from . import label_csv, names
from .limits import DatasetError, human_bytes
from .model import Dataset
from .names import display_path, natural_key

LABELS_REASON = "labels file (not an image)"
GROUND_TRUTH = "ground_truth.csv"  # compared case-insensitively

_LABEL_FORMS = "'consecutive:K' (K >= 1), 'folders', 'csv' or 'csv:PATH', 'none'"


def parse_labels(spec: str | None) -> tuple[str, object]:
    """Parse a labelling convention.

    Parameters
    ----------
    spec : str or None
        ``"consecutive:K"``, ``"folders"``, ``"csv"``, ``"csv:PATH"``, ``"none"`` or None.

    Returns
    -------
    (kind, arg) : tuple
        ``("consecutive", K)``, ``("folders", None)``, ``("csv", PATH or None)`` or
        ``("none", None)``.

    Raises
    ------
    ValueError
        Naming the valid forms.
    """
    if spec is None:
        return ("none", None)
    if not isinstance(spec, str):
        raise ValueError(f"labels must be a string, one of {_LABEL_FORMS}; got {spec!r}")
    s = spec.strip()
    kind, _, arg = s.partition(":")
    kind = kind.strip().lower()
    if kind in ("", "none") and not arg:
        return ("none", None)
    if kind in ("folders", "folder") and not arg:
        return ("folders", None)
    if kind == "csv":
        return ("csv", arg.strip() or None)
    if kind == "consecutive":
        try:
            k = int(arg.strip())
        except ValueError:
            k = 0
        if k >= 1:
            return ("consecutive", k)
    raise ValueError(f"invalid labels {spec!r}: use one of {_LABEL_FORMS}")


def spec_string(kind: str, arg) -> str | None:
    if kind == "none":
        return None
    if kind == "consecutive":
        return f"consecutive:{arg}"
    if kind == "csv":
        return f"csv:{arg}" if arg else "csv"
    return kind




def csv_groups(names: list[str], data: bytes) -> tuple[dict[str, str | None], list[str]]:
    """Group of each name from a labels CSV (:func:`core.datasets.label_csv.match`), and notes about the match.

    Raises
    ------
    DatasetError
        The CSV is larger than ``DUPFINDER_MAX_CSV_BYTES``.
    """
    cap = config.budgets().max_csv_bytes
    if len(data) > cap:
        raise DatasetError(f"labels CSV too large: {human_bytes(len(data))} exceeds the {human_bytes(cap)} limit "
                           "(DUPFINDER_MAX_CSV_BYTES)")
    rows = label_csv.read_rows(data)
    out, unmatched = label_csv.match(names, rows)
    notes = []
    if not rows:
        notes.append("labels CSV has no rows")
    if unmatched:
        notes.append(f"{unmatched} labels CSV row(s) matched no image")
    missing = sum(1 for n in names if n not in out)
    if rows and missing:
        notes.append(f"{missing} image(s) not in the labels CSV (no group)")
    return out, notes


def wrapper_prefix(names: Iterable[str]) -> str:
    """The single top-level folder every name sits in ("" if none): zips often wrap one."""
    tops = set()
    for n in names:
        if "/" not in n:
            return ""
        tops.add(n.split("/", 1)[0])
        if len(tops) > 1:
            return ""
    return (tops.pop() + "/") if tops else ""


def relabel(ds: Dataset, kind: str, arg, csv_bytes: bytes | None, strip_wrapper: bool) -> Dataset:
    names = [it.name for it in ds.items]
    notes: list[str] = []
    if kind == "consecutive":
        order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
        groups: list[str | None] = [None] * len(names)
        for rank, i in enumerate(order):
            groups[i] = f"g{rank // arg:03d}"
        if names and len(names) % arg:
            notes.append(f"{len(names)} images is not a multiple of {arg}: the last group is smaller")
    elif kind == "folders":
        prefix = wrapper_prefix(names) if strip_wrapper else ""
        groups = [posixpath.dirname(n[len(prefix):]) or None for n in names]
    elif kind == "csv":
        if csv_bytes is None:
            csv_bytes = find_csv(ds, arg)
        mapping, notes = csv_groups(names, csv_bytes)
        groups = [mapping.get(n) for n in names]
    else:
        groups = [None] * len(names)
    items = [it if it.group == g else dataclasses.replace(it, group=g) for it, g in zip(ds.items, groups)]
    return dataclasses.replace(ds, items=items, labels=spec_string(kind, arg), notes=notes)


def find_csv(ds: Dataset, arg: str | None) -> bytes:
    """Labels CSV bytes: from the files seen at load, else from disk (absolute, CWD, root)."""
    if arg is None:
        cands = [n for n in ds.label_files if posixpath.basename(n).lower() == GROUND_TRUTH]
        cands.sort(key=lambda n: (n.count("/"), n))
        if cands:
            return ds.label_files[cands[0]]
        raise DatasetError("labels 'csv': no GROUND_TRUTH.csv at the dataset root; "
                           "give 'csv:PATH' or upload the CSV")
    key = names.normalise(arg)
    if key in ds.label_files:
        return ds.label_files[key]
    tails = [n for n in ds.label_files if n.endswith("/" + key)]
    if len(tails) == 1:
        return ds.label_files[tails[0]]
    paths = [arg] + ([os.path.join(ds.root, arg)] if ds.root and os.path.isdir(ds.root) else [])
    for p in paths:
        if os.path.isfile(p):
            try:
                cap = config.budgets().max_csv_bytes
                if os.path.getsize(p) > cap:
                    raise DatasetError(f"labels file too large: {display_path(arg)} exceeds the {human_bytes(cap)} limit "
                                       "(DUPFINDER_MAX_CSV_BYTES)")
                with open(p, "rb") as f:
                    return f.read()
            except OSError as e:
                raise DatasetError(f"cannot read labels file {arg}: {e.strerror or e}") from None
    raise DatasetError(f"labels file not found: {arg}")


def apply_labels(dataset: Dataset, labels: str | None, csv_bytes: bytes | None = None) -> Dataset:
    """Relabel an already loaded dataset (new Dataset; items share their bytes).

    Parameters
    ----------
    dataset : Dataset
    labels : str or None
        Convention, see :func:`parse_labels`.
    csv_bytes : bytes, optional
        The labels CSV (e.g. uploaded); otherwise it is looked up among the dataset's CSV files
        and then on disk.

    Raises
    ------
    ValueError
        Bad ``labels`` spec.
    DatasetError
        ``csv`` requested and no CSV found.
    """
    kind, arg = parse_labels(labels)
    return relabel(dataset, kind, arg, csv_bytes, strip_wrapper=dataset.root is None)



def suggest_labels(ds: Dataset) -> str:
    """The labelling convention a dataset's own files suggest, as a spec for :func:`apply_labels`.

    ``"csv"`` when a ``GROUND_TRUTH.csv`` came with the files; else ``"folders"`` when the images sit in
    sub-folders (ignoring the one wrapper folder a zip or an upload often has); else ``"none"``.
    """
    if any(posixpath.basename(n).lower() == GROUND_TRUTH for n in ds.label_files):
        return "csv"
    item_names = [it.name for it in ds.items]
    prefix = wrapper_prefix(item_names) if ds.root is None else ""
    if any("/" in n[len(prefix):] for n in item_names):
        return "folders"
    return "none"
