"""The robustness lab (one image, one transform): :func:`lab_strengths`, :func:`transform_curve`,
:func:`encode_original` and :func:`score_copies`."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .. import transforms as _T
from ..methods import Method
from .progress import Progress
from .sweep import SWEEP_MAX_SIDE, encoder_key, robustness_sweep, shrink_to_side


def lab_strengths(transform: str, n: int = 25) -> tuple[float, ...]:
    """Strength grid for the robustness lab's curve: ``n`` even steps over the slider range, the sweep points and
    the identity, rounded to the slider step, sorted."""
    t = _T.TRANSFORMS[transform]
    if t.binary:
        return (float(t.min), float(t.max))
    pts = set(np.linspace(t.min, t.max, n).tolist()) | set(t.sweep) | {t.identity}
    step = t.step
    out = sorted({round(round((p - t.min) / step) * step + t.min, 6) for p in pts})
    return tuple(float(min(max(p, t.min), t.max)) for p in out)


def transform_curve(image: Image.Image, transform: str, methods: Sequence[Method],
                    strengths: Sequence[float] | None = None, thresholds: Mapping[str, float] | None = None, *,
                    params: Mapping[str, dict] | None = None, max_side: int | None = SWEEP_MAX_SIDE,
                    progress: Progress | None = None) -> pd.DataFrame:
    """Score vs strength for one image and one transform (the robustness lab's curve):
    :data:`core.experiments.sweep.ROBUSTNESS_COLUMNS`."""
    ss = tuple(strengths) if strengths is not None else lab_strengths(transform)
    return robustness_sweep([image], methods, [transform], {transform: ss}, thresholds, params=params,
                            names=["image"], max_side=max_side, progress=progress)


#: Columns of :func:`score_copies`.
LAB_COLUMNS = ["method", "label", "unit", "direction", "score", "threshold", "match"]


def encode_original(image: Image.Image, methods: Sequence[Method], *, params: Mapping[str, dict] | None = None,
                    max_side: int | None = SWEEP_MAX_SIDE) -> dict[str, np.ndarray]:
    """Feature row (shape (1, d)) of one image per method; shared encoders run once."""
    img = shrink_to_side(image, max_side)
    out: dict[str, np.ndarray] = {}
    done: dict[tuple, np.ndarray] = {}
    for m in methods:
        p = m.resolve_params((params or {}).get(m.name))
        k = encoder_key(m, p)
        if k not in done:
            done[k] = m.encode([img], **p)
        out[m.name] = done[k]
    return out


def score_copies(original_rows: Mapping[str, np.ndarray], copy: Image.Image, methods: Sequence[Method],
                 thresholds: Mapping[str, float] | None = None, *, params: Mapping[str, dict] | None = None,
                 max_side: int | None = SWEEP_MAX_SIDE) -> pd.DataFrame:
    """Every method's score of ``copy`` against the original rows of :func:`encode_original`; :data:`LAB_COLUMNS`.

    Only the copy is encoded (once per shared encoder)."""
    copy_rows = encode_original(copy, methods, params=params, max_side=max_side)
    rows = []
    for m in methods:
        p = m.resolve_params((params or {}).get(m.name))
        th = float((thresholds or {}).get(m.name, m.threshold_spec(p).default))
        s = float(m.pairwise(original_rows[m.name], copy_rows[m.name], **p)[0, 0])
        rows.append({"method": m.name, "label": m.label, "unit": m.unit,
                     "direction": "higher is closer" if m.higher_is_closer else "lower is closer",
                     "score": s, "threshold": th, "match": bool(m.is_match(s, th))})
    return pd.DataFrame(rows, columns=LAB_COLUMNS)

