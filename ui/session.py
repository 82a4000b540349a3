"""The shared sidebar (dataset source, labelling convention, method + parameters) and the cached loaders every
page uses.

State lives in three places, on purpose:

* **process-wide caches** (``st.cache_resource``): the demo datasets, feature matrices keyed by dataset
  fingerprint (names + content hashes) and method parameters, and derived results (duplicates, sweeps). Keys are
  content hashes, so one user can only hit an entry for data they hold themselves. Feature rows are also kept on
  disk by :mod:`core.cache` (features only, never pixels).
* **per-session state** (``st.session_state``): uploaded datasets (never shared between sessions), the chosen
  query and the shared threshold per method + parameters.
* **widgets** in the sidebar, rendered on every run by ``app.py`` so their values survive page switches.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import runpy
import threading
import time
from typing import Any, Callable

import streamlit as st

from core import config
from core import datasets as D
from core import demo
from core import folder_access
from core.encoding import Features, encode_dataset
from core.methods import ARTICLE, METHODS, REGISTRY, Method

from . import empty, intent, matching, uploads, url_state
from . import threshold as _threshold
from .caching import ByteLRU
from .text import md_escape

# ------------------------------------------------------------------------------------------------ constants
DEMO_SETS: dict[str, tuple[str, Callable]] = {
    # key: (label, path function)
    "duplicates": ("Near-duplicates: 8 photos x 4 copies + 6 distractors (38)", demo.demo_dataset_path),
    "consecutive": ("Article protocol: 8 groups of 4, consecutive:4 (32)", demo.demo_consecutive_path),
    "multiview": ("Multi-view re-shots, SFBench-like (32)", demo.demo_multiview_path),
}
SOURCES = ("Demo data", "Upload images", "Folder path")
LABELLINGS = {
    "auto": "Auto (GROUND_TRUTH.csv, else folders, else none)",
    "csv": "CSV: file,group (GROUND_TRUTH.csv or upload)",
    "folders": "Folders: each sub-folder is a group",
    "consecutive": "consecutive:K (sorted names, every K files)",
    "none": "None (unlabelled)",
}
DEFAULT_METHOD = "ahash"

# session_state keys (prefixed so they cannot collide with other engineers' pages)
K_SOURCE, K_DEMO, K_UPLOAD, K_FOLDER = "ds_source", "ds_demo", "ds_upload", "ds_folder"
K_LABELS, K_K, K_CSV = "ds_labels", "ds_k", "ds_csv"
K_METHOD = "method"


# ------------------------------------------------------------------------------------------------ entry guard
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
    :func:`current_dataset` / :func:`current_method`), this runs ``app.py`` instead, which re-resolves the same URL
    through ``st.navigation`` and runs the page properly; the direct run then stops.
    """
    if _IN_APP.get():
        return
    runpy.run_path(APP_PATH, run_name="__main__")
    st.stop()


# ------------------------------------------------------------------------------------------------ small caches
@st.cache_resource(show_spinner=False)
def _feature_store() -> ByteLRU:
    b = config.budgets()
    return ByteLRU(b.ui_feature_bytes, b.ui_feature_entries)


@st.cache_resource(show_spinner=False)
def _result_store() -> ByteLRU:
    b = config.budgets()
    return ByteLRU(b.ui_result_bytes, b.ui_result_entries)


def memo(key: tuple, compute: Callable[[], Any]) -> Any:
    """Process-wide memo of a derived result (duplicates at a threshold, a sweep, ...). ``key`` must include
    the dataset fingerprint and method key so it never crosses datasets."""
    store = _result_store()
    hit = store.get(key, _MISS)
    if hit is not _MISS:
        return hit
    value = compute()
    store.put(key, value)
    return value


_MISS = object()


# ------------------------------------------------------------------------------------------------ datasets
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
    return _labelled(_demo_dataset(kind), "csv", None, shared=True)


