"""Duplicate Image Finder — Streamlit entrypoint.

Run:  bash scripts/run.sh        (local desktop mode: 127.0.0.1 only, folder source on)
      streamlit run app.py       (hosted mode: no server paths, error details hidden; see README "Hosting publicly")

Page config, the shared sidebar (dataset + method, rendered on every run so it survives page switches) and
``st.navigation`` over ``pages/``. Pages only call ``core/`` through ``ui/``.
"""
from __future__ import annotations

import os
import sys

import streamlit as st

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # `streamlit run /elsewhere/app.py` still finds core/ and ui/
    sys.path.insert(0, _HERE)

from streamlit import config as st_config  # noqa: E402

from core import config  # noqa: E402
from ui import layout  # noqa: E402
from ui.entry import app_context  # noqa: E402
from ui.sidebar import sidebar  # noqa: E402

# Hosted mode hides tracebacks even when the app is started from another directory (then .streamlit/config.toml,
# which says "none", is not read and Streamlit's default is "full"). An operator's explicit choice is kept.
if not config.local_mode() and not st_config.is_manually_set("client.showErrorDetails"):
    st.set_option("client.showErrorDetails", "none")

st.set_page_config(page_title="Duplicate Image Finder", page_icon="🖼️", layout="wide",
                   initial_sidebar_state="auto",  # collapsed on a phone: the main content first
                   menu_items={"About": "Find duplicate and near-duplicate images, and see how five classic "
                                        "similarity methods behave on your own photos."})


def _page(path: str, title: str, icon: str, **kw) -> st.Page | None:
    """A page if its file exists (the Experiments and Robustness pages land from another engineer)."""
    full = os.path.join(_HERE, path)
    return st.Page(full, title=title, icon=icon, **kw) if os.path.exists(full) else None


explore = [p for p in (
    _page("pages/home.py", "Home", ":material/home:", default=True),
    _page("pages/search.py", "Search", ":material/search:", url_path="search"),
    _page("pages/duplicates.py", "Duplicates", ":material/filter_none:", url_path="duplicates"),
    _page("pages/compare.py", "Compare methods", ":material/view_column:", url_path="compare"),
    _page("pages/threshold.py", "Threshold explorer", ":material/tune:", url_path="threshold"),
    _page("pages/review.py", "Review", ":material/fact_check:", url_path="review"),
    _page("pages/dataset_map.py", "Dataset map", ":material/scatter_plot:", url_path="map"),
) if p is not None]
measure = [p for p in (
    _page("pages/experiments.py", "Experiments", ":material/science:", url_path="experiments"),
    _page("pages/robustness.py", "Robustness lab", ":material/rotate_90_degrees_ccw:", url_path="robustness"),
) if p is not None]

layout.inject_css()
with app_context():  # pages check it: see ui.entry.ensure_app
    nav = st.navigation({"Explore": explore, **({"Measure": measure} if measure else {})})
    sidebar()
    nav.run()

# after the first page is drawn (so it does not compete with the first result): load the CNN in the background, so a
# visitor who picks a CNN method next does not wait for it (core.warmup; once per server process)
from core import warmup  # noqa: E402

warmup.start_background()
