"""The Threshold explorer's review: borderline pairs big and side by side with one click "same" / "different", and
on labelled data the false positives and false negatives at the current threshold.

The verdicts stay in this session (``st.session_state``) and turn into a threshold of their own: the one that agrees
with most of them (:func:`core.borderline.verdict_threshold`), one click from being applied.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import sampling as SM
from core.borderline import review_pairs, verdict_threshold
from core.datasets import Dataset
from core.encoding import Features
from core.methods import Method

from . import layout
from . import threshold as T
from . import widgets as W
from .caching import labels_key, memo
from .text import md_escape

K_VERDICTS = "_review_verdicts"  # {(features key, a, b): (score, same)}
BIG = 320  # px, thumbnails of a reviewed pair


def _verdicts(fk: tuple) -> dict:
    allv = st.session_state.setdefault(K_VERDICTS, {})
    return {k[1:]: v for k, v in allv.items() if k[0] == fk}


def _say(fk: tuple, a: str, b: str, score: float, same: bool) -> None:
    st.session_state.setdefault(K_VERDICTS, {})[(fk, a, b)] = (float(score), bool(same))


def _pair(ds: Dataset, m: Method, fk: tuple, r, key: str, verdicts: dict, ask: bool) -> None:
    with st.container(border=True):
        c1, c2 = layout.grid(f"{key}_imgs").columns(2)
        c1.image(W.item_thumb(ds, r.a, BIG), width="stretch")
        c1.caption(md_escape(W.short(r.a, 30)), help=md_escape(r.a))
        c2.image(W.item_thumb(ds, r.b, BIG), width="stretch")
        c2.caption(md_escape(W.short(r.b, 30)), help=md_escape(r.b))
        st.markdown(f"`{W.fmt_score(m, float(r.score))}` · {W.fmt_score(m, abs(float(r.margin)))} "
                    + ("inside" if r.margin >= 0 else "outside") + " the threshold")
        if ask:
            said = verdicts.get((r.a, r.b))
            b1, b2 = st.columns(2)
            b1.button("Same", key=f"{key}::same", icon=":material/check:", width="stretch",
                      type="primary" if said and said[1] else "secondary",
                      on_click=_say, args=(fk, r.a, r.b, float(r.score), True))
            b2.button("Different", key=f"{key}::diff", icon=":material/close:", width="stretch",
                      type="primary" if said and not said[1] else "secondary",
                      on_click=_say, args=(fk, r.a, r.b, float(r.score), False))


def _gallery(ds, m, fk, df: pd.DataFrame, key: str, verdicts: dict, ask: bool, empty: str) -> None:
    if df.empty:
        st.caption(empty)
        return
    for i, r in enumerate(df.itertuples(index=False)):
        _pair(ds, m, fk, r, f"{key}_{i}", verdicts, ask)


def render(ds: Dataset, feats: Features, m: Method, params: dict, thr: float, fk: tuple, *, k: int = 4) -> None:
    """The review section of the Threshold explorer."""
    st.subheader("Borderline pairs: are they the same picture?")
    n_all = len(feats)
    if n_all > SM.ALL_PAIRS_CAP:  # every pair of the set is too many to scan: the pairs of a sample
        feats = memo(fk + ("review-sample", SM.ALL_PAIRS_CAP),
                       lambda: SM.subset(feats, SM.sample_rows(n_all, SM.ALL_PAIRS_CAP)))
        st.caption(f":material/science: Among the pairs of a random sample of {len(feats):,} of the {n_all:,} images "
                   "(all pairs of the set would take too long to scan on every threshold move).")
    gbn = ds.groups_by_name() if ds.has_labels else None
    groups = [gbn.get(n) for n in feats.names] if gbn is not None else None
    out = memo(fk + ("review", T.fmt(m, params, thr), labels_key(ds) if groups else "", k, len(feats)),
                 lambda: review_pairs(feats, thr, groups, k=k))
    verdicts = _verdicts(fk)
    st.caption("The pairs the threshold decides by a hair, closest to it first. Say for each whether it is the same "
               "picture: your answers give a threshold of their own below.")
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Just inside — a match** (at {T.fmt(m, params, thr)})")
        _gallery(ds, m, fk, out["inside"], "rv_in", verdicts, True, "No pair is a match at this threshold.")
    with right:
        st.markdown("**Just outside — not a match**")
        _gallery(ds, m, fk, out["outside"], "rv_out", verdicts, True, "Every pair is a match at this threshold.")
    if verdicts:
        scores = np.array([v[0] for v in verdicts.values()])
        same = np.array([v[1] for v in verdicts.values()])
        got = verdict_threshold(scores, same, m.higher_is_closer)
        if got is not None:
            t, right_n = got
            t = T.snap(m, params, t)
            st.info(f"You said {int(same.sum())} same and {int((~same).sum())} different. The threshold "
                    f"{T.fmt(m, params, t)} agrees with {right_n} of your {len(same)} answers.",
                    icon=":material/how_to_reg:")
            st.button(f"Use {T.fmt(m, params, t)}", key="rv_use", on_click=T.set_value, args=(m, params, t),
                      disabled=abs(float(t) - float(thr)) < 1e-12)
    if groups is not None:
        st.subheader("What the threshold gets wrong (ground truth)")
        fp, fn = st.columns(2)
        with fp:
            st.markdown(f"**False positives** — matched, yet different pictures ({len(out['false_positive'])} "
                        "shown, most confident first)")
            _gallery(ds, m, fk, out["false_positive"], "rv_fp", verdicts, False, "None at this threshold.")
        with fn:
            st.markdown(f"**False negatives** — the same picture, missed ({len(out['false_negative'])} shown, "
                        "farthest first)")
            _gallery(ds, m, fk, out["false_negative"], "rv_fn", verdicts, False, "None at this threshold.")


__all__ = ["render"]
