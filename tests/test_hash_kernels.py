"""The batch hash kernels (core.methods.hash_kernels) give imagehash 4.3.2's bits exactly.

Every hash, every hash size the app offers (the ``hash_size`` choices of each registered hash method), on
thousands of random images (random sizes and modes; noise, flat images, gradients, a few grey levels - the last
three are where medians and means tie) and on every real photo in the repository (the shared development sets are for benchmarks, never for tests).
"""
from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.images import ImageError, open_image
from core.methods import get
from core.methods import hash_kernels as K
from core.methods.hashing import hash_bits as reference_bits

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("ahash", "phash", "dhash", "whash", "colorhash")
# the sizes the app offers, read from the registry (so a new choice is tested without editing this file)
SIZES = {k: tuple(next(p for p in get(k).params if p.name == "hash_size").choices) for k in KINDS}
MODES = ("RGB", "L", "RGBA", "P")
# full-size decodes only for files below this (the few multi-megapixel photos would dominate the test's time; the
# drafted pass covers them)
FULL_SIZE_MAX_BYTES = 400_000
CONTENTS = ("noise", "flat", "hgrad", "vgrad", "dgrad", "levels", "blocks", "stripes")


def test_sizes_read_from_the_registry():
    assert SIZES["ahash"] == (4, 6, 8, 12, 16) and SIZES["whash"] == (4, 8, 16) and 8 in SIZES["colorhash"]


