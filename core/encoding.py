"""Encode a dataset once per method: decode each file (JPEG draft, then a box reduction to what the method needs),
batch encoder, cache the rows by content hash. Everything after this works on :class:`Features` only.

Identical files (same content hash) are decoded and encoded once. Files that fail to decode are returned in
``Features.skipped`` with the reason, never raised.

Parallelism: decoding dominates (a 12 MP JPEG takes ~25 ms to decode even drafted, a hash of the result < 1 ms),
so when there are at least :data:`MIN_PARALLEL` images to encode, the work is spread over a pool of worker
*processes* (``concurrent.futures.ProcessPoolExecutor`` with the "spawn" start method, which is safe inside
Streamlit's threads). Workers receive file paths or bytes - never PIL images - and return feature rows. For CNN
methods the workers only decode (the network already uses both cores and would be loaded once per worker); the
parent encodes each batch while the workers decode the next ones. The pool is created once per process and reused
(start-up ~0.5 s), and any pool failure falls back to the sequential path, which gives identical rows.
"""
from __future__ import annotations

import atexit
import concurrent.futures as _cf
import logging
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import config
from . import downscale as _downscale
from . import images as _images
from .cache import FeatureCache, default_cache
from .datasets import Dataset, Item, Skipped
from .methods import Method

Progress = Callable[[int, int, str], None]
log = logging.getLogger(__name__)

#: Fewest images to encode before a process pool is used (below this, pool start-up and IPC do not pay).
MIN_PARALLEL = 64
#: Environment variable overriding the default number of worker processes (``0`` or ``1`` = sequential).
WORKERS_ENV = "DUPFINDER_WORKERS"


@dataclass
class Features:
    """Feature rows of the images of one dataset that encoded, in dataset order.

    Attributes
    ----------
    data : ndarray, shape (n, d)
        One row per encoded image (``uint8`` packed bits or pixels, or ``float32`` CNN features).
    names : list of str, length n
        Item names (relative paths) of the rows.
    skipped : list of Skipped
        Files that could not be decoded, with reasons.
    encode_seconds : float
        Wall time spent decoding + encoding the rows that were not cached.
    n_cached : int
        Rows served from the feature cache.
    """

    method: Method
    params: dict[str, Any]
    data: np.ndarray
    names: list[str]
    content_ids: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    encode_seconds: float = 0.0
    decode_seconds: float = 0.0
    n_encoded: int = 0
    n_cached: int = 0
    #: derived per-row data of the fast search kernels (e.g. row norms), see :mod:`core.kernels`
    _kernel_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Row of ``name`` (ValueError if none); a name -> row map is built once for large sets (a 100,000-row
        index answers in O(1) instead of a list scan per call)."""
        if len(self.names) < 256:
            return self.names.index(name)
        hit = self._kernel_cache.get("row_of")
        if hit is None or hit[0] is not self.names or hit[1] != len(self.names):
            rows: dict[str, int] = {}
            for k, n in enumerate(self.names):
                rows.setdefault(n, k)
            hit = self._kernel_cache["row_of"] = (self.names, len(self.names), rows)
        try:
            return hit[2][name]
        except KeyError:
            raise ValueError(f"{name!r} is not in list") from None

    def pairwise(self, A: np.ndarray | None = None, B: np.ndarray | None = None) -> np.ndarray:
        """Scores between feature rows (defaults: all rows against all rows)."""
        A = self.data if A is None else A
        B = self.data if B is None else B
        return self.method.pairwise(A, B, **self.params)


def decode_for(method: Method, source) -> "_images.Image.Image":
    """Decode one file the way ``method`` needs it: RGB, EXIF applied, JPEG drafted to ``method.input_size`` and
    every format box-reduced right after decoding to >= 3 x ``method.input_size`` per side (every method resizes
    to a square, ignoring the aspect, so each axis is reduced on its own)."""
    return _images.open_image(source, target_size=method.input_size, fit="stretch")


def encode_images(method: Method, imgs: Sequence, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """Encode already-decoded PIL images with resolved parameters; shape (n, d)."""
    return method.encode(list(imgs), **method.resolve_params(params))


def encode_file(method: Method, source, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """Decode and encode one file (a query image); raises :class:`core.images.ImageError` if unreadable."""
    return encode_images(method, [decode_for(method, source)], params)


def default_workers() -> int:
    """Worker processes used when ``workers`` is None: ``$DUPFINDER_WORKERS`` or the usable CPU count."""
    env = config.workers_setting()
    if env is not None:
        return env
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------------------------
# the process pool (one per process, reused; created lazily)
# ---------------------------------------------------------------------------------------------------------------
_pool: _cf.ProcessPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _get_pool(workers: int) -> _cf.ProcessPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            # "spawn": a fresh interpreter per worker; never fork a process that runs threads (Streamlit, ORT)
            _pool = _cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            _pool_size = workers
        return _pool


def shutdown_pool() -> None:
    """Stop the worker processes (they are restarted on demand). Registered with :mod:`atexit`."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool, _pool_size = None, 0


