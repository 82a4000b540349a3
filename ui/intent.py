"""The sidebar's plain-language "What are you looking for?" choice: picking an intent sets the method, its
parameters and the threshold from :data:`core.recommend.PRESETS`; the technical method picker stays one click away.
Choosing a method by hand clears the intent (the view is then the user's own setting)."""
from __future__ import annotations

import streamlit as st

from core.methods import METHODS
from core.recommend import PRESETS

from . import threshold as T

K_INTENT = "intent"


def current() -> str | None:
    """The chosen intent key, or None (the user picks the method)."""
    k = st.session_state.get(K_INTENT)
    return k if k in PRESETS else None


def _apply(k_method: str) -> None:
    p = PRESETS.get(st.session_state.get(K_INTENT))
    if p is None or p.method not in METHODS:
        return
    m = METHODS[p.method]
    st.session_state[k_method] = m.name
    for prm in m.params:  # the preset was measured with the default parameters
        st.session_state.pop(f"param::{m.name}::{prm.name}", None)
    T.set_value(m, m.default_params(), p.threshold)


def clear() -> None:
    """``on_change`` of the technical method picker."""
    st.session_state[K_INTENT] = None


def picker(k_method: str) -> None:
    """The radio (no choice by default) and, once chosen, what it set and why."""
    st.radio("What are you looking for?", list(PRESETS), key=K_INTENT, index=None,
             format_func=lambda k: PRESETS[k].label, on_change=_apply, args=(k_method,), label_visibility="collapsed",
             captions=[PRESETS[k].short for k in PRESETS],
             help="  \n".join(f"**{p.label}**: {p.help}" for p in PRESETS.values())
             + "  \nEach sets the method and threshold measured best for it; the technical picker is below.")
    p = PRESETS.get(current())
    if p is not None and p.method in METHODS:
        m = METHODS[p.method]
        st.caption(f":material/lightbulb: {m.label} at {T.fmt(m, m.default_params(), p.threshold)} — {p.measured}")


__all__ = ["K_INTENT", "clear", "current", "picker"]