def dataset_fingerprint(dataset: D.Dataset) -> str:
    """Stable id of a dataset's *content*: sha256 over (name, content hash) of its items, in order."""
    cached = getattr(dataset, "_ui_fingerprint", None)
    if cached and cached[0] == len(dataset.items):
        return cached[1]
    h = hashlib.sha256()
    for it in dataset.items:
        h.update(it.name.encode("utf-8", "surrogatepass") + b"\0" + it.content_id.encode() + b"\n")
    fp = h.hexdigest()[:20]
    try:
        object.__setattr__(dataset, "_ui_fingerprint", (len(dataset.items), fp))
    except Exception:  # pragma: no cover - slots or frozen
        pass
    return fp


def local_mode() -> bool:
    """Local desktop mode (the operator's ``DUPFINDER_LOCAL=1``, set by ``scripts/run.sh``): server paths may be
    typed (folder source, weights file) and cache statistics are shown. Otherwise the app is hosted for strangers.

    Deliberately nothing from the request (``Host`` header, client address): a client or a reverse proxy sets those.
    """
    return config.local_mode()


def _load_progress(label: str):
    """A (callback, finish) pair drawing a st.progress for dataset loading."""
    bar = st.progress(0.0, text=label)

    def cb(done: int, total: int, msg: str = "") -> None:
        if total:
            bar.progress(min(1.0, done / total), text=f"{label}: {done}/{total} files")

    return cb, bar.empty


def _uploaded_dataset(files) -> D.Dataset | None:
    """The uploads of this session (kept server-side per session by :mod:`ui.uploads`, so a source switch and back
    restores them). One .zip -> load_zip (folders inside may carry labels); anything else -> load_files."""
    ds, err, n_kept = uploads.uploaded_dataset(files, _load_progress)
    if err:
        st.session_state["_ds_error"] = err
    if n_kept:
        st.caption(f":material/history: Your {n_kept} uploaded file{'s' if n_kept != 1 else ''} from earlier in this "
                   "session (kept on the server for this session only).")
        st.button("Forget them", key="ds_forget_uploads", on_click=uploads.forget, icon=":material/delete:")
    return ds


def load_uploads(files, slot: str = "_ds") -> D.Dataset | None:
    """Load the uploads of this session (cached in session_state, so it is per user and freed with the session).
    One .zip -> load_zip (folders inside may carry labels); anything else -> load_files. ``slot`` names the
    session keys (cache, error) so that a second dataset (the Two-sets mode's set B) has its own."""
    if not files:
        st.session_state.pop(f"{slot}_upload_cache", None)  # the visitor removed their files: forget them
        return None
    sig = tuple((getattr(f, "file_id", None) or f.name, f.size) for f in files)
    cached = st.session_state.get(f"{slot}_upload_cache")
    if cached and cached[0] == sig:
        return cached[1]
    cb, done = _load_progress("Reading uploads")
    try:
        zips = [f for f in files if f.name.lower().endswith(".zip")]
        if len(files) == 1 and zips:
            f = zips[0]
            ds = D.load_zip(f.getvalue(), labels=None, progress=cb, name=f.name.rsplit(".", 1)[0])
        else:
            ds = D.load_files([(f.name, f.getvalue()) for f in files], labels=None, progress=cb, name="uploads")
    except D.DatasetError as e:
        st.session_state[f"{slot}_error"] = f"Upload refused: {e}"
        ds = None
    finally:
        done()
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
    if not local_mode():  # defence in depth: the widget is not even rendered in hosted mode
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
    cb, done = _load_progress("Reading folder")
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


def _auto_labels(ds: D.Dataset) -> tuple[str, Any]:
    """The "Auto" ground truth: the convention the data's own files suggest (the same rule the core offers the CLI)."""
    return D.suggest_labels(ds), None


def _labelled(ds: D.Dataset, kind: str, arg, csv_bytes: bytes | None = None, shared: bool = False) -> D.Dataset:
    """Apply a labelling convention, memoised per (dataset, convention): process-wide for the shared demo sets,
    in the session for the user's own data (their bytes never outlive their session)."""
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


