"""The entry guard: every page runs inside ``app.py`` (page config, sidebar, navigation), even when Streamlit runs
the page's file directly."""
from __future__ import annotations

import contextlib
import contextvars
import os
import runpy

import streamlit as st

APP_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
_IN_APP: contextvars.ContextVar[bool] = contextvars.ContextVar("dupfinder_in_app", default=False)


@contextlib.contextmanager
def app_context():
    """Marks the run of ``app.py`` (page config + sidebar + navigation); pages run inside it."""
    token = _IN_APP.set(True)
    try:
        yield
    finally:
        _IN_APP.reset(token)


def ensure_app() -> None:
    """Make a page run through ``app.py`` even when Streamlit runs it directly.

    Why: because the project has a ``pages/`` folder, Streamlit 1.67 also registers every ``pages/*.py`` as a
    legacy (v1) page; a deep link such as ``/search`` opened in a fresh tab then runs ``pages/search.py`` *without*
    ``app.py`` — no sidebar, no page config, legacy navigation. Called at the top of every page (and by
    :func:`ui.state.current_dataset` / :func:`ui.state.current_method`), this runs ``app.py`` instead, which
    re-resolves the same URL through ``st.navigation`` and runs the page properly; the direct run then stops.
    """
    if _IN_APP.get():
        return
    runpy.run_path(APP_PATH, run_name="__main__")
    st.stop()


__all__ = ["APP_PATH", "app_context", "ensure_app"]
