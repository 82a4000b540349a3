"""Adding a method at run time (tests, plug-ins): :func:`register`, :func:`unregister` and :func:`registered`.

The built-in methods are one line each in ``REGISTRY`` (``core/methods/__init__.py``). A method added here shows up
everywhere the registry is enumerated (CLI choices, every page's method picker, charts, ``parse_methods``) with no
other edit. ``METHODS`` is a dict and is updated in place; ``REGISTRY`` (and ``ARTICLE``) are tuples, so the new
tuple is rebound in every loaded module that imported the old one by name (``from core.methods import REGISTRY``).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from .base import Method

_NAMES = ("REGISTRY", "ARTICLE")


def _rebind(old: dict[str, tuple], new: dict[str, tuple]) -> None:
    """Point every loaded module's ``REGISTRY`` / ``ARTICLE`` that *is* the old tuple at the new one."""
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not namespace:
            continue
        for name in _NAMES:
            if name in namespace and namespace[name] is old[name]:
                namespace[name] = new[name]


def _package() -> dict:
    """``core.methods``'s namespace: the source of truth the other modules copied their names from."""
    from . import METHODS  # noqa: F401 - makes sure the package is fully imported

    return vars(sys.modules[__package__])


def register(method: Method) -> Method:
    """Add ``method`` after the built-in ones (ValueError if its name is taken). Returns it."""
    ns = _package()
    METHODS = ns["METHODS"]
    if method.name in METHODS:
        raise ValueError(f"a method called {method.name!r} is already registered")
    old = {n: ns[n] for n in _NAMES}
    new = {"REGISTRY": old["REGISTRY"] + (method,),
           "ARTICLE": old["ARTICLE"] + ((method.name,) if method.article_row else ())}
    METHODS[method.name] = method
    _rebind(old, new)
    return method


def unregister(name: str) -> None:
    """Remove the method called ``name`` (KeyError if none)."""
    ns = _package()
    METHODS = ns["METHODS"]
    method = METHODS.pop(name)
    old = {n: ns[n] for n in _NAMES}
    new = {"REGISTRY": tuple(m for m in old["REGISTRY"] if m is not method),
           "ARTICLE": tuple(n for n in old["ARTICLE"] if n != name)}
    _rebind(old, new)


@contextmanager
def registered(method: Method) -> Iterator[Method]:
    """``with registered(m):`` the method is registered inside the block and removed after it."""
    register(method)
    try:
        yield method
    finally:
        unregister(method.name)
