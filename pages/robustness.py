"""Robustness lab: one image, one transform, a strength slider; every method's score and verdict at once, and the
score-vs-strength curve with the current strength marked.

Cost of a slider move: one transform + one encode of the *copy* per encoder (the original's features and the whole
curve are cached per image and transform with ``st.cache_data``)."""
from __future__ import annotations

import hashlib
import io

import pandas as pd
import streamlit as st

from core import experiments as E
from core import images as I
from core import transforms as T
from core.charts import experiment_charts as C
from core.demo import DISTRACTOR_SOURCES, GROUP_SOURCES, sources_path
from core.methods import ARTICLE, METHODS, REGISTRY
from ui import robustness_invariance
from ui import widgets as W
from ui.entry import ensure_app
from ui.state import current_method
from ui.threshold import current as current_threshold
from ui.text import md_escape

ensure_app()  # deep links: run through app.py (sidebar, navigation)

K_IMG = "lab::image"  # session_state: (label, bytes)
DEMO_PHOTOS = tuple(GROUP_SOURCES) + tuple(DISTRACTOR_SOURCES)

st.title(":material/rotate_90_degrees_ccw: Robustness lab")
st.markdown("Pick a photo, choose an edit and move its strength: the edited copy is scored against the original by "
            "every method at once, at each method's current threshold (set on the Threshold explorer page, default "
            "otherwise). The curve below shows the score over the whole strength range.")


# ------------------------------------------------------------------------------------------------ cached work
@st.cache_data(max_entries=64, show_spinner=False)
def _demo_bytes(name: str) -> bytes:
    return (sources_path() / f"{name}.jpg").read_bytes()


@st.cache_data(max_entries=32, show_spinner=False)
def _decode(digest: str, _data: bytes):
    """The image, upright RGB, shrunk to the sweep size (what every runner works on)."""
    return E.shrink_to_side(I.open_image(_data, target_size=E.SWEEP_MAX_SIDE), E.SWEEP_MAX_SIDE)


@st.cache_data(max_entries=64, show_spinner=False)
def _original_rows(digest: str, methods: tuple[str, ...], _img) -> dict:
    return E.encode_original(_img, [METHODS[m] for m in methods])


@st.cache_data(max_entries=64, show_spinner="Computing the score-vs-strength curve for every method…")
def _curve(digest: str, transform: str, methods: tuple[str, ...], thresholds: tuple, _img) -> pd.DataFrame:
    return E.transform_curve(_img, transform, [METHODS[m] for m in methods], thresholds=dict(thresholds))


