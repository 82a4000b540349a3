"""The method record: everything the rest of the project needs to know about one similarity method.

Modelled on :class:`scipy.spatial.distance.MetricInfo`: a frozen record of callables and metadata. A method is
one module that builds one or more :class:`Method` records, plus one line in ``REGISTRY`` (``core/methods/__init__.py``);
tests and plug-ins add one at run time with :func:`core.methods.registry.register`.

Contract (tests in ``tests/test_methods_contract.py`` enforce it for every registered method):

* ``encode(images, **params) -> ndarray (n, d)`` turns a list of RGB :class:`PIL.Image.Image` into one feature row
  per image (float32 for vectors, uint8 packed bits for hashes).
* ``pairwise(A, B, **params) -> ndarray (len(A), len(B))`` float64 scores in the method's natural unit.
* ``compare(img_a, img_b, **params) -> float`` the simple per-pair reference, following the article's code;
  ``pairwise(encode([a]), encode([b]))[0, 0] == compare(a, b)`` (to ``reference_atol``).
* ``higher_is_closer`` gives the direction; :func:`Method.is_match` is the only place a threshold is applied.
* Optional fast paths are declared on the record (``topk_bounds``, ``pairs_kernel``, ``encode_in_parent``), never
  found by comparing functions: search asks the record.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

#: Bumped when the decoding shared by every method changes its pixels (2: every format box-reduced right after
#: decoding to >= 3 x the method's input size, not only JPEGs drafted); part of :meth:`Method.params_key`.
DECODE_VERSION = 2


@dataclass(frozen=True)
class ThresholdSpec:
    """Slider range of a method's threshold, in the method's natural unit."""

    min: float
    max: float
    step: float
    default: float


#: The kinds of value a :class:`Param` holds (what the CLI parses and which widget the sidebar draws).
PARAM_KINDS = ("bool", "int", "float", "str")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"  # text, and None (an optional text such as a weights path)


@dataclass(frozen=True)
class Param:
    """One user-settable parameter of a method (drives UI widgets and CLI validation).

    ``kind`` (one of :data:`PARAM_KINDS`) is the type of its values: given, or taken from ``default`` (``None``
    counts as text). :meth:`parse` turns a typed string (``--param NAME=VALUE``) into a value of that kind; the
    sidebar picks its widget by ``kind`` (a selectbox whenever there are ``choices``).
    """

    name: str
    default: Any
    help: str
    choices: tuple | None = None  # discrete choices, or None for free value
    min: float | None = None
    max: float | None = None
    kind: str = ""  # "" = from ``default``

    def __post_init__(self) -> None:
        kind = self.kind or _kind_of(self.default)
        if kind not in PARAM_KINDS:
            raise ValueError(f"parameter {self.name!r}: kind must be one of {PARAM_KINDS}, got {kind!r}")
        object.__setattr__(self, "kind", kind)

    def parse(self, text: str) -> Any:
        """The value ``text`` stands for, as this parameter's kind: ``bool`` is true for ``1``/``true``/``yes``
        (any case) and false otherwise; ``int`` / ``float`` raise ValueError on anything else; ``str`` maps
        ``""`` and ``none`` to None. Choices and bounds are checked by :meth:`Method.resolve_params`."""
        if self.kind == "bool":
            return text.lower() in ("1", "true", "yes")
        if self.kind == "int":
            return int(text)
        if self.kind == "float":
            return float(text)
        return None if text.lower() in ("", "none") else text


@dataclass(frozen=True)
class Method:
    """One registered similarity method. See module docstring for the contract."""

    name: str  # stable id used everywhere (CLI, cache keys, URLs)
    label: str  # short human label
    family: str  # "pixels", "structure", "hash", "cnn"
    summary: str  # one plain-language paragraph shown in the UI
    wins: str  # when it works well
    fails: str  # when it fails
    unit: str  # name of the score unit, e.g. "L2 distance", "Hamming bits"
    higher_is_closer: bool
    threshold: ThresholdSpec
    encode: Callable[..., np.ndarray]
    pairwise: Callable[..., np.ndarray]
    compare: Callable[..., float]
    params: tuple[Param, ...] = ()
    input_size: int | None = 256  # long-side pixels the encoder needs (for JPEG draft decoding); None = full
    version: str = "1"  # bump when encode() output changes, invalidates the feature cache
    reference_atol: float = 1e-9
    source: str = ""  # link to the algorithm's description
    threshold_for: Callable[[Mapping[str, Any]], ThresholdSpec] | None = None  # param-dependent spec
    article_row: bool = False  # one of the six rows of the article's tables
    # maps resolved params to what identifies the encoder's output (e.g. the weights file that actually runs, not
    # the empty setting that means "environment variable or default"); None = the params themselves
    cache_identity: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # --- fast paths the method declares (core/kernels.py); None/False = the generic block-wise paths ---------------
    #: ``topk_bounds(features, q) -> (lo, hi)``: float64 bounds, shape (n,), on every row's closeness to the query
    #: row ``q`` computed from float32 data (e.g. :func:`core.kernels.bounds_cosine`); top-k search re-scores only
    #: the rows whose interval can reach the k-th best
    topk_bounds: Callable[[Any, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    #: ``pairs_kernel(X, threshold, progress, block_bytes)`` yielding (i, j, score) blocks of every pair ``i < j``
    #: within ``threshold``, exactly as the generic path would (e.g. :func:`core.kernels.iter_hamming_pairs` for
    #: packed-bit hashes with Hamming distances)
    pairs_kernel: Callable[..., Any] | None = None
    #: True when ``encode`` must run in the parent process (a network already loaded there, its own threads):
    #: dataset encoding then never forks worker processes for it
    encode_in_parent: bool = False

    # --- parameters -------------------------------------------------------------------------------------------
    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def resolve_params(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``params``; unknown names or values outside ``choices`` raise ValueError."""
        out = self.default_params()
        known = {p.name: p for p in self.params}
        for k, v in (params or {}).items():
            if k not in known:
                raise ValueError(f"method {self.name!r} has no parameter {k!r}; valid: {sorted(known) or 'none'}")
            p = known[k]
            if p.choices is not None and v not in p.choices:
                raise ValueError(f"{self.name}.{k} must be one of {list(p.choices)}, got {v!r}")
            out[k] = v
        return out

    def params_key(self, params: Mapping[str, Any] | None = None) -> str:
        """Stable string identifying method + parameters + encoder version (used for cache keys)."""
        p = self.resolve_params(params)
        ident = self.cache_identity(p) if self.cache_identity is not None else p
        # "d": how files are decoded for every method (core.downscale): a new decode misses the cache too
        return json.dumps({"m": self.name, "v": self.version, "p": ident, "d": DECODE_VERSION}, sort_keys=True,
                          default=str)

    def threshold_spec(self, params: Mapping[str, Any] | None = None) -> ThresholdSpec:
        if self.threshold_for is not None:
            return self.threshold_for(self.resolve_params(params))
        return self.threshold

    # --- direction ----------------------------------------------------------------------------------------------
    def is_match(self, scores: np.ndarray | float, threshold: float) -> np.ndarray | bool:
        """True where a score is at least as close as ``threshold`` (<= for distances, >= for similarities)."""
        s = np.asarray(scores)
        return s >= threshold if self.higher_is_closer else s <= threshold

    def order(self, scores: np.ndarray) -> np.ndarray:
        """Indices sorting ``scores`` from closest to farthest (stable, so ties keep dataset order)."""
        s = np.asarray(scores, dtype=np.float64)
        return np.argsort(-s if self.higher_is_closer else s, kind="stable")

    def closeness(self, scores: np.ndarray) -> np.ndarray:
        """Scores mapped so that larger always means closer (for generic ranking code)."""
        s = np.asarray(scores, dtype=np.float64)
        return s if self.higher_is_closer else -s

    def with_(self, **changes) -> "Method":
        return dataclasses.replace(self, **changes)
