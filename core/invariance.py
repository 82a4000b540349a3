"""Rotation / mirror invariance for every method: compare a pair over the 90-degree rotations and mirrors.

Modes (:data:`MODES`):

``none``      the method as registered;
``flips``     identity + horizontal mirror (2 variants);
``dihedral``  the 8 elements of the dihedral group: 4 rotations by 90 degrees, each with and without a mirror.

Where the cost goes: every image is encoded once per variant (exact pixel transforms with ``Image.transpose``,
so a rotated copy's variants are *exactly* the original's variants in another order). The ``k`` variant rows of
one image are stored side by side in one row of width ``k * d`` (variant 0 = identity), so the wrapped method is an
ordinary :class:`~core.methods.base.Method`: the feature cache, the encoding workers, search, all-pairs
duplicates, evaluation and the experiments work on it unchanged. Encoding costs ``k`` times the base encoder
(decoding, which usually dominates, is done once); memory per image is ``k`` times the base row.

Pair score: the closest over the transforms of *one* side is not symmetric (``a`` against the variants of ``b``
differs from ``b`` against the variants of ``a`` when the encoder does not commute with the transforms), so the
score of a pair is the closest over **both directions**::

    score(a, b) = best( best_g s(a, g b), best_g s(g a, b) )     (best = min for distances, max for similarities)

which is symmetric, equals the base score when ``k = 1``, and is exactly the identity score when ``b`` is a
pixel-exact dihedral transform of ``a`` (``g b = a`` for one ``g``). It costs ``2k - 1`` base comparisons per pair;
:func:`invariant_pairwise` does them in vectorised blocks of bounded memory.

Note on PDQ: ``pdqhash.compute_dihedral`` derives the 8 hashes in one pass from the DCT, but its rotated hashes
are not the hash of the rotated pixels (measured: up to 42 bits apart for a 131x97 image, 14-20 bits at 600x400;
the box-filter sampling is not symmetric), so a rotated copy would not score as its original. PDQ is small
(~0.2 ms per 256-px image), so it goes through the same exact path as every other method; ``bench/invariance.py``
measures both.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
from PIL import Image

from .methods.base import Method

T = Image.Transpose
#: The transforms of each mode, identity first (PIL transposes: exact pixel permutations).
TRANSFORMS: dict[str, tuple] = {
    "none": (None,),
    "flips": (None, T.FLIP_LEFT_RIGHT),
    "dihedral": (None, T.ROTATE_90, T.ROTATE_180, T.ROTATE_270, T.FLIP_LEFT_RIGHT, T.FLIP_TOP_BOTTOM, T.TRANSPOSE,
                 T.TRANSVERSE),
}
#: The invariance modes, in increasing cost.
MODES: tuple[str, ...] = tuple(TRANSFORMS)
#: Bytes of base scores computed at once inside :func:`invariant_pairwise`.
BLOCK_BYTES = 32 << 20


def n_variants(mode: str) -> int:
    """Number of variants encoded per image in ``mode``."""
    return len(TRANSFORMS[check_mode(mode)])


def check_mode(mode: str) -> str:
    """``mode`` if valid; ValueError naming the valid modes otherwise."""
    if mode not in TRANSFORMS:
        raise ValueError(f"unknown invariance {mode!r}; valid: {', '.join(MODES)}")
    return mode


def variants(img: Image.Image, mode: str) -> list[Image.Image]:
    """The transformed copies of one image for ``mode`` (identity first)."""
    return [img if t is None else img.transpose(t) for t in TRANSFORMS[check_mode(mode)]]


def invariant_encode(base: Method, mode: str, images, **params) -> np.ndarray:
    """Encode every variant of every image: shape (n, k * d), the k variant rows of an image side by side."""
    k = n_variants(mode)
    imgs = [v for img in images for v in variants(img, mode)]
    rows = np.asarray(base.encode(imgs, **params))
    return rows.reshape(len(images), k * rows.shape[1]) if len(images) else rows.reshape(0, 0)


def _split(X: np.ndarray, k: int) -> np.ndarray:
    """(n, k * d) -> (n, k, d) view."""
    X = np.asarray(X)
    return X.reshape(X.shape[0], k, X.shape[1] // k)


def invariant_pairwise(base: Method, mode: str, A: np.ndarray, B: np.ndarray, **params) -> np.ndarray:
    """Scores (len(A), len(B)): the closest over the variants of either side (module docstring), float64."""
    k = n_variants(mode)
    A3, B3 = _split(A, k), _split(B, k)
    nA, nB, d = A3.shape[0], B3.shape[0], A3.shape[2]
    pick = np.maximum if base.higher_is_closer else np.minimum
    reduce = np.max if base.higher_is_closer else np.min
    out = np.empty((nA, nB), dtype=np.float64)
    B_all = B3.reshape(nB * k, d)
    B_id = np.ascontiguousarray(B3[:, 0])
    step = max(1, BLOCK_BYTES // (8 * k * max(1, nB)))
    for s in range(0, nA, step):
        a = A3[s:s + step]
        n = a.shape[0]
        fwd = reduce(base.pairwise(np.ascontiguousarray(a[:, 0]), B_all, **params).reshape(n, nB, k), axis=2)
        back = reduce(base.pairwise(a.reshape(n * k, d), B_id, **params).reshape(n, k, nB), axis=1)
        out[s:s + n] = pick(fwd, back)
    return out


def invariant_compare(base: Method, mode: str, img_a: Image.Image, img_b: Image.Image, **params) -> float:
    """Per-pair reference: the base ``compare`` over both directions' variants (``2k`` calls)."""
    scores = [base.compare(img_a, v, **params) for v in variants(img_b, mode)]
    scores += [base.compare(v, img_b, **params) for v in variants(img_a, mode)]
    return float(max(scores) if base.higher_is_closer else min(scores))


