"""The shared sidebar: dataset source, labelling convention, the Two-sets switch, method and its parameters.

Called by ``app.py`` on every run (before the page), so its widgets keep their values across pages. What it
chose is left in ``st.session_state`` for :func:`ui.state.current_dataset` and :func:`ui.state.current_method`.
"""
from __future__ import annotations

import streamlit as st

from core import config
from core import datasets as D
from core import folder_access
from core.methods import ARTICLE, METHODS, REGISTRY, Method

from . import index_source, intent, matching, two_sets, uploads, url_state
from .sources import DEMO_SETS, demo_dataset, labelled, load_folder, load_progress
from .state import (DEFAULT_METHOD, K_CSV, K_DATASET, K_DEMO, K_ERROR, K_FOLDER, K_K, K_LABELS, K_METHOD,
                    K_METHOD_PARAMS, K_SOURCE, K_UPLOAD, SOURCES)
from .text import md_escape

LABELLINGS = {
    "auto": "Auto (GROUND_TRUTH.csv, else folders, else none)",
    "csv": "CSV: file,group (GROUND_TRUTH.csv or upload)",
    "folders": "Folders: each sub-folder is a group",
    "consecutive": "consecutive:K (sorted names, every K files)",
    "none": "None (unlabelled)",
}


def _uploaded_dataset(files) -> D.Dataset | None:
    """The uploads of this session (kept server-side per session by :mod:`ui.uploads`, so a source switch and back
    restores them). One .zip -> load_zip (folders inside may carry labels); anything else -> load_files."""
    ds, err, n_kept = uploads.uploaded_dataset(files, load_progress)
    if err:
        st.session_state[K_ERROR] = err
    if n_kept:
        st.caption(f":material/history: Your {n_kept} uploaded file{'s' if n_kept != 1 else ''} from earlier in this "
                   "session (kept on the server for this session only).")
        st.button("Forget them", key="ds_forget_uploads", on_click=uploads.forget, icon=":material/delete:")
    return ds


def _label_csv_upload(up) -> bytes | None:
    """The uploaded labels CSV's bytes, or None (with a message) when it is over ``DUPFINDER_MAX_CSV_BYTES``:
    refused by its size before it is read or parsed."""
    if up is None:
        return None
    cap = config.budgets().max_csv_bytes
    if up.size > cap:
        st.error(f"Labels CSV refused: {up.size / 2**20:.1f} MB is over the {cap / 2**20:.0f} MB limit "
                 "(DUPFINDER_MAX_CSV_BYTES). Give one row per image: `file,group`.")
        return None
    return up.getvalue()


def _method_params_widgets(method: Method) -> dict:
    """One widget per parameter of ``method``, chosen by the parameter's kind (keys are per method, so switching
    methods keeps each one's values)."""
    values = {}
    for p in method.params:
        key = f"param::{method.name}::{p.name}"
        label = p.name.replace("_", " ")
        if p.choices is not None:
            choices = list(p.choices)
            idx = choices.index(p.default) if p.default in choices else 0
            values[p.name] = st.selectbox(label, choices, index=idx, key=key, help=p.help)
        elif p.kind == "bool":
            values[p.name] = st.checkbox(label, value=p.default, key=key, help=p.help)
        elif p.kind == "int":
            values[p.name] = st.number_input(label, value=p.default, step=1, key=key, help=p.help,
                                             min_value=int(p.min) if p.min is not None else None,
                                             max_value=int(p.max) if p.max is not None else None)
        elif p.kind == "float":
            values[p.name] = st.number_input(label, value=p.default, key=key, help=p.help,
                                             min_value=float(p.min) if p.min is not None else None,
                                             max_value=float(p.max) if p.max is not None else None)
        elif config.local_mode():  # free text is a server path (e.g. a weights file): local desktop mode only
            text = st.text_input(label, value=str(p.default or ""), key=key, help=p.help)
            why = folder_access.refusal(text, config.allowed_roots()) if text else None
            if why:
                st.warning(f"{label} refused: {md_escape(why)}")
            values[p.name] = text if text and not why else p.default
    return values