# ------------------------------------------------------------------------------------------------ sidebar
def _method_params_widgets(method: Method) -> dict:
    """One widget per parameter of ``method`` (keys are per method, so switching methods keeps each one's values)."""
    values = {}
    for p in method.params:
        key = f"param::{method.name}::{p.name}"
        if p.choices is not None:
            choices = list(p.choices)
            idx = choices.index(p.default) if p.default in choices else 0
            values[p.name] = st.selectbox(p.name.replace("_", " "), choices, index=idx, key=key, help=p.help)
        elif isinstance(p.default, bool):
            values[p.name] = st.checkbox(p.name.replace("_", " "), value=p.default, key=key, help=p.help)
        elif isinstance(p.default, int):
            values[p.name] = st.number_input(p.name.replace("_", " "), value=p.default, step=1, key=key, help=p.help,
                                             min_value=int(p.min) if p.min is not None else None,
                                             max_value=int(p.max) if p.max is not None else None)
        elif isinstance(p.default, float):
            values[p.name] = st.number_input(p.name.replace("_", " "), value=p.default, key=key, help=p.help,
                                             min_value=float(p.min) if p.min is not None else None,
                                             max_value=float(p.max) if p.max is not None else None)
        elif local_mode():  # free text is a server path (e.g. a weights file): local desktop mode only
            text = st.text_input(p.name.replace("_", " "), value=str(p.default or ""), key=key, help=p.help)
            why = folder_access.refusal(text, config.allowed_roots()) if text else None
            if why:
                st.warning(f"{p.name.replace('_', ' ')} refused: {md_escape(why)}")
            values[p.name] = text if text and not why else p.default
    return values


def sidebar() -> None:
    """The shared sidebar: dataset source, labelling convention, method and its parameters.

    Called by ``app.py`` on every run (before the page), so its widgets keep their values across pages. The
    resulting dataset is stored in ``st.session_state["_dataset"]``.
    """
    st.session_state.pop("_ds_error", None)
    sources = list(SOURCES if local_mode() else SOURCES[:2])  # the folder source reads server paths
    url_state.restore(sources, list(DEMO_SETS), K_SOURCE, K_DEMO, K_METHOD)  # a reload / shared link: once
    with st.sidebar:
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
            st.session_state["_dataset"] = demo_dataset(kind)
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
            else:
                path = st.text_input("Folder on this computer", key=K_FOLDER, placeholder="/path/to/photos")
                ds = load_folder(path) if path else None
            if st.session_state.get("_ds_error"):
                st.error(md_escape(st.session_state["_ds_error"]))
            if ds is not None and ds.items:
                kinds = list(LABELLINGS)
                lab = st.selectbox("Ground truth", kinds, key=K_LABELS, format_func=LABELLINGS.get,
                                   help="How to tell which images are true duplicates (for the threshold explorer "
                                        "and experiments). Not needed to search.")
                arg, csv_bytes = None, None
                if lab == "consecutive":
                    arg = st.number_input("K (files per group)", min_value=1, max_value=1000, value=4, step=1,
                                          key=K_K)
                elif lab == "csv":
                    up = st.file_uploader("Labels CSV (file,group) — optional if the data holds GROUND_TRUTH.csv",
                                          type=["csv"], key=K_CSV)
                    csv_bytes = _label_csv_upload(up)
                if lab == "auto":
                    lab, arg = _auto_labels(ds)
                try:
                    ds = _labelled(ds, lab, arg, csv_bytes)
                except (D.DatasetError, ValueError) as e:
                    st.warning(f"Labels not applied: {md_escape(e)}")
                for note in ds.notes[:5]:
                    st.caption(f":material/info: {md_escape(note)}")
            st.session_state["_dataset"] = ds
        cur = st.session_state.get("_dataset")
        if cur is not None:
            groups = {g for g in cur.groups() if g is not None}
            # the demo folder's label and notes files are not faults: not called "skipped" there
            aside = (f"{len(cur.skipped)} non-image files (labels, notes)" if source == "Demo data"
                     else f"{len(cur.skipped)} skipped")
            st.caption(f"**{len(cur.items)}** images · {aside} · "
                       + (f"{len(groups)} labelled groups" if groups else "no labels"))

        from . import two_sets  # here, not at the top: two_sets imports this module

        two_sets.controls()

        st.markdown("### :material/straighten: What are you looking for?")
        intent.picker(K_METHOD)
        names = [m.name for m in REGISTRY]
        if st.session_state.get(K_METHOD) not in names:
            st.session_state[K_METHOD] = DEFAULT_METHOD if DEFAULT_METHOD in names else names[0]
        with st.expander("Method (technical)", expanded=intent.current() is None, icon=":material/tune:"):
            name = st.selectbox("Method", names, key=K_METHOD, format_func=lambda n: METHODS[n].label,
                                on_change=intent.clear)
            m = METHODS[name]
            st.caption(f"{m.unit}, {'higher' if m.higher_is_closer else 'lower'} = closer"
                       + (" · one of the article's six" if name in ARTICLE else ""))
            params = _method_params_widgets(m) if m.params else {}
            matching.picker()
        try:
            st.session_state["_method"] = (matching.apply(m), m.resolve_params(params))
        except ValueError as e:
            st.warning(md_escape(e))  # may quote a typed value
            st.session_state["_method"] = (matching.apply(m), m.default_params())
    url_state.write(source, st.session_state.get(K_DEMO), *st.session_state["_method"])