def _quality(base_quality, k: int, rows: np.ndarray) -> np.ndarray:
    return base_quality(np.ascontiguousarray(_split(rows, k)[:, 0]))


def invariant(method: Method, mode: str = "none") -> Method:
    """``method`` compared over the transforms of ``mode``: the same name, unit, threshold and parameters.

    ``mode == "none"`` returns ``method`` itself. Otherwise a new record whose ``version`` carries the mode (so the
    feature cache never mixes variant rows with plain rows) and whose ``extra`` holds ``invariance`` (the mode)
    and ``base`` (the plain method). Its callables are partials of module functions, so it pickles to the
    encoding workers like any registered method.
    """
    check_mode(mode)
    if mode == "none" or method.extra.get("invariance", "none") == mode:
        return method
    base = method.extra.get("base", method)
    k = n_variants(mode)
    extra: dict[str, Any] = dict(base.extra) | {"invariance": mode, "base": base}
    if "quality" in base.extra:
        extra["quality"] = functools.partial(_quality, base.extra["quality"], k)
    return dataclasses.replace(
        base,
        label=f"{base.label} [{mode}]",
        encode=functools.partial(invariant_encode, base, mode),
        pairwise=functools.partial(invariant_pairwise, base, mode),
        compare=functools.partial(invariant_compare, base, mode),
        version=f"{base.version}+{mode}",
        extra=extra,
        # the base's fast kernels score single rows; a wrapped row holds k variants side by side
        topk_bounds=None,
        pairs_kernel=None,
    )


def mode_of(method: Method) -> str:
    """The invariance mode of a (possibly wrapped) method."""
    return str(method.extra.get("invariance", "none"))


def base_of(method: Method) -> Method:
    """The plain method behind a wrapped one (the method itself when not wrapped)."""
    return method.extra.get("base", method)


def wrap_all(methods, mode: str) -> list[Method]:
    """Every method of ``methods`` wrapped with ``mode``."""
    return [invariant(m, mode) for m in methods]

