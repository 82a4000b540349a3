"""Perceptual hashes (imagehash): average, perceptual (DCT), difference, wavelet and colour hash.

``encode`` (the batch path) uses :mod:`.hash_kernels`, NumPy versions vectorised over the batch that give
imagehash's bits exactly; ``compare`` (the article's per-pair path) calls imagehash itself.

Each image becomes a short bit string; two images are compared by the number of differing bits (Hamming distance).
Bits are stored packed (``numpy.packbits``, one ``uint8`` row per image) so a block of comparisons is one XOR and
one ``numpy.bitwise_count``.

Source: https://github.com/JohannesBuchner/imagehash ; average hash:
https://www.hackerfactor.com/blog/index.php?/archives/432-Looks-Like-It.html
"""
from __future__ import annotations

import functools

import imagehash
import numpy as np
from PIL import Image

from . import hash_kernels
from .base import Method, Param, ThresholdSpec


def _hash_fn(kind: str):
    return {
        "ahash": lambda img, n: imagehash.average_hash(img, hash_size=n),
        "phash": lambda img, n: imagehash.phash(img, hash_size=n),
        "dhash": lambda img, n: imagehash.dhash(img, hash_size=n),
        "whash": lambda img, n: imagehash.whash(img, hash_size=n),
        "colorhash": lambda img, n: imagehash.colorhash(img, binbits=n),
    }[kind]


def n_bits(kind: str, hash_size: int) -> int:
    """Number of bits of one hash (colour hash: 14 bins x ``binbits``)."""
    return 14 * hash_size if kind == "colorhash" else hash_size * hash_size


def hash_bits(kind: str, img: Image.Image, hash_size: int) -> np.ndarray:
    """The imagehash bit array of one image (the reference), flattened to bool (length ``n_bits``)."""
    return np.asarray(_hash_fn(kind)(img, hash_size).hash, dtype=bool).reshape(-1)


