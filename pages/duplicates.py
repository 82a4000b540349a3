"""Duplicates: every duplicate group at the threshold, copies per image, the suggested copy to keep, downloads."""
from __future__ import annotations

import math
from collections import Counter

import streamlit as st

from core import config, export
from core import keeper as keep_rule
from core.charts import copies_bar
from core.scale import index_line
from core.search import find_duplicates, item_info
from ui import cli_command, index_source, layout, pair_inspector
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
GROUPS_PER_PAGE = 12
THUMBS_PER_GROUP = 24  # with GROUPS_PER_PAGE: at most 288 thumbnails on a page, whatever the set's size
BARS = 40  # bars of the copies chart (the images with the most copies)
st.title(":material/filter_none: Duplicates")
if two_sets.active():  # sidebar "Two sets": cross pairs only
    two_sets.render_duplicates()
    st.stop()
ds = current_dataset()
m, params = current_method()
st.caption(f"Dataset: **{md_escape(ds.name)}** ({len(ds.items)} images) · method: **{m.label}** (change both in the sidebar). "
           "Images closer than the threshold are linked; linked images form a group.")

feats = cached_features(ds, m, params)
require_features(ds, feats)
fk = features_key(ds, m, params)


@st.fragment
def at_threshold() -> None:
    """Everything the threshold decides: a slider move reruns only this part (not the sidebar)."""
    thr = T.slider(m, params, key="dup_thr")
    _results(thr)
    cli_command.render("duplicates", m, params, thr)


