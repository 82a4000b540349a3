"""Contract tests, parametrised over the method registry: every method obeys the same record contract."""
from __future__ import annotations

import numpy as np
import pytest

from core.methods import ARTICLE, METHODS, REGISTRY, get, parse_methods
from tests.photos import near_copy, photo

ALL = [pytest.param(m, id=m.name) for m in REGISTRY]


@pytest.fixture(scope="module")
def imgs():
    cat, coffee = photo("cat"), photo("coffee")
    return {"cat": cat, "cat2": near_copy(cat), "coffee": coffee, "coffee2": near_copy(coffee)}


@pytest.fixture(scope="module")
def encoded(imgs):
    """Encode each test image once per method: {method name: (4, d) rows in the order cat, cat2, coffee, coffee2}."""
    order = ["cat", "cat2", "coffee", "coffee2"]
    return {m.name: m.encode([imgs[k] for k in order], **m.default_params()) for m in REGISTRY}


def test_registry_names_unique_and_complete():
    names = [m.name for m in REGISTRY]
    assert len(names) == len(set(names))
    for required in ("euclidean", "ssim", "ahash", "phash", "dhash", "whash", "colorhash", "cosine",
                     "cnn-euclidean", "cnn-cosine"):
        assert required in METHODS
    assert ARTICLE == ("euclidean", "ssim", "ahash", "cosine", "cnn-euclidean", "cnn-cosine")


def test_parse_methods():
    assert [m.name for m in parse_methods("article")] == list(ARTICLE)
    assert len(parse_methods("all")) == len(REGISTRY)
    assert [m.name for m in parse_methods("ahash, cosine")] == ["ahash", "cosine"]
    with pytest.raises(ValueError, match="valid"):
        parse_methods("nope")
    with pytest.raises(ValueError, match="valid"):
        get("nope")


@pytest.mark.parametrize("m", ALL)
def test_record_fields(m):
    assert m.label and m.summary and m.wins and m.fails and m.unit and m.source
    spec = m.threshold_spec()
    assert spec.min <= spec.default <= spec.max and spec.step > 0
    assert m.resolve_params() == m.default_params()
    with pytest.raises(ValueError):
        m.resolve_params({"no_such_param": 1})
    assert m.params_key() == m.params_key(m.default_params())


@pytest.mark.parametrize("m", ALL)
def test_encode_shape_and_pairwise_shape(m, encoded):
    F = encoded[m.name]
    assert F.ndim == 2 and F.shape[0] == 4 and F.shape[1] > 0
    P = m.pairwise(F[:3], F, **m.default_params())
    assert P.shape == (3, 4)
    assert P.dtype == np.float64
    assert np.all(np.isfinite(P))


@pytest.mark.parametrize("m", ALL)
def test_symmetry_and_identity(m, encoded):
    F = encoded[m.name]
    P = m.pairwise(F, F, **m.default_params())
    np.testing.assert_allclose(P, P.T, atol=1e-6)
    ident = 1.0 if m.higher_is_closer else 0.0
    np.testing.assert_allclose(np.diag(P), ident, atol=1e-4)
    assert np.all(m.is_match(np.diag(P), m.threshold_spec().default))


@pytest.mark.parametrize("m", ALL)
def test_batch_equals_reference(m, imgs, encoded):
    """The vectorised path (encode once, pairwise) equals the article-style per-pair reference."""
    F = encoded[m.name]
    P = m.pairwise(F, F, **m.default_params())
    keys = ["cat", "cat2", "coffee", "coffee2"]
    for i, j in [(0, 1), (0, 2), (1, 3)]:
        ref = m.compare(imgs[keys[i]], imgs[keys[j]], **m.default_params())
        assert P[i, j] == pytest.approx(ref, abs=m.reference_atol, rel=1e-6 if m.reference_atol else 0)


@pytest.mark.parametrize("m", ALL)
def test_near_copy_closer_than_unrelated(m, encoded):
    F = encoded[m.name]
    P = m.pairwise(F, F, **m.default_params())
    c = m.closeness(P)
    assert c[0, 1] > c[0, 2], "cat's near copy must be closer than the coffee photo"
    assert c[2, 3] > c[2, 1], "coffee's near copy must be closer than the cat's copy"


@pytest.mark.parametrize("m", ALL)
def test_order_and_is_match_follow_direction(m):
    s = np.array([0.2, 0.9, 0.5])
    order = m.order(s)
    assert list(order) == ([1, 2, 0] if m.higher_is_closer else [0, 2, 1])
    assert list(m.is_match(s, 0.5)) == ([False, True, True] if m.higher_is_closer else [True, False, True])


# Golden values: pinned scores for the test photos, so a silent change in an encoder shows up.
GOLDEN = {
    # method: (cat vs near copy, cat vs coffee)
    "euclidean": (0.7162742682618767, 14.676631300939393),
    "ssim": (0.984352403105841, 0.11641596278911874),
    "ahash": (0.0, 32.0),
    "cosine": (0.9999655868460195, 0.8435692610243424),
    "cnn-euclidean": (4.018958427323918, 19.718990927564878),
    "cnn-cosine": (0.962006066834536, 0.11582836696849373),
    "phash": (0.0, 30.0),
    "dhash": (1.0, 38.0),
    "whash": (0.0, 38.0),
    "colorhash": (0.0, 7.0),
    "pdq": (6.0, 120.0),
}


@pytest.mark.parametrize("m", ALL)
def test_golden_values(m, encoded):
    F = encoded[m.name]
    P = m.pairwise(F, F, **m.default_params())
    near, far = GOLDEN[m.name]
    tol = 1e-3 if m.family == "cnn" else 1e-6
    assert P[0, 1] == pytest.approx(near, abs=tol)
    assert P[0, 2] == pytest.approx(far, abs=tol)


def test_euclidean_implementations_identical(imgs):
    m = METHODS["euclidean"]
    a, b = imgs["cat"], imgs["coffee"]
    assert m.compare(a, b, implementation="numpy") == pytest.approx(m.compare(a, b, implementation="scipy"),
                                                                    abs=1e-12)


def test_pixels_never_wrap_uint8():
    """uint8 arithmetic would make 0 - 255 == 1; the float path must give the true distance."""
    from PIL import Image
    black = Image.new("RGB", (32, 32), (0, 0, 0))
    white = Image.new("RGB", (32, 32), (255, 255, 255))
    m = METHODS["euclidean"]
    F = m.encode([black, white], size=32)
    d = m.pairwise(F, F, size=32)[0, 1]
    assert d == pytest.approx(np.sqrt(32 * 32 * 3))
    assert m.compare(black, white, size=32) == pytest.approx(d)


def test_hash_sizes_change_bits(imgs):
    m = METHODS["ahash"]
    for hs in (4, 8, 16):
        F = m.encode([imgs["cat"]], hash_size=hs)
        assert F.shape[1] * 8 >= hs * hs
        assert m.threshold_spec({"hash_size": hs}).max == hs * hs
