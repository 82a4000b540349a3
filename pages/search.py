"""Search: one query image against the dataset, ranked, with the method's threshold deciding match / no match."""
from __future__ import annotations

import hashlib

import streamlit as st

from core.query import same_picture
from core.search import search
from ui import cli_command, layout, matching, pair_inspector, verified
from ui import threshold as T
from ui import two_sets
from ui import widgets as W
from ui.caching import features_key, memo
from ui.entry import ensure_app
from ui.features import cached_features
from ui.skipped import show_skipped
from ui.state import current_dataset, current_method, require_features
from ui.text import md_escape

ensure_app()  # deep links: run through app.py (sidebar, navigation)
st.title(":material/search: Search")
if two_sets.active():  # sidebar "Two sets": a query from A ranked against B
    two_sets.render_search()
    st.stop()
ds = current_dataset()
m, params = current_method()
st.caption(f"Dataset: **{md_escape(ds.name)}** ({len(ds.items)} images) · method: **{m.label}** (change both in the sidebar)")

q = W.query_panel(ds, key="search")
feats = cached_features(ds, m, params)
require_features(ds, feats)
row, exclude, err = W.query_row(q, feats, ds)
if err:
    st.error(md_escape(err))
    st.stop()
if exclude is not None and q["kind"] != "dataset":
    st.caption(f":material/info: The query itself is in the set (as {W.short(exclude, 60)}): it is left out of the "
               "ranking and the match count. Byte-identical copies under other names still count.")


@st.fragment
def results() -> None:
    """Slider, top-k and the ranking: a slider move reruns only this part (no sidebar, query panel or picker)."""
    if W.current_query(ds) != q:  # "Use as query" in the gallery below: the whole page shows the new query
        st.rerun()
    c1, c2 = st.columns([3, 1])
    with c1:
        thr = T.slider(m, params, key="search_thr")
    with c2:
        top_k = st.number_input("Top-k matches", min_value=1, max_value=max(1, len(ds.items)),
                                value=min(10, len(ds.items)), step=1, key="search_topk")
    # the whole ranking once per query + threshold (the match count over the whole set): a 100,000-image index
    # re-ranks only when one of them changes, not on a top-k change or a rerun
    qkey = (q["kind"], q["name"], hashlib.sha256(q["data"]).hexdigest() if q.get("data") else "")
    ranked_all = memo(features_key(ds, m, params) + ("ranked", qkey, exclude, float(thr)),
                     lambda: search(row, feats, thr, top_k=None, exclude=exclude))
    res = ranked_all.head(int(top_k))
    if matching.verify_on():  # second stage: the pool re-ranked by local features, verified first
        res = verified.ranking(ds, feats, params, row, q, thr, int(top_k), exclude)
    qgroup = W.query_group(ds, q)
    truth = same_picture(ds, qgroup) if qgroup is not None else None
    n_match_top = int(res["match"].sum())
    n_match_all = int(ranked_all["match"].sum())
    st.markdown(f"#### {n_match_top} of the top {len(res)} match at threshold {T.fmt(m, params, thr)}"
                + (f" · {n_match_all} in the whole set" if n_match_all != n_match_top else ""))
    if matching.verify_on():
        st.caption(f":material/verified: Verified with local features: {int(res['verified'].sum())} of "
                   f"{len(res)} confirmed (verified first; a match here means verified). The score stays the "
                   "method's own.")
    W.gallery(res, ds, m, columns=5, key="search_res", on_pick=W.pick_dataset_query, truth=truth,
              on_inspect=lambda name: pair_inspector.open_pair("search", ("query", q), ("item", name)))
    pair_inspector.render_if_open("search", ds, m, params)
    box = layout.lazy_expander("Results as a table", key="search_table_open")  # the data grid only when opened
    if box is not None:
        with box:
            st.dataframe(res.assign(file=res["name"]).drop(columns=["name"]), hide_index=True, width="stretch",
                         column_config={"score": st.column_config.NumberColumn(f"score ({m.unit})", format="%.4g"),
                                        "match": st.column_config.CheckboxColumn("match"),
                                        "verified": st.column_config.CheckboxColumn("verified"),
                                        "inliers": st.column_config.NumberColumn("inliers", format="%d")})
    cli_command.render("search", m, params, thr, query=q, top_k=int(top_k))


results()

with st.expander("Pick the query from the dataset (click a thumbnail's button)", expanded=q["kind"] != "dataset"):
    W.thumbnail_picker(ds, W.pick_dataset_query, key="search_pick",
                       selected=q["name"] if q["kind"] == "dataset" else None)

st.caption(W.encoding_caption(feats, m))
show_skipped(ds, feats)
