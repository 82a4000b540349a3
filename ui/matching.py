"""The sidebar's matching options beside the method: invariance (as is / also mirrored / any 90° rotation or
mirror) and "Verify with local features" (the second stage of :mod:`core.two_stage`).

State lives in ``st.session_state`` under :data:`K_INVARIANCE` and :data:`K_VERIFY`; :func:`apply` wraps the chosen
method with :func:`core.invariance.invariant` so every page that calls ``ui.state.current_method()`` compares under
the chosen invariance with no other edit (the wrapped record's ``version`` carries the mode, so cached features of
the plain and the wrapped method never collide). Both values are read from / written to the URL (``inv``, ``verify``)
through :func:`url_values` / :func:`restore`; anything not in :data:`MODES` or ``0/1`` is ignored.
"""
from __future__ import annotations

import streamlit as st

from core.invariance import invariant, mode_of
from core.methods import Method

K_INVARIANCE = "match_invariance"
K_VERIFY = "match_verify"
#: mode -> plain-language label (the core's names stay in the URL and the CLI)
MODES = {"none": "as is", "flips": "also mirrored", "dihedral": "any 90° rotation or mirror"}


def restore() -> None:
    """Seed the widgets from the URL (call once per session, before :func:`picker`)."""
    inv = st.query_params.get("inv")
    if inv in MODES:
        st.session_state[K_INVARIANCE] = inv
    v = st.query_params.get("verify")
    if v in ("0", "1"):
        st.session_state[K_VERIFY] = v == "1"


def picker() -> None:
    """The two widgets (inside the sidebar's method expander)."""
    if st.session_state.get(K_INVARIANCE) not in MODES:
        st.session_state[K_INVARIANCE] = "none"
    st.radio("Invariance", list(MODES), key=K_INVARIANCE, format_func=MODES.get, horizontal=False,
             help="Also match copies that were mirrored or turned by 90°: each pair is scored as the closest over "
                  "those transforms of one side (slower: encodes 2 or 8 variants per image).")
    st.toggle("Verify with local features", key=K_VERIFY,
              help="Check the closest candidates by matching local features (SIFT) and their geometry: catches "
                   "crops and re-shots, rejects different photos. Adds inliers and a verified badge to Search.")


def mode() -> str:
    """The chosen invariance mode (``none`` by default)."""
    m = st.session_state.get(K_INVARIANCE)
    return m if m in MODES else "none"


def verify_on() -> bool:
    """Whether "Verify with local features" is on (off by default)."""
    return bool(st.session_state.get(K_VERIFY, False))


def apply(method: Method) -> Method:
    """``method`` wrapped with the chosen invariance (itself for ``none``)."""
    return invariant(method, mode())


def url_values() -> dict[str, str]:
    """The URL keys for the current choice (only when not the default)."""
    out: dict[str, str] = {}
    if mode() != "none":
        out["inv"] = mode()
    if verify_on():
        out["verify"] = "1"
    return out


def describe(method: Method) -> str:
    """Plain-language suffix for a method label, e.g. ``" · any 90° rotation or mirror"`` ("" for none)."""
    m = mode_of(method)
    return "" if m == "none" else f" · {MODES[m]}"


__all__ = ["K_INVARIANCE", "K_VERIFY", "MODES", "apply", "describe", "mode", "picker", "restore", "url_values",
           "verify_on"]
