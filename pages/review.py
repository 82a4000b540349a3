"""Review: every duplicate group with its suggested keeper and why; change the keeper, mark "not a duplicate", see
chained groups; then apply — move the copies away (local folder, with undo) or download the plan and the cleaned set.
"""
from __future__ import annotations

import hashlib
import math
import os

import streamlit as st

from core import config, folder_access
from core import keeper as K
from core.collection import clean
from core.collection import review as R
from core.search import pair_indices
from ui import index_source
from ui import review_state as RS
from ui import threshold as T
from ui import widgets as W
from ui.caching import features_key, memo
from ui.entry import ensure_app
from ui.features import cached_features
from ui.skipped import show_skipped
from ui.sources import forget_folder
from ui.state import K_SOURCE, current_dataset, current_method
from ui.text import md_escape

ensure_app()  # deep links: run through app.py (sidebar, navigation)
st.title(":material/fact_check: Review")
ds = current_dataset()
m, params = current_method()
st.caption(f"Dataset: **{md_escape(ds.name)}** ({len(ds.items)} images) · method: **{m.label}** (change both in "
           "the sidebar). Check each group's keeper before anything moves.")

thr = T.slider(m, params, key="review_thr")
c1, c2 = st.columns([1, 1])
rule = c1.selectbox("Keep rule", K.RULES, key="review_rule",
                    format_func={"original": "The original (default)", "largest": "The largest",
                                 "newest": "The newest", "oldest": "The oldest"}.get)
strict = c2.toggle("Split chained groups strictly", key="review_strict",
                   help="Keep in a group only the images within the threshold of its keeper (as `--groups strict`); "
                        "the others leave it and may form groups of their own.")
mode = "strict" if strict else "components"
st.caption(":material/info: " + K.explain(rule))

feats = cached_features(ds, m, params)
fk = features_key(ds, m, params)
i, j, _ = memo(fk + ("pairs", float(thr)), lambda: pair_indices(feats, thr))
groups = memo(fk + ("review", float(thr), rule, mode),
              lambda: R.review_groups(ds, feats, i, j, thr, rule=rule, mode=mode))
ctx = fk + (float(thr), rule, mode)
ctx_id = hashlib.sha256(repr(ctx).encode()).hexdigest()[:10]
keepers, not_dup = RS.keepers(ctx), RS.not_duplicates(ctx)
plan = R.final_plan(groups, keepers, not_dup)
n_move = sum(len(g.move) for g in plan)

c = st.columns(4)
c[0].metric("Groups", len(groups))
c[1].metric("Chained groups", sum(g.chained for g in groups),
            help="Groups holding images that are not within the threshold of the keeper: they joined the group "
                 "through other members (A~B and B~C put A and C together).")
c[2].metric("Marked not a duplicate", len(not_dup & {g.gid for g in groups}))
c[3].metric("Files to move", n_move)

# ------------------------------------------------------------------------------------------- the groups
THUMBS_PER_GROUP = 24  # with GROUPS_PER_PAGE: at most 240 thumbnails per page
GROUPS_PER_PAGE = 10
if not groups:
    st.info("No two images are within the threshold: nothing to review. Move the slider towards "
            + ("lower" if m.higher_is_closer else "higher") + " values to find more.")
else:
    only_chained = st.checkbox("Show only chained groups", key="review_only_chained")
    shown = [g for g in groups if g.chained] if only_chained else groups
    pages = max(1, math.ceil(len(shown) / GROUPS_PER_PAGE))
    page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="review_page")) if pages > 1 else 1

    def _keep_changed(wkey: str, gid: str, suggested: str) -> None:
        RS.set_keeper(ctx, gid, st.session_state[wkey], suggested)

    def _nd_changed(wkey: str, gid: str) -> None:
        RS.set_not_duplicate(ctx, gid, bool(st.session_state[wkey]))

    for n, g in enumerate(shown[(page - 1) * GROUPS_PER_PAGE: page * GROUPS_PER_PAGE],
                          start=(page - 1) * GROUPS_PER_PAGE + 1):
        keep = keepers.get(g.gid, g.keeper)
        is_nd = g.gid in not_dup
        far = R.far_from(feats, keep, g.members, thr) if keep != g.keeper else g.far
        with st.container(border=True):
            head = f"**Group {n}** · {len(g.members)} images"
            if is_nd:
                head += " · :gray-badge[not a duplicate: nothing moves]"
            else:
                head += f" · keep :material/star: {md_escape(W.short(keep, 50))}"
            if far:
                head += " · :orange-badge[:material/link: chained]"
            st.markdown(head)
            if keep == g.keeper:
                st.caption(f"Suggested by the rule: {md_escape(g.reason)}.")
            else:
                st.caption(f"Chosen by you. The rule suggested {md_escape(W.short(g.keeper, 50))}: "
                           f"{md_escape(g.reason)}.")
            if far:
                st.warning(f"Chained group: {len(far)} of its images "
                           f"({md_escape(', '.join(W.short(x, 30) for x in far[:5]))}"
                           f"{', …' if len(far) > 5 else ''}) are not within the threshold of the keeper. They "
                           "joined the group through other members that are close to both (A looks like B and B "
                           "like C, although A and C differ). Turn on **Split chained groups strictly** above to "
                           "keep only the images close to the keeper.", icon=":material/link:")
            wk, wn = f"rv_keep::{ctx_id}::{g.gid}", f"rv_nd::{ctx_id}::{g.gid}"
            if st.session_state.get(wk) != keep:
                st.session_state[wk] = keep
            if st.session_state.get(wn) != is_nd:
                st.session_state[wn] = is_nd
            k1, k2 = st.columns([3, 1])
            k1.selectbox("Keep", g.members, key=wk, on_change=_keep_changed, args=(wk, g.gid, g.keeper),
                         help=f"The rule suggests {md_escape(g.keeper)}.")
            k2.checkbox("Not a duplicate", key=wn, on_change=_nd_changed, args=(wn, g.gid),
                        help="These images are different pictures: nothing of this group moves.")
            show = g.members[:THUMBS_PER_GROUP]
            scores = feats.pairwise(feats.data[[feats.index(keep)]], feats.data[[feats.index(x) for x in show]])[0]
            ncols = min(6, max(4, len(show)))
            for s in range(0, len(show), ncols):
                cols = st.columns(ncols)
                for col, name, sc in zip(cols, show[s:s + ncols], scores[s:s + ncols]):
                    it = ds.by_name(name)
                    with col:
                        st.image(W.item_thumb(ds, name, 160), width="stretch")
                        if name == keep:
                            badge = ":orange-badge[:material/star: keep]"
                        elif is_nd:
                            badge = ":gray-badge[stays]"
                        else:
                            badge = f":blue-badge[move] {md_escape(W.fmt_score(m, float(sc)))}"
                        if name in far:
                            badge += " :orange-badge[far]"
                        st.markdown(f"{badge}  \n{it.width}×{it.height} · {it.size_bytes / 1024:.0f} KB")
                        st.caption(md_escape(W.short(name)), help=md_escape(name))
            if len(g.members) > len(show):
                st.caption(f"… and {len(g.members) - len(show)} more images in this group (all listed in the Keep "
                           "box and in the plan download).")
    if keepers or not_dup:
        st.button("Reset my choices", key="review_reset", on_click=RS.reset, args=(ctx,))

