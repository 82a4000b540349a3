"""Gallery widgets: cached thumbnails, a ranked-results gallery, a clickable thumbnail picker, the shared query.

Thumbnails are cached with ``st.cache_data`` keyed by the file's content hash (and size), so a rerun (slider move,
page switch) never decodes an image again.
"""
from __future__ import annotations

import hashlib
import io
import math
from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from core import config
from core import images as I
from core.collection import open as index_open
from core.datasets import Dataset
from core.encoding import Features, encode_file
from core.methods import Method
from core import query as Q

from . import layout
from .caching import memo
from .features import encoded
from .sources import demo_query_bytes
from .state import using_demo
from .text import md_escape

THUMB = 200  # px, long side of gallery thumbnails (square canvas)
#: Rows of a table sent to the browser at once (a pair list can hold ``config.budgets().max_pairs`` rows).
PAGE_ROWS = 1000
PAPER = (238, 241, 245)  # thumbnail padding colour = the theme's secondary background
#: Most thumbnails one gallery renders (a top-k of 100,000 would otherwise send 100,000 images); the table has all.
GALLERY_MAX = 100


# ------------------------------------------------------------------------------------------------ thumbnails
def _square_jpeg(img: Image.Image, size: int) -> bytes:
    t = I.thumbnail(img, size)
    canvas = Image.new("RGB", (size, size), PAPER)
    canvas.paste(t, ((size - t.width) // 2, (size - t.height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _broken(size: int) -> bytes:
    canvas = Image.new("RGB", (size, size), (250, 235, 235))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=70)
    return buf.getvalue()


@st.cache_data(max_entries=6000, show_spinner=False)
def thumb(content_id: str, size: int, _source) -> bytes:
    """Square JPEG thumbnail of an image file (cached by content hash; ``_source`` is not hashed)."""
    try:
        return _square_jpeg(I.open_image(_source, target_size=size, fit="contain"), size)
    except I.ImageError:
        return _broken(size)


@st.cache_data(max_entries=64, show_spinner=False)
def placeholder(why: str, size: int) -> bytes:
    """A grey square saying why an image is not shown (an indexed file missing or changed on disk)."""
    from PIL import ImageDraw

    canvas = Image.new("RGB", (size, size), (228, 230, 235))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((2, 2, size - 3, size - 3), outline=(170, 170, 180), width=2)
    words, lines = why.split(), [""]
    for w in words:  # a few short lines, centred
        lines[-1:] = [lines[-1] + " " + w] if len(lines[-1]) + len(w) < 14 else [lines[-1], w]
    y = size // 2 - 7 * len(lines)
    for line in lines:
        line = line.strip()
        w = draw.textlength(line)
        draw.text(((size - w) / 2, y), line, fill=(90, 90, 100))
        y += 14
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def item_thumb(dataset: Dataset, name: str, size: int = THUMB) -> bytes:
    """Thumbnail of one item, made when first shown (cached). An item of a saved index whose file is missing,
    changed or not allowed shows a placeholder saying so (:func:`core.collection.open.live_source`)."""
    it = dataset.by_name(name)
    source, why = index_open.live_source(dataset, it)
    if source is None:
        return placeholder(why, size)
    return thumb(it.content_id, size, source)


def bytes_thumb(data: bytes, size: int = THUMB) -> bytes:
    return thumb(hashlib.sha256(data).hexdigest(), size, data)


def paged_table(df: pd.DataFrame, *, key: str, rows: int | None = None, **dataframe_kwargs) -> pd.DataFrame:
    """``st.dataframe`` of one page of ``df`` (at most ``rows`` rows, default :data:`PAGE_ROWS`) with a page
    selector when there is more: the browser never receives a whole pair list. Returns the rows shown."""
    rows = rows or PAGE_ROWS
    n = len(df)
    pages = max(1, math.ceil(n / max(1, rows)))
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages:,}, {rows:,} rows each)", 1, pages, 1, key=f"{key}::page"))
    part = df.iloc[(page - 1) * rows: page * rows]
    if "height" in dataframe_kwargs:
        dataframe_kwargs["height"] = min(dataframe_kwargs["height"], 38 + 35 * max(1, len(part)))
    st.dataframe(part, **dataframe_kwargs)
    if pages > 1:
        st.caption(f"Rows {(page - 1) * rows + 1:,}–{(page - 1) * rows + len(part):,} of {n:,}.")
    return part


