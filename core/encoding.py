"""Encode a dataset once per method: decode each file (JPEG draft to the method's input size), run the method's
batch encoder, cache the rows by content hash. Everything after this works on :class:`Features` only.

Identical files (same content hash) are decoded and encoded once. Files that fail to decode are returned in
``Features.skipped`` with the reason, never raised.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import images as _images
from .cache import FeatureCache, default_cache
from .datasets import Dataset, Item, Skipped
from .methods import Method

Progress = Callable[[int, int, str], None]


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

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def pairwise(self, A: np.ndarray | None = None, B: np.ndarray | None = None) -> np.ndarray:
        """Scores between feature rows (defaults: all rows against all rows)."""
        A = self.data if A is None else A
        B = self.data if B is None else B
        return self.method.pairwise(A, B, **self.params)


def decode_for(method: Method, source) -> "_images.Image.Image":
    """Decode one file the way ``method`` needs it (RGB, EXIF applied, JPEG drafted to ``method.input_size``)."""
    return _images.open_image(source, target_size=method.input_size)


def encode_images(method: Method, imgs: Sequence, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """Encode already-decoded PIL images with resolved parameters; shape (n, d)."""
    return method.encode(list(imgs), **method.resolve_params(params))


def encode_file(method: Method, source, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """Decode and encode one file (a query image); raises :class:`core.images.ImageError` if unreadable."""
    return encode_images(method, [decode_for(method, source)], params)


def encode_dataset(dataset: Dataset | Sequence[Item], method: Method, params: Mapping[str, Any] | None = None, *,
                   cache: FeatureCache | bool | None = True, progress: Progress | None = None,
                   batch_size: int = 32) -> Features:
    """Encode every item of ``dataset`` with ``method``.

    Parameters
    ----------
    cache : FeatureCache, True, False or None
        True uses :func:`core.cache.default_cache` (unless disabled by environment); False/None disables it.
    progress : callable(done, total, message), optional
        Called after every batch; ``done`` counts images (cached ones included).
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
    done = sum(1 for it in items if it.content_id not in todo_ids)
    if progress:
        progress(done, total, f"{len(rows)} cached" if rows else "starting")
    t_dec = t_all = 0.0
    counts: dict[str, int] = {}
    for it in items:
        counts[it.content_id] = counts.get(it.content_id, 0) + 1
    for s in range(0, len(todo), batch_size):
        batch = todo[s:s + batch_size]
        t0 = time.perf_counter()
        imgs, ok = [], []
        for it in batch:
            try:
                imgs.append(decode_for(method, it.source))
                ok.append(it)
            except _images.ImageError as e:
                failed[it.content_id] = e.reason
        t1 = time.perf_counter()
        new: dict[str, np.ndarray] = {}
        if imgs:
            enc = method.encode(imgs, **p)
            new = {it.content_id: enc[i] for i, it in enumerate(ok)}
            rows.update(new)
            if store is not None:
                store.put_many(new, key)
        t2 = time.perf_counter()
        t_dec += t1 - t0
        t_all += t2 - t0
        done += sum(counts[it.content_id] for it in batch)
        if progress:
            progress(done, total, f"encoded {min(s + batch_size, len(todo))}/{len(todo)} new images")
    kept = [it for it in items if it.content_id in rows]
    skipped = [Skipped(it.name, failed[it.content_id]) for it in items if it.content_id in failed]
    if kept:
        data = np.stack([rows[it.content_id] for it in kept])
    else:
        data = np.zeros((0, 0), dtype=np.float32)
    return Features(method=method, params=p, data=data, names=[it.name for it in kept],
                    content_ids=[it.content_id for it in kept], skipped=skipped, encode_seconds=t_all,
                    decode_seconds=t_dec, n_encoded=len(todo) - len(failed), n_cached=len(cached))
