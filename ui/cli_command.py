""""Copy as CLI command": the ``python -m core ...`` command that reproduces the current view from a terminal.

Never a server path in hosted mode: the dataset and the query are placeholders there (the demo set lives in the
server's cache folder); in local desktop mode the visitor's own folder path is used as typed.
"""
from __future__ import annotations

import shlex

from core.invariance import mode_of
from core.methods import Method

from . import threshold as T


def _params(method: Method, params: dict) -> list[str]:
    out = []
    for p in method.params:
        v = params.get(p.name, p.default)
        if v != p.default and (p.choices is not None or p.kind != "str"):
            out += ["--param", f"{p.name}={v}"]
    return out


def command(kind: str, method: Method, params: dict, threshold: float, *, dataset: str,
            query: str | None = None, top_k: int | None = None, verify: bool = False) -> str:
    """The shell command for ``kind`` ("search" or "duplicates"), quoted for a POSIX shell.

    Parameters
    ----------
    dataset, query : str
        What to put as the dataset folder and the query file (a real path in local mode, a placeholder otherwise).
    verify : bool
        Add ``--verify`` (the sidebar's "Verify with local features"); ``--invariance`` follows the method record.
    """
    argv = ["python", "-m", "core", kind]
    if kind == "search":
        argv.append(query or "QUERY.jpg")
    argv += [dataset, "--method", method.name, "--threshold", T.fmt(method, params, threshold)]
    if top_k is not None and kind == "search":
        argv += ["--top-k", str(int(top_k))]
    argv += _params(method, params)
    if mode_of(method) != "none":
        argv += ["--invariance", mode_of(method)]
    if verify:
        argv.append("--verify")
    return " ".join(shlex.quote(a) for a in argv)


__all__ = ["command"]


def _dataset_arg() -> str:
    import os

    import streamlit as st

    from core import config

    from .sources import DEMO_SETS
    from .state import K_DATASET, K_DEMO, K_FOLDER, K_SOURCE, SOURCES

    source = st.session_state.get(K_SOURCE, SOURCES[0])
    if config.local_mode():
        ds = st.session_state.get(K_DATASET)
        if source == "Saved index" and getattr(ds, "root", None):  # the folder the index was built from
            return str(ds.root)
        if source == "Folder path" and st.session_state.get(K_FOLDER):
            return os.path.expanduser(str(st.session_state[K_FOLDER]).strip())
        if source == "Demo data":
            kind = st.session_state.get(K_DEMO) or "duplicates"
            return str(DEMO_SETS[kind][1]())
        return "YOUR_PHOTOS_FOLDER"
    return "YOUR_PHOTOS_FOLDER" if source != "Demo data" else "DEMO_PHOTOS_FOLDER"


def _query_arg(q: dict | None, dataset_arg: str) -> str:
    from core import config, demo

    if not q:
        return "QUERY.jpg"
    if q["kind"] == "demo":
        return str(demo.demo_query_path()) if config.local_mode() else "QUERY.jpg"
    if q["kind"] == "dataset" and not dataset_arg.isupper():
        return dataset_arg.rstrip("/") + "/" + q["name"]
    return q["name"].rsplit("/", 1)[-1] if q["kind"] == "upload" else "QUERY.jpg"


def render(kind: str, method: Method, params: dict, threshold: float, *, query: dict | None = None,
           top_k: int | None = None) -> None:
    """An expander with the command (``st.code`` has a copy button) reproducing the current view."""
    import streamlit as st

    from . import layout, matching

    ds_arg = _dataset_arg()
    cmd = command(kind, method, params, threshold, dataset=ds_arg, query=_query_arg(query, ds_arg), top_k=top_k,
                  verify=matching.verify_on())
    box = layout.lazy_expander("Copy as CLI command", key=f"cli_open::{kind}", icon=":material/terminal:")
    if box is None:  # closed: no st.code (its highlighter is a 1.5 MB script for the browser)
        return
    with box:
        st.code(cmd, language="bash")
        if ds_arg.isupper() or "QUERY.jpg" in cmd:
            st.caption("Replace the capitalised placeholders with your own folder and query file.")


__all__ = ["command", "render"]
