"""The pair inspector: two images side by side with the local-feature inliers and the matched region drawn, the
verification's verdict, and the method's score under each of the 8 dihedral transforms of the second image.

Only the two images of the pair are decoded, each at a bounded size (:data:`DRAW_SIDE` for drawing and the
local-feature check, the method's own ``input_size`` for the scores): never a whole set at full resolution.
Pages open it with :func:`open_pair` (a button's ``on_click``) and show it with :func:`render_if_open`; a pair is
named by refs ``("item", name)`` (an image of the set) or ``("query", q)`` (the page's query dict,
``ui.widgets.current_query``).
"""
from __future__ import annotations

import hashlib
import io
import os

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw

from core import images as I
from core.encoding import decode_for
from core.invariance import TRANSFORMS, base_of, variants
from core.methods import Method
from core.verification import Verification, VerifyConfig, verify_images

from .text import md_escape

#: Long side (px) of the images drawn and checked: the verification's own working size.
DRAW_SIDE = VerifyConfig().max_side
#: At most this many inlier lines are drawn (the strongest are not known; the first ones are as good as any).
MAX_LINES = 60
#: Plain-language names of the 8 dihedral transforms, in :data:`core.invariance.TRANSFORMS` order.
TRANSFORM_NAMES = ("as is", "rotated 90°", "rotated 180°", "rotated 270°", "mirrored left-right",
                   "flipped upside down", "transposed", "transversed")
_STATE = "_pair_inspector::"


def open_pair(scope: str, a: tuple, b: tuple, method_name: str | None = None) -> None:
    """Ask the page ``scope`` to show the inspector for refs ``a`` and ``b`` (use as a button's ``on_click``);
    ``method_name``: score with this registered method instead of the page's (Compare methods' columns)."""
    st.session_state[_STATE + scope] = (a, b)
    st.session_state[_STATE + scope + "::method"] = method_name


def showing(scope: str, names) -> bool:
    """Whether ``scope``'s open pair is two images of ``names`` (e.g. of one duplicate group)."""
    pair = st.session_state.get(_STATE + scope)
    names = set(names)
    return bool(pair) and all(kind == "item" and val in names for kind, val in pair)


def chosen_method(scope: str) -> str | None:
    """The registered method name the open pair of ``scope`` was opened for, if any."""
    return st.session_state.get(_STATE + scope + "::method")


def close(scope: str) -> None:
    st.session_state.pop(_STATE + scope, None)


def _resolve(ref: tuple, dataset) -> tuple[str, object] | None:
    """(name, source) of a ref, or None when it no longer exists (another set, another query)."""
    kind, val = ref
    if kind == "item":
        try:
            return val, dataset.by_name(val).source
        except KeyError:
            return None
    if kind == "query" and isinstance(val, dict):
        if val.get("kind") == "dataset":
            return _resolve(("item", val["name"]), dataset)
        return val.get("name", "query"), val.get("data")
    return None


def render_if_open(scope: str, dataset, method: Method, params: dict) -> None:
    """The inspector of ``scope``'s chosen pair (nothing when none is open)."""
    pair = st.session_state.get(_STATE + scope)
    if not pair:
        return
    a, b = _resolve(pair[0], dataset), _resolve(pair[1], dataset)
    if a is None or b is None:
        close(scope)
        return
    with st.container(border=True, key=f"pair_inspector_{scope}"):
        c1, c2 = st.columns([5, 1])
        c1.markdown("#### :material/compare: Pair inspector")
        c2.button("Close", key=f"{scope}::inspector_close", on_click=close, args=(scope,), icon=":material/close:")
        render_pair(a[0], a[1], b[0], b[1], method, params)


def _open(source) -> Image.Image:
    return I.open_image(source, target_size=DRAW_SIDE, fit="contain")


def _fit(img: Image.Image, side: int = DRAW_SIDE) -> Image.Image:
    """``img`` shrunk so its long side is at most ``side`` (never enlarged)."""
    s = max(img.size) / side
    return img if s <= 1 else img.resize((max(1, round(img.width / s)), max(1, round(img.height / s))),
                                         Image.Resampling.BILINEAR)