atexit.register(shutdown_pool)


def _discard_pool(pool) -> None:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is pool:
            _pool, _pool_size = None, 0
    try:
        pool.shutdown(wait=False, cancel_futures=True)
    except Exception:  # noqa: BLE001 - a broken pool may fail to shut down cleanly; it is dropped anyway
        pass


def _decode_chunk(method: Method, jobs):
    """Decode ``jobs`` [(content_id, source)] -> (ok ids, PIL images, {id: reason}, seconds)."""
    t0 = time.perf_counter()
    imgs, ok, failed = [], [], {}
    for cid, src in jobs:
        try:
            imgs.append(decode_for(method, src))
            ok.append(cid)
        except _images.ImageError as e:
            failed[cid] = e.reason
    return ok, imgs, failed, time.perf_counter() - t0


def _worker(method: Method, params: dict, jobs):
    """Runs in a worker process: decode and encode one chunk. Returns only arrays, ids and reasons."""
    ok, imgs, failed, t_dec = _decode_chunk(method, jobs)
    rows = method.encode(imgs, **params) if imgs else None
    return ok, rows, failed, t_dec


def encode_dataset(dataset: Dataset | Sequence[Item], method: Method, params: Mapping[str, Any] | None = None, *,
                   cache: FeatureCache | bool | None = True, progress: Progress | None = None,
                   batch_size: int = 32, workers: int | None = None) -> Features:
    """Encode every item of ``dataset`` with ``method``.

    Parameters
    ----------
    cache : FeatureCache, True, False or None
        True uses :func:`core.cache.default_cache` (unless disabled by environment); False/None disables it.
    progress : callable(done, total, message), optional
        Called after every batch; ``done`` counts images (cached ones included).
    batch_size : int
        Most images per call of ``method.encode`` (and per cache write); batches are also cut so that their
        decoded pixels stay within ``config.budgets().decode_batch_pixels`` (shared by the batches in flight).
    workers : int, optional
        Worker processes for decoding (+ encoding, except CNN methods). None: :func:`default_workers`
        (all usable cores), used only when at least :data:`MIN_PARALLEL` images need encoding. 0 or 1:
        sequential. The rows are identical either way.
    """
    items = list(dataset.items if isinstance(dataset, Dataset) else dataset)
    p = method.resolve_params(params)
    key = method.params_key(p)
    store = default_cache() if cache is True else (cache or None)
    total = len(items)
    cached = store.get_many([it.content_id for it in items], key) if store is not None else {}
    rows: dict[str, np.ndarray] = dict(cached)
    failed: dict[str, str] = {}
    todo: list[Item] = []
    seen: set[str] = set(rows)
    for it in items:
        if it.content_id not in seen:
            seen.add(it.content_id)
            todo.append(it)
    todo_ids = {t.content_id for t in todo}
    counts: dict[str, int] = {}
    for it in items:
        counts[it.content_id] = counts.get(it.content_id, 0) + 1
    state = {"done": sum(1 for it in items if it.content_id not in todo_ids), "encoded": 0,
             "t_dec": 0.0}
    if progress:
        progress(state["done"], total, f"{len(rows)} cached" if rows else "starting")
    t_start = time.perf_counter()

    def store_rows(ok: list[str], enc, fail: dict[str, str], n_items: int) -> None:
        failed.update(fail)
        if ok:
            new = {cid: enc[i] for i, cid in enumerate(ok)}
            rows.update(new)
            if store is not None:
                store.put_many(new, key)
        state["encoded"] += n_items
        state["done"] += sum(counts[c] for c in ok) + sum(counts[c] for c in fail)
        if progress:
            progress(state["done"], total, f"encoded {state['encoded']}/{len(todo)} new images")

    jobs = [(it.content_id, it.source) for it in todo]
    cost = {it.content_id: decoded_pixels(method, it) for it in todo}
    pixel_budget = config.budgets().decode_batch_pixels
    n_workers = default_workers() if workers is None else max(0, int(workers))
    remaining = jobs
    if n_workers > 1 and len(jobs) >= (MIN_PARALLEL if workers is None else 2):
        if method.encode_in_parent:  # CNN: decode overlapped with inference
            remaining = _encode_pipelined(p, jobs, n_workers, store_rows, state, method.input_size)
        else:
            remaining = _encode_parallel(method, p, jobs, n_workers, batch_size, store_rows, state, cost,
                                         pixel_budget)
    # sequential path (and fallback for what the pool left): one batch in flight, the whole pixel budget
    for batch in split_jobs(remaining, cost, batch_size, pixel_budget):
        ok, imgs, fail, t_dec = _decode_chunk(method, batch)
        state["t_dec"] += t_dec
        store_rows(ok, method.encode(imgs, **p) if imgs else None, fail, len(batch))
    t_all = time.perf_counter() - t_start if todo else 0.0
    kept = [it for it in items if it.content_id in rows]
    skipped = [Skipped(it.name, failed[it.content_id]) for it in items if it.content_id in failed]
    if kept:
        data = np.stack([rows[it.content_id] for it in kept])
    else:
        data = np.zeros((0, 0), dtype=np.float32)
    return Features(method=method, params=p, data=data, names=[it.name for it in kept],
                    content_ids=[it.content_id for it in kept], skipped=skipped, encode_seconds=t_all,
                    decode_seconds=state["t_dec"], n_encoded=len(todo) - len(failed), n_cached=len(cached))