def _jpeg(img, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _pick_demo(name: str) -> None:
    st.session_state[K_IMG] = (name, _demo_bytes(name))


# ------------------------------------------------------------------------------------------------ image
if K_IMG not in st.session_state:
    _pick_demo("coffee")
src = st.radio("Image", ["demo", "upload"], horizontal=True, key="lab::source",
               format_func={"demo": "A demo photo", "upload": "Upload your own"}.get)
if src == "demo":
    with st.expander("Demo photos — click one", expanded=False):
        cols_per_row = 7
        for start in range(0, len(DEMO_PHOTOS), cols_per_row):
            cols = st.columns(cols_per_row)
            for col, name in zip(cols, DEMO_PHOTOS[start:start + cols_per_row]):
                with col:
                    st.image(W.bytes_thumb(_demo_bytes(name), 120), width="stretch")
                    sel = st.session_state[K_IMG][0] == name
                    st.button(("✔ " if sel else "") + name.replace("_", " "), key=f"lab::pick::{name}",
                              on_click=_pick_demo, args=(name,), width="stretch",
                              type="primary" if sel else "secondary")
else:
    up = st.file_uploader("One image", key="lab::upload", accept_multiple_files=False)
    if up is not None:
        data = up.getvalue()
        if st.session_state[K_IMG][1] != data:
            st.session_state[K_IMG] = (up.name, data)

label, data = st.session_state[K_IMG]
digest = hashlib.sha256(data).hexdigest()
try:
    original = _decode(digest, data)
except I.ImageError as e:
    st.error(f"{md_escape(label)} cannot be used: {md_escape(e.reason)}")
    st.stop()

# ------------------------------------------------------------------------------------------------ controls
c1, c2 = st.columns([1, 2])
with c1:
    tname = st.selectbox("Edit", list(T.TRANSFORMS), key="lab::transform", format_func=lambda t: T.TRANSFORMS[t].label)
tr = T.TRANSFORMS[tname]
with c2:
    skey = f"lab::strength::{tname}"
    if tr.binary:
        strength = float(tr.max) if st.toggle(f"{tr.label} on", value=True, key=skey) else float(tr.min)
    else:
        strength = st.slider(f"Strength — {tr.unit} (no change at {tr.identity:g})", min_value=float(tr.min),
                             max_value=float(tr.max), value=float(tr.default), step=float(tr.step), key=skey)
st.caption(tr.description)
names = st.multiselect("Methods", [m.name for m in REGISTRY], default=list(ARTICLE), key="lab::methods",
                       format_func=lambda n: METHODS[n].label)
if not names:
    st.info("Pick at least one method.")
    st.stop()
methods = [METHODS[n] for n in names]
thresholds = {m.name: float(current_threshold(m, m.default_params())) for m in methods}

# ------------------------------------------------------------------------------------------------ images + scores
copy = T.apply(original, tname, strength)
rows = _original_rows(digest, tuple(names), original)
scores = E.score_copies(rows, copy, methods, thresholds)
n_match = int(scores["match"].sum())

c_orig, c_copy, c_scores = st.columns([1, 1, 2.6])
c_orig.image(_jpeg(original), caption=f"original — {md_escape(label)} ({original.width}×{original.height})", width="stretch")
c_copy.image(_jpeg(copy), caption=f"{tr.label} {strength:g} {tr.unit} ({copy.width}×{copy.height})",
             width="stretch")
with c_scores:
    st.markdown(f"**{n_match} of {len(scores)} methods** still call the copy a duplicate.")
    show = pd.DataFrame({
        "method": scores["label"],
        "score": [W.fmt_score(METHODS[m], s) for m, s in zip(scores["method"], scores["score"])],
        "threshold": [f"{'≥' if METHODS[m].higher_is_closer else '≤'} {t:g}"
                      for m, t in zip(scores["method"], scores["threshold"])],
        "verdict": ["✔ match" if m else "✖ no match" for m in scores["match"]],
        "unit": scores["unit"],
    })
    st.dataframe(show, hide_index=True, width="stretch", key="lab::scores",
                 column_config={"method": st.column_config.TextColumn(width="medium"),
                                "score": st.column_config.TextColumn(width="small"),
                                "threshold": st.column_config.TextColumn(width="small"),
                                "verdict": st.column_config.TextColumn(width="small"),
                                "unit": st.column_config.TextColumn(width="large")})

# ------------------------------------------------------------------------------------------------ curve
curve = _curve(digest, tname, tuple(names), tuple(sorted(thresholds.items())), original)
opts = ["__all__"] + names
which = st.selectbox("Curve", opts, key="lab::curve_method",
                     format_func=lambda n: "All selected methods (score relative to each threshold)" if n == "__all__"
                     else f"{METHODS[n].label} (raw score)")
st.plotly_chart(C.lab_curve(curve, strength, None if which == "__all__" else [which], tname, thresholds=thresholds),
                key="lab::curve")
st.caption("The curve is computed once per image and edit (" + f"{curve['strength'].nunique()} strengths); "
           "moving the slider only moves the blue line and re-scores one copy. Relative score: 1 = the image "
           "against itself, 0 = at the method's threshold, below 0 = not detected.")

# ------------------------------------------------------------------------------------------------ invariance
side_m, side_params = current_method()
robustness_invariance.render(digest, tname, strength, side_m, side_params,
                             float(current_threshold(side_m, side_params)), original)
