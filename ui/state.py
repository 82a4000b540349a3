"""What the sidebar chose, for the pages: the dataset (:func:`current_dataset`) and the method with its parameters
(:func:`current_method`), and the ``st.session_state`` keys the sidebar's widgets use.

State lives in three places, on purpose:

* **process-wide caches** (``st.cache_resource``, :mod:`ui.caching`): the demo datasets, feature matrices keyed by
  dataset fingerprint (names + content hashes) and method parameters, and derived results (duplicates, sweeps).
  Keys are content hashes, so one user can only hit an entry for data they hold themselves. Feature rows are also
  kept on disk by :mod:`core.cache` (features only, never pixels).
* **per-session state** (``st.session_state``): uploaded datasets (never shared between sessions), the chosen
  query and the shared threshold per method + parameters (:mod:`ui.threshold`).
* **widgets** in the sidebar (:mod:`ui.sidebar`), rendered on every run by ``app.py`` so their values survive page
  switches.
"""
from __future__ import annotations

import streamlit as st

from core import datasets as D
from core.encoding import Features
from core.methods import METHODS, REGISTRY, Method

from . import empty, index_source
from .entry import ensure_app
from .sources import demo_dataset

SOURCES = ("Demo data", "Upload images", "Folder path", index_source.SOURCE)  # the last two: local mode only
DEFAULT_METHOD = "ahash"

# session_state keys (prefixed so they cannot collide with other engineers' pages)
K_SOURCE, K_DEMO, K_UPLOAD, K_FOLDER = "ds_source", "ds_demo", "ds_upload", "ds_folder"
K_LABELS, K_K, K_CSV = "ds_labels", "ds_k", "ds_csv"
K_METHOD = "method"
#: where the sidebar leaves its results: the dataset (or None), the (method, params) pair, a refused source's why
K_DATASET, K_METHOD_PARAMS, K_ERROR = "_dataset", "_method", "_ds_error"


def using_demo() -> bool:
    """Whether the sidebar's source is the demo data."""
    return st.session_state.get(K_SOURCE, SOURCES[0]) == "Demo data"


def user_dataset() -> D.Dataset | None:
    """The sidebar's dataset as the visitor gave it: None when nothing is given yet (or it was refused); it may have
    no usable image. Never another source's images."""
    ensure_app()
    ds = st.session_state.get(K_DATASET)
    if ds is None and using_demo():
        return demo_dataset(st.session_state.get(K_DEMO) or "duplicates")
    return ds


def current_dataset() -> D.Dataset:
    """The sidebar's dataset, with at least one usable image.

    When the visitor's source has none (nothing uploaded yet, a refused upload, a bad folder path, only unusable
    files) the page shows the empty state instead (what is missing, every skipped file with its reason) and stops:
    it never falls back to the demo photos under the visitor's source.
    """
    ds = user_dataset()
    if ds is None or not ds.items:
        empty.stop_without_images(ds, st.session_state.get(K_SOURCE, SOURCES[0]), st.session_state.get(K_ERROR))
    return ds


def require_features(dataset: D.Dataset, features: Features) -> None:
    """The empty state when every image of ``dataset`` failed to decode for this method (none to compare)."""
    if len(features) == 0:
        empty.stop_without_images(dataset, st.session_state.get(K_SOURCE, SOURCES[0]), None,
                                  extra_skipped=features.skipped)


def current_method() -> tuple[Method, dict]:
    """(method, resolved params) chosen in the sidebar (average hash by default)."""
    ensure_app()
    got = st.session_state.get(K_METHOD_PARAMS)
    if got is None:
        m = METHODS.get(DEFAULT_METHOD, REGISTRY[0])
        return m, m.default_params()
    return got


__all__ = ["DEFAULT_METHOD", "K_CSV", "K_DATASET", "K_DEMO", "K_ERROR", "K_FOLDER", "K_K", "K_LABELS", "K_METHOD",
           "K_METHOD_PARAMS", "K_SOURCE", "K_UPLOAD", "SOURCES", "current_dataset", "current_method",
           "require_features", "user_dataset", "using_demo"]
