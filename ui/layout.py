"""Page-wide layout rules that Streamlit has no option for: thumbnail grids that stay grids on a phone.

Why CSS: below 640 px Streamlit stacks every ``st.columns`` row into one column, so a group of six thumbnails became
six full-width images (Duplicates was a 15,000 px column at 390 px, issue 11 item 6). Grids are wrapped in a
container whose key starts with :data:`GRID_KEY`; on a narrow screen their columns wrap three to a row instead.
The style sheet is a constant (nothing from a visitor goes into it).
"""
from __future__ import annotations

import streamlit as st

GRID_KEY = "thumbgrid"

_CSS = """<style>
@media (max-width: 640px) {
  [class*="st-key-%(k)s"] [data-testid="stHorizontalBlock"] {
    flex-direction: row !important; flex-wrap: wrap !important; gap: 0.4rem !important;
  }
  [class*="st-key-%(k)s"] [data-testid="stColumn"] {
    flex: 0 0 calc(33.33%% - 0.3rem) !important; min-width: calc(33.33%% - 0.3rem) !important;
    width: calc(33.33%% - 0.3rem) !important;
  }
}
</style>""" % {"k": GRID_KEY}


def inject_css() -> None:
    """Add the style sheet to the page (once per run, from ``app.py``)."""
    st.html(_CSS)


def lazy_expander(label: str, *, key: str, icon: str | None = None, expanded: bool = False):
    """An expander whose content is built only while it is open: the container when open, ``None`` when closed.

    Why: the browser renders everything a page sends, a collapsed expander's content included, and some elements
    load large scripts the first time they are drawn (``st.code``: a 1.5 MB highlighter; ``st.dataframe``: the data
    grid; ``st.plotly_chart``: 4.7 MB). Streamlit's ``on_change="rerun"`` makes the expander report whether it is
    open, so a closed one costs one label; opening it reruns the page (or the fragment it is in) with its content.
    Measured in Chromium on Duplicates (bench/RESULTS.md, section 9).
    """
    box = st.expander(label, expanded=expanded, key=key, icon=icon, on_change="rerun")
    return box if box.open else None


def grid(name: str):
    """A container whose ``st.columns`` rows stay grids (3 per row) on a phone; ``name`` makes its key unique."""
    return st.container(key=f"{GRID_KEY}_{name}")


__all__ = ["GRID_KEY", "grid", "inject_css", "lazy_expander"]
