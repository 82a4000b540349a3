"""The "What are you looking for?" presets (issue 11, item 7): a plain-language intent -> a method and threshold.

Measured, not guessed: ``bench/recommend.py`` encodes every registered method on the intent's labelled sets (the
built-in demo sets and the labelled development sets) and picks, per method, ONE threshold on the slider's grid for
all those sets together (best mean pair F1; for exact copies the highest mean recall with precision 1.00 on every
set); the presets below are the first row of each table in ``bench/RESULTS.md`` (section "What are you looking
for?"). Re-run the bench when a method or a set changes, and update these rows from its output.

Invariance and verification options will join the presets once the core offers them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """One intent: what a non-programmer is looking for, and the setting measured best for it."""

    key: str
    label: str  # the choice as a user reads it
    short: str  # a few words under the choice
    help: str  # what it finds, in plain words
    method: str  # registry name
    threshold: float  # in the method's unit, on its slider grid (default parameters)
    measured: str  # the measurement behind it, one line


SETS_EDITED = "demo near-duplicates, caltech101 resized, imagededup test data, Pillow photos"
PRESETS: dict[str, Preset] = {p.key: p for p in (
    Preset("exact", "Exact copies", "the same picture re-saved · fast, strict", "The same picture saved again (another file, format or size). Fast; never "
           "called two different photos a match on any of our labelled sets.",
           method="ahash", threshold=9,
           measured="precision 1.00 on all 5 labelled sets (2 demo sets + " + SETS_EDITED.split(", ", 1)[1]
                    + "); finds 61 % of their near-duplicate pairs on average"),
    Preset("edited", "Edited copies", "resized, cropped, recoloured", "Re-encoded, resized, cropped, brightened or recoloured versions of the "
           "same photo. A neural network looks at every photo: slower on big collections.",
           method="cnn-cosine", threshold=0.625,
           measured=f"mean pair F1 0.95 on 4 labelled sets ({SETS_EDITED}); average hash at 12, the fast "
                    "choice, reaches 0.89"),
    Preset("reshot", "Same scene re-shot", "another angle, distance or light", "The same object or place photographed again: another angle, "
           "distance or light. A neural network looks at every photo: slower on big collections.",
           method="cnn-euclidean", threshold=15.5,
           measured="pair F1 1.00 on the multi-view demo set (8 scenes x 4 shots; CNN + cosine ties); the best "
                    "non-CNN method reaches 0.69"),
)}


__all__ = ["PRESETS", "Preset"]
