"""The "Two sets" mode: set A (the sidebar's dataset) against set B (any source), for two uses:

* **new arrivals vs collection** — A is the collection, B the new arrivals: which arrivals are already there?
* **leakage between splits** — A is the training split, B the test split: which test images leak from training?

Search ranks B against a query from A; Duplicates shows the cross pairs only (:func:`core.collection.compare.
compare`: never a pair inside one set) with the share of B that has a match in A as the headline figure.

State: widget keys ``two_*`` in ``st.session_state``; set B in ``st.session_state["_dataset_b"]``; B's uploads and
folder scans are cached in the session under the slot ``_ds_b`` (:func:`ui.sources.load_uploads`).
"""
from __future__ import annotations

import math

import streamlit as st

from core import config
from core import datasets as D
from core import export
from core.collection.compare import compare

from . import index_source
from . import threshold as T
from .caching import dataset_fingerprint, features_key, memo
from .features import cached_features
from .skipped import show_skipped
from .sources import DEMO_SETS, demo_dataset, load_folder, load_uploads
from .state import K_DATASET, current_method
from .text import md_escape


K_ON, K_USE, K_B_SOURCE, K_B_DEMO, K_B_UPLOAD, K_B_FOLDER = ("two_on", "two_use", "two_b_source", "two_b_demo",
                                                           "two_b_upload", "two_b_folder")
K_QUERY = "two_query"
SLOT_B = "_ds_b"
USES = {
    "leakage": ("Leakage between splits", "training split", "test split"),
    "arrivals": ("New arrivals vs collection", "collection", "new arrivals"),
}
SPLIT = "Split the set above in two"
B_SOURCES = (SPLIT, "Demo data", "Upload images", "Folder path")


def active() -> bool:
    """True when the sidebar's "Two sets" switch is on."""
    return bool(st.session_state.get(K_ON))


def use() -> tuple[str, str, str]:
    """(title, name of A, name of B) for the chosen use."""
    return USES.get(st.session_state.get(K_USE) or "leakage", USES["leakage"])


def _split(ds: D.Dataset) -> tuple[D.Dataset, D.Dataset]:
    """Every other image of ``ds`` to B (a deliberately leaky split: copies land on both sides). Cached in the
    session (the user's bytes never enter a process-wide cache)."""
    key = ("two_split", dataset_fingerprint(ds), id(ds))
    hit = st.session_state.get("_two_split")
    if hit and hit[0] == key:
        return hit[1]
    half = [D.Dataset(name=f"{ds.name} ({side})", items=ds.items[k::2], skipped=[],
                      files_given=len(ds.items[k::2]), root=ds.root) for k, side in ((0, "even"), (1, "odd"))]
    st.session_state["_two_split"] = (key, tuple(half))
    return half[0], half[1]


def controls() -> None:
    """The sidebar block: the switch, the use and the source of set B. Call inside ``with st.sidebar``."""
    if index_source.is_index(st.session_state.get(K_DATASET)):  # set B would be encoded against A's stored rows
        for k in (K_ON, "_dataset_b", f"{SLOT_B}_upload_cache", f"{SLOT_B}_folder_cache"):
            st.session_state.pop(k, None)
        st.caption(":material/info: Two sets (A against B) works on images; for a saved index use "
                   "`python -m core index query INDEX NEW_FOLDER --method NAME`.")
        return
    st.toggle("Two sets: A against B", key=K_ON,
              help="Compare the set above (A) with a second set (B): Search ranks B against a query from A; "
                   "Duplicates shows only pairs with one image in each set.")
    if not active():
        for k in ("_dataset_b", f"{SLOT_B}_upload_cache", f"{SLOT_B}_folder_cache"):
            st.session_state.pop(k, None)  # set B's files are not kept once the mode is off
        return
    st.radio("Use", list(USES), key=K_USE, format_func=lambda k: USES[k][0], horizontal=True)
    title, a_name, b_name = use()
    sources = [s for s in B_SOURCES if s != "Folder path" or config.local_mode()]
    if st.session_state.get(K_B_SOURCE) not in sources:
        st.session_state[K_B_SOURCE] = sources[0]
    st.caption(f"**A** ({a_name}): the images above.")
    src = st.selectbox(f"B ({b_name})", sources, key=K_B_SOURCE)
    st.session_state.pop(f"{SLOT_B}_error", None)
    b = None
    if src == "Demo data":
        kind = st.selectbox("Demo set B", list(DEMO_SETS), key=K_B_DEMO, format_func=lambda k: DEMO_SETS[k][0])
        b = demo_dataset(kind)
    elif src == "Upload images":
        b = load_uploads(st.file_uploader("Images of set B, or one .zip", accept_multiple_files=True,
                                          key=K_B_UPLOAD), SLOT_B)
    elif src == "Folder path":
        path = st.text_input("Folder of set B", key=K_B_FOLDER, placeholder="/path/to/set-b")
        b = load_folder(path, SLOT_B) if path else None
    if st.session_state.get(f"{SLOT_B}_error"):
        st.error(md_escape(st.session_state[f"{SLOT_B}_error"]))
    st.session_state["_dataset_b"] = b  # None for the split: derived from A when asked (see sets())
    a, b = sets()
    if a is not None and b is not None:
        st.caption(f"A: **{len(a.items)}** images · B: **{len(b.items)}** images")