def make_image(rng: np.random.Generator, w: int, h: int, mode: str, content: str) -> Image.Image:
    """A synthetic test image of one of the ``CONTENTS`` kinds, in ``mode``."""
    ch = 4 if mode == "RGBA" else 3
    if content == "noise":
        a = rng.integers(0, 256, (h, w, ch))
    elif content == "flat":
        a = np.broadcast_to(rng.integers(0, 256, (1, 1, ch)), (h, w, ch))
    elif content in ("hgrad", "vgrad", "dgrad"):
        x = np.linspace(0, 1, w)[None, :] if content != "vgrad" else np.zeros((1, w))
        y = np.linspace(0, 1, h)[:, None] if content != "hgrad" else np.zeros((h, 1))
        lo, hi = rng.integers(0, 256, (2, ch))
        t = ((x + y) / (2 if content == "dgrad" else 1))[..., None]
        a = lo + (hi - lo) * t
    elif content == "levels":  # a handful of grey/colour levels: many equal pixels, equal DCT coefficients
        pal = rng.integers(0, 256, (int(rng.integers(2, 4)), ch))
        a = pal[rng.integers(0, len(pal), (h, w))]
    elif content == "blocks":  # a flat image with one flat rectangle
        a = np.broadcast_to(rng.integers(0, 256, (1, 1, ch)), (h, w, ch)).copy()
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        a[y0:y0 + max(1, h // 3), x0:x0 + max(1, w // 3)] = rng.integers(0, 256, ch)
    else:  # stripes: period-2 pattern, the worst case for the resampler's ringing
        a = np.zeros((h, w, ch)) + rng.integers(0, 256, ch) * (np.arange(w) % 2)[None, :, None]
    a = np.clip(np.asarray(a, dtype=np.float64), 0, 255).astype(np.uint8)
    img = Image.fromarray(a, "RGBA" if ch == 4 else "RGB")
    if mode == "L":
        return img.convert("L")
    if mode == "P":
        return img.convert("P", palette=Image.Palette.ADAPTIVE, colors=int(rng.integers(2, 64)))
    return img


def assert_same_bits(images, kind: str, size: int, where: str = ""):
    got = K.hash_bits(kind, images, size)
    for i, img in enumerate(images):
        ref = reference_bits(kind, img, size)
        assert np.array_equal(got[i], ref), (
            f"{kind} hash_size={size} differs from imagehash on image {i} {where}(mode {img.mode}, size "
            f"{img.size}): {np.flatnonzero(got[i] != ref).tolist()}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 32 - 1), w=st.integers(1, 160), h=st.integers(1, 160),
       mode=st.sampled_from(MODES), content=st.sampled_from(CONTENTS))
def test_property_every_hash_every_size(seed, w, h, mode, content):
    img = make_image(np.random.default_rng(seed), w, h, mode, content)
    for kind in KINDS:
        for size in SIZES[kind]:
            assert_same_bits([img], kind, size, f"seed={seed} content={content} ")


def test_bulk_random_batches():
    """2,000 seeded random images hashed as mixed batches (sizes, modes, contents), as encode() sees them."""
    rng = np.random.default_rng(20261202)
    images, tags = [], []
    for k in range(2000):
        w, h = (int(v) for v in rng.integers(1, 97, 2))
        mode, content = MODES[k % len(MODES)], CONTENTS[(k // len(MODES)) % len(CONTENTS)]
        images.append(make_image(rng, w, h, mode, content))
        tags.append(content)
    # hash sizes rotate over the batches so every size sees every content, at a fraction of the cost
    for kind in KINDS:
        for j, size in enumerate(SIZES[kind]):
            batch = images[j::len(SIZES[kind])]
            assert_same_bits(batch, kind, size, "in the bulk set ")


def _real_photos() -> list[Path]:
    dirs = [ROOT / "data" / "demo" / "sources", ROOT / "tests" / "data"]
    exts = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
    return sorted(p for d in dirs for p in d.rglob("*") if p.suffix.lower() in exts)


def test_real_photos_as_the_app_decodes_them():
    """Every real photo, decoded as encode_dataset does (RGB, JPEG drafted to the hashes' 128 px) and in full."""
    paths = _real_photos()
    assert len(paths) >= 14
    drafted, full = [], []
    for p in paths:
        try:
            drafted.append(open_image(str(p), target_size=128))
            if p.stat().st_size < FULL_SIZE_MAX_BYTES:
                full.append(open_image(str(p)))
        except ImageError:
            continue  # a file Pillow cannot open is not a hash question
    assert len(drafted) >= 14
    for kind in KINDS:
        for size in SIZES[kind]:
            assert_same_bits(drafted, kind, size, "(real photo, drafted) ")
            if size == get(kind).default_params()["hash_size"]:
                assert_same_bits(full, kind, size, "(real photo, full size) ")


def test_real_photos_in_their_own_modes():
    """The files' own Pillow modes (P, L, RGBA, CMYK...): the kernels convert exactly as imagehash does."""
    images = []
    for p in _real_photos():
        try:
            if p.stat().st_size >= FULL_SIZE_MAX_BYTES:
                continue
            with Image.open(p) as im:
                im.load()
                images.append(im.copy())
        except Exception:  # noqa: BLE001 - broken files are not what this test is about
            continue
    assert {im.mode for im in images} >= {"RGB"}
    for kind in KINDS:
        assert_same_bits(images, kind, get(kind).default_params()["hash_size"], "(real photo, own mode) ")


@pytest.mark.parametrize("kind", KINDS)
def test_encode_packs_the_kernel_bits(kind):
    """The registry's encode() (packed rows) equals imagehash's bits packed, image by image, in one mixed batch."""
    rng = np.random.default_rng(1)
    images = [make_image(rng, int(rng.integers(20, 300)), int(rng.integers(20, 300)), "RGB", c) for c in CONTENTS]
    m = get(kind)
    for size in SIZES[kind]:
        rows = m.encode(images, hash_size=size)
        ref = np.packbits(np.stack([reference_bits(kind, im, size) for im in images]), axis=1)
        assert rows.dtype == np.uint8 and np.array_equal(rows, ref)
    assert m.encode([], hash_size=SIZES[kind][0]).shape[0] == 0


def test_too_small_hash_size_is_refused_like_imagehash():
    img = Image.new("RGB", (10, 10))
    for fn, ref in ((K.average_hash, imagehash.average_hash), (K.phash, imagehash.phash), (K.dhash, imagehash.dhash)):
        with pytest.raises(ValueError):
            ref(img, hash_size=1)
        with pytest.raises(ValueError):
            fn([img], 1)