def decoded_pixels(method: Method, item: Item) -> int:
    """Upper bound on the pixels :func:`decode_for` keeps of ``item`` (from its probed size): what a decode batch
    holds per image. Unknown sizes count as the largest a reduced image can be."""
    t = method.input_size
    if item.width > 0 and item.height > 0:
        w, h = _downscale.reduced_size(item.width, item.height, t, "stretch")
        return w * h
    side = 2 * _downscale.REDUCE_MARGIN * (t or 1024)
    return side * side


def split_jobs(jobs: Sequence, cost: Mapping[str, int], max_files: int, max_pixels: int) -> list[list]:
    """Cut ``jobs`` [(content_id, source)] into consecutive batches of at most ``max_files`` files and at most
    ``max_pixels`` decoded pixels (``cost[content_id]``); an image larger than the budget gets a batch of its own."""
    out: list[list] = []
    cur: list = []
    px = 0
    for job in jobs:
        c = int(cost.get(job[0], 0))
        if cur and (len(cur) >= max_files or px + c > max_pixels):
            out.append(cur)
            cur, px = [], 0
        cur.append(job)
        px += c
    if cur:
        out.append(cur)
    return out


def _encode_parallel(method: Method, p: dict, jobs: list, n_workers: int, batch_size: int, store_rows,
                     state: dict, cost: Mapping[str, int], pixel_budget: int) -> list:
    """Encode ``jobs`` with the process pool; returns the jobs still to do (all of them if the pool failed).

    Methods that encode in workers (hashes, pixels, SSIM; the CNN goes through :mod:`core.cnn_pipeline`): workers
    decode + encode chunks small enough to balance the load (>= 4 chunks per worker). The decoded pixels alive at
    once stay within ``pixel_budget``, shared between the workers; each worker decodes one file at a time, shrinking
    it right after decoding, so at most one full-resolution image per worker exists.
    """
    chunk = max(1, min(batch_size, -(-len(jobs) // (4 * n_workers))))
    chunks = split_jobs(jobs, cost, chunk, max(1, pixel_budget // n_workers))
    done = [False] * len(chunks)
    pool = None
    try:
        pool = _get_pool(n_workers)
        futs = {pool.submit(_worker, method, p, c): k for k, c in enumerate(chunks)}
        for f in _cf.as_completed(futs):
            k = futs[f]
            ok, enc, fail, t_dec = f.result()
            state["t_dec"] += t_dec
            store_rows(ok, enc, fail, len(chunks[k]))
            done[k] = True
    except Exception as exc:  # noqa: BLE001 - any pool problem (spawn refused, worker died, pickling): sequential
        log.warning("parallel encoding failed (%s: %s); continuing sequentially", type(exc).__name__, exc)
        if pool is not None:
            _discard_pool(pool)
    return [j for k, c in enumerate(chunks) if not done[k] for j in c]


def _encode_pipelined(p: dict, jobs: list, n_workers: int, store_rows, state: dict, input_size: int) -> list:
    """CNN methods: :mod:`core.cnn_pipeline` (workers decode + resize, the parent infers); returns the jobs left
    to encode sequentially (all that were not finished if the pool failed)."""
    from . import cnn_pipeline

    pool = None
    try:
        pool = _get_pool(n_workers)
        return cnn_pipeline.encode_parallel(pool, p, jobs, n_workers, store_rows, state, input_size)
    except Exception as exc:  # noqa: BLE001 - a pool problem must not lose the run: finish sequentially
        log.warning("pipelined CNN encoding failed (%s: %s); continuing sequentially", type(exc).__name__, exc)
        if pool is not None:
            _discard_pool(pool)
        return cnn_pipeline.remaining_after(jobs, state)
