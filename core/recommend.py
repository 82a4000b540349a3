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
    help: str  # what it finds, in plain words
    method: str  # registry name
    threshold: float  # in the method's unit, on its slider grid (default parameters)
    measured: str  # the measurement behind it, one line


PRESETS: dict[str, Preset] = {p.key: p for p in (
    Preset("exact", "Exact copies", "The same file, or the same picture saved again (another format or "
           "quality). Never calls two different photos a match.",
           method="dhash", threshold=0, measured="MEASURED_EXACT"),
    Preset("edited", "Edited copies", "Re-encoded, resized, cropped, brightened or recoloured versions of the "
           "same photo.",
           method="phash", threshold=16, measured="MEASURED_EDITED"),
    Preset("reshot", "Same scene re-shot", "The same object or place photographed again: another angle, "
           "distance or light. Slower (a neural network looks at every photo).",
           method="cnn-cosine", threshold=0.7, measured="MEASURED_RESHOT"),
)}


__all__ = ["PRESETS", "Preset"]
