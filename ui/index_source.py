"""The sidebar's "Saved index" source (local mode only): an index folder built by ``python -m core index build``
opened as the dataset, its stored features used instead of encoding.

Everything here is Streamlit glue around :mod:`core.collection.open`: the index is read once per process and
folder state (``st.cache_resource``, keyed by the manifest's and files list's modification times), its items are
lazy (no image is decoded to open it), the method picker offers only the methods it holds, and a method it does not
hold is explained instead of encoded. Like the folder source, the path must pass :mod:`core.folder_access` under
``DUPFINDER_ALLOWED_ROOTS``; the folder the index was built from must too (thumbnails are read there).
"""
from __future__ import annotations

import os

import streamlit as st

from core import config
from core import datasets as D
from core import folder_access
from core.collection import open as ixo
from core.methods import METHODS, Method

from . import matching
from .text import md_escape

SOURCE = "Saved index"
K_INDEX = "ds_index"
#: Open indexes kept per process (each holds its items and memory-mapped matrices).
OPEN_MAX = 2


@st.cache_resource(max_entries=OPEN_MAX, show_spinner="Opening the index (manifest and features)…")
def _open(real: str, signature: tuple, roots: tuple) -> D.Dataset | str:
    """The opened index, or the refusal text (cached too: a broken index is not re-read on every rerun)."""
    try:
        return ixo.open_index(real, roots)
    except D.DatasetError as e:
        return e.reason


def load(path: str, slot: str = "_ds") -> D.Dataset | None:
    """The index folder at ``path`` as a dataset (local mode only, inside ``DUPFINDER_ALLOWED_ROOTS``); None with
    ``st.session_state[slot + "_error"]`` set when refused."""
    if not config.local_mode():  # defence in depth: the source is not even offered in hosted mode
        return None
    path = os.path.expanduser((path or "").strip())
    if not path:
        return None
    roots = tuple(str(r) for r in config.allowed_roots())
    why = folder_access.refusal(path, roots)  # before os.stat: no existence oracle outside the allowed roots
    if why:
        st.session_state[f"{slot}_error"] = f"Index refused: {why}"
        return None
    real = folder_access.real_path(path)
    sig = []
    for name in ("manifest.json", "files.csv"):
        try:
            s = os.stat(os.path.join(real, name))
            sig.append((s.st_mtime_ns, s.st_size))
        except OSError:
            sig.append(None)
    if sig[0] is None:
        st.session_state[f"{slot}_error"] = (f"No index at {path}: an index folder holds manifest.json (build one "
                                             "with `python -m core index build FOLDER --out INDEX`).")
        return None
    got = _open(real, tuple(sig), roots)
    if isinstance(got, str):
        st.session_state[f"{slot}_error"] = f"Index refused: {got}"
        return None
    return got


def sidebar_input() -> D.Dataset | None:
    """The path box of the source and the opened index (call inside the sidebar)."""
    path = st.text_input("Index folder on this computer", key=K_INDEX, placeholder="/path/to/index",
                         help="A folder written by `python -m core index build FOLDER --methods ... --out INDEX`. "
                              "Its features are used as they are (nothing is encoded); thumbnails are read from the "
                              "indexed folder only for what a page shows.")
    ds = load(path) if path else None
    if ixo.is_index(ds):
        h = ds.handle
        st.caption(f":material/inventory_2: Index of {md_escape(h.root or '?')} · updated {md_escape(h.updated[:16])} · "
                   f"methods: {md_escape(', '.join(h.methods()) or 'none')}")
    return ds


def active(source: str, dataset) -> bool:
    """True when the sidebar's source is a saved index that opened."""
    return source == SOURCE and ixo.is_index(dataset)


def method_names(source: str, dataset, names: list[str]) -> list[str]:
    """The method picker's choices: for an open index only the methods it holds (the others listed as "not in this
    index"), else ``names`` unchanged."""
    if not active(source, dataset):
        return names
    held = set(ixo.held_methods(dataset))
    have = [n for n in names if n in held]
    missing = [n for n in names if n not in held]
    if missing:
        st.caption("Not in this index: " + ", ".join(md_escape(METHODS[n].label) for n in missing)
                   + ". Add one with `python -m core index update INDEX --methods NAME`.")
    return have or names


def method_params(dataset, method: Method, key: str = "ds_index_params") -> dict:
    """The parameters the index was built with (a choice when it holds several sets of ``method``)."""
    sets = ixo.param_sets(dataset, method)
    if not sets:
        return method.default_params()
    if len(sets) == 1:
        chosen = sets[0]
    else:
        pick = st.selectbox("Parameters (as built in the index)", list(range(len(sets))), key=f"{key}::{method.name}",
                            format_func=lambda k: ", ".join(f"{a}={b}" for a, b in sets[k].items()) or "defaults")
        chosen = sets[int(pick or 0)]
    shown = ", ".join(f"{a} {b}" for a, b in chosen.items() if not isinstance(b, str) or len(b) < 40)
    if shown:
        st.caption(f"As built in the index: {md_escape(shown)}.")
    return dict(chosen)


def no_matching() -> None:
    """Invariance and local-feature verification need the images: off for an index (its features are as built)."""
    st.session_state[matching.K_INVARIANCE] = "none"
    st.session_state[matching.K_VERIFY] = False
    st.caption("Invariance and verification re-read the images: not offered on a saved index (its features were "
               "computed as is).")


def features(dataset, method: Method, params: dict | None):
    """The index's stored features for ``method``; a page asking for one the index lacks says so and stops."""
    try:
        return ixo.features(dataset, method, params)
    except ixo.NotInIndex as e:
        st.info(f"**{md_escape(method.label)} is not in this index**: {md_escape(e)}. Pick one of its methods in "
                "the sidebar, or add it with `python -m core index update INDEX --methods "
                f"{md_escape(method.name)}`.", icon=":material/inventory_2:")
        st.stop()


def held_names(dataset) -> list[str]:
    """Method names the saved index holds (empty for any other dataset)."""
    return ixo.held_methods(dataset)


def stored_params(dataset, method: Method) -> dict:
    """The first parameter set of ``method`` stored in the index (the defaults for any other dataset)."""
    sets = ixo.param_sets(dataset, method)
    return dict(sets[0]) if sets else method.default_params()


def is_index(dataset) -> bool:
    """True for a dataset opened from a saved index (:func:`core.collection.open.is_index`)."""
    return ixo.is_index(dataset)


def held(dataset, method: Method) -> bool:
    """Whether ``dataset`` (any) can give features for ``method`` without encoding: always for a non-index set."""
    return not ixo.is_index(dataset) or method.name in ixo.held_methods(dataset)


__all__ = ["K_INDEX", "SOURCE", "active", "features", "held", "held_names", "is_index", "load", "method_names", "method_params",
           "no_matching", "sidebar_input", "stored_params"]