def _dataset_controls(sources: list[str]) -> str:
    """Source picker, the source's own widgets and the labelling convention; leaves the dataset in the session.
    Returns the source."""
    st.markdown("### :material/photo_library: Images")
    if st.session_state.get(K_SOURCE) not in sources:
        st.session_state[K_SOURCE] = sources[0]
    source = st.radio("Dataset", sources, key=K_SOURCE, horizontal=False, label_visibility="collapsed")
    ds: D.Dataset | None = None
    if source == "Demo data":
        keys = list(DEMO_SETS)
        kind = st.selectbox("Demo set", keys, key=K_DEMO, format_func=lambda k: DEMO_SETS[k][0],
                            help="Real CC0 / public-domain photos (scikit-image), near-duplicates made with "
                                 "known edits, labelled by GROUND_TRUTH.csv.")
        st.session_state[K_DATASET] = demo_dataset(kind)
    else:
        if source == "Upload images":
            # many files become many chips: folded away once they are loaded, so the method stays in sight
            n_up = len(st.session_state.get(K_UPLOAD) or [])
            box = st.expander(f"Your {n_up} files (add or remove)", icon=":material/upload_file:") \
                if n_up > 6 else st.container()
            files = box.file_uploader("Images, or one .zip (sub-folders may be groups)", accept_multiple_files=True,
                                      key=K_UPLOAD, on_change=uploads.mark_changed,
                                      help="Any file is accepted: files that are not usable images are listed "
                                           "with the reason they were skipped.")
            ds = _uploaded_dataset(files)
        elif source == "Folder path":
            path = st.text_input("Folder on this computer", key=K_FOLDER, placeholder="/path/to/photos")
            ds = load_folder(path) if path else None
        else:
            ds = index_source.sidebar_input()
        if st.session_state.get(K_ERROR):
            st.error(md_escape(st.session_state[K_ERROR]))
        if ds is not None and ds.items:
            ds = _labelling(ds)
        st.session_state[K_DATASET] = ds
    cur = st.session_state.get(K_DATASET)
    if cur is not None:
        groups = {g for g in cur.groups() if g is not None}
        # the demo folder's label and notes files are not faults: not called "skipped" there
        aside = (f"{len(cur.skipped)} non-image files (labels, notes)" if source == "Demo data"
                 else f"{len(cur.skipped)} skipped")
        st.caption(f"**{len(cur.items)}** images · {aside} · "
                   + (f"{len(groups)} labelled groups" if groups else "no labels"))
    return source


def _labelling(ds: D.Dataset) -> D.Dataset:
    """The ground-truth picker for the visitor's own data, and ``ds`` with the chosen convention applied."""
    kinds = list(LABELLINGS)
    lab = st.selectbox("Ground truth", kinds, key=K_LABELS, format_func=LABELLINGS.get,
                       help="How to tell which images are true duplicates (for the threshold explorer "
                            "and experiments). Not needed to search.")
    arg, csv_bytes = None, None
    if lab == "consecutive":
        arg = st.number_input("K (files per group)", min_value=1, max_value=1000, value=4, step=1, key=K_K)
    elif lab == "csv":
        up = st.file_uploader("Labels CSV (file,group) — optional if the data holds GROUND_TRUTH.csv",
                              type=["csv"], key=K_CSV)
        csv_bytes = _label_csv_upload(up)
    if lab == "auto":  # the convention the data's own files suggest (the same rule the core offers the CLI)
        lab, arg = D.suggest_labels(ds), None
    try:
        ds = labelled(ds, lab, arg, csv_bytes)
    except (D.DatasetError, ValueError) as e:
        st.warning(f"Labels not applied: {md_escape(e)}")
    for note in ds.notes[:5]:
        st.caption(f":material/info: {md_escape(note)}")
    return ds


def _method_controls(source: str) -> None:
    """The intent picker, the method and its parameters; leaves (method, params) in the session."""
    st.markdown("### :material/straighten: What are you looking for?")
    is_index = index_source.active(source, st.session_state.get(K_DATASET))
    if not is_index:  # presets may name methods an index does not hold
        intent.picker(K_METHOD)
    names = index_source.method_names(source, st.session_state.get(K_DATASET), [m.name for m in REGISTRY])
    if st.session_state.get(K_METHOD) not in names:
        st.session_state[K_METHOD] = DEFAULT_METHOD if DEFAULT_METHOD in names else names[0]
    with st.expander("Method (technical)", expanded=intent.current() is None, icon=":material/tune:"):
        name = st.selectbox("Method", names, key=K_METHOD, format_func=lambda n: METHODS[n].label,
                            on_change=intent.clear)
        m = METHODS[name]
        st.caption(f"{m.unit}, {'higher' if m.higher_is_closer else 'lower'} = closer"
                   + (" · one of the article's six" if name in ARTICLE else ""))
        if is_index:  # the parameters and matching the index was built with
            params = index_source.method_params(st.session_state[K_DATASET], m)
            index_source.no_matching()
        else:
            params = _method_params_widgets(m) if m.params else {}
            matching.picker()
    try:
        st.session_state[K_METHOD_PARAMS] = (matching.apply(m), m.resolve_params(params))
    except ValueError as e:
        st.warning(md_escape(e))  # may quote a typed value
        st.session_state[K_METHOD_PARAMS] = (matching.apply(m), m.default_params())


def sidebar() -> None:
    """The shared sidebar: dataset source, labelling convention, Two sets, method and its parameters.

    The resulting dataset is stored in ``st.session_state["_dataset"]`` (:data:`ui.state.K_DATASET`), the method in
    ``st.session_state["_method"]``.
    """
    st.session_state.pop(K_ERROR, None)
    sources = list(SOURCES if config.local_mode() else SOURCES[:2])  # the folder source reads server paths
    url_state.restore(sources, list(DEMO_SETS), K_SOURCE, K_DEMO, K_METHOD)  # a reload / shared link: once
    with st.sidebar:
        source = _dataset_controls(sources)
        two_sets.controls()
        _method_controls(source)
    url_state.write(source, st.session_state.get(K_DEMO), *st.session_state[K_METHOD_PARAMS])


__all__ = ["LABELLINGS", "sidebar"]
