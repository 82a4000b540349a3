"""The per-session upload store: the images a visitor uploaded stay with their session (keyed by content hash) so
switching source (Upload -> Demo -> Upload) or a page change that drops the uploader's widget state restores them.

Bounded by ``core.config.budgets().session_upload_bytes``: an upload over the budget is used while the uploader
holds it but not kept. The store lives in ``st.session_state`` only: never shared between sessions, freed with the
session.
"""
from __future__ import annotations

import hashlib
from typing import Callable

import streamlit as st

from core import config
from core import datasets as D

K_STORE = "_uploads_kept"  # {"files": fast signature, "hashes": content signature, "dataset", "error", "bytes"}
K_CHANGED = "_uploads_changed"  # set by the uploader's on_change: the visitor added or removed files


def mark_changed() -> None:
    """``on_change`` of the sidebar's file uploader."""
    st.session_state[K_CHANGED] = True


def _content_sig(files) -> tuple:
    return tuple((f.name, hashlib.sha256(f.getvalue()).hexdigest()) for f in files)


def read_files(files, progress) -> tuple[D.Dataset | None, str | None]:
    """``(dataset, None)`` of uploaded files, or ``(None, why)`` when the upload is refused. One .zip -> load_zip
    (folders inside may carry labels); anything else -> load_files."""
    try:
        zips = [f for f in files if f.name.lower().endswith(".zip")]
        if len(files) == 1 and zips:
            f = zips[0]
            return D.load_zip(f.getvalue(), labels=None, progress=progress, name=f.name.rsplit(".", 1)[0]), None
        return D.load_files([(f.name, f.getvalue()) for f in files], labels=None, progress=progress,
                            name="uploads"), None
    except D.DatasetError as e:
        return None, f"Upload refused: {e}"


def uploaded_dataset(files, progress_factory: Callable) -> tuple[D.Dataset | None, str | None, int]:
    """The dataset of this session's uploads: ``(dataset or None, error or None, files kept from earlier)``.

    ``files`` is the uploader's value. Empty and not changed by the visitor (the widget was re-created after a
    source switch) -> the kept upload, if any (``files kept`` > 0 then). ``progress_factory(label)`` gives a
    ``(callback, finish)`` pair for reading.
    """
    changed = st.session_state.pop(K_CHANGED, False)
    kept = st.session_state.get(K_STORE)
    if not files:
        if changed or kept is None:
            st.session_state.pop(K_STORE, None)  # the visitor removed their files: forget them
            return None, None, 0
        return kept["dataset"], kept["error"], kept["n"]
    fast = tuple((getattr(f, "file_id", None) or f.name, f.size) for f in files)
    if kept and kept["files"] == fast:
        return kept["dataset"], kept["error"], 0
    hashes = _content_sig(files)
    if kept and kept["hashes"] == hashes:  # the same files uploaded again: nothing to read
        kept["files"] = fast
        return kept["dataset"], kept["error"], 0
    cb, done = progress_factory("Reading uploads")
    try:
        ds, err = read_files(files, cb)
    finally:
        done()
    size = sum(int(f.size) for f in files)
    if size <= config.budgets().session_upload_bytes:
        st.session_state[K_STORE] = {"files": fast, "hashes": hashes, "dataset": ds, "error": err, "bytes": size,
                                     "n": len(files)}
    else:  # over the session budget: used now, not kept for later
        st.session_state.pop(K_STORE, None)
    return ds, err, 0


def forget() -> None:
    """Drop the kept upload (the sidebar's "Forget" button)."""
    st.session_state.pop(K_STORE, None)


__all__ = ["forget", "mark_changed", "read_files", "uploaded_dataset"]
