"""Dataset map: every image of the set as a point of a 2-D layout of its CNN features (PCA, then t-SNE), coloured
by duplicate group; select a point to see its thumbnail and matches, and open them in Search.

The layout is computed once per feature set (process-wide memo keyed by the dataset's content fingerprint and the
method's parameters); moving the threshold only recolours the points.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import layout as L
from core import sampling as SM
from core.charts.dataset_map import map_figure
from core.methods import METHODS
from core.search import find_duplicates, item_info, search
from ui import index_source
from ui import threshold as T
from ui import widgets as W
from ui.caching import features_key, memo
from ui.entry import ensure_app
from ui.features import cached_features
from ui.skipped import show_skipped
from ui.state import current_dataset, current_method
from ui.text import md_escape

ensure_app()  # deep links: run through app.py (sidebar, navigation)
st.title(":material/scatter_plot: Dataset map")
ds = current_dataset()
side_m, side_p = current_method()
# the map is of CNN features: the sidebar's method when it is a CNN one, else CNN cosine (else, for a saved index,
# whichever CNN method it holds)
m, params = (side_m, side_p) if side_m.family == "cnn" else (METHODS["cnn-cosine"], METHODS["cnn-cosine"]
                                                              .default_params())
if not index_source.held(ds, m):
    other = [x for x in METHODS.values() if x.family == "cnn" and index_source.held(ds, x)]
    if not other:
        st.info("The map lays out **CNN features**, and this saved index holds none (it was built with "
                f"{md_escape(', '.join(index_source.held_names(ds)) or 'no method')}). Add them with `python -m core "
                "index update INDEX --methods cnn-cosine` (it encodes every image once), or open the images as a "
                "folder. The Duplicates, Search and Review pages work on the hashes it holds.",
                icon=":material/scatter_plot:")
        st.stop()
    m = other[0]
if index_source.is_index(ds) and m.name != side_m.name:  # as built in the index, not the defaults
    params = index_source.stored_params(ds, m)
st.caption(f"Dataset: **{md_escape(ds.name)}** ({len(ds.items)} images) · features: **{m.label}**. Close points "
           "look alike to the network; colours are duplicate groups at the threshold below; grey points have no "
           "duplicate. Click a point (or pick a name) to see it and its matches.")

thr = T.slider(m, params, key="map_thr")
feats = cached_features(ds, m, params)
if len(feats) == 0:
    st.warning("No usable images in this dataset.")
    st.stop()
fk = features_key(ds, m, params)
n_all, feats_all = len(feats), feats
if n_all > SM.MAP_POINTS:  # a layout of 100,000 points would take hours and freeze the browser: a sample
    feats = memo(fk + ("map-sample", SM.MAP_POINTS), lambda: SM.subset(feats, SM.sample_rows(n_all, SM.MAP_POINTS)))
with st.spinner(f"Laying out {len(feats)} images (once per feature set)…"):
    lay = memo(fk + ("layout", "auto", len(feats)), lambda: L.layout(np.asarray(feats.data), "auto"))
dup = memo(fk + ("dup", float(thr), len(feats)),
             lambda: find_duplicates(feats, thr, info=item_info([ds.by_name(n) for n in feats.names])))
gid_of = dict(zip(dup.groups["name"], dup.groups["group_id"])) if len(dup.groups) else {}
group_ids = np.array([gid_of.get(n, 0) for n in feats.names], dtype=np.int64)

K_SEL, K_PICK, K_EVT = "map_selected", "map_pick", "map_last_event"
names = feats.names
sel = st.session_state.get(K_SEL)
sel = sel if sel in set(names) else None

c1, c2 = st.columns([3, 1])
with c1:
    fig = map_figure(lay.xy, names, group_ids, selected=names.index(sel) if sel else None)
    event = st.plotly_chart(fig, key="map_chart", on_select="rerun", selection_mode="points",
                            config={"displaylogo": False, "scrollZoom": True})
    pts = (event or {}).get("selection", {}).get("points", []) if event else []
    picked = None
    for p in pts:
        cd = p.get("customdata")
        cd = cd[0] if isinstance(cd, (list, tuple)) else cd
        if cd is not None and 0 <= int(cd) < len(names):
            picked = names[int(cd)]
            break
    if picked and st.session_state.get(K_EVT) != picked:  # a new click: it wins over the name box
        st.session_state[K_EVT] = picked
        st.session_state[K_SEL] = picked
        st.rerun()
    st.caption(f"{lay.method} of {len(names)} images, computed once in {lay.seconds:.1f} s"
               + (f" ({lay.note})" if lay.note else "") + f" · {dup.n_groups} duplicate groups at {thr:g}"
               + (f" among them. :material/science: A random sample of {len(names):,} of the {n_all:,} images: a map "
                  "of every point would take hours to lay out and would freeze the browser; the Duplicates page "
                  "counts every image." if n_all > len(names) else "."))

with c2:
    if st.session_state.get(K_PICK) != (sel or ""):
        st.session_state[K_PICK] = sel or ""

    def _picked() -> None:
        st.session_state[K_SEL] = st.session_state[K_PICK] or None

    st.selectbox("Image", [""] + names, key=K_PICK, on_change=_picked,
                 format_func=lambda n: n or "— click a point or pick a name —")
    if sel:
        st.image(W.item_thumb(ds, sel, 260), width="stretch")
        g = gid_of.get(sel)
        st.caption(md_escape(sel) + (f" · duplicate group {g}" if g else " · no duplicate at this threshold"),
                   help=md_escape(sel))
        res = search(feats.data[feats.index(sel)], feats_all, thr, top_k=6, exclude=sel)
        st.markdown(f"**{int(res['match'].sum())} match(es)** among its 6 closest:")
        for r in res.itertuples():
            a, b = st.columns([1, 2])
            a.image(W.item_thumb(ds, r.name, 96), width="stretch")
            b.caption(f"{W.match_badge(bool(r.match))} {md_escape(W.fmt_score(m, float(r.score)))}  \n"
                      f"{md_escape(W.short(r.name))}", help=md_escape(r.name))

        def _open() -> None:
            W.pick_dataset_query(sel)
            st.session_state["method"] = m.name

        if st.button("Open its matches in Search", key="map_open", icon=":material/search:", on_click=_open,
                     width="stretch"):
            st.switch_page("pages/search.py")
show_skipped(ds, feats)
