"""The view in the URL: source, demo set, method, its parameters, threshold and query in ``st.query_params`` (the
page is the URL's path), so a reload or a shared link restores what was on screen.

Everything read from the URL is visitor input: each value is checked against the method registry and the method's
own parameter and threshold specs, and dropped when it does not fit. Never a path: free-text parameters (a weights
file) and the folder path are neither written nor read, and a query is only ever the demo query or the *name* of an
image of the visitor's own current set (looked up there, never opened by name).

Keys: ``src`` (demo|upload|folder|index), ``demo`` (a demo set key), ``m`` (method), ``p.<name>`` (parameters),
``t`` (threshold), ``q`` (``demo`` or ``item:<name>``), ``inv`` / ``verify`` (see :mod:`ui.matching`).
"""
from __future__ import annotations

import math
from typing import Any

import streamlit as st

from core.methods import METHODS, Method

from . import matching
from . import threshold as T

K_RESTORED = "_url_restored"
SRC_CODES = {"Demo data": "demo", "Upload images": "upload", "Folder path": "folder", "Saved index": "index"}
MAX_VALUE_CHARS = 300  # a longer value is not ours: ignored


def _get(key: str) -> str | None:
    v = st.query_params.get(key)
    if v is None or len(v) > MAX_VALUE_CHARS:
        return None
    return v


def _param_value(p, raw: str) -> Any:
    """A parameter value parsed from the URL per its spec, or raises ValueError."""
    if p.choices is not None:
        for c in p.choices:
            if str(c) == raw:
                return c
        raise ValueError(raw)
    if p.kind == "str":
        raise ValueError("free text (a path) is never read from the URL")
    if p.kind == "bool":  # stricter than the CLI: a link only ever holds what write() put there
        if raw not in ("0", "1", "true", "false"):
            raise ValueError(raw)
        return p.parse(raw)
    v = p.parse(raw)
    if p.kind == "float" and not math.isfinite(v):
        raise ValueError(raw)
    if (p.min is not None and v < p.min) or (p.max is not None and v > p.max):
        raise ValueError(raw)
    return v


def restore(sources: list[str], demo_keys: list[str], k_source: str, k_demo: str, k_method: str) -> None:
    """Seed the sidebar's widgets from the URL, once per session (before the widgets are created)."""
    if st.session_state.get(K_RESTORED):
        return
    st.session_state[K_RESTORED] = True
    matching.restore()
    by_code = {v: k for k, v in SRC_CODES.items()}
    src = by_code.get(_get("src") or "")
    if src in sources:
        st.session_state[k_source] = src
    demo = _get("demo")
    if demo in demo_keys:
        st.session_state[k_demo] = demo
    m = METHODS.get(_get("m") or _get("method") or "")  # ?method=NAME: the long form of a shared link
    if m is None:
        return
    st.session_state[k_method] = m.name
    params = {}
    for p in m.params:
        raw = _get(f"p.{p.name}")
        if raw is None:
            continue
        try:
            params[p.name] = _param_value(p, raw)
        except (TypeError, ValueError):
            continue
        st.session_state[f"param::{m.name}::{p.name}"] = params[p.name]
    try:
        params = m.resolve_params(params)
    except ValueError:
        params = m.default_params()
    raw_t = _get("t")
    if raw_t is not None:
        try:
            t = float(raw_t)
        except ValueError:
            t = None
        if t is not None and math.isfinite(t):
            T.set_value(m, params, t)
    q = _get("q")
    if q == "demo" or (q and q.startswith("item:")):
        st.session_state["_url_query"] = q  # resolved against the current set by ui.widgets.current_query


def write(source: str, demo: str | None, method: Method, params: dict) -> None:
    """Put the current view into the URL (only keys whose value changed, so the history is not flooded)."""
    want: dict[str, str] = {"src": SRC_CODES.get(source, "demo"), "m": method.name}
    want.update(matching.url_values())
    if source == "Demo data" and demo:
        want["demo"] = demo
    for p in method.params:
        v = params.get(p.name, p.default)
        if p.choices is None and p.kind == "str":
            continue  # free text is a server path: never in a URL
        if v != p.default:
            want[f"p.{p.name}"] = ("1" if v else "0") if isinstance(v, bool) else str(v)
    spec = method.threshold_spec(params)
    cur = T.current(method, params)
    if abs(float(cur) - float(spec.default)) > 1e-12:
        want["t"] = T.fmt(method, params, cur)
    q = st.session_state.get("query")
    if isinstance(q, dict) and q.get("kind") == "dataset":
        want["q"] = "item:" + q["name"]
    elif isinstance(q, dict) and q.get("kind") == "demo" and source == "Demo data":
        want["q"] = "demo"
    elif st.session_state.get("_url_query"):  # not resolved yet (its page has not run): keep it
        want["q"] = st.session_state["_url_query"]
    current = {k: st.query_params.get(k) for k in list(st.query_params.keys())}
    if current != want:
        st.query_params.from_dict(want)


__all__ = ["restore", "write"]
