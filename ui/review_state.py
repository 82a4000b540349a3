"""Session state of the Review page: the user's keeper choices and "not a duplicate" marks, and the last clean-up.

Decisions are kept per *review context* (dataset fingerprint, method + parameters, threshold, keep rule, grouping)
in a plain dict in ``st.session_state`` — not in widget state, which Streamlit drops for widgets a page does not
render (the groups of other pages of the pagination). A different context starts from the rule's suggestions.
"""
from __future__ import annotations

import streamlit as st

K_DECISIONS = "_review_decisions"
K_LAST_CLEAN = "_review_last_clean"


def _store(ctx: tuple) -> dict:
    d = st.session_state.get(K_DECISIONS)
    if d is None or d.get("ctx") != ctx:
        d = {"ctx": ctx, "keepers": {}, "not_dup": set()}
        st.session_state[K_DECISIONS] = d
    return d


def keepers(ctx: tuple) -> dict[str, str]:
    """gid -> keeper chosen by the user in this context."""
    return _store(ctx)["keepers"]


def not_duplicates(ctx: tuple) -> set[str]:
    """gids marked "not a duplicate" in this context."""
    return _store(ctx)["not_dup"]


def set_keeper(ctx: tuple, gid: str, name: str, suggested: str) -> None:
    k = keepers(ctx)
    if name == suggested:
        k.pop(gid, None)
    else:
        k[gid] = name


def set_not_duplicate(ctx: tuple, gid: str, flag: bool) -> None:
    (not_duplicates(ctx).add if flag else not_duplicates(ctx).discard)(gid)


def reset(ctx: tuple) -> None:
    st.session_state.pop(K_DECISIONS, None)
    _store(ctx)


def remember_clean(log: str | None, moved: int, not_moved: list) -> None:
    st.session_state[K_LAST_CLEAN] = {"log": log, "moved": moved, "not_moved": list(not_moved), "undone": False}


def last_clean() -> dict | None:
    return st.session_state.get(K_LAST_CLEAN)


__all__ = ["keepers", "last_clean", "not_duplicates", "remember_clean", "reset", "set_keeper", "set_not_duplicate"]
