"""Batch kernels for the perceptual hashes, bit for bit equal to imagehash 4.3.2.

imagehash hashes one image per call. Here only the Pillow steps stay per image (``convert`` and the LANCZOS
``resize``, each one C call, exactly as imagehash makes them, so their pixels are the same bytes); everything after
them - means, medians, DCTs, wavelets, histograms, comparisons - runs once on a stacked ``(n, h, w)`` array.
Measured (bench/RESULTS.md): those Pillow steps are most of a hash's cost on a drafted photo (~0.3 ms for the grey
thumbnail of a 320x240 draft, ~0.6 ms for its HSV conversion), so the batch path mostly saves wHash's per-image
PyWavelets calls and the colour hash's per-image masks.

Bit-identity is by construction, not by approximation: each step applies the same NumPy / SciPy / PyWavelets
function to the same values, only along a batch axis (``scipy.fftpack.dct(..., axis=)``, ``pywt.wavedec2(...,
axes=(-2, -1))``, ``numpy.median(..., axis=1)``, whose per-line arithmetic does not depend on the other lines), and
the colour-hash histogram uses a lookup table built from ``numpy.histogram`` itself. ``tests/test_hash_kernels.py``
checks every hash and every hash size the app offers against imagehash on thousands of random and real images.

Source of the algorithms: https://github.com/JohannesBuchner/imagehash (``imagehash/__init__.py``, version 4.3.2).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

# imagehash's ANTIALIAS (Pillow >= 10 spells it Resampling.LANCZOS)
LANCZOS = Image.Resampling.LANCZOS

# colour hash: imagehash's bins, in 0..255 units of Pillow's "L" and "HSV" bands
_BLACK_BELOW = 256 // 8  # intensity < 32 is black
_GREY_BELOW = 256 // 3  # saturation < 85 is grey (when not black)
_FAINT_BELOW = 256 * 2 // 3  # saturation < 170 is a faint colour, > 170 a bright one; exactly 170 is neither
_HUE_EDGES = np.linspace(0, 255, 6 + 1)
# hue (0..255) -> one of 6 bins, taken from numpy.histogram itself so edge cases (42.5, 255) match exactly
_HUE_BIN = np.array([int(np.argmax(np.histogram([v], bins=_HUE_EDGES)[0])) for v in range(256)], dtype=np.int64)
# colour-hash category of a pixel: 0 black, 1 grey, 2-7 faint hue bins, 8-13 bright hue bins, 14 = saturation
# exactly 170 (counted among the colours, in no hue bin)
_N_CATEGORIES = 15


def grey_resized(images: Sequence[Image.Image], width: int, height: int) -> np.ndarray:
    """``image.convert('L').resize((width, height), LANCZOS)`` of each image, stacked.

    Returns
    -------
    numpy.ndarray
        uint8, shape (n, height, width).
    """
    out = np.empty((len(images), height, width), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = np.asarray(img.convert("L").resize((width, height), LANCZOS))
    return out


def _check_size(hash_size: int) -> None:
    if hash_size < 2:
        raise ValueError("Hash size must be greater than or equal to 2")


def average_hash(images: Sequence[Image.Image], hash_size: int = 8) -> np.ndarray:
    """imagehash.average_hash of each image: pixel > mean of the (hash_size x hash_size) grey thumbnail.

    Returns
    -------
    numpy.ndarray
        bool, shape (n, hash_size, hash_size).
    """
    _check_size(hash_size)
    px = grey_resized(images, hash_size, hash_size)
    # float64 mean of uint8 values: the sums are exact integers, so the mean is the same float as numpy.mean's
    avg = px.reshape(len(px), -1).mean(axis=1, dtype=np.float64)
    return px > avg[:, None, None]


def phash(images: Sequence[Image.Image], hash_size: int = 8, highfreq_factor: int = 4) -> np.ndarray:
    """imagehash.phash: 2-D DCT-II (scipy.fftpack, no normalisation) of a (4*hash_size)^2 grey thumbnail; the
    top-left hash_size x hash_size coefficients compared with their median.

    Returns
    -------
    numpy.ndarray
        bool, shape (n, hash_size, hash_size).
    """
    _check_size(hash_size)
    import scipy.fftpack  # imagehash's choice (not scipy.fft); imported lazily like imagehash does

    size = hash_size * highfreq_factor
    px = grey_resized(images, size, size)
    # axis 1 then 2 of the stack = imagehash's axis 0 then 1 of each image (uint8 -> float64 inside fftpack)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(px, axis=1), axis=2)
    low = dct[:, :hash_size, :hash_size]
    med = np.median(low.reshape(len(low), -1), axis=1)
    return low > med[:, None, None]


def dhash(images: Sequence[Image.Image], hash_size: int = 8) -> np.ndarray:
    """imagehash.dhash: is each pixel of a (hash_size+1) x hash_size grey thumbnail brighter than its left
    neighbour.

    Returns
    -------
    numpy.ndarray
        bool, shape (n, hash_size, hash_size).
    """
    _check_size(hash_size)
    px = grey_resized(images, hash_size + 1, hash_size)
    return px[:, :, 1:] > px[:, :, :-1]


def whash_scale(size: tuple[int, int], hash_size: int) -> int:
    """imagehash.whash's default ``image_scale``: the largest power of 2 <= the short side, at least hash_size."""
    return max(2 ** int(np.log2(min(size))), hash_size)


