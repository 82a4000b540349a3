"""One-off work done before the first visitor asks for it: the CNN's ONNX export, the demo sets, the model load.

A cold CNN search used to pay, on its critical path, for importing torch (3-13 s on 2 busy cores), building the
torch network, exporting it to ONNX when the cache was empty, and opening the ONNX Runtime session. Now:

* the **export** runs once per weights file and is cached under the cache root (:func:`core.config.cache_root`):
  ``python -m core warmup`` does it at install time, ``scripts/serve.py`` (what ``scripts/run.sh`` starts) before
  the server answers, with the demo sets and the **model load** (ONNX Runtime only - torch is not imported when
  the exported file exists);
* the demo set's features for the default method and the CNN go into the feature cache at the same time
  (:data:`DEMO_METHODS`), so the first CNN search on the demo set reads 38 rows instead of encoding 38 photos;
* an app started some other way (``streamlit run app.py``) does the same in a background thread after its first
  page (:func:`start_background`); a search that needs the model meanwhile waits for that load instead of
  starting a second one (:func:`core.cnn.get_model` builds one model at a time).
"""
from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

_started = threading.Event()


def warm_up(load_model: bool = True, cnn: bool = True) -> dict:
    """Build the demo sets; unless ``cnn`` is False, export the CNN to ONNX if needed and (``load_model``) load it.
    Never raises.

    Returns
    -------
    dict
        ``{"onnx": path or None, "demo": path or None, "model": backend or None, "seconds": float, "errors": [...]}``
    """
    t0 = time.perf_counter()
    out: dict = {"onnx": None, "demo": None, "model": None, "errors": []}
    try:
        from core import demo

        out["demo"] = str(demo.ensure_demo()["duplicates"])
    except Exception as exc:  # noqa: BLE001 - a warm-up failure only means the first visitor waits
        out["errors"].append(f"demo sets: {exc}")
    if not cnn:
        out["seconds"] = time.perf_counter() - t0
        return out
    try:
        from core import cnn as _cnn

        out["onnx"] = str(_cnn.ensure_onnx())
        if load_model:
            out["model"] = _cnn.get_model().backend
            out["demo_features"] = _demo_features() if out["demo"] else []
    except Exception as exc:  # noqa: BLE001 - torch/ORT missing or broken: the CNN methods report it when used
        out["errors"].append(f"CNN: {exc}")
    out["seconds"] = time.perf_counter() - t0
    for e in out["errors"]:
        log.warning("warm-up: %s", e)
    return out


#: Methods whose features of the demo set are put in the feature cache at warm-up: the app's default (average
#: hash, the first result a visitor sees) and the CNN (what a visitor is told to try next; 38 images, ~0.5 s).
DEMO_METHODS = ("ahash", "cnn-cosine", "cnn-euclidean")


def _demo_features() -> list[str]:
    """Encode the demo set with :data:`DEMO_METHODS` into the on-disk feature cache (a no-op when already there)."""
    from core import datasets, demo
    from core.encoding import encode_dataset
    from core.methods import METHODS

    ds = datasets.load(str(demo.demo_dataset_path()))
    done = []
    for name in DEMO_METHODS:
        if name in METHODS:
            encode_dataset(ds, METHODS[name], cache=True, workers=0)
            done.append(name)
    return done


def start_background() -> threading.Thread | None:
    """Run :func:`warm_up` in a daemon thread, once per process (later calls, or ``DUPFINDER_WARMUP=0``: None)."""
    from core import config

    if _started.is_set() or not config.background_warmup():
        return None
    _started.set()
    t = threading.Thread(target=warm_up, name="dupfinder-warmup", daemon=True)
    t.start()
    return t
