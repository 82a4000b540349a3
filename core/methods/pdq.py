"""PDQ: Meta's 256-bit perceptual hash (``pdqhash`` bindings to the reference C++), with its quality score.

PDQ turns the image into 64x64 luminance (Jarosz box filters), takes a 16x16 block of the DCT and records which of
the 256 coefficients are above their median. Two hashes are compared by Hamming distance. Meta's ThreatExchange
counts distance <= 31 bits as a confident match (``PDQ_CONFIDENT_MATCH_THRESHOLD = 31``) and treats hashes whose
quality is below 50 as too weak to match on (``VPDQ_CONFIDENT_QUALITY_THRESHOLD = 50``; hashing.pdf: flat or
near-flat images have few gradients, so their bits are mostly noise).

Row layout: the 256 bits packed as 32 ``uint8`` (``numpy.packbits``, as every hash of the project) followed by one
``uint8`` holding the quality (0..100), so the quality travels with the features through the cache, the encoding
workers and :class:`core.encoding.Features` without a side channel. :func:`pdq_pairwise` compares the first 32
bytes only; :func:`pdq_quality` reads the last one. :mod:`core.quality` uses that hook to flag low-quality images.

Sources: https://github.com/facebook/ThreatExchange/tree/main/pdq (hashing.pdf),
https://github.com/faustomorales/pdqhash-python
"""
from __future__ import annotations

import numpy as np
import pdqhash
from PIL import Image

from .base import Method, ThresholdSpec
from .hashing import hamming_pairwise

#: Bits of one PDQ hash.
BITS = 256
#: Bytes of the packed hash at the start of each row (the quality byte follows).
HASH_BYTES = BITS // 8
#: Meta's confident-match distance (ThreatExchange ``PDQ_CONFIDENT_MATCH_THRESHOLD``).
MATCH_BITS = 31
#: Below this quality a PDQ hash is not used for matching (ThreatExchange ``VPDQ_CONFIDENT_QUALITY_THRESHOLD``).
MIN_QUALITY = 50


def _pixels(img: Image.Image) -> np.ndarray:
    """The (h, w, 3) uint8 RGB array pdqhash expects (C-contiguous)."""
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def hash_row(pixels: np.ndarray) -> np.ndarray:
    """One encoded row from an (h, w, 3) uint8 array: 32 packed hash bytes + 1 quality byte, shape (33,)."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
    return np.concatenate([np.packbits(np.asarray(bits, dtype=bool)), [np.uint8(max(0, min(100, int(quality))))]])


def encode_pdq(images, **_ignored) -> np.ndarray:
    """PDQ rows of every image: ``uint8`` array of shape (n, 33) (packed hash, then quality)."""
    out = np.zeros((len(images), HASH_BYTES + 1), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = hash_row(_pixels(img))
    return out


def pdq_pairwise(A: np.ndarray, B: np.ndarray, **_ignored) -> np.ndarray:
    """Hamming distance in bits between the hash parts of PDQ rows; shape (len(A), len(B)), float64."""
    return hamming_pairwise(np.asarray(A)[:, :HASH_BYTES], np.asarray(B)[:, :HASH_BYTES])


def pdq_quality(rows: np.ndarray) -> np.ndarray:
    """Quality (0..100) of each PDQ row; shape (n,), float64."""
    return np.asarray(rows)[:, HASH_BYTES].astype(np.float64)


def pdq_compare(img_a: Image.Image, img_b: Image.Image, **_ignored) -> float:
    """Reference: hash both images with ``pdqhash.compute`` and count the differing bits of the raw vectors."""
    a, _ = pdqhash.compute(_pixels(img_a))
    b, _ = pdqhash.compute(_pixels(img_b))
    return float(np.count_nonzero(np.asarray(a) != np.asarray(b)))


PDQ = Method(
    name="pdq",
    label="PDQ hash (Meta)",
    family="hash",
    summary="Meta's photo hash, used to find copies of known images at Facebook scale: a 64x64 grey version is "
            "reduced to the pattern of its 256 strongest low-frequency components, one bit each. Two images are "
            "compared by how many of the 256 bits differ (Meta counts 31 or fewer as the same picture). It also "
            "rates each image's quality: near-flat images (quality under 50) are flagged instead of matched.",
    wins="re-encodes, resizes, brightness/contrast changes, small overlays; with dihedral invariance also "
         "rotations by 90 degrees and mirrors",
    fails="crops, small-angle rotations, re-shot photos; flat or near-uniform images (flagged by quality)",
    unit="Hamming distance (bits)",
    higher_is_closer=False,
    threshold=ThresholdSpec(min=0, max=BITS, step=1, default=MATCH_BITS),
    encode=encode_pdq,
    pairwise=pdq_pairwise,
    compare=pdq_compare,
    params=(),
    # PDQ filters everything down to 64x64; 256 px keeps the box filters well fed while a JPEG draft stays cheap
    input_size=256,
    version="1",
    reference_atol=0.0,
    source="https://github.com/facebook/ThreatExchange/tree/main/pdq",
    extra={"quality": pdq_quality, "min_quality": MIN_QUALITY,
           "quality_note": "PDQ quality below 50: too little detail to match on (Meta's cut)"},
)
