"""Pipelined CNN encoding: worker processes decode and shrink, the parent runs the network on batches as they arrive.

Why: on 2 cores, encoding a folder with the CNN is decode (JPEG draft to >= 224 px, then a resize to 224x224) plus
inference (ONNX Runtime). Done one after the other, one of the two always waits. Here

* each worker process turns a chunk of files into a ``(k, 224, 224, 3)`` uint8 array - the exact pixels
  :meth:`core.cnn.Model.preprocess` would normalise (:func:`core.cnn.resize_to_input`), 147 KB per image instead
  of the decoded picture (560 KB for a drafted 12 MP JPEG), so the pipe between processes stays cheap;
* the parent keeps a bounded number of chunks in flight (:data:`INFLIGHT_PER_WORKER` per worker), loads the
  model *while the first chunks decode* (model load overlaps decoding instead of preceding it), and runs the
  network on each chunk in file order as soon as it is ready.

Rows are identical to the sequential path's (same decode, same resize, same normalisation, same network); files
that fail to decode come back with their reason and are skipped, as everywhere else.
"""
from __future__ import annotations

import concurrent.futures as _cf
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import cnn
from . import images as _images

#: Images per worker task (and per forward pass). ONNX Runtime's throughput is flat from batch 4 to 32 on 2 cores
#: (cnn.DEFAULT_BATCH); 16 amortises the per-task IPC while the first batch is still ready quickly.
CHUNK = 16
#: Chunks queued per worker: enough that a worker never idles while the parent runs a batch; bounds memory to
#: ``INFLIGHT_PER_WORKER * workers * CHUNK`` images of 147 KB (4.7 MB for 2 workers).
INFLIGHT_PER_WORKER = 2

Job = tuple  # (content_id, source)
StoreRows = Callable[[list, Any, dict, int], None]


def decode_to_input(jobs: Sequence[Job], input_size: int = cnn.INPUT_SIZE):
    """Runs in a worker process: decode each file (JPEG draft to ``input_size``) and resize it to the network input.

    Returns
    -------
    ok : list of str
        Content ids that decoded, in order.
    pixels : ndarray, shape (len(ok), 224, 224, 3), uint8
    failed : dict str -> str
        Content id -> reason, for the files that did not decode.
    seconds : float
        Wall time spent decoding and resizing.
    """
    t0 = time.perf_counter()
    ok, rows, failed = [], [], {}
    for cid, src in jobs:
        try:
            img = _images.open_image(src, target_size=input_size, fit="stretch")  # as encoding.decode_for
        except _images.ImageError as e:
            failed[cid] = e.reason
            continue
        rows.append(cnn.resize_to_input(img))
        ok.append(cid)
    pixels = np.stack(rows) if rows else np.empty((0, cnn.INPUT_SIZE, cnn.INPUT_SIZE, 3), np.uint8)
    return ok, pixels, failed, time.perf_counter() - t0


def model_for(params: Mapping[str, Any]) -> "cnn.Model":
    """The network the CNN methods run for these resolved parameters (``weights``, ``backend``)."""
    return cnn.get_model(params.get("weights"), params.get("backend", "auto"))


def encode_parallel(pool: _cf.Executor, params: Mapping[str, Any], jobs: Sequence[Job], n_workers: int,
                    store_rows: StoreRows, state: dict, input_size: int = cnn.INPUT_SIZE) -> list:
    """Encode ``jobs`` with decode in ``pool`` overlapped with inference here; returns the jobs not done.

    Parameters
    ----------
    pool : Executor
        Worker processes (``core.encoding``'s shared pool).
    params : mapping
        Resolved CNN method parameters.
    jobs : list of (content_id, source)
    n_workers : int
        Processes in ``pool`` (sets how many chunks are kept in flight).
    store_rows : callable(ok ids, rows (n, 1280), {id: reason}, n files)
        Receives every finished chunk, in file order.
    state : dict
        ``state["t_dec"]`` accumulates the workers' decode seconds.

    Returns
    -------
    list of (content_id, source)
        Jobs whose chunk was not finished (all of them if the pool failed at once); the caller encodes them
        sequentially. Exceptions from the pool propagate after the finished chunks were stored; the caller
        discards the pool and encodes :func:`remaining_after` sequentially.
    """
    chunks = [list(jobs[s:s + CHUNK]) for s in range(0, len(jobs), CHUNK)]
    inflight: dict[int, _cf.Future] = {}
    limit = max(1, INFLIGHT_PER_WORKER * n_workers)
    nxt = 0

    def refill() -> None:
        nonlocal nxt
        while nxt < len(chunks) and len(inflight) < limit:
            inflight[nxt] = pool.submit(decode_to_input, chunks[nxt], input_size)
            nxt += 1

    state.setdefault("done_chunks", 0)
    refill()  # workers start decoding before the model is loaded: the load (0.3-3 s) overlaps decoding
    model = model_for(params)
    for k in range(len(chunks)):
        refill()
        ok, pixels, failed, t_dec = inflight.pop(k).result()
        refill()  # hand the worker its next chunk before this batch occupies the cores
        state["t_dec"] += t_dec
        store_rows(ok, model.features_from_pixels(pixels) if ok else None, failed, len(chunks[k]))
        state["done_chunks"] = k + 1
    return []


def remaining_after(jobs: Sequence[Job], state: dict) -> list:
    """The jobs :func:`encode_parallel` had not finished when it raised (from ``state["done_chunks"]``)."""
    return list(jobs[state.get("done_chunks", 0) * CHUNK:])