# ------------------------------------------------------------------------------------------- apply
st.subheader("Apply")
folder_source = config.local_mode() and st.session_state.get(K_SOURCE) == "Folder path" and ds.root is not None
stem = f"review_{m.name}_{thr:g}"
header = {"method": m.name, "params": params, "threshold": thr, "keep": rule, "groups": mode}

last = RS.last_clean()
if last and last.get("log"):
    with st.container(border=True):
        if last["undone"]:
            st.success(f"Undone: {last['moved']} file(s) are back in their places.", icon=":material/undo:")
        else:
            st.success(f"Moved {last['moved']} file(s). Undo log: {md_escape(last['log'])}", icon=":material/done:")
            st.code(f"python -m core undo {last['log']}", language="bash")

            def _undo(log: str) -> None:
                try:
                    clean.undo(log)
                except (clean.UndoRefused, ValueError, OSError) as e:
                    st.session_state["_review_undo_error"] = str(e)
                    return
                st.session_state[RS.K_LAST_CLEAN]["undone"] = True
                forget_folder()

            st.button("Undo", key="review_undo", icon=":material/undo:", on_click=_undo, args=(last["log"],))
            if st.session_state.get("_review_undo_error"):
                st.error("Undo refused: " + md_escape(st.session_state.pop("_review_undo_error")))
        for name, why in last["not_moved"][:20]:
            st.caption(f"not moved: {md_escape(name)}: {md_escape(why)}")

if folder_source:
    root = os.path.abspath(ds.root)
    default = os.path.join(os.path.dirname(root), os.path.basename(root) + "-duplicates")
    if not st.session_state.get("review_move_to"):
        st.session_state["review_move_to"] = default
    move_to = st.text_input("Move the copies to (a folder outside the dataset; relative paths are kept)",
                            key="review_move_to")
    target = os.path.abspath(os.path.expanduser(move_to.strip())) if move_to.strip() else ""
    why = None
    if not target:
        why = "Type a folder to move the copies to."
    else:
        why = folder_access.refusal(target, config.allowed_roots())
        if not why and clean.overlaps(target, root):
            why = "The folder must be outside the dataset (and must not contain it)."
    if why:
        st.warning(md_escape(why))

    def _apply() -> None:
        out = clean.apply(ds, plan, target, header)
        RS.remember_clean(out.log, len(out.moved), out.not_moved)
        forget_folder()

    st.button(f"Move {n_move} file(s) to that folder", key="review_apply", type="primary", on_click=_apply,
              disabled=bool(why) or n_move == 0, icon=":material/drive_file_move:",
              help="Nothing is deleted or overwritten; an undo log is written into that folder.")
else:
    st.caption("Moving files needs the app on your own computer (`bash scripts/run.sh`) and a folder source. Here, "
               "download the plan and the cleaned set:" if not config.local_mode() else
               "Moving files needs a folder source (sidebar: Folder path). Here, download the plan and the cleaned "
               "set:")
d1, d2, d3 = st.columns(3)
d1.download_button("Plan (CSV)", data=lambda: R.plan_csv(plan), file_name=f"{stem}.csv", mime="text/csv",
                   on_click="ignore", key="review_dl_csv", icon=":material/download:", width="stretch")
d2.download_button("Plan (JSON)", data=lambda: R.plan_json(plan, **header), file_name=f"{stem}.json",
                   mime="application/json", on_click="ignore", key="review_dl_json", icon=":material/download:",
                   width="stretch")
if index_source.is_index(ds):  # a zip of a whole indexed collection would be built in memory: not offered
    d3.caption(f"The cleaned set ({len(ds.items) - n_move:,} images) is not zipped from a saved index: apply the "
               "plan with `python -m core clean FOLDER --method NAME --move-to DIR` (with undo).")
else:
    d3.download_button(f"Cleaned set (.zip, {len(ds.items) - n_move} images)", data=lambda: R.kept_zip(ds, plan),
                       file_name=f"cleaned_{m.name}_{thr:g}.zip", mime="application/zip", on_click="ignore",
                       key="review_dl_zip", icon=":material/folder_zip:", width="stretch")
show_skipped(ds, feats)
