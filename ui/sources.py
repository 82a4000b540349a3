"""Where the sidebar's images come from: the demo sets, this session's uploads, a server folder (local mode only),
and the labelling convention applied to them.

The demo sets are process-wide (``st.cache_resource``: shared, read-only). A visitor's own data lives in
``st.session_state`` only (never shared between sessions, freed with the session); each loader takes a ``slot``
naming its session keys (cache, error) so that a second dataset (the Two-sets mode's set B) has its own.
"""
from __future__ import annotations

import hashlib
import os
from typing import Callable

import streamlit as st

from core import config
from core import datasets as D
from core import demo
from core import folder_access

from . import uploads
from .caching import dataset_fingerprint, memo

DEMO_SETS: dict[str, tuple[str, Callable]] = {
    # key: (label, path function)
    "duplicates": ("Near-duplicates: 8 photos x 4 copies + 6 distractors (38)", demo.demo_dataset_path),
    "consecutive": ("Article protocol: 8 groups of 4, consecutive:4 (32)", demo.demo_consecutive_path),
    "multiview": ("Multi-view re-shots, SFBench-like (32)", demo.demo_multiview_path),
}


# ------------------------------------------------------------------------------------------------ demo data
@st.cache_resource(show_spinner="Preparing the demo photos…")
def _demo_dataset(kind: str) -> D.Dataset:
    _, path_fn = DEMO_SETS[kind]
    return D.load(path_fn(), labels=None)


@st.cache_resource(show_spinner=False)
def demo_query_bytes() -> tuple[str, bytes]:
    """(file name, bytes) of the demo query: a re-shot coffee cup that is in none of the demo sets."""
    p = demo.demo_query_path()
    return p.name, p.read_bytes()


def demo_dataset(kind: str = "duplicates") -> D.Dataset:
    """A demo set with its GROUND_TRUTH.csv labels (shared, read-only)."""
    return labelled(_demo_dataset(kind), "csv", None, shared=True)


# ------------------------------------------------------------------------------------------------ the visitor's data
def load_progress(label: str):
    """A (callback, finish) pair drawing a st.progress for dataset loading."""
    bar = st.progress(0.0, text=label)

    def cb(done: int, total: int, msg: str = "") -> None:
        if total:
            bar.progress(min(1.0, done / total), text=f"{label}: {done}/{total} files")

    return cb, bar.empty


def load_uploads(files, slot: str = "_ds") -> D.Dataset | None:
    """Load uploaded files (cached in session_state, so it is per user and freed with the session).
    One .zip -> load_zip (folders inside may carry labels); anything else -> load_files. The sidebar's own
    uploads go through :func:`ui.uploads.uploaded_dataset` (kept across source switches); this serves set B."""
    if not files:
        st.session_state.pop(f"{slot}_upload_cache", None)  # the visitor removed their files: forget them
        return None
    sig = tuple((getattr(f, "file_id", None) or f.name, f.size) for f in files)
    cached = st.session_state.get(f"{slot}_upload_cache")
    if cached and cached[0] == sig:
        return cached[1]
    cb, done = load_progress("Reading uploads")
    try:
        ds, err = uploads.read_files(files, cb)
    finally:
        done()
    if err:
        st.session_state[f"{slot}_error"] = err
    # kept for the next rerun only within the session's upload budget (set A's kept upload counts too)
    kept_a = (st.session_state.get(uploads.K_STORE) or {}).get("bytes", 0) if slot != "_ds" else 0
    if sum(int(f.size) for f in files) + kept_a <= config.budgets().session_upload_bytes:
        st.session_state[f"{slot}_upload_cache"] = (sig, ds)
    else:
        st.session_state.pop(f"{slot}_upload_cache", None)
    return ds


def load_folder(path: str, slot: str = "_ds") -> D.Dataset | None:
    """A server folder (local mode only), inside ``DUPFINDER_ALLOWED_ROOTS`` when that is set (``slot``: as
    :func:`load_uploads`)."""
    if not config.local_mode():  # defence in depth: the widget is not even rendered in hosted mode
        return None
    path = os.path.expanduser(path.strip())
    if not path:
        return None
    roots = config.allowed_roots()
    why = folder_access.refusal(path, roots)  # before os.stat: no existence oracle outside the allowed roots
    if why:
        st.session_state[f"{slot}_error"] = f"Folder refused: {why}"
        return None
    try:
        st_mtime = os.stat(path).st_mtime_ns
    except OSError:
        st.session_state[f"{slot}_error"] = f"No such folder: {path}"
        return None
    if not os.path.isdir(path):
        st.session_state[f"{slot}_error"] = f"Not a folder: {path}"
        return None
    sig = (path, st_mtime)
    cached = st.session_state.get(f"{slot}_folder_cache")
    if cached and cached[0] == sig:
        if cached[2]:
            st.session_state[f"{slot}_error"] = cached[2]
        return cached[1]
    cb, done = load_progress("Reading folder")
    err = None
    try:
        ds = D.load(path, labels=None, progress=cb, roots=roots)
    except D.DatasetError as e:
        err = str(e)
        st.session_state[f"{slot}_error"] = err
        ds = None
    finally:
        done()
    st.session_state[f"{slot}_folder_cache"] = (sig, ds, err)
    return ds


def forget_folder(slot: str = "_ds") -> None:
    """Drop the cached folder scan of ``slot`` (after files were moved in or out of it)."""
    st.session_state.pop(f"{slot}_folder_cache", None)


# ------------------------------------------------------------------------------------------------ labels
def labelled(ds: D.Dataset, kind: str, arg, csv_bytes: bytes | None = None, shared: bool = False) -> D.Dataset:
    """Apply a labelling convention (``kind``: "csv", "folders", "none" or "consecutive" with ``arg`` = K),
    memoised per (dataset, convention): process-wide for the shared demo sets, in the session for the user's own
    data (their bytes never outlive their session)."""
    spec = {"csv": "csv", "folders": "folders", "none": "none"}.get(kind) or f"consecutive:{int(arg)}"
    csv_key = hashlib.sha256(csv_bytes).hexdigest()[:16] if csv_bytes else ""
    key = ("labels", dataset_fingerprint(ds), id(ds), spec, csv_key)
    if shared:
        return memo(key, lambda: D.apply_labels(ds, spec, csv_bytes=csv_bytes))
    cached = st.session_state.get("_ds_labelled")
    if cached and cached[0] == key:
        return cached[1]
    out = D.apply_labels(ds, spec, csv_bytes=csv_bytes)
    st.session_state["_ds_labelled"] = (key, out)
    return out


__all__ = ["DEMO_SETS", "demo_dataset", "demo_query_bytes", "forget_folder", "labelled", "load_folder",
           "load_progress", "load_uploads"]