def user_dataset() -> D.Dataset | None:
    """The sidebar's dataset as the visitor gave it: None when nothing is given yet (or it was refused); it may have
    no usable image. Never another source's images."""
    ensure_app()
    ds = st.session_state.get("_dataset")
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
        empty.stop_without_images(ds, st.session_state.get(K_SOURCE, SOURCES[0]), st.session_state.get("_ds_error"))
    return ds


def require_features(dataset: D.Dataset, features: Features) -> None:
    """The empty state when every image of ``dataset`` failed to decode for this method (none to compare)."""
    if len(features) == 0:
        empty.stop_without_images(dataset, st.session_state.get(K_SOURCE, SOURCES[0]), None,
                                  extra_skipped=features.skipped)


def using_demo() -> bool:
    return st.session_state.get(K_SOURCE, SOURCES[0]) == "Demo data"


def current_method() -> tuple[Method, dict]:
    """(method, resolved params) chosen in the sidebar (average hash by default)."""
    ensure_app()
    got = st.session_state.get("_method")
    if got is None:
        m = METHODS.get(DEFAULT_METHOD, REGISTRY[0])
        return m, m.default_params()
    return got


# ------------------------------------------------------------------------------------------------ threshold
# The single source of truth lives in ui/threshold.py; these names stay for the pages that import them from here.
def current_threshold(method: Method, params: dict | None = None) -> float:
    """The shared threshold for ``method`` + ``params`` (see :func:`ui.threshold.current`)."""
    return _threshold.current(method, params)


def set_threshold(method: Method, params: dict | None, value: float) -> None:
    """Apply a threshold to every page, snapped to the slider's grid (see :func:`ui.threshold.set_value`)."""
    _threshold.set_value(method, params, value)


def threshold_slider(method: Method, params: dict | None, *, key: str, label: str | None = None,
                     container=None) -> float:
    """A slider bound to the shared threshold (see :func:`ui.threshold.slider`)."""
    return _threshold.slider(method, params, key=key, label=label, container=container)


# ------------------------------------------------------------------------------------------------ features
def _fmt_secs(s: float) -> str:
    if s < 60:
        return f"{s:.0f} s"
    return f"{int(s // 60)} min {int(s % 60):02d} s"


