"""Search: one query image against the dataset, ranked, with the method's threshold deciding match / no match."""
from __future__ import annotations

import streamlit as st

from core import demo
from core.search import search
from ui import session as S
from ui import widgets as W

S.ensure_app()  # deep links: run through app.py (sidebar, navigation)
st.title(":material/search: Search")
ds = S.current_dataset()
m, params = S.current_method()
st.caption(f"Dataset: **{ds.name}** ({len(ds.items)} images) · method: **{m.label}** (change both in the sidebar)")

q = W.query_panel(ds, key="search")
c1, c2 = st.columns([3, 1])
with c1:
    thr = S.threshold_slider(m, params, key="search_thr")
with c2:
    top_k = st.number_input("Top-k matches", min_value=1, max_value=max(1, len(ds.items)), value=min(10, len(ds.items)),
                            step=1, key="search_topk")

feats = S.cached_features(ds, m, params)
row, exclude, err = W.query_row(q, feats)
if err:
    st.error(err)
    st.stop()
if len(feats) == 0:
    st.warning("No usable images in this dataset.")
    st.stop()

ranked_all = search(row, feats, thr, top_k=None, exclude=exclude)
res = ranked_all.head(int(top_k))
truth = None
groups = S.groups_by_name(ds)
if ds.has_labels:
    qgroup = groups.get(q["name"]) if q["kind"] == "dataset" else (
        demo.DEMO_QUERY_GROUP if q["kind"] == "demo" else None)
    if qgroup is not None:
        truth = {n: g == qgroup for n, g in groups.items()}

n_match_top = int(res["match"].sum())
n_match_all = int(ranked_all["match"].sum())
st.markdown(f"#### {n_match_top} of the top {len(res)} match at threshold {thr:g}"
            + (f" · {n_match_all} in the whole set" if n_match_all != n_match_top else ""))
W.gallery(res, ds, m, columns=5, key="search_res", on_pick=W.pick_dataset_query, truth=truth)

with st.expander("Results as a table"):
    st.dataframe(res.assign(file=res["name"]).drop(columns=["name"]), hide_index=True, width="stretch",
                 column_config={"score": st.column_config.NumberColumn(f"score ({m.unit})", format="%.4g"),
                                "match": st.column_config.CheckboxColumn("match")})

with st.expander("Pick the query from the dataset (click a thumbnail's button)", expanded=q["kind"] != "dataset"):
    W.thumbnail_picker(ds, W.pick_dataset_query, key="search_pick",
                       selected=q["name"] if q["kind"] == "dataset" else None)

secs = getattr(feats, "ui_seconds", None)
# Time and cache counts only in local mode: on a hosted demo they would tell a visitor whether someone else had
# already processed the same photos (the feature cache is shared by content hash).
stats = f" in {secs:.1f} s ({feats.n_cached} from the feature cache)" if secs is not None and S.local_mode() else ""
st.caption(f"{len(feats)} images encoded with {m.label}{stats}. Moving the slider re-ranks only: nothing is "
           "re-encoded.")
S.show_skipped(ds, feats)
