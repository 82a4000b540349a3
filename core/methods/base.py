"""The method record: everything the rest of the project needs to know about one similarity method.

Modelled on :class:`scipy.spatial.distance.MetricInfo`: a frozen record of callables and metadata. A method is
one module that builds one or more :class:`Method` records, plus one line in :mod:`core.methods.registry`.

Contract (tests in ``tests/test_methods_contract.py`` enforce it for every registered method):

* ``encode(images, **params) -> ndarray (n, d)`` turns a list of RGB :class:`PIL.Image.Image` into one feature row
  per image (float32 for vectors, uint8 packed bits for hashes).
* ``pairwise(A, B, **params) -> ndarray (len(A), len(B))`` float64 scores in the method's natural unit.
* ``compare(img_a, img_b, **params) -> float`` the simple per-pair reference, following the article's code;
  ``pairwise(encode([a]), encode([b]))[0, 0] == compare(a, b)`` (to ``reference_atol``).
* ``higher_is_closer`` gives the direction; :func:`Method.is_match` is the only place a threshold is applied.
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


@dataclass(frozen=True)
class Param:
    """One user-settable parameter of a method (drives UI widgets and CLI validation)."""

    name: str
    default: Any
    help: str
    choices: tuple | None = None  # discrete choices, or None for free value
    min: float | None = None
    max: float | None = None


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
