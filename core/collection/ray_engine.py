"""The Ray engine: the *map over files* of an index build or update, run on a Ray cluster with Ray Data.

:func:`core.collection.build.build` and :func:`~core.collection.build.update` take an
:data:`~core.collection.build.Engine` (items -> rows and failures by content hash). :class:`RayEngine` is one: the
driver (the machine running ``python -m core index ...``) scans the dataset as usual, hands Ray the list of (content
hash, name, path) of the images to encode, and the Ray workers read, decode and encode them; the driver writes the
index files.

* **Same result as the local engine.** Workers decode with :func:`core.encoding.decode_for` (the same function, the
  same reason strings for unreadable or corrupt files) and encode with the method's own ``encode``; rows travel back
  as raw bytes (hash rows are bit-identical, CNN rows equal to ONNX Runtime's batch noise, ~1e-6).
* **Files are read by the workers**, from the path the driver scanned: the dataset root must be a path every node can
  read (NFS, a mounted bucket, the same disk on a one-machine cluster). A worker that cannot open a file the driver
  can is a set-up error (:class:`WorkerReadError`), never a silently skipped image. Each worker checks the SHA-256
  of the bytes it read against the driver's, so a file that changed after the scan (or differs on another node's
  mount) is skipped with :data:`CHANGED_REASON` instead of being indexed under the wrong hash. Zip entries (no path)
  travel inside the task. Object-storage URIs (``s3://``) are not read yet: Ray Data can (``read_binary_files``), but
  the scan, the skip reasons and the content hashes come from :mod:`core.datasets`, which reads local paths.
* **Methods**: hash, pixel and SSIM methods run as stateless Ray tasks (one CPU each); CNN methods run in actors
  (:class:`CnnEncoder`) that load the network once per worker and use one ONNX Runtime thread per actor CPU.
* **Cluster**: without an address a local cluster is started (``ray.init(num_cpus=...)``, no dashboard, no usage
  statistics) and shut down when the engine is closed; with one (``auto``, ``HOST:6379`` or ``ray://HOST:10001``)
  the engine joins it and ships the ``core`` package to the workers (``runtime_env`` ``py_modules``); the nodes need
  the same Python packages (``pip install -r requirements-scale.txt``). Every ``DUPFINDER_*`` variable of the driver is
  passed to the workers, and each worker checks that its method key (encoder version, CNN weights file) equals the
  driver's.
* **Bounded memory**: items go to Ray in chunks of :data:`CHUNK_ITEMS` (one Ray Dataset each), results stream back
  batch by batch (``iter_batches``).

Ray is an optional dependency (``requirements-scale.txt``): this module imports it only when an engine first runs,
and :func:`require_ray` raises :class:`RayUnavailable` with the install command.

The engine does not read or write the per-machine feature cache (:mod:`core.cache`): at cluster scale the index
itself is the store, and ``index update`` reuses its rows by content hash.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from typing import Any, Sequence

import numpy as np

from ..config import budgets
from ..datasets import Item
from ..encoding import ENCODE_IN_PARENT_FAMILIES, decode_for, default_workers
from ..images import ImageError
from ..methods import Method, get
from .build import Encoded

#: The command that installs the optional Ray dependency (printed when it is missing).
INSTALL_HINT = "pip install -r requirements-scale.txt"
#: Reason given for a file whose bytes, read by a worker, no longer have the content hash the scan recorded.
CHANGED_REASON = "file changed while the index was being built (content hash differs); run `index update` again"
#: Images per Ray Dataset handed to the cluster at once (bounds the driver's and the object store's share).
CHUNK_ITEMS = 50_000
#: Images per ``map_batches`` call (one decode + encode batch on a worker).
BATCH_SIZE = 32
#: Environment of a Ray cluster this module starts: no usage statistics are sent, nothing is downloaded.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_PROMPT_ENABLED": "0"}


class RayUnavailable(RuntimeError):
    """Ray is not installed (the message says how to install it)."""


class WorkerReadError(RuntimeError):
    """A Ray worker could not open a file that the driver scanned and can still open: the dataset root is not a
    shared path (mounted at the same place on every node)."""


def require_ray():
    """Import and return the ``ray`` module, or raise :class:`RayUnavailable` with :data:`INSTALL_HINT`."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate extra (ray[data])
    except ImportError as e:
        raise RayUnavailable(f"--engine ray needs Ray, an optional dependency ({e}); install it with: "
                             f"{INSTALL_HINT}") from None
    return ray


