"""The threshold's single source of truth: one value per method + parameters in ``st.session_state``, snapped to
the slider's grid and shown with the slider's own number format everywhere (slider, headings, metrics, buttons).

Why a format of its own: Streamlit's float slider prints ``%0.2f`` by default, so a threshold of 0.635 on a 0.005
grid read "0.64" on the slider while the heading said 0.635 (issue 11, item 2).
"""
from __future__ import annotations

import math

import numpy as np
import streamlit as st

from core.methods import Method

_THR_PREFIX = "thr::"
#: Largest slider grid used as the threshold sweep's grid (finer grids fall back to the sweep's own and snap).
MAX_GRID = 5001


def _key(method: Method, params: dict | None) -> str:
    return _THR_PREFIX + method.params_key(params)


def is_int_spec(spec) -> bool:
    """Whether the method's threshold is a whole number (Hamming bits)."""
    return all(float(x).is_integer() for x in (spec.min, spec.max, spec.step)) and float(spec.step) >= 1


def decimals(spec) -> int:
    """Decimal places that show every value of the slider's grid exactly (0.005 -> 3, 0.1 -> 1, 1 -> 0)."""
    if is_int_spec(spec):
        return 0
    step = float(spec.step)
    for d in range(0, 7):
        if abs(round(step, d) - step) < 1e-12 and abs(round(float(spec.min), d) - float(spec.min)) < 1e-12:
            return d
    return 6


def fmt(method: Method, params: dict | None, value: float) -> str:
    """A threshold as the slider prints it (the same digits on every page)."""
    spec = method.threshold_spec(params)
    return f"{float(value):.{decimals(spec)}f}"


def snap(method: Method, params: dict | None, value: float) -> float:
    """``value`` clamped to the slider's range and rounded to its grid (``min + k * step``)."""
    spec = method.threshold_spec(params)
    v = min(max(float(value), float(spec.min)), float(spec.max))
    if not math.isfinite(v):
        v = float(spec.default)
    k = round((v - float(spec.min)) / float(spec.step))
    v = min(float(spec.min) + k * float(spec.step), float(spec.max))
    return int(round(v)) if is_int_spec(spec) else round(v, decimals(spec))


def grid(method: Method, params: dict | None) -> np.ndarray | None:
    """Every value the slider can take, shape (n,), or None when that is more than :data:`MAX_GRID` values."""
    spec = method.threshold_spec(params)
    n = int(round((float(spec.max) - float(spec.min)) / float(spec.step))) + 1
    if n > MAX_GRID:
        return None
    return np.round(float(spec.min) + np.arange(n) * float(spec.step), decimals(spec))


def current(method: Method, params: dict | None = None) -> float:
    """The shared threshold for ``method`` + ``params``, default ``threshold_spec.default``."""
    spec = method.threshold_spec(params)
    v = st.session_state.get(_key(method, params))
    if v is None:
        d = float(spec.default)
        return int(round(d)) if is_int_spec(spec) else d
    return snap(method, params, v)


def set_value(method: Method, params: dict | None, value: float) -> None:
    """Apply a threshold to every page (snapped to the slider's grid, so every widget shows the same number)."""
    v = snap(method, params, value)
    st.session_state[_key(method, params)] = v
    # keep the URL's threshold current also when only a fragment reruns (ui.url_state writes the rest per run)
    if st.query_params.get("m") == method.name:
        if abs(float(v) - float(method.threshold_spec(params).default)) > 1e-12:
            st.query_params["t"] = fmt(method, params, v)
        elif "t" in st.query_params:
            del st.query_params["t"]


def slider(method: Method, params: dict | None, *, key: str, label: str | None = None, container=None) -> float:
    """A slider bound to the shared threshold: moving it changes :func:`current` on every page.

    The widget has its own key (widget state is dropped when a page does not render it); its value is copied to
    the shared key in ``on_change`` and re-seeded from it on every run.
    """
    spec = method.threshold_spec(params)
    cur = current(method, params)
    wkey = f"{key}::{method.params_key(params)}"
    if st.session_state.get(wkey) != cur:
        st.session_state[wkey] = cur
    is_int = is_int_spec(spec)
    direction = "higher = closer" if method.higher_is_closer else "lower = closer"
    default = fmt(method, params, spec.default)
    lab = label or f"Threshold — {method.unit}, {direction} (default {default})"
    kw = dict(min_value=int(spec.min), max_value=int(spec.max), step=int(spec.step)) if is_int else dict(
        min_value=float(spec.min), max_value=float(spec.max), step=float(spec.step),
        format=f"%.{decimals(spec)}f")

    def _changed():
        set_value(method, params, st.session_state[wkey])

    target = container or st
    target.slider(lab, key=wkey, on_change=_changed,
                  help=f"Pairs {'at or above' if method.higher_is_closer else 'at or below'} this score count as "
                       f"duplicates. Default {default} {method.unit}.", **kw)
    return current(method, params)


__all__ = ["current", "decimals", "fmt", "grid", "is_int_spec", "set_value", "slider", "snap"]