def _results(thr: float) -> None:
    max_pairs = config.budgets().max_pairs  # part of the result's identity: a cut list is not the full one
    # one chooser per dataset, in the session (it holds the visitor's dataset): each image's EXIF header is read
    # once, not again at every new threshold
    held = st.session_state.get("_keeper_chooser")
    if not held or held[0] != fk[0]:
        held = st.session_state["_keeper_chooser"] = (fk[0], keep_rule.chooser(ds))
    pick = held[1]
    dup = memo(fk + ("dup", float(thr), max_pairs),
               lambda: find_duplicates(feats, thr, info=item_info(ds.items), max_pairs=max_pairs,
                                         choose_keeper=pick))
    keep = dup.keep_set()

    c = layout.grid("dup_metrics").columns(4)
    c[0].metric("Images", len(feats))
    c[1].metric("Duplicate pairs", dup.total_pairs)
    c[2].metric("Groups", dup.n_groups)
    c[3].metric("Removable copies", len(feats) - len(keep), help="Images in groups that are not the suggested keeper.")
    if dup.truncated:
        st.warning(dup.message, icon=":material/content_cut:")
    if dup.index.get("kind") != "exact":  # at scale: which index found the pairs (and its measured recall)
        st.caption(f":material/speed: Pairs found by {md_escape(index_line(dup.index))}.")

    # ------------------------------------------------------------------------------------------- downloads
    # data as callables: built only when clicked (the JSON takes ~0.1 s at 2,000 images, on every slider move otherwise)
    skipped = list(ds.skipped) + list(feats.skipped)
    stem = f"duplicates_{m.name}_{T.fmt(m, params, thr)}"
    d1, d2, d3 = st.columns(3)
    d1.download_button("Groups (CSV)", data=lambda: export.groups_csv(dup), file_name=f"{stem}.csv", mime="text/csv",
                       on_click="ignore", width="stretch", key="dl_csv", icon=":material/download:")
    d2.download_button("Groups (JSON)", data=lambda: export.duplicates_json(dup, m.name, thr, skipped),
                       file_name=f"{stem}.json", mime="application/json", on_click="ignore", width="stretch", icon=":material/download:",
                       key="dl_json", help="Same shape as `python -m core duplicates --json`.")
    if index_source.is_index(ds):  # a zip of a whole indexed collection would be built in memory: not offered
        d3.caption(f"The de-duplicated set ({len(keep):,} images) is not zipped from a saved index: move the copies "
                   "with `python -m core clean FOLDER --method NAME --move-to DIR` (with undo).")
    else:
        d3.download_button(f"De-duplicated set (.zip, {len(keep)} images)", data=lambda: export.dedup_zip(dup, ds.items),
                           file_name=f"deduplicated_{m.name}_{T.fmt(m, params, thr)}.zip", mime="application/zip", on_click="ignore", icon=":material/folder_zip:",
                           width="stretch", key="dl_zip", help="One copy per group (the suggested one) plus every image "
                                                               "without duplicates, as the original files.")

    # ------------------------------------------------------------------------------------------- groups
    st.subheader(f"{dup.n_groups} groups" if dup.n_groups != 1 else "1 group")
    if dup.n_groups == 0:
        st.info("No two images are within the threshold. Move the slider towards "
                + ("lower" if m.higher_is_closer else "higher") + " values to find more.")
    else:
        members = dup.group_members()
        per_page = GROUPS_PER_PAGE
        pages = max(1, math.ceil(len(members) / per_page))
        page = int(st.number_input(f"Page (of {pages:,}, {per_page} groups each)", 1, pages, 1, key="dup_page")
                   ) if pages > 1 else 1
        labels = ds.groups_by_name() if ds.has_labels else None
        for g in members[(page - 1) * per_page: page * per_page]:
            names = g["members"]
            n_all = len(names)
            if n_all > THUMBS_PER_GROUP:  # the keeper first, then the first members: never hundreds of thumbnails
                names = [g["keep"]] + [n for n in names if n != g["keep"]][:THUMBS_PER_GROUP - 1]
            keeper = g["keep"]
            idx = [feats.index(n) for n in names]
            to_keep = feats.pairwise(feats.data[[feats.index(keeper)]], feats.data[idx])[0]
            with st.container(border=True):
                head = (f"**Group {g['group_id']}** · {n_all} images · keep :material/star: "
                        f"**{md_escape(W.short(keeper, 40))}**")
                if labels is not None:
                    counts = Counter(str(labels.get(n)) for n in names)
                    head += " · labels: " + ", ".join(f"{md_escape(k)} ×{v}" for k, v in counts.most_common())
                st.markdown(head)
                ncols = min(6, max(4, len(names)))
                box = layout.grid(f"dup_group_{g['group_id']}")
                for s in range(0, len(names), ncols):
                    cols = box.columns(ncols)
                    for col, n, sc in zip(cols, names[s:s + ncols], to_keep[s:s + ncols]):
                        it = ds.by_name(n)
                        with col:
                            st.image(W.item_thumb(ds, n), width="stretch")
                            badge = ":orange-badge[:material/star: keep]" if n == keeper else f"copy · `{W.fmt_score(m, float(sc))}`"
                            st.markdown(f"{badge}  \n{it.width}×{it.height} · {it.size_bytes / 1024:.0f} KB")
                            st.caption(md_escape(W.short(n)), help=md_escape(n))
                            if n != keeper:
                                st.button("Inspect", key=f"dup_inspect::{n}", icon=":material/compare:",
                                          on_click=pair_inspector.open_pair, width="stretch",
                                          args=("duplicates", ("item", keeper), ("item", n)),
                                          help="This copy against the keeper: matched features, region, "
                                               "score under each rotation / mirror.")
                if n_all > len(names):
                    st.caption(f"… and {n_all - len(names):,} more images in this group (all in the downloads and the "
                               "Review page's Keep box).")
                if pair_inspector.showing("duplicates", names):
                    pair_inspector.render_if_open("duplicates", ds, m, params)
        if pages > 1:
            st.caption(f"Groups {(page - 1) * per_page + 1:,}–{min(page * per_page, len(members)):,} of "
                       f"{len(members):,}: change the page above.")
        st.caption("Suggested keeper: the original — the most pixels, then a name without a copy marker (`-2`, "
                   "` (1)`, `copy`…), then the oldest capture date, then the most widely readable format (the Review "
                   "page explains each choice and lets you change it). Scores under the "
                   f"copies are to the keeper, in {m.unit}.")

    # ------------------------------------------------------------------------------------------- copies per image
    # built only when opened (layout.lazy_expander): the chart's plotly script (4.7 MB) and the data grid held the
    # browser for seconds before the page was idle, on a page opened for its groups
    box = layout.lazy_expander("Copies per image (chart and table)", key="dup_copies_open",
                               icon=":material/bar_chart:")
    if box is not None:
        cc1, cc2 = box.columns([3, 2])
        with cc1:
            st.plotly_chart(copies_bar(dup.copies, max_bars=BARS), key="copies_chart", config={"displaylogo": False})
            n_with = int((dup.copies["copies"] > 0).sum())
            if n_with > BARS:
                st.caption(f"Counted over all {len(feats):,} images; the chart shows the {BARS} of the {n_with:,} "
                           "images with copies that have the most (the table beside lists every image).")
        with cc2:
            tbl = dup.copies.sort_values(["copies", "name"], ascending=[False, True])[["copies", "name"]]
            W.paged_table(tbl, key="dup_copies", hide_index=True, width="stretch",
                          height=min(600, 38 + 35 * len(tbl)),
                          column_config={"copies": st.column_config.NumberColumn("other copies", width="small"),
                                         "name": st.column_config.TextColumn("image", width="medium")})

    pairs_title = (f"The closest {len(dup.pairs):,} of {dup.total_pairs:,} duplicate pairs" if dup.truncated
                   else f"All {len(dup.pairs):,} duplicate pairs")
    box = layout.lazy_expander(pairs_title, key="dup_pairs_open")
    if box is not None:
        with box:
            W.paged_table(dup.pairs, key="dup_pairs", hide_index=True, width="stretch",
                          column_config={"score": st.column_config.NumberColumn(f"score ({m.unit})",
                                                                                format="%.4g")})


at_threshold()
show_skipped(ds, feats)
