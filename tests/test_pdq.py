"""PDQ: golden values against the pdqhash package itself, the row layout, the quality flag and its threshold."""
from __future__ import annotations

import numpy as np
import pdqhash
import pytest
from PIL import Image

from core.encoding import Features
from core.methods import METHODS
from core.methods.pdq import HASH_BYTES, MATCH_BITS, MIN_QUALITY, pdq_quality
from core.quality import low_quality_mask, split_low_quality
from tests.photos import near_copy, photo

PDQ = METHODS["pdq"]


def _package_hash(img):
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(img.convert("RGB"))))
    return np.asarray(bits, dtype=bool), int(quality)


def test_registered_with_metas_threshold():
    spec = PDQ.threshold_spec()
    assert PDQ.family == "hash" and not PDQ.higher_is_closer
    assert (spec.min, spec.max, spec.default) == (0, 256, 31) and MATCH_BITS == 31
    assert MIN_QUALITY == 50


@pytest.mark.parametrize("name", ["cat", "coffee"])
def test_rows_are_the_packages_bits_and_quality(name):
    img = photo(name)
    bits, quality = _package_hash(img)
    row = PDQ.encode([img])[0]
    assert row.shape == (HASH_BYTES + 1,) and row.dtype == np.uint8
    np.testing.assert_array_equal(np.unpackbits(row[:HASH_BYTES]).astype(bool), bits)
    assert row[HASH_BYTES] == quality
    assert pdq_quality(row[None])[0] == quality


def test_distances_equal_package_hamming():
    imgs = [photo("cat"), near_copy(photo("cat")), photo("coffee")]
    H = np.stack([_package_hash(im)[0] for im in imgs])
    want = (H[:, None, :] != H[None, :, :]).sum(axis=2)
    got = PDQ.pairwise(PDQ.encode(imgs), PDQ.encode(imgs))
    np.testing.assert_array_equal(got, want)
    # golden: the near copy is a few bits away, the unrelated photo about half of 256
    assert got[0, 1] == 6 and got[0, 2] == 120


def test_flat_image_flagged_low_quality():
    flat = Image.new("RGB", (200, 150), (128, 128, 128))
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (150, 1))).convert("RGB")
    rows = PDQ.encode([photo("cat"), flat, gradient])
    q = pdq_quality(rows)
    assert q[0] >= MIN_QUALITY and q[1] < MIN_QUALITY
    assert list(low_quality_mask(PDQ, rows)) == [False, True, bool(q[2] < MIN_QUALITY)]
    f = Features(method=PDQ, params={}, data=rows, names=["cat", "flat", "grad"], content_ids=["a", "b", "c"])
    kept, flagged = split_low_quality(f)
    assert "flat" in [x["name"] for x in flagged] and "flat" not in kept.names and "cat" in kept.names
    assert len(kept) + len(flagged) == len(f) and kept.data.shape[0] == len(kept.names)


def test_methods_without_quality_flag_nothing():
    m = METHODS["ahash"]
    rows = m.encode([Image.new("RGB", (64, 64))])
    assert not low_quality_mask(m, rows).any()
