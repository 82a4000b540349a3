"""Feature matrices for the pages: :func:`cached_features` encodes a dataset once per process (a progress bar with
time left while it does; two sessions asking for the same features share one encoding) and remembers what the
encoding cost, for :func:`ui.widgets.encoding_caption`."""
from __future__ import annotations

import threading
import time

import streamlit as st

from core import config
from core.datasets import Dataset
from core.encoding import Features, encode_dataset
from core.methods import Method

from . import index_source
from .caching import ObjectNotes, feature_store, features_key

#: features -> (wall seconds of the encoding that made them, time.time() when it ended): the UI's record, not the
#: core's (``Features.encode_seconds`` counts the encoding only, without the cache look-up and the progress bar)
_encoded = ObjectNotes()


def encoded(features: Features) -> tuple[float, float] | None:
    """(seconds the encoding took, when it ended as ``time.time()``) of features made by :func:`cached_features`,
    else None."""
    return _encoded.get(features)


def _fmt_secs(s: float) -> str:
    """A duration for a progress text: "42 s", "3 min 05 s"."""
    if s < 60:
        return f"{s:.0f} s"
    return f"{int(s // 60)} min {int(s % 60):02d} s"


def cached_features(dataset: Dataset, method: Method, params: dict | None = None) -> Features:
    """Features of ``dataset`` for ``method`` + ``params``, encoded once per process.

    Keyed by :func:`ui.caching.features_key` (the dataset's content fingerprint and ``method.params_key(params)``);
    a miss encodes with a ``st.progress`` bar (images done / total, time left) and the on-disk feature cache
    (``cache=True``), so a slider move or a page switch never re-encodes.
    """
    if index_source.is_index(dataset):
        return index_source.features(dataset, method, params)  # a saved index: stored rows, never encoded
    params = method.resolve_params(params)
    key = features_key(dataset, method, params)
    store = feature_store()
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
        hosted = not config.local_mode()

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
        _encoded.put(feats, (time.perf_counter() - t0, time.time()))  # captions say when, not just how long
        store.put(key, feats)
        return feats


_locks: dict = {}
_locks_guard = threading.Lock()


def _encode_lock(key) -> threading.Lock:
    with _locks_guard:
        if len(_locks) > 512:
            _locks.clear()
        return _locks.setdefault(key, threading.Lock())


__all__ = ["cached_features", "encoded"]