# ------------------------------------------------------------------------------------------------ formatting
def fmt_score(method: Method, score: float) -> str:
    """A score in the method's unit, at a precision that fits it."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return "–"
    spec = method.threshold_spec()
    if float(spec.step) >= 1:
        return f"{score:.0f} bits" if "bit" in method.unit else f"{score:.0f}"
    if abs(score) >= 100:
        return f"{score:.1f}"
    if abs(score) >= 10:
        return f"{score:.2f}"
    return f"{score:.3f}"


def match_badge(match: bool) -> str:
    return ":green-badge[:material/check: match]" if match else ":red-badge[:material/close: no match]"


def short(name: str, n: int = 28) -> str:
    base = name.rsplit("/", 1)[-1]
    return base if len(base) <= n else base[: n - 1] + "…"


# ------------------------------------------------------------------------------------------------ gallery
def gallery(results: pd.DataFrame, dataset: Dataset, method: Method, *, columns: int = 5, key: str = "gal",
            on_pick: Callable[[str], None] | None = None, truth: dict | None = None,
            on_inspect: Callable[[str], None] | None = None) -> None:
    """Ranked matches as thumbnails: rank, score (method unit) and a ✅ match / ✖ no-match badge.

    Parameters
    ----------
    results : DataFrame ``rank, name, score, match`` (:func:`core.search.search`)
    truth : dict name -> bool, optional
        Whether each image is truly a duplicate of the query (labelled data): shown as a small note.
    on_pick : callable(name), optional
        Adds a "use as query" button under each thumbnail.
    on_inspect : callable(name), optional
        Adds an "Inspect" button (the pair inspector: the query against this result).

    With ``inliers`` / ``verified`` columns (a verified search) each result also gets a verification badge.
    """
    if results.empty:
        st.info("No images to rank.")
        return
    rows = list(results.head(GALLERY_MAX).itertuples(index=False))
    if len(results) > GALLERY_MAX:
        st.caption(f"The first {GALLERY_MAX} of {len(results):,} results as thumbnails; all of them are in the table.")
    box = layout.grid(key)
    for start in range(0, len(rows), columns):
        cols = box.columns(columns)
        for col, r in zip(cols, rows[start:start + columns]):
            with col.container(border=True):
                st.image(item_thumb(dataset, r.name), width="stretch")
                st.markdown(f"**#{int(r.rank)}** · `{fmt_score(method, float(r.score))}`  \n{match_badge(bool(r.match))}")
                if hasattr(r, "verified"):
                    st.markdown(verify_badge(bool(r.verified), int(r.inliers)))
                cap = short(r.name)
                if truth is not None and r.name in truth:
                    cap += " · " + ("true duplicate" if truth[r.name] else "different picture")
                st.caption(md_escape(cap), help=md_escape(r.name))
                if on_pick is not None:
                    st.button("Use as query", key=f"{key}::pick::{r.name}", on_click=on_pick, args=(r.name,),
                              width="stretch")
                if on_inspect is not None:
                    st.button("Inspect", key=f"{key}::inspect::{r.name}", on_click=on_inspect, args=(r.name,),
                              icon=":material/compare:", width="stretch")


def verify_badge(verified: bool, inliers: int) -> str:
    """Badge of one local-feature check (verified, inlier count)."""
    if verified:
        return f":green-badge[:material/verified: verified · {int(inliers)} inliers]"
    return f":gray-badge[not verified · {int(inliers)} inliers]"


def thumbnail_picker(dataset: Dataset, on_pick: Callable[[str], None], *, key: str, columns: int = 6,
                     per_page: int = 36, selected: str | None = None) -> None:
    """A paged grid of the dataset's thumbnails with a button under each (click = pick)."""
    names = dataset.names()
    flt = st.text_input("Filter by name", key=f"{key}::filter", placeholder="e.g. coffee")
    if flt:
        names = [n for n in names if flt.lower() in n.lower()]
    pages = max(1, math.ceil(len(names) / per_page))
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1,
                                   key=f"{key}::page"))
    chunk = names[(page - 1) * per_page: page * per_page]
    box = layout.grid(key)
    for start in range(0, len(chunk), columns):
        cols = box.columns(columns)
        for col, name in zip(cols, chunk[start:start + columns]):
            with col:
                st.image(item_thumb(dataset, name, 160), width="stretch")
                is_sel = name == selected
                st.button(md_escape(short(name, 22)), key=f"{key}::{name}", on_click=on_pick, args=(name,), width="stretch",
                          type="primary" if is_sel else "secondary", help=md_escape(name),
                          icon=":material/check:" if is_sel else None)
    if not chunk:
        st.caption("No image matches the filter.")


def encoding_caption(features: Features, method: Method) -> str:
    """What the encoding cost, truthfully: "encoded just now in 11.7 s" on the run that did it, "encoded 3 min
    ago, reused" afterwards. Times and cache counts only in local mode: on a hosted demo they would tell a visitor
    whether someone else had already processed the same photos (the feature cache is shared by content hash)."""
    import time

    if getattr(features, "index_dir", None):
        return (f"{len(features):,} feature rows of {method.label} read from the saved index: nothing was encoded. "
                "Moving the slider re-ranks only.")
    base = f"{len(features)} images encoded with {method.label}"
    cost = encoded(features)
    if not config.local_mode() or cost is None:
        return base + ". Moving the slider re-ranks only: nothing is re-encoded."
    secs, at = cost
    ago = time.time() - at
    cached = f"{features.n_cached} from the feature cache on disk"
    when = "just now" if ago < 5 else (f"{ago:.0f} s ago" if ago < 120 else f"{ago / 60:.0f} min ago")
    reuse = "" if ago < 5 else " and reused from memory since"
    return (f"{base} {when} in {secs:.1f} s ({cached}){reuse}. Moving the slider re-ranks only: nothing is "
            "re-encoded.")