# ---------------------------------------------------------------------------------------------------------------
# what runs on the workers
# ---------------------------------------------------------------------------------------------------------------
def _check_key(method: Method, params: dict, key: str) -> None:
    mine = method.params_key(params)
    if mine != key:  # another code version or another weights file on this node: its rows would not be comparable
        raise RuntimeError(f"worker on {socket.gethostname()} encodes {method.name} as {mine}, the driver as {key}: "
                           "install the same code and packages on every node")


def _read(path: str, data: bytes, cid: str):
    """(source for decode_for, failure reason or None, missing?) of one job, hash-checked."""
    if not path:
        blob = data
    else:
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except OSError as e:
            # decode_for(path) gives exactly the reason the local engine gives for an unreadable file
            return path, None, isinstance(e, FileNotFoundError)
    if hashlib.sha256(blob).hexdigest() != cid:
        return None, CHANGED_REASON, False
    return blob, None, False


def encode_batch(method: Method, params: dict, batch) -> "Any":
    """Decode and encode one batch (a ``pyarrow.Table`` with columns cid, path, data) -> a ``pyarrow.Table`` with
    columns cid, feature (the row's bytes, empty on failure), dtype, dim, reason (empty on success), missing (a
    path this worker could not find), host, t0 and t1 (the worker's clock, seconds since the epoch, when the batch
    started and ended) and cpu (CPU seconds of the worker process, all its threads): the throughput figures.

    Decoded images are encoded as soon as they hold ``decode_batch_pixels`` pixels (:func:`core.config.budgets`),
    so a batch of 12 MP PNGs never holds more than that budget of decoded pixels (+ one image) in a worker.
    """
    import pyarrow as pa

    t0, c0 = time.time(), time.process_time()
    cids = batch.column("cid").to_pylist()
    paths = batch.column("path").to_pylist()
    datas = batch.column("data").to_pylist()
    reasons = [""] * len(cids)
    missing = [False] * len(cids)
    feats = [b""] * len(cids)
    fmt = {"dtype": "", "dim": 0}
    budget = budgets().decode_batch_pixels
    imgs: list = []
    ok: list[int] = []

    def flush() -> None:
        if imgs:
            rows = np.ascontiguousarray(method.encode(imgs, **params))
            fmt["dtype"], fmt["dim"] = rows.dtype.str, int(rows.shape[1])
            for r, k in enumerate(ok):
                feats[k] = rows[r].tobytes()
            imgs.clear()
            ok.clear()

    for k, (cid, path, data) in enumerate(zip(cids, paths, datas)):
        src, reason, missing[k] = _read(path, data, cid)
        if reason is None:
            try:
                img = decode_for(method, src)
            except ImageError as e:
                reason = e.reason
            else:
                imgs.append(img)
                ok.append(k)
                if sum(im.width * im.height for im in imgs) >= budget:
                    flush()
                continue
        reasons[k] = reason
    flush()
    host, n, t1, cpu = socket.gethostname(), len(cids), time.time(), time.process_time() - c0
    return pa.table({"cid": pa.array(cids, pa.string()), "feature": pa.array(feats, pa.binary()),
                     "dtype": pa.array([fmt["dtype"]] * len(cids), pa.string()),
                     "dim": pa.array([fmt["dim"]] * len(cids), pa.int64()),
                     "reason": pa.array(reasons, pa.string()), "missing": pa.array(missing, pa.bool_()),
                     "host": pa.array([host] * n, pa.string()), "t0": pa.array([t0] * n, pa.float64()),
                     "t1": pa.array([t1] * n, pa.float64()), "cpu": pa.array([cpu] * n, pa.float64())})