def cached_features(dataset: D.Dataset, method: Method, params: dict | None = None) -> Features:
    """Features of ``dataset`` for ``method`` + ``params``, encoded once per process.

    Keyed by :func:`dataset_fingerprint` and ``method.params_key(params)``; a miss encodes with a ``st.progress``
    bar (images done / total, time left) and the on-disk feature cache (``cache=True``), so a slider move or a
    page switch never re-encodes.
    """
    params = method.resolve_params(params)
    key = (dataset_fingerprint(dataset), method.params_key(params))
    store = _feature_store()
    feats = store.get(key)
    if feats is not None:
        return feats
    lock = _encode_lock(key)
    with lock:  # two sessions asking for the same features: the second waits and reuses the first's work
        feats = store.get(key)
        if feats is not None:
            return feats
        label = f"Encoding {len(dataset.items)} images with {method.label}"
        bar = st.progress(0.0, text=label + "…")
        t0 = time.perf_counter()
        first: list = []
        hosted = not local_mode()

        def progress(done: int, total: int, msg: str = "") -> None:
            now = time.perf_counter()
            if not first:
                first.append((done, now))
            d0, t_start = first[0]
            rate_done = done - d0
            eta = ""
            if rate_done > 0 and done < total:
                eta = f" · about {_fmt_secs((now - t_start) / rate_done * (total - done))} left"
            if hosted:  # progress of the work left only: a head start would show what the shared cache held
                frac = rate_done / (total - d0) if total > d0 else 1.0
                bar.progress(min(1.0, frac), text=f"{label}: {frac:.0%}{eta}")
                return
            bar.progress(min(1.0, done / total) if total else 1.0,
                         text=f"{label}: {done}/{total} images{eta}")

        try:
            feats = encode_dataset(dataset, method, params, cache=True, progress=progress)
        finally:
            bar.empty()
        feats_seconds = time.perf_counter() - t0
        feats.ui_seconds = feats_seconds  # type: ignore[attr-defined]
        feats.ui_encoded_at = time.time()  # type: ignore[attr-defined]  # captions say when, not just how long
        store.put(key, feats)
        return feats


_locks: dict = {}
_locks_guard = threading.Lock()


def _encode_lock(key) -> threading.Lock:
    with _locks_guard:
        if len(_locks) > 512:
            _locks.clear()
        return _locks.setdefault(key, threading.Lock())


def features_key(dataset: D.Dataset, method: Method, params: dict | None) -> tuple:
    """Key prefix for :func:`memo` of results derived from these features."""
    return (dataset_fingerprint(dataset), method.params_key(params))


def groups_by_name(dataset: D.Dataset) -> dict[str, str | None]:
    return {it.name: it.group for it in dataset.items}


def labels_key(dataset: D.Dataset) -> str:
    h = hashlib.sha256()
    for it in dataset.items:
        h.update(f"{it.name}\0{it.group}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ skipped files
def show_skipped(dataset: D.Dataset, features: Features | None = None) -> None:
    """Account for every file: "N used + M skipped = K given", and an expander listing each skipped file + reason."""
    skipped = list(dataset.skipped) + (list(features.skipped) if features is not None else [])
    used = len(features) if features is not None else len(dataset.items)
    given = dataset.files_given or (len(dataset.items) + len(dataset.skipped))
    line = f"**{used}** images used + **{len(skipped)}** skipped = **{given}** files given"
    if used + len(skipped) != given:
        line += f" — {given - used - len(skipped)} unaccounted!"
    if dataset.incomplete:
        st.warning(f"Not all files were read: {dataset.incomplete}.", icon=":material/warning:")
    if not skipped:
        st.caption(line)
        return
    from .layout import lazy_expander  # built when opened: a closed list costs the browser no data grid

    box = lazy_expander(line, key="skipped_open", icon=":material/checklist:")
    if box is None:
        return
    with box:
        import pandas as pd

        st.dataframe(pd.DataFrame({"file": [s.file for s in skipped], "reason": [s.reason for s in skipped]}),
                     hide_index=True, width="stretch")


__all__ = ["app_context", "ensure_app", "cached_features", "current_dataset", "current_method", "current_threshold", "dataset_fingerprint",
           "demo_dataset", "demo_query_bytes", "features_key", "groups_by_name", "labels_key", "local_mode", "memo",
           "require_features", "set_threshold", "show_skipped", "sidebar", "threshold_slider", "user_dataset",
           "using_demo"]
