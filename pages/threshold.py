"""Threshold explorer: how the chosen method's scores separate duplicates from different pictures, and which
threshold to use (best F1 on labelled data; nearest-neighbour scores on unlabelled data)."""
from __future__ import annotations

import math

import numpy as np

import streamlit as st

from core import sampling as SM
from core.charts import nearest_neighbour_histogram, pair_score_histogram, prf_curve
from core.evaluation import labelled_pair_scores, suggest_threshold, threshold_sweep
from core.search import nearest_neighbours
from ui import review
from ui import threshold as T
from ui import widgets as W
from ui.caching import features_key, labels_key, memo
from ui.entry import ensure_app
from ui.features import cached_features
from ui.skipped import show_skipped
from ui.state import current_dataset, current_method, require_features
from ui.text import md_escape

ensure_app()  # deep links: run through app.py (sidebar, navigation)
st.title(":material/tune: Threshold explorer")
ds = current_dataset()
m, params = current_method()
st.caption(f"Dataset: **{md_escape(ds.name)}** ({len(ds.items)} images) · method: **{m.label}** — {m.unit}, "
           f"{'higher' if m.higher_is_closer else 'lower'} = closer. The threshold you set here is used by every "
           "page.")

feats = cached_features(ds, m, params)
require_features(ds, feats)
fk = features_key(ds, m, params)
spec = m.threshold_spec(params)
thr = T.slider(m, params, key="thr_thr")


def _use(value: float) -> None:
    T.set_value(m, params, value)
    st.session_state["_thr_applied"] = value


def suggestion_reason(sweep, at, brow, m, params) -> str:
    """Why the suggested threshold: the F1 it gains over the current one, the pairs it adds or drops, and the range
    of thresholds that all reach the best F1 (the suggestion is its middle, away from a knife edge)."""
    f1 = sweep["f1"].to_numpy()
    best_rows = sweep["threshold"].to_numpy()[f1 >= np.nanmax(f1) - 1e-12]
    lo, hi = T.fmt(m, params, best_rows.min()), T.fmt(m, params, best_rows.max())
    span = (f"Every threshold from {lo} to {hi} reaches F1 {brow['f1']:.2f}; the suggestion is the middle of that "
            "range, so a slightly different photo does not fall off an edge. ") if lo != hi else ""
    d_tp, d_fp = int(brow["tp"] - at["tp"]), int(brow["fp"] - at["fp"])
    if abs(float(brow["threshold"]) - float(at["threshold"])) < 1e-12:
        return span + f"The current threshold is the suggested one (F1 {brow['f1']:.2f})."
    moves = []
    if d_tp:
        moves.append(f"{'finds' if d_tp > 0 else 'loses'} {abs(d_tp)} true duplicate pair{'s' if abs(d_tp) != 1 else ''}")
    if d_fp:
        moves.append(f"{'adds' if d_fp > 0 else 'drops'} {abs(d_fp)} wrong pair{'s' if abs(d_fp) != 1 else ''}")
    gain = float(brow["f1"]) - (float(at["f1"]) if np.isfinite(at["f1"]) else 0.0)
    return span + (f"Compared with the current threshold it gains {gain:+.2f} F1 ({_fmt(at['f1'])} → "
                   f"{brow['f1']:.2f})" + (": it " + " and ".join(moves) if moves else "") + ".")