def encode_task(batch, method_name: str, params: dict, key: str):
    """Ray task UDF (hash, pixel, SSIM methods): look the method up, check its key, encode the batch."""
    method = get(method_name)
    _check_key(method, params, key)
    return encode_batch(method, params, batch)


class CnnEncoder:
    """Ray actor UDF for CNN methods: the network is loaded once per actor, with ``cpus`` inference threads."""

    def __init__(self, method_name: str, params: dict, key: str, cpus: int = 1):
        from core import cnn

        # one ONNX Runtime thread per CPU Ray gave this actor (the module's default suits one process per machine)
        cnn.ORT_THREADS = max(1, int(cpus))
        self.method = get(method_name)
        self.params = params
        _check_key(self.method, params, key)
        self.method.encode([], **params)  # loads the network now, not inside the first batch

    def __call__(self, batch):
        return encode_batch(self.method, self.params, batch)


# ---------------------------------------------------------------------------------------------------------------
# the driver side
# ---------------------------------------------------------------------------------------------------------------
def _driver_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("DUPFINDER_")}


class RayEngine:
    """An :data:`~core.collection.build.Engine` running on Ray. Use as a context manager (or call :meth:`close`):
    a local cluster it started is shut down on exit; a cluster it joined is only disconnected from.

    Parameters
    ----------
    address : str, optional
        Ray cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:10001``). None: start a local cluster.
    workers : int, optional
        Local cluster: its CPUs (default :func:`core.encoding.default_workers`). Joined cluster: the most tasks or
        CNN actors running at once (default: every CPU of the cluster).
    batch_size : int
        Images per decode + encode batch on a worker.
    progress : callable(done, total, message), optional
        Called after every batch that comes back.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, batch_size: int = BATCH_SIZE,
                 progress=None):
        self.ray = require_ray()
        self.address = address
        self.workers = workers
        self.batch_size = max(1, int(batch_size))
        self.progress = progress
        self._started = False
        self._connected = False
        #: figures of the last call: images, busy (sum of the batches' worker seconds), cpu (their CPU seconds),
        #: span (first batch start to last batch end, worker clocks), in seconds
        self.stats: dict[str, float] = {}

    # --- cluster ------------------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Join the cluster, or start the local one (once); reuses a connection the process already has."""
        ray = self.ray
        if self._connected:
            return
        if not ray.is_initialized():
            for k, v in RAY_ENV.items():
                os.environ.setdefault(k, v)
            runtime_env: dict[str, Any] = {"env_vars": _driver_env()}
            if self.address:
                import core

                # the workers of a remote cluster get this code (not the packages: those must be installed)
                runtime_env["py_modules"] = [os.path.dirname(os.path.abspath(core.__file__))]
                ray.init(address=self.address, runtime_env=runtime_env, log_to_driver=False,
                         logging_level="warning")
            else:
                n = self.workers if self.workers else max(1, default_workers())
                # address="local": always a new cluster of our own, never one found on this machine
                ray.init(address="local", num_cpus=n, include_dashboard=False, runtime_env=runtime_env,
                         log_to_driver=False, logging_level="warning")
                self._started = True
        ctx = self.ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the CLI has its own progress line
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # not a line per Dataset on the CLI's stderr
        self._connected = True

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = self._connected = False

    def __enter__(self) -> "RayEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _slots(self) -> int:
        cpus = int(self.ray.cluster_resources().get("CPU", 1)) or 1
        return max(1, min(cpus, self.workers)) if self.workers else cpus

    # --- the map ------------------------------------------------------------------------------------------------
    def __call__(self, items: Sequence[Item], method: Method, params: dict) -> Encoded:
        items = list(items)
        if not items:
            return Encoded({}, {})
        self.connect()
        p = method.resolve_params(params)
        key = method.params_key(p)
        rows: dict[str, np.ndarray] = {}
        failed: dict[str, str] = {}
        state = {"done": 0}
        self.stats = {"images": 0, "busy": 0.0, "cpu": 0.0, "start": float("inf"), "end": 0.0}
        for s in range(0, len(items), CHUNK_ITEMS):
            self._run_chunk(items[s:s + CHUNK_ITEMS], method, p, key, rows, failed, state, len(items))
        st = self.stats
        st["span"] = max(0.0, st.pop("end") - st.pop("start"))
        return Encoded(rows, failed, len(rows))

    def _dataset(self, chunk: Sequence[Item], method: Method, p: dict, key: str):
        ray = self.ray
        slots = self._slots()
        records = [{"cid": it.content_id, "path": it.path or "", "data": b"" if it.path else (it.data or b"")}
                   for it in chunk]
        # one block per batch (at least one per worker slot), so the batches spread over every worker
        blocks = max(min(len(records), slots), -(-len(records) // self.batch_size))
        ds = ray.data.from_items(records, override_num_blocks=blocks)
        # batch_size=None: each task or actor call gets one whole block (<= batch_size rows), never two blocks fused
        common = dict(batch_size=None, batch_format="pyarrow", num_cpus=1)
        if method.family in ENCODE_IN_PARENT_FAMILIES:  # a network: load it once per worker, in an actor
            return ds.map_batches(CnnEncoder, fn_constructor_kwargs={"method_name": method.name, "params": p,
                                                                     "key": key, "cpus": 1},
                                  compute=ray.data.ActorPoolStrategy(size=slots), **common)
        return ds.map_batches(encode_task, fn_kwargs={"method_name": method.name, "params": p, "key": key},
                              compute=ray.data.TaskPoolStrategy(size=slots), **common)

    def _run_chunk(self, chunk, method, p, key, rows, failed, state, total) -> None:
        by_cid = {it.content_id: it for it in chunk}
        lost: list[tuple[Item, str, str]] = []
        seen: set[tuple[str, float, float, float]] = set()
        for batch in self._dataset(chunk, method, p, key).iter_batches(batch_format="pyarrow", batch_size=None):
            cols = {name: batch.column(name).to_pylist() for name in batch.column_names}
            for cid, feat, dtype, dim, reason, missing, host in zip(cols["cid"], cols["feature"], cols["dtype"],
                                                                    cols["dim"], cols["reason"], cols["missing"],
                                                                    cols["host"]):
                if missing:  # the worker found no file at the path: decided below, on this machine
                    lost.append((by_cid[cid], host, reason))
                elif reason:
                    failed[cid] = reason
                else:
                    rows[cid] = np.frombuffer(feat, dtype=np.dtype(dtype)).reshape(dim).copy()
            state["done"] += batch.num_rows
            for host, t0, t1, cpu in set(zip(cols["host"], cols["t0"], cols["t1"], cols["cpu"])) - seen:
                seen.add((host, t0, t1, cpu))  # each worker batch once
                self.stats["busy"] += t1 - t0
                self.stats["cpu"] += cpu
                self.stats["start"] = min(self.stats["start"], t0)
                self.stats["end"] = max(self.stats["end"], t1)
            self.stats["images"] += batch.num_rows
            if self.progress:
                self.progress(state["done"], total, f"encoded {state['done']}/{total} images on Ray")
        for it, host, reason in lost:
            if os.path.exists(it.path):
                raise WorkerReadError(f"a Ray worker on {host} cannot read {it.path}, which this machine can: the "
                                      "dataset folder must be a shared path, mounted at the same place on every "
                                      "node")
            # gone here too (deleted after the scan): skipped with the reason the local engine gives
            failed[it.content_id] = reason
