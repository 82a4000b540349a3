"""The Robustness lab's invariance / verification comparison: for the sidebar's method, the score-vs-strength curve
of one edit as is and with ``dihedral`` invariance, plus the local-feature verdict at each strength.

Reuses :func:`core.experiments.transform_curve` with the wrapped method (:func:`core.invariance.invariant`) and
:func:`core.verification.verify_images`; computed on demand (a button) and cached per image, edit and method, so
the lab's slider stays as cheap as before.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import experiments as E
from core import transforms as T
from core.charts import experiment_charts as C
from core.invariance import base_of, invariant
from core.methods import METHODS
from core.verification import verify_images

MODES = ("none", "dihedral")


def curve_name(name: str, mode: str) -> str:
    """The curve's line name: the method's name, with the mode when not ``none``."""
    return name if mode == "none" else f"{name} [{mode}]"


@st.cache_data(max_entries=16, show_spinner="Scoring the edit with and without invariance, verifying each copy…")
def comparison(digest: str, transform: str, method_name: str, threshold: float, _img) -> pd.DataFrame:
    """Curve rows (:data:`core.experiments.ROBUSTNESS_COLUMNS` plus ``mode``) for each mode, and per strength the
    verification's ``inliers`` / ``verified`` (the same for every mode: it does not use the method)."""
    base = METHODS[method_name]
    parts = []
    for mode in MODES:
        df = E.transform_curve(_img, transform, [invariant(base, mode)], thresholds={base.name: threshold})
        parts.append(df.assign(mode=mode, method=curve_name(base.name, mode)))
    out = pd.concat(parts, ignore_index=True)
    original = E.shrink_to_side(_img, E.SWEEP_MAX_SIDE)
    checks = {}
    for s in sorted(out["strength"].unique()):
        v = verify_images(original, T.apply(original, transform, float(s)))
        checks[s] = (int(v.inliers), bool(v.verified))
    out["inliers"] = [checks[s][0] for s in out["strength"]]
    out["verified"] = [checks[s][1] for s in out["strength"]]
    return out


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per strength: detected as is, detected with dihedral, verified (inliers)."""
    wide = rows.pivot_table(index="strength", columns="mode", values="detected", aggfunc="all")
    ver = rows.groupby("strength")[["inliers", "verified"]].first()
    return pd.DataFrame({"strength": wide.index, "as is": wide["none"].to_numpy(),
                         "any 90° rotation or mirror": wide["dihedral"].to_numpy(),
                         "verified (local features)": ver["verified"].to_numpy(),
                         "inliers": ver["inliers"].to_numpy()})


def render(digest: str, transform: str, strength: float, method, params, threshold: float, image) -> None:
    """The section (a button computes it; the result stays for this image, edit and method)."""
    base = base_of(method)
    st.subheader("With and without invariance and verification")
    st.caption(f"{base.label} (the sidebar's method) on this edit: as is, and scored over the 8 rotations by 90° "
               "with and without mirror; plus whether matching local features confirms each copy.")
    key = ("lab::inv", digest, transform, base.name, float(threshold))
    if st.session_state.get("lab::inv_shown") != key:
        if not st.button("Compare invariance and verification", key="lab::inv_run", icon=":material/compare:"):
            return
        st.session_state["lab::inv_shown"] = key
    rows = comparison(digest, transform, base.name, float(threshold), image)
    names = [curve_name(base.name, m) for m in MODES]
    st.plotly_chart(C.lab_curve(rows, strength, names, transform,
                                thresholds={n: float(threshold) for n in names}), key="lab::inv_curve")
    st.dataframe(summary(rows), hide_index=True, width="stretch", key="lab::inv_table")


__all__ = ["comparison", "curve_name", "render", "summary"]
