"""Invariance modes: exact scores for pixel-exact rotations/mirrors, symmetry, batch == reference, every method."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from PIL import Image

from core.invariance import MODES, TRANSFORMS, invariant, n_variants, variants
from core.methods import METHODS, REGISTRY
from tests.photos import near_copy, photo

T = Image.Transpose
EXACT = [T.ROTATE_90, T.ROTATE_180, T.ROTATE_270, T.FLIP_LEFT_RIGHT, T.FLIP_TOP_BOTTOM, T.TRANSPOSE, T.TRANSVERSE]
FAST = [m for m in REGISTRY if m.name != "ssim"]  # SSIM rows are 384 KB x 8: covered by one small test below


def png_roundtrip(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


@pytest.fixture(scope="module")
def cat():
    return photo("cat")


def test_modes_and_counts():
    assert MODES == ("none", "flips", "dihedral")
    assert [n_variants(m) for m in MODES] == [1, 2, 8]
    with pytest.raises(ValueError, match="valid"):
        n_variants("sideways")
    assert invariant(METHODS["ahash"], "none") is METHODS["ahash"]


def test_dihedral_variants_are_a_group(cat):
    """The 8 variants of a rotated copy are the 8 variants of the original, in another order (exact pixels)."""
    small = cat.resize((37, 23))
    orig = {np.asarray(v).tobytes() for v in variants(small, "dihedral")}
    assert len(orig) == 8
    for t in EXACT:
        assert {np.asarray(v).tobytes() for v in variants(small.transpose(t), "dihedral")} == orig


@pytest.mark.parametrize("m", [pytest.param(m, id=m.name) for m in FAST])
def test_transformed_copy_scores_as_the_original(m, cat):
    """Under dihedral a rot90/180/270, mirror, flip, transpose copy (PNG round trip) scores as the original itself:
    exactly for hashes and pixels, within 1e-5 for the CNN."""
    w = invariant(m, "dihedral")
    p = w.default_params()
    copies = [png_roundtrip(cat.transpose(t)) for t in EXACT]
    F = w.encode([cat] + copies, **p)
    P = w.pairwise(F[:1], F, **p)[0]
    tol = 1e-5 if m.family == "cnn" else 0.0
    np.testing.assert_allclose(P[1:], P[0], atol=tol)
    plain = m.pairwise(*(2 * [m.encode([cat, copies[0]], **p)]), **p)[0, 1]
    assert m.closeness(plain) < m.closeness(P[1]) or np.isclose(plain, P[1])


@pytest.mark.parametrize("m", [pytest.param(m, id=m.name) for m in FAST])
def test_flips_mode_catches_mirror_only(m, cat):
    w = invariant(m, "flips")
    p = w.default_params()
    mirror = cat.transpose(T.FLIP_LEFT_RIGHT)
    F = w.encode([cat, mirror], **p)
    P = w.pairwise(F, F, **p)
    tol = 1e-5 if m.family == "cnn" else 0.0
    np.testing.assert_allclose(P[0, 1], P[0, 0], atol=tol)


@pytest.mark.parametrize("mode", ["flips", "dihedral"])
@pytest.mark.parametrize("name", ["pdq", "ahash", "cosine", "cnn-cosine"])
def test_contract_symmetric_batch_equals_reference(name, mode, cat):
    w = invariant(METHODS[name], mode)
    p = w.default_params()
    imgs = [cat, near_copy(cat).transpose(T.ROTATE_90), photo("coffee")]
    F = w.encode(imgs, **p)
    assert F.shape[0] == 3
    P = w.pairwise(F, F, **p)
    assert P.shape == (3, 3) and P.dtype == np.float64
    np.testing.assert_allclose(P, P.T, atol=1e-6)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        ref = w.compare(imgs[i], imgs[j], **p)
        assert P[i, j] == pytest.approx(ref, abs=max(w.reference_atol, 1e-6 if w.family == "cnn" else 0))
    # the copy rotated by 90 degrees is a match under dihedral
    if mode == "dihedral":
        assert w.is_match(P[0, 1], w.threshold_spec().default)


def test_ssim_dihedral_small(cat):
    w = invariant(METHODS["ssim"], "dihedral")
    p = w.resolve_params({"size": 64})
    F = w.encode([cat, cat.transpose(T.ROTATE_270)], **p)
    assert w.pairwise(F, F, **p)[0, 1] == pytest.approx(1.0)


def test_wrapped_record_keeps_identity_but_not_cache_key():
    m = METHODS["phash"]
    w = invariant(m, "dihedral")
    assert w.name == m.name and w.unit == m.unit and w.threshold_spec() == m.threshold_spec()
    assert w.params_key() != m.params_key() and w.params_key() != invariant(m, "flips").params_key()
    assert invariant(w, "dihedral") is w
    assert pickle.loads(pickle.dumps(w)).params_key() == w.params_key()  # travels to encoding workers


def test_pairwise_blocks_bounded(monkeypatch, cat):
    """The block loop gives the same scores whatever the block size."""
    import core.invariance as inv

    w = invariant(METHODS["ahash"], "dihedral")
    imgs = [cat, photo("coffee"), near_copy(cat), cat.transpose(T.ROTATE_180)]
    F = w.encode(imgs, hash_size=8)
    full = w.pairwise(F, F, hash_size=8)
    monkeypatch.setattr(inv, "BLOCK_BYTES", 1)
    np.testing.assert_array_equal(w.pairwise(F, F, hash_size=8), full)


def test_transform_table_identity_first():
    for mode, ts in TRANSFORMS.items():
        assert ts[0] is None
