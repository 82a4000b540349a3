"""Home: what the app does, a ready example on the demo data (average hash: instant), and each method in plain
words (from the registry)."""
from __future__ import annotations

import streamlit as st

from core.methods import ARTICLE, METHODS, REGISTRY
from core.query import query_group, same_picture
from core.search import search
from ui import layout
from ui import widgets as W
from ui.entry import ensure_app
from ui.features import cached_features
from ui.sources import demo_dataset, demo_query_bytes
from ui.state import user_dataset, using_demo
from ui.text import md_escape

ensure_app()  # deep links: run through app.py (sidebar, navigation)
st.title(":material/photo_library: Duplicate Image Finder")
st.markdown(
    "Find the **same picture** in a pile of images — even when it was resized, re-encoded as JPEG, cropped, "
    "rotated a little, brightened, mirrored or re-shot from another angle — and see **how the classic ways of "
    "comparing images behave**: raw pixels (Euclidean, cosine), structure (SSIM), perceptual hashes and CNN "
    "features. Everything runs on the built-in demo photos; use the sidebar to try your own.")

_mine = user_dataset()
if not using_demo() and (_mine is None or not _mine.items):
    st.info("Your own images are not ready: " + ("nothing given yet" if _mine is None else "none of your files is a "
            "usable image (see the skipped list on any page)") + ". The example below uses the built-in demo "
            "photos, and says so.", icon=":material/info:")

# ------------------------------------------------------------------------------------------- ready example
EXAMPLE_METHOD = "ahash"  # fast: hashes 38 photos in ~0.1 s, so the page never waits for the CNN
st.subheader("A ready example")
m = METHODS.get(EXAMPLE_METHOD, REGISTRY[0])
params = m.default_params()
ds = demo_dataset("duplicates")
feats = cached_features(ds, m, params)
qname, qbytes = demo_query_bytes()
qrow, _, err = W.query_row({"kind": "demo", "name": qname, "data": qbytes}, feats)
thr = m.threshold_spec(params).default
if err:
    st.error(md_escape(err))
else:
    res = search(qrow, feats, thr, top_k=5)
    truth = same_picture(ds, query_group(ds, demo=True))  # the demo query's own group (core.demo)
    c1, c2 = st.columns([1, 4])
    with c1:
        st.image(W.bytes_thumb(qbytes, 260), width="stretch")
        st.caption("**Query:** a coffee cup photographed again — turned, rotated, cropped, resized and "
                   "re-saved. It is not in the demo set; its four versions are.")
    with c2:
        n_true = int(sum(truth.get(n, False) for n in res["name"][:4]))
        st.markdown(f"**{m.label}** ranks the {len(ds.items)} demo photos against it — the closest 5, scores in "
                    f"{m.unit} ({'higher' if m.higher_is_closer else 'lower'} = closer), threshold "
                    f"{thr:g} (the default):")
        W.gallery(res, ds, m, columns=5, key="home", truth=truth)
        st.caption(f"The top {n_true} of 4 are the coffee cup's versions, yet at the default threshold "
                   f"{'only ' + str(int(res['match'].sum())) if res['match'].any() else 'none'} count as a match: a "
                   "re-shot photo moves too many bits. Try **CNN + cosine** in the sidebar on the **Search** page, "
                   "or move the threshold.")
st.page_link("pages/search.py", label="Search with your own query →", icon=":material/search:")

# ------------------------------------------------------------------------------------------- the methods
st.subheader("The methods, in plain words")
st.caption("★ marks one of the six rows of the original article's tables. Pick a method in the sidebar; every page "
           "uses it.")
for fam in dict.fromkeys(m.family for m in REGISTRY):
    members = [m for m in REGISTRY if m.family == fam]
    cols = st.columns(min(3, len(members)))
    for i, mm in enumerate(members):
        spec = mm.threshold_spec()
        with cols[i % len(cols)].container(border=True):
            st.markdown(f"#### {'★ ' if mm.name in ARTICLE else ''}{mm.label}")
            st.markdown(mm.summary)
            st.markdown(f":green[:material/thumb_up:] **Wins:** {mm.wins}  \n:red[:material/thumb_down:] **Fails:** {mm.fails}")
            st.caption(f"Score: {mm.unit}, {'higher' if mm.higher_is_closer else 'lower'} = closer · default "
                       f"threshold {spec.default:g} · `{mm.name}`"
                       + (f" · [source]({mm.source})" if mm.source else ""))

st.subheader("Pages")
_PAGES = [("pages/search.py", "Search", "one query, ranked matches", ":material/search:"),
          ("pages/duplicates.py", "Duplicates", "groups, copies, downloads", ":material/filter_none:"),
          ("pages/compare.py", "Compare methods", "every method, one query", ":material/view_column:"),
          ("pages/threshold.py", "Threshold explorer", "choose a threshold", ":material/tune:"),
          ("pages/experiments.py", "Experiments", "the article's three experiments", ":material/science:"),
          ("pages/robustness.py", "Robustness lab", "one edit, every method", ":material/rotate_90_degrees_ccw:")]
cols = layout.grid("home_pages").columns(3)
for i, (path, title, what, icon) in enumerate(_PAGES):
    with cols[i % 3].container(border=True):  # a card per page: the whole label is shown, never cut
        st.page_link(path, label=f"**{title}**", icon=icon)
        st.caption(what)
