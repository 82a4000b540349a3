"""Datasets: the images to compare (from a folder, a zip or uploads) and their ground truth.

A :class:`Dataset` is a sorted list of :class:`Item` (name, content hash, header facts, optional
group label, and where the bytes are) plus the list of :class:`Skipped` files with a reason.
Loading never raises for a bad *file*: every file given ends up as exactly one item or one
skipped entry (``files_given == len(items) + len(skipped)``). Only a refused *source* (missing
folder, not a zip, zip bomb) raises :class:`DatasetError`.

One concept per module:

=================  ===========================================================================
``limits``         :class:`Limits` (``DUPFINDER_MAX_*``), :class:`DatasetError`
``model``          :class:`Item`, :class:`Skipped`, :class:`Dataset`
``names``          printable, relative, unique file names; natural sort; hidden files
``labels``         ground-truth conventions: :func:`parse_labels`, :func:`apply_labels`, :func:`suggest_labels`
``label_csv``      reading a ``file,group`` CSV and matching its rows to names
``builder``        the per-file pipeline every source shares (probe, item or skipped, limits)
``stat_memo``      folders skip files unchanged since a previous load; :func:`no_stat_memo`
``folder``         :func:`load_folder`
``zip_source``     :func:`load_zip` (``zipdir``: the zip-bomb checks on the archive's directory)
``files``          :func:`load_files` (uploads) and :func:`load` (folder or zip, by inspection)
=================  ===========================================================================
"""

from __future__ import annotations

from .files import load, load_files
from .folder import load_folder
from .labels import GROUND_TRUTH, LABELS_REASON, apply_labels, parse_labels, suggest_labels, wrapper_prefix
from .limits import RATIO_FLOOR_BYTES, DatasetError, Limits, Progress
from .model import Dataset, Item, Skipped
from .names import HIDDEN_REASON, natural_key
from .stat_memo import STAT_MEMO_VERSION, no_stat_memo
from .zip_source import load_zip

__all__ = [
    "GROUND_TRUTH", "HIDDEN_REASON", "LABELS_REASON", "RATIO_FLOOR_BYTES", "STAT_MEMO_VERSION", "Dataset",
    "DatasetError", "Item", "Limits", "Progress", "Skipped", "apply_labels", "load", "load_files", "load_folder",
    "load_zip", "natural_key", "no_stat_memo", "parse_labels", "suggest_labels", "wrapper_prefix",
]