def whash(images: Sequence[Image.Image], hash_size: int = 8) -> np.ndarray:
    """imagehash.whash with its defaults (Haar, ``image_scale`` from the image, ``remove_max_haar_ll=True``).

    Images are grouped by their ``image_scale`` (it depends on the short side), and each group goes through
    PyWavelets once, along the last two axes of the stack.

    Returns
    -------
    numpy.ndarray
        bool, shape (n, hash_size, hash_size).
    """
    import pywt

    if hash_size & (hash_size - 1) or hash_size < 1:
        raise ValueError("hash_size is not power of 2")
    level = int(np.log2(hash_size))
    out = np.empty((len(images), hash_size, hash_size), dtype=bool)
    scales = np.array([whash_scale(img.size, hash_size) for img in images], dtype=np.int64)
    for scale in np.unique(scales):
        idx = np.flatnonzero(scales == scale)
        scale = int(scale)
        ll_max_level = int(np.log2(scale))
        px = grey_resized([images[i] for i in idx], scale, scale) / 255.
        # drop the lowest-frequency (LL at the top level) band with Haar, as remove_max_haar_ll does
        coeffs = list(pywt.wavedec2(px, "haar", level=ll_max_level, axes=(-2, -1)))
        coeffs[0] *= 0
        px = pywt.waverec2(coeffs, "haar", axes=(-2, -1))
        low = pywt.wavedec2(px, "haar", level=ll_max_level - level, axes=(-2, -1))[0]
        med = np.median(low.reshape(len(low), -1), axis=1)
        out[idx] = low > med[:, None, None]
    return out


def _category_table() -> np.ndarray:
    """Colour-hash category of a non-black pixel, indexed by ``saturation * 256 + hue`` (uint8, 65536 entries)."""
    sat, hue = np.divmod(np.arange(65536), 256)
    cat = np.full(65536, _N_CATEGORIES - 1, dtype=np.uint8)  # saturation exactly 170: a colour, in no hue bin
    cat[sat < _FAINT_BELOW] = 2 + _HUE_BIN[hue[sat < _FAINT_BELOW]]
    cat[sat > _FAINT_BELOW] = 8 + _HUE_BIN[hue[sat > _FAINT_BELOW]]
    cat[sat < _GREY_BELOW] = 1
    return cat


_CATEGORY = _category_table()


def _color_counts(images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
    """Pixels per colour-hash category of each image: counts (n, 15) int64, pixel totals (n,) int64."""
    counts = np.empty((len(images), _N_CATEGORIES), dtype=np.int64)
    totals = np.empty(len(images), dtype=np.int64)
    for i, img in enumerate(images):
        # the two Pillow conversions imagehash makes (pointwise C loops); the binning is one table look-up
        grey = np.asarray(img.convert("L")).reshape(-1)
        hsv = np.asarray(img.convert("HSV")).reshape(-1, 3)
        idx = hsv[:, 0].astype(np.uint16)
        idx |= hsv[:, 1].astype(np.uint16) << 8
        cat = np.take(_CATEGORY, idx)
        cat[grey < _BLACK_BELOW] = 0
        counts[i] = np.bincount(cat, minlength=_N_CATEGORIES)
        totals[i] = grey.size
    return counts, totals


def colorhash(images: Sequence[Image.Image], binbits: int = 3) -> np.ndarray:
    """imagehash.colorhash: the share of black, grey, and 6 faint + 6 bright hue bins, each in ``binbits`` bits.

    Returns
    -------
    numpy.ndarray
        bool, shape (n, 14, binbits).
    """
    out = np.empty((len(images), 14, binbits), dtype=bool)
    maxvalue = 2 ** binbits
    if len(images):
        counts, totals = _color_counts(images)
        values = np.empty((len(images), 14), dtype=np.int64)
        # the same float64 operations as imagehash: mask.mean() * maxvalue, counts * maxvalue * 1. / c, truncated
        values[:, 0] = np.floor(counts[:, 0] / totals * maxvalue)
        values[:, 1] = np.floor(counts[:, 1] / totals * maxvalue)
        c = np.maximum(1, counts[:, 2:].sum(axis=1))
        values[:, 2:] = np.floor(counts[:, 2:14] * maxvalue * 1. / c[:, None])
        values = np.minimum(maxvalue - 1, values)
        # imagehash's digit test, kept verbatim: (v // 2^(b-i-1)) % 2^(b-i) > 0 for i = 0..b-1
        i = np.arange(binbits)
        out[:] = (values[:, :, None] // 2 ** (binbits - i - 1)) % 2 ** (binbits - i) > 0
    return out


KERNELS = {"ahash": average_hash, "phash": phash, "dhash": dhash, "whash": whash, "colorhash": colorhash}


def hash_bits(kind: str, images: Sequence[Image.Image], hash_size: int) -> np.ndarray:
    """The imagehash bits of every image, flattened row-major like ``ImageHash.hash.flatten()``.

    Returns
    -------
    numpy.ndarray
        bool, shape (n, hash_size**2) or, for the colour hash, (n, 14 * hash_size).
    """
    bits = KERNELS[kind](list(images), hash_size)
    return bits.reshape(len(bits), -1)