def sets() -> tuple[D.Dataset | None, D.Dataset | None]:
    """(A, B) of the Two-sets mode (the split halves when B's source is the split)."""
    a = st.session_state.get(K_DATASET) or demo_dataset("duplicates")
    if st.session_state.get(K_B_SOURCE, SPLIT) == SPLIT:
        return _split(a)
    return a, st.session_state.get("_dataset_b")


def _features(m, params):
    a, b = sets()
    if a is None or b is None or not a.items or not b.items:
        st.info("Choose set B in the sidebar (Two sets): it has no usable images yet.")
        st.stop()
    return a, b, cached_features(a, m, params), cached_features(b, m, params)


# ------------------------------------------------------------------------------------------------ Search
def _pick(name: str) -> None:
    st.session_state[K_QUERY] = name


def render_search() -> None:
    """The Search page in Two-sets mode: a query from A ranked against B."""
    from core.search import search

    from . import widgets as W

    title, a_name, b_name = use()
    m, params = current_method()
    a, b, fa, fb = _features(m, params)
    st.caption(f"**{title}** · a query from A ({a_name}, {len(fa)} images) ranked against B ({b_name}, "
               f"{len(fb)} images) · method: **{m.label}**")
    q = st.session_state.get(K_QUERY)
    if q not in set(fa.names):
        q = fa.names[0]
        st.session_state[K_QUERY] = q
    c1, c2 = st.columns([1, 3])
    with c1:
        st.image(W.item_thumb(a, q, 260), width="stretch")
        st.caption(f"**Query from A:** {md_escape(W.short(q, 40))}", help=md_escape(q))
    with c2:
        thr = T.slider(m, params, key="two_search_thr")
        top_k = st.number_input("Top-k matches in B", min_value=1, max_value=max(1, len(fb)),
                                value=min(10, len(fb)), step=1, key="two_search_topk")
    res = search(fa.data[fa.index(q)], fb, thr, top_k=int(top_k))
    n_match = int(res["match"].sum())
    st.markdown(f"#### {n_match} of the top {len(res)} images of B match at threshold {thr:g}")
    W.gallery(res, b, m, columns=5, key="two_search_res")
    with st.expander("Pick the query from A", expanded=False):
        W.thumbnail_picker(a, _pick, key="two_pick", selected=q)


# ------------------------------------------------------------------------------------------------ Duplicates
def leaked_share(pairs, n_b: int) -> tuple[int, float]:
    """(images of B with at least one match in A, their share of B)."""
    k = int(pairs["b"].nunique()) if len(pairs) else 0
    return k, (k / n_b if n_b else 0.0)


def pairs_csv(pairs) -> bytes:
    """``a,b,score`` as CSV with name cells neutralised against spreadsheet formulas."""
    return export.frame_csv(pairs)


def render_duplicates() -> None:
    """The Duplicates page in Two-sets mode: cross pairs only, the leaked share of B as the headline."""
    from . import widgets as W

    title, a_name, b_name = use()
    m, params = current_method()
    a, b, fa, fb = _features(m, params)
    st.subheader(title)
    st.caption(f"A = {a_name} ({len(fa)} images), B = {b_name} ({len(fb)} images) · method: **{m.label}**. "
               "Only pairs with one image in each set are shown.")
    thr = T.slider(m, params, key="two_dup_thr")
    key = features_key(a, m, params) + features_key(b, m, params) + ("cross", float(thr))
    pairs = memo(key, lambda: compare(fa, fb, thr))
    k, share = leaked_share(pairs, len(fb))
    what = "already in the collection" if st.session_state.get(K_USE) == "arrivals" else "leaked from A"
    c = st.columns(3)
    c[0].metric(f"Share of B {what}", f"{share:.1%}",
                help="Images of B with at least one image of A within the threshold, over all images of B.")
    c[1].metric(f"Images of B {what}", f"{k} of {len(fb)}")
    c[2].metric("Cross pairs", len(pairs))
    st.download_button("Cross pairs (CSV)", data=lambda: pairs_csv(pairs), file_name=f"cross_pairs_{m.name}.csv",
                       mime="text/csv", on_click="ignore", key="two_dl_csv", icon=":material/download:")
    if not len(pairs):
        st.info("No image of B is within the threshold of an image of A.")
        return
    per_page = 20
    pages = max(1, math.ceil(len(pairs) / per_page))
    page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="two_dup_page")) if pages > 1 else 1
    for r in pairs.iloc[(page - 1) * per_page: page * per_page].itertuples():
        with st.container(border=True):
            c1, c2, c3 = st.columns([2, 2, 3])
            c1.image(W.item_thumb(a, r.a, 160), width="stretch")
            c2.image(W.item_thumb(b, r.b, 160), width="stretch")
            c3.markdown(f"**A:** {md_escape(r.a)}  \n**B:** {md_escape(r.b)}  \nscore {md_escape(W.fmt_score(m, float(r.score)))}")
    show_skipped(b, fb)


__all__ = ["USES", "active", "controls", "leaked_share", "pairs_csv", "render_duplicates", "render_search", "sets",
           "use"]