# ------------------------------------------------------------------------------------------------ the query
K_QUERY = "query"


def _default_query(dataset: Dataset) -> dict:
    if using_demo():
        name, data = demo_query_bytes()
        return {"kind": "demo", "name": name, "data": data}
    return {"kind": "dataset", "name": dataset.items[0].name, "data": None}


def current_query(dataset: Dataset) -> dict:
    """The shared query (Search and Compare pages): ``{"kind": "dataset"|"upload"|"demo", "name", "data"}``.
    A dataset pick that is not in the current dataset falls back to the default."""
    from_url = st.session_state.pop("_url_query", None)  # a reload / shared link: a name of this set, or "demo"
    if from_url == "demo" and using_demo():
        use_demo_query()
    elif from_url and from_url.startswith("item:") and from_url[5:] in set(dataset.names()):
        pick_dataset_query(from_url[5:])
    q = st.session_state.get(K_QUERY)
    if q is None or (q["kind"] == "dataset" and q["name"] not in set(dataset.names())) or (
            q["kind"] == "demo" and not using_demo()):
        q = _default_query(dataset)
        st.session_state[K_QUERY] = q
    return q


def pick_dataset_query(name: str) -> None:
    st.session_state[K_QUERY] = {"kind": "dataset", "name": name, "data": None}


def set_upload_query(name: str, data: bytes) -> None:
    st.session_state[K_QUERY] = {"kind": "upload", "name": name, "data": data}


def use_demo_query() -> None:
    name, data = demo_query_bytes()
    st.session_state[K_QUERY] = {"kind": "demo", "name": name, "data": data}


def _query_uploaded(widget_key: str) -> None:
    """``on_change`` of a query uploader: a file put in it becomes the query (every time, the same file too)."""
    up = st.session_state.get(widget_key)
    if up is not None:
        set_upload_query(up.name, up.getvalue())


def query_group(dataset: Dataset, q: dict) -> str | None:
    """The ground-truth group of the shared query ``q`` in ``dataset``, or None when not known (an upload, an
    unlabelled set): :func:`core.query.query_group` for a pick from the set or the demo query."""
    return Q.query_group(dataset, name=q["name"] if q["kind"] == "dataset" else None, demo=q["kind"] == "demo")


def query_thumb(dataset: Dataset, q: dict, size: int = 260) -> bytes:
    return item_thumb(dataset, q["name"], size) if q["kind"] == "dataset" else bytes_thumb(q["data"], size)


def query_row(q: dict, features: Features, dataset: Dataset | None = None
              ) -> tuple[np.ndarray | None, str | None, str | None]:
    """(feature row, name to exclude, error) of the query for ``features``' method: a dataset pick reuses its row
    (no encoding, excluded from the ranking); an uploaded file is encoded once per method + parameters.

    An uploaded query that is also in ``dataset`` (same base name and same bytes) is the query itself: its name is
    returned to be excluded (byte-identical files under other names stay: they are real duplicates)."""
    if q["kind"] == "dataset":
        try:
            return features.data[features.index(q["name"])], q["name"], None
        except ValueError:
            return None, None, f"{q['name']} could not be decoded (see skipped files)."
    m, p = features.method, features.params
    digest = hashlib.sha256(q["data"]).hexdigest()
    data = q["data"]

    def enc():
        try:
            return encode_file(m, data, p)[0]
        except I.ImageError as e:
            return e.reason

    row = memo(("query", digest, m.params_key(p)), enc)
    if isinstance(row, str):
        return None, None, f"The query image cannot be read: {row}"
    itself = Q.self_item(dataset.items, name=q["name"], cid=digest) if dataset is not None else None
    return row, itself, None


def query_panel(dataset: Dataset, *, key: str) -> dict:
    """Query chooser: current query preview, upload box, demo-query button. Returns the current query."""
    q = current_query(dataset)
    c1, c2 = st.columns([1, 2])
    with c1:
        st.image(query_thumb(dataset, q), width="stretch")
        where = {"dataset": "picked from the dataset", "upload": "uploaded", "demo": "demo query (not in the set)"}
        st.caption(f"**Query:** {md_escape(short(q['name'], 40))} — {where[q['kind']]}", help=md_escape(q["name"]))
    with c2:
        # on_change, not "a file differing from the last one": uploading the same file again after "Use as
        # query" must make it the query again (issue 11, item 4)
        st.file_uploader("Upload a query image", key=f"{key}::upload", on_change=_query_uploaded,
                         args=(f"{key}::upload",), help="Any image file; or pick one from the dataset below.")
        if using_demo() and q["kind"] != "demo":
            st.button("Use the demo query (a re-shot coffee cup)", key=f"{key}::demo", on_click=use_demo_query)
    return current_query(dataset)


__all__ = ["GALLERY_MAX", "THUMB", "bytes_thumb", "current_query", "fmt_score", "gallery", "item_thumb", "match_badge",
           "pick_dataset_query", "placeholder", "query_group", "query_panel", "query_row", "query_thumb", "set_upload_query", "short", "thumb",
           "thumbnail_picker", "use_demo_query"]