def encode_hash(kind: str, images, hash_size: int = 8, **_ignored) -> np.ndarray:
    """Hash every image with the batch kernels (bit for bit imagehash's hashes, see :mod:`.hash_kernels`).

    Returns
    -------
    numpy.ndarray
        Packed bits, ``uint8``, shape (n, ceil(n_bits / 8)).
    """
    if not len(images):
        return np.zeros((0, -(-n_bits(kind, hash_size) // 8)), dtype=np.uint8)
    return np.packbits(hash_kernels.hash_bits(kind, images, hash_size), axis=1)


def encode_hash_imagehash(kind: str, images, hash_size: int = 8, **_ignored) -> np.ndarray:
    """The reference batch path: imagehash on each image in turn, packed like :func:`encode_hash` (same output;
    kept for tests and for ``bench/run.py``, which measures both)."""
    bits = np.zeros((len(images), n_bits(kind, hash_size)), dtype=bool)
    for i, img in enumerate(images):
        bits[i] = hash_bits(kind, img, hash_size)
    return np.packbits(bits, axis=1)


def hamming_pairwise(A: np.ndarray, B: np.ndarray, **_ignored) -> np.ndarray:
    """Hamming distance in bits between packed rows; shape (len(A), len(B)), float64."""
    A = np.ascontiguousarray(A, dtype=np.uint8)
    B = np.ascontiguousarray(B, dtype=np.uint8)
    if A.shape[1] % 8 == 0:  # view as uint64 words: 8x fewer XORs
        A, B = A.view(np.uint64), B.view(np.uint64)
    out = np.empty((A.shape[0], B.shape[0]), dtype=np.float64)
    step = max(1, (1 << 22) // max(1, B.shape[0] * A.shape[1]))
    for s in range(0, A.shape[0], step):
        out[s:s + step] = np.bitwise_count(A[s:s + step, None, :] ^ B[None, :, :]).sum(axis=2, dtype=np.int64)
    return out


def hash_compare(kind: str, img_a: Image.Image, img_b: Image.Image, hash_size: int = 8, **_ignored) -> float:
    """Article-style reference: ``hash(a) - hash(b)`` with imagehash (its Hamming distance)."""
    fn = _hash_fn(kind)
    return float(fn(img_a, hash_size) - fn(img_b, hash_size))


_DEFAULT_SHARE = {"ahash": 12 / 64, "phash": 16 / 64, "dhash": 14 / 64, "whash": 12 / 64, "colorhash": 2 / 42}


def _threshold(kind: str, params) -> ThresholdSpec:
    bits = n_bits(kind, params["hash_size"])
    # Default = the share of bits that gave the best mean pair F1 over four labelled photo sets (the demo set and
    # three real sets: resized copies, flips/rotations/greys, format conversions); imagededup uses 10/64 for all.
    default = max(1, round(bits * _DEFAULT_SHARE[kind]))
    return ThresholdSpec(min=0, max=bits, step=1, default=default)


_INFO = {
    "ahash": ("Average hash", "Shrinks the image to 8x8 grey pixels and records, for each, whether it is brighter "
              "than the average: 64 bits. Two images are compared by how many bits differ.",
              "re-encoded, resized and lightly edited copies; very fast",
              "crops, rotations, flips and re-shot photos; bright/dark uniform images collide", True,
              "https://www.hackerfactor.com/blog/index.php?/archives/432-Looks-Like-It.html"),
    "phash": ("Perceptual hash (DCT)", "Keeps the low-frequency pattern of the image (a discrete cosine transform "
              "of a 32x32 grey version) and records which coefficients are above the median.",
              "re-encodes, resizes, brightness/contrast and gamma changes",
              "crops, rotations, flips and re-shot photos", False,
              "https://www.hackerfactor.com/blog/index.php?/archives/432-Looks-Like-It.html"),
    "dhash": ("Difference hash", "Records whether each pixel of a small grey version is brighter than its right "
              "neighbour: it captures gradients rather than absolute brightness.",
              "re-encodes, resizes and brightness changes; very fast",
              "crops, rotations, flips and re-shot photos", False,
              "https://www.hackerfactor.com/blog/index.php?/archives/529-Kind-of-Like-That.html"),
    "whash": ("Wavelet hash", "Like the average hash, but on the low-frequency part of a Haar wavelet transform.",
              "re-encodes, resizes and mild blur", "crops, rotations, flips and re-shot photos", False,
              "https://fullstackml.com/wavelet-image-hash-in-python-3504fdd282b5"),
    "colorhash": ("Colour hash", "Records the share of the image in black, grey and a few hue bins: a colour "
                  "histogram in bits. It ignores where things are.",
                  "flips, rotations and crops that keep the colours",
                  "different photos with similar colours; colour or white-balance changes", False,
                  "https://github.com/JohannesBuchner/imagehash"),
}


def _make(kind: str) -> Method:
    label, summary, wins, fails, article, source = _INFO[kind]
    if kind == "colorhash":
        param = Param("hash_size", 3, "bits per colour bin (hash has 14 x this many bits)", (2, 3, 4, 6, 8))
    elif kind == "whash":
        param = Param("hash_size", 8, "the hash has hash_size^2 bits (power of 2)", (4, 8, 16))
    else:
        param = Param("hash_size", 8, "the hash has hash_size^2 bits", (4, 6, 8, 12, 16))
    thr = functools.partial(_threshold, kind)
    return Method(
        name=kind,
        label=label,
        family="hash",
        summary=summary,
        wins=wins,
        fails=fails,
        unit="Hamming distance (bits)",
        higher_is_closer=False,
        threshold=thr({"hash_size": param.default}),
        threshold_for=thr,
        encode=functools.partial(encode_hash, kind),
        pairwise=hamming_pairwise,
        compare=functools.partial(hash_compare, kind),
        params=(param,),
        # 128 px: imagehash shrinks to 8-64 px anyway; drafting a 640x480 JPEG to 1/4 (160x120) instead of 1/2 makes
        # decode + hash 2.5-6x faster, and changes 4-22 % of hashes by a mean 0.04-0.25 bits vs a full decode
        # (the 256-px draft of 12 MP photos already changes 5-25 %); pair F1 on the demo sets within +-0.02.
        input_size=128,
        version="2",  # input_size 256 -> 128: cached features from version 1 are re-encoded
        reference_atol=0.0,
        source=source,
        article_row=article,
    )


AHASH, PHASH, DHASH, WHASH, COLORHASH = (_make(k) for k in ("ahash", "phash", "dhash", "whash", "colorhash"))