def drawing(img_a: Image.Image, img_b: Image.Image, v: Verification, gap: int = 12) -> Image.Image:
    """Both images side by side on one canvas, the matched regions outlined and up to :data:`MAX_LINES` inlier
    pairs joined by lines (coordinates of ``v`` are in the pixels of ``img_a`` / ``img_b``)."""
    h = max(img_a.height, img_b.height)
    canvas = Image.new("RGB", (img_a.width + gap + img_b.width, h), "white")
    canvas.paste(img_a.convert("RGB"), (0, 0))
    off = img_a.width + gap
    canvas.paste(img_b.convert("RGB"), (off, 0))
    d = ImageDraw.Draw(canvas)
    colour = (46, 204, 113) if v.verified else (241, 196, 15)
    for quad, dx in ((v.region_a, 0), (v.region_b, off)):
        if quad is not None and np.all(np.isfinite(quad)):
            pts = [(float(x) + dx, float(y)) for x, y in quad]
            d.line(pts + [pts[0]], fill=colour, width=3)
    if v.points_a is not None and v.points_b is not None:
        for (xa, ya), (xb, yb) in list(zip(v.points_a, v.points_b))[:MAX_LINES]:
            d.line([(xa, ya), (xb + off, yb)], fill=(52, 152, 219), width=1)
            for x, y in ((xa, ya), (xb + off, yb)):
                d.ellipse([x - 3, y - 3, x + 3, y + 3], outline=(231, 76, 60), width=2)
    return canvas


def transform_scores(method: Method, params: dict, source_a, source_b) -> pd.DataFrame:
    """The base method's score of ``a`` against each of the 8 dihedral transforms of ``b``.

    Returns
    -------
    DataFrame ``transform, score`` (8 rows, the method's unit), in :data:`core.invariance.TRANSFORMS` order.
    """
    base = base_of(method)
    p = base.resolve_params(params)
    img_a, img_b = decode_for(base, source_a), decode_for(base, source_b)
    X = np.asarray(base.encode([img_a] + variants(img_b, "dihedral"), **p))
    scores = np.asarray(base.pairwise(X[:1], X[1:], **p)).reshape(-1)
    assert len(scores) == len(TRANSFORMS["dihedral"]) == len(TRANSFORM_NAMES)
    return pd.DataFrame({"transform": list(TRANSFORM_NAMES), "score": scores.astype(np.float64)})


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _source_key(source) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.sha1(bytes(source)).hexdigest()
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else repr(source)


def _inspect(source_a, source_b, method: Method, params: dict):
    """(drawing PNG, verification, transform table) of a pair, kept in the session for the last pair shown: a
    threshold move reruns the page's fragment, and must not decode, run SIFT and encode 9 images again."""
    base = base_of(method)
    key = (_source_key(source_a), _source_key(source_b), base.params_key(base.resolve_params(params)))
    held = st.session_state.get("_pair_inspector_last")
    if held and held[0] == key:
        return held[1]
    img_a, img_b = _fit(_open(source_a)), _fit(_open(source_b))
    v = verify_images(img_a, img_b)
    out = (_png(drawing(img_a, img_b, v)), v, transform_scores(base, params, source_a, source_b))
    st.session_state["_pair_inspector_last"] = (key, out)
    return out


def render_pair(name_a: str, source_a, name_b: str, source_b, method: Method, params: dict) -> None:
    """The inspector's body for one pair (any page may call it directly)."""
    try:
        png, v, table = _inspect(source_a, source_b, method, params)
    except I.ImageError as e:
        st.error(md_escape(f"Cannot open the pair: {e}"))
        return
    st.image(png, width="stretch")
    st.caption(md_escape(f"{name_a}  ↔  {name_b}"))
    verdict = (":green-badge[:material/verified: verified]" if v.verified
               else f":gray-badge[not verified] {md_escape(v.reason)}")
    st.markdown(f"{verdict} · **{v.inliers}** inliers of {v.matches} distinctive matches · matched region covers "
                f"{v.coverage:.0%}" + (" · matched once mirrored" if v.mirrored else ""))
    st.caption("Blue lines join local features that agree on one geometry (inliers); the outlines are the matched "
               "region in each image.")
    base = base_of(method)
    table = table.copy()
    best = table["score"].idxmax() if base.higher_is_closer else table["score"].idxmin()
    table["closest"] = table.index == best
    st.markdown(f"**{md_escape(base.label)}** score of the second image under each transform "
                f"({'higher' if base.higher_is_closer else 'lower'} = closer):")
    st.dataframe(table, hide_index=True,
                 column_config={"score": st.column_config.NumberColumn(f"score ({base.unit})", format="%.4g"),
                                "closest": st.column_config.CheckboxColumn("closest")})


__all__ = ["DRAW_SIDE", "TRANSFORM_NAMES", "close", "drawing", "open_pair", "render_if_open", "render_pair",
           "chosen_method", "showing", "transform_scores"]
