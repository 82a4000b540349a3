"""Deprecated name of :mod:`core.kernels` (the exact fast search kernels), kept so ``from . import index`` in
``core/search.py`` keeps working until that file imports :mod:`core.kernels` (issue 10 follow-up). It is the same
module object, so a test that patches one patches the other."""
import sys

from . import kernels

sys.modules[__name__] = kernels
