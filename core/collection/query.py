"""Search a saved index: its stored matrix becomes a :class:`core.encoding.Features`, so every kernel of
:mod:`core.search` and :mod:`.compare` works on it unchanged."""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ..encoding import Features
from ..methods import Method
from .compare import best_matches
from .store import Index, MethodStore


class NotInIndex(LookupError):
    """The index has no features for this method (or parameters), or they were made by another encoder version."""


def method_store(index: Index, method: Method, params: Mapping[str, Any] | None = None) -> MethodStore:
    """The stored features of ``method`` (and ``params`` if given; required when several sets were built)."""
    stored = [ms for ms in index.methods if ms.method == method.name]
    if params:
        key = method.params_key(params)
        stored = [ms for ms in stored if ms.params_key == key]
    built = ", ".join(sorted({ms.method for ms in index.methods})) or "none"
    if not stored:
        raise NotInIndex(f"the index has no features for {method.name}"
                         f"{' with ' + str(dict(params)) if params else ''}; built with: {built}")
    if len(stored) > 1:
        raise NotInIndex(f"the index holds {len(stored)} parameter sets of {method.name}: choose one with --param ("
                         + "; ".join(str(ms.params) for ms in stored) + ")")
    ms = stored[0]
    if method.params_key(ms.params) != ms.params_key:
        raise NotInIndex(f"the {method.name} features were made by another encoder version or network; "
                         "run `python -m core index update` first")
    return ms


def features(index: Index, method: Method, params: Mapping[str, Any] | None = None) -> Features:
    """The stored rows of one method as :class:`Features` (names relative to the indexed dataset)."""
    ms = method_store(index, method, params)
    return Features(method=method, params=method.resolve_params(ms.params), data=ms.data, names=list(ms.names),
                    content_ids=list(ms.sha256))


def query(index: Index, queries: Features, threshold: float, top_k: int | None = None,
          progress=None) -> pd.DataFrame:
    """``query, name, score`` of every query row's ``top_k`` closest indexed images within ``threshold``."""
    target = features(index, queries.method, queries.params)
    return best_matches(queries, target, threshold, top_k, progress)
