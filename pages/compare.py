"""Compare methods: one query, every selected method side by side, and which methods agree."""
from __future__ import annotations

import base64

import pandas as pd

import streamlit as st

from core.agreement import agreement_table, pairwise_agreement
from core.charts import agreement_heatmap
from core.methods import ARTICLE, METHODS, REGISTRY
from core.query import same_picture
from core.search import search
from ui import index_source, layout, pair_inspector
from ui import threshold as T
from ui import widgets as W
from ui.entry import ensure_app
from ui.features import cached_features
from ui.state import current_dataset, current_method, require_features
from ui.text import md_escape

ensure_app()  # deep links: run through app.py (sidebar, navigation)
st.title(":material/view_column: Compare methods")
ds = current_dataset()
side_m, side_params = current_method()
st.caption(f"Dataset: **{md_escape(ds.name)}** ({len(ds.items)} images). One query, every method at once: this is the page "
           "that shows why the methods differ. Each method uses its own threshold (its default, or the one you "
           "set on another page).")

q = W.query_panel(ds, key="compare")
offered = [m.name for m in REGISTRY if index_source.held(ds, m)]  # a saved index: only the methods it holds
if len(offered) < len(REGISTRY):
    st.caption(":material/inventory_2: Only the methods this saved index holds are offered (its features are used "
               "as built; the others would need every image encoded).")
if st.session_state.get("cmp_methods") is not None and not set(st.session_state["cmp_methods"]) <= set(offered):
    st.session_state["cmp_methods"] = [n for n in st.session_state["cmp_methods"] if n in offered]
c1, c2 = st.columns([4, 1])
with c1:
    names = st.multiselect("Methods", offered, default=None if "cmp_methods" in st.session_state else
                           [n for n in ARTICLE if n in offered] or offered[:1],
                           key="cmp_methods",
                           format_func=lambda n: METHODS[n].label,
                           help="Default: the six methods of the original article. The CNN ones encode the "
                                "dataset once (a few seconds), then stay cached.")
with c2:
    top_k = int(st.number_input("Top-k", min_value=1, max_value=max(1, min(20, len(ds.items))),
                                value=min(5, len(ds.items)), key="cmp_topk"))
if not names:
    st.info("Select at least one method.")
    st.stop()

groups = ds.groups_by_name()
qgroup = W.query_group(ds, q)
same = same_picture(ds, qgroup)  # empty when the query's group is not known

results, methods = {}, {}
for n in names:
    m = METHODS[n]
    params = side_params if m.name == side_m.name else index_source.stored_params(ds, m)
    feats = cached_features(ds, m, params)
    require_features(ds, feats)
    row, exclude, err = W.query_row(q, feats, ds)
    if err:
        st.error(f"{m.label}: {md_escape(err)}")
        continue
    thr = T.current(m, params)
    results[m.label] = search(row, feats, thr, top_k=top_k, exclude=exclude)
    methods[m.label] = (m, thr)

# ------------------------------------------------------------------------------------------- side by side
per_row = min(6, len(results))
labels = list(results)
box = layout.grid("compare_methods")
for s in range(0, len(labels), per_row):
    cols = box.columns(per_row)
    for col, lab in zip(cols, labels[s:s + per_row]):
        m, thr = methods[lab]
        res = results[lab]
        with col.container(border=True):
            st.markdown(f"**{lab}**")
            n_true = ""
            if qgroup is not None:
                n_true = f" · {sum(same.get(x, False) for x in res['name'])}/{len(res)} true"
            st.caption(f"{m.unit}, {'↑' if m.higher_is_closer else '↓'} closer · thr {T.fmt(m, None, thr)} · "
                       f"{int(res['match'].sum())} match{n_true}")
            for r in res.itertuples(index=False):
                st.image(W.item_thumb(ds, r.name, 160), width="stretch")
                mark = ":green[:material/check_circle:]" if r.match else ":red[:material/cancel:]"
                truth = ""
                if qgroup is not None:
                    truth = " :blue-badge[same]" if same.get(r.name, False) else " :gray-badge[other]"
                st.markdown(f"**#{r.rank}** `{W.fmt_score(m, float(r.score))}` {mark}{truth}", help=md_escape(r.name))
                st.caption(md_escape(W.short(r.name, 22)), help=md_escape(r.name))
                st.button("Inspect", key=f"cmp_inspect::{m.name}::{r.name}", icon=":material/compare:",
                          on_click=pair_inspector.open_pair, width="stretch",
                          args=("compare", ("query", q), ("item", r.name), m.name))
_picked = METHODS.get(pair_inspector.chosen_method("compare") or "")
if _picked is not None:
    pair_inspector.render_if_open("compare", ds, _picked,
                                  side_params if _picked.name == side_m.name else index_source.stored_params(ds, _picked))
legend = ":green[:material/check_circle:] / :red[:material/cancel:] = within / outside the method's threshold."
if qgroup is not None:
    legend += " :blue-badge[same] = truly the same picture as the query (ground truth), :gray-badge[other] = a different picture."
st.caption(legend)

# ------------------------------------------------------------------------------------------- agreement
st.subheader("Which methods agree?")
tbl = agreement_table(results, groups if qgroup is not None else None, qgroup)


def _uri(name: str) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(W.item_thumb(ds, name, 96)).decode()


short = {lab: methods[lab][0].name for lab in labels}  # compact column headers: the methods' stable names
view = tbl[["name"]].copy()
view.insert(0, "image", [_uri(n) for n in tbl["name"]])
for lab in labels:
    view[short[lab]] = [("" if r is None or r is pd.NA else f"#{int(r)}" + (" match" if mt else ""))
                        for r, mt in zip(tbl[lab].astype(object), tbl[f"{lab} match"])]
view["in top-k of"] = tbl["in_top_k"]
view["match for"] = tbl["matched_by"]
if "true_duplicate" in tbl:
    view["same picture"] = tbl["true_duplicate"]
cfg = {"image": st.column_config.ImageColumn("", width="small"), "name": st.column_config.TextColumn("file"),
       "in top-k of": st.column_config.NumberColumn(help="number of methods ranking it in their top-k"),
       "match for": st.column_config.NumberColumn(help="number of methods calling it a match"),
       "same picture": st.column_config.CheckboxColumn(help="ground truth: the same picture as the query")}
for lab in labels:
    cfg[short[lab]] = st.column_config.TextColumn(short[lab], help=f"{lab}: rank in its top-{top_k}, and whether "
                                                                   "it is within its threshold")
st.dataframe(view, hide_index=True, width="stretch", column_config=cfg, row_height=56)
st.caption(f"Every image that at least one method ranks in its top-{top_k}: its rank per method (blank = not in that "
           "method's top-k) and whether the method calls it a match.")

if len(labels) >= 2:
    h1, h2 = st.columns(2)
    with h1:
        st.plotly_chart(agreement_heatmap(pairwise_agreement(results, "top_k").rename(index=short, columns=short),
                                          f"Overlap of the top-{top_k} lists (Jaccard)"), key="cmp_heat_top",
                        config={"displaylogo": False})
    with h2:
        st.plotly_chart(agreement_heatmap(pairwise_agreement(results, "match").rename(index=short, columns=short),
                                          "Overlap of the matches (Jaccard)"),
                        key="cmp_heat_match", config={"displaylogo": False})
    st.caption("1 = the two methods return the same images; 0 = nothing in common; blank = neither finds a match.")