def _fmt(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


BIG = len(feats) > SM.ALL_PAIRS_CAP  # all pairs of the set would be too many to score: a sample, said so
if ds.has_labels:
    gbn = ds.groups_by_name()
    lk = labels_key(ds)
    fs = memo(fk + ("label-sample", lk, SM.ALL_PAIRS_CAP),
                lambda: SM.subset(feats, SM.group_rows(feats.names, gbn, SM.ALL_PAIRS_CAP))) if BIG else feats
    if BIG:
        st.caption(f":material/science: Measured on a sample: {len(fs):,} of the {len(feats):,} images (whole labelled "
                   f"groups drawn at random), all {len(fs) * (len(fs) - 1) // 2:,} of their pairs. All pairs of the "
                   f"set would be {len(feats) * (len(feats) - 1) // 2:,}.")
    sweep = memo(fk + ("sweep", lk, "slider-grid", len(fs)), lambda: threshold_sweep(fs, gbn, grid=T.grid(m, params)))
    pairs = memo(fk + ("pairs", lk, len(fs)), lambda: labelled_pair_scores(fs, gbn))
    best = suggest_threshold(sweep)
    # metrics at the current threshold: the sweep row at or just inside it
    at = sweep.iloc[(sweep["threshold"] - float(thr)).abs().argsort().iloc[0]]
    c = st.columns(5)
    c[0].metric("Current threshold", T.fmt(m, params, thr), help=f"default {T.fmt(m, params, spec.default)}")
    c[1].metric("Precision", _fmt(at["precision"]), help="share of pairs called duplicates that truly are")
    c[2].metric("Recall", _fmt(at["recall"]), help="share of true duplicate pairs that are found")
    c[3].metric("F1", _fmt(at["f1"]))
    if best is not None:
        best = T.snap(m, params, best)
        brow = sweep.iloc[(sweep["threshold"] - best).abs().argsort().iloc[0]]
        c[4].metric("Suggested (best F1)", T.fmt(m, params, best), help=f"F1 {brow['f1']:.2f} at "
                    f"{T.fmt(m, params, best)}")
        b1, b2 = st.columns([1, 3])
        b1.button(f"Use this threshold ({T.fmt(m, params, best)})", type="primary", key="use_suggested", on_click=_use,
                  args=(best,), disabled=bool(abs(float(thr) - best) < 1e-12), width="stretch")
        b2.button(f"Back to the default ({T.fmt(m, params, spec.default)})", key="use_default", on_click=_use,
                  args=(spec.default,))
        st.caption(":material/lightbulb: " + suggestion_reason(sweep, at, brow, m, params))
    else:
        c[4].metric("Suggested", "–", help="no threshold finds any true duplicate pair")
    if st.session_state.pop("_thr_applied", None) is not None:
        st.success(f"Threshold {T.fmt(m, params, T.current(m, params))} applied to Search, Duplicates and "
                   "Compare.")

    n_dup = int(pairs["duplicate"].sum())
    st.plotly_chart(pair_score_histogram(pairs, m, thr, best, params), key="thr_hist", config={"displaylogo": False})
    st.caption(f"{n_dup} duplicate pairs (same ground-truth group) vs {len(pairs) - n_dup} pairs of different "
               "pictures" + (" (a random sample)" if len(pairs) - n_dup >= 20000 else "") + ". Each class is "
               "scaled to 100 %, so the overlap is what matters: the less the two humps overlap, the easier a "
               "threshold is to choose. The shaded side of the current threshold counts as a match.")
    st.plotly_chart(prf_curve(sweep, m, thr, best), key="thr_prf", config={"displaylogo": False})
    with st.expander("The sweep as a table"):
        st.dataframe(sweep, hide_index=True, width="stretch")
else:
    st.info("This dataset has no ground-truth labels, so precision and recall cannot be measured. Below: each "
            "image's score to its nearest other image — duplicates sit at the close end, unique images far away. "
            "To get precision/recall, choose a labelling convention in the sidebar (folders, CSV or "
            "consecutive:K).")
    nn = memo(fk + ("nn", BIG), lambda: SM.sampled_nearest_neighbours(feats) if BIG else nearest_neighbours(feats))
    n_match = int(m.is_match(nn["score"].to_numpy(), thr).sum()) if len(nn) else 0
    c = st.columns(3)
    c[0].metric("Current threshold", T.fmt(m, params, thr), help=f"default {T.fmt(m, params, spec.default)}")
    c[1].metric("Images with a match" + (" (sample)" if BIG else ""), f"{n_match} / {len(nn)}")
    c[2].metric("Default", T.fmt(m, params, spec.default))
    st.plotly_chart(nearest_neighbour_histogram(nn, m, thr, params), key="thr_nn", config={"displaylogo": False})
    if BIG:
        st.caption(f":material/science: A random sample of {len(nn):,} of the {len(feats):,} images, each with its "
                   f"nearest neighbour searched among all {len(feats):,} (exactly). The Duplicates page counts every "
                   "image.")
    with st.expander("Nearest neighbours as a table"):
        W.paged_table(nn.sort_values("score", ascending=not m.higher_is_closer), key="thr_nn_table",
                      hide_index=True, width="stretch")
review.render(ds, feats, m, params, thr, fk)
show_skipped(ds, feats)
