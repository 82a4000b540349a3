"""Contract tests for the transform registry (core.transforms), parametrised over every entry."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import transforms as T
from core.transforms import TRANSFORMS

SOURCES = Path(__file__).resolve().parent.parent / "data" / "demo" / "sources"
NAMES = list(TRANSFORMS)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(SOURCES / "chelsea.jpg") as im:  # 451x300 colour photo (CC0)
        return im.convert("RGB")


@pytest.fixture(scope="module")
def odd() -> Image.Image:
    """Small synthetic image with odd, non-square size and saturated colours (edge cases)."""
    y, x = np.mgrid[0:61, 0:97]
    arr = np.stack([x * 255 // 96, y * 255 // 60, ((x + y) % 7) * 36], axis=-1).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def _far_strengths(t: T.Transform) -> list[float]:
    """The strengths farthest from identity: the end of the sweep and both range ends (if not identity)."""
    out = {t.sweep[-1]}
    out.update(s for s in (t.min, t.max) if s != t.identity)
    return sorted(out)


# ------------------------------------------------------------------------------------------- registry
def test_registry_has_required_families():
    required = {"rotation", "crop", "perspective", "scale", "aspect", "brightness", "contrast", "gamma", "blur",
                "noise", "jpeg", "hflip", "grayscale", "hue", "overlay"}
    assert required <= set(TRANSFORMS)


@pytest.mark.parametrize("name", NAMES)
def test_registry_fields_sane(name):
    t = TRANSFORMS[name]
    assert t.name == name and t.label and t.description and t.unit
    assert t.min < t.max and t.step > 0
    assert t.min <= t.default <= t.max
    assert t.min <= t.identity <= t.max
    assert t.default != t.identity, "the default should do something visible"
    assert len(t.sweep) >= 2 and t.sweep[0] == t.identity
    assert all(t.min <= s <= t.max for s in t.sweep)
    # monotonic away from identity: increasing for most, decreasing for scale/jpeg (identity at the top)
    diffs = np.diff(t.sweep)
    assert np.all(diffs > 0) or np.all(diffs < 0)
    sev = [T.severity(name, s) for s in t.sweep]
    assert sev[0] == 0 and all(a < b for a, b in zip(sev, sev[1:])) and max(sev) <= 1


def test_sweep_direction_documented():
    decreasing = {n for n, t in TRANSFORMS.items() if t.sweep[-1] < t.sweep[0]}
    assert decreasing == {"scale", "jpeg"}


# ---------------------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("name", NAMES)
def test_identity_strength_is_identity(name, photo, odd):
    t = TRANSFORMS[name]
    for img in (photo, odd):
        out = T.apply(img, name, t.identity)
        assert out.size == img.size and out.mode == "RGB"
        diff = np.abs(_arr(out) - _arr(img))
        if name == "jpeg":  # a real encode/decode at quality 100 (4:4:4): rounding in the DCT
            assert diff.max() <= 4 and diff.mean() < 0.5
        else:
            assert diff.max() <= 1


@pytest.mark.parametrize("name", NAMES)
def test_far_strength_changes_image(name, photo):
    t = TRANSFORMS[name]
    for s in _far_strengths(t):
        out = T.apply(photo, name, s)
        if out.size != photo.size:
            continue  # crop / scale / aspect: a different size is a change
        assert np.abs(_arr(out) - _arr(photo)).mean() > 2, (name, s)


@pytest.mark.parametrize("name", NAMES)
def test_rgb_out_and_input_untouched(name, photo, odd):
    t = TRANSFORMS[name]
    before = odd.tobytes()
    for s in t.sweep:
        out = T.apply(odd, name, s)
        assert out.mode == "RGB" and out.width >= 1 and out.height >= 1
        assert out is not odd
    assert odd.tobytes() == before


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name, photo):
    t = TRANSFORMS[name]
    a = T.apply(photo, name, t.default).tobytes()
    b = T.apply(photo.copy(), name, t.default).tobytes()
    assert a == b


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_apply_converts_other_modes(mode, odd):
    img = odd.convert(mode)
    out = T.apply(img, "rotation", 10)
    assert out.mode == "RGB" and out.size == odd.size


def test_apply_rejects_bad_input(photo):
    with pytest.raises(KeyError, match="known"):
        T.apply(photo, "no-such-transform", 1)
    with pytest.raises(ValueError, match="outside"):
        T.apply(photo, "rotation", 400)


# ------------------------------------------------------------------------------------------ geometry
@pytest.mark.parametrize("name", ["rotation", "perspective", "tilt", "hflip"])
def test_geometry_keeps_canvas(name, odd):
    for s in TRANSFORMS[name].sweep:
        assert T.apply(odd, name, s).size == odd.size


def test_sizes_of_resizing_transforms(photo):
    w, h = photo.size
    assert T.apply(photo, "crop", 0.2).size == (round(w * 0.8), round(h * 0.8))
    assert T.apply(photo, "scale", 0.5).size == (round(w * 0.5), round(h * 0.5))
    assert T.apply(photo, "aspect", 1.5).size == (round(w * 1.5), h)


def test_rotation_fills_white_corners(photo):
    out = _arr(T.apply(photo, "rotation", 30))
    assert (out[0, 0] >= 250).all() and (out[-1, -1] >= 250).all()


def test_hflip_is_mirror(odd):
    assert np.array_equal(_arr(T.apply(odd, "hflip", 1)), _arr(odd)[:, ::-1])


def test_hue_120_permutes_channels(odd):
    # rotation by 120 degrees about the grey axis is the cyclic permutation R -> G -> B
    out = _arr(T.apply(odd, "hue", 120))
    assert np.abs(out - np.roll(_arr(odd), 1, axis=-1)).max() <= 1


def test_grayscale_full_is_grey(photo):
    out = _arr(T.apply(photo, "grayscale", 1.0))
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1


def test_perspective_coefficients_map_points():
    dst = np.array([(0, 0), (100, 10), (100, 90), (0, 100)], float)
    src = np.array([(0, 0), (100, 0), (100, 100), (0, 100)], float)
    a, b, c, d, e, f, g, h = T.perspective_coefficients(dst, src)
    for (x, y), (X, Y) in zip(dst, src):
        den = g * x + h * y + 1
        assert np.allclose([(a * x + b * y + c) / den, (d * x + e * y + f) / den], [X, Y])
    ident = T.perspective_coefficients(src, src)
    assert np.allclose(ident, [1, 0, 0, 0, 1, 0, 0, 0], atol=1e-12)


def test_perspective_sign_chooses_far_edge(photo):
    right = _arr(T.apply(photo, "perspective", 0.4))
    left = _arr(T.apply(photo, "perspective", -0.4))
    assert (right[0, -1] >= 250).all() and not (right[0, 0] >= 250).all()
    assert (left[0, 0] >= 250).all() and not (left[0, -1] >= 250).all()


def test_noise_is_seeded_and_unbiased(photo):
    a = _arr(T.apply(photo, "noise", 10))
    assert np.array_equal(a, _arr(T.apply(photo, "noise", 10)))
    assert abs(float((a - _arr(photo)).mean())) < 1.0


def test_jpeg_quality_degrades_monotonically(photo):
    errs = [np.abs(_arr(T.apply(photo, "jpeg", q)) - _arr(photo)).mean() for q in TRANSFORMS["jpeg"].sweep]
    assert errs == sorted(errs)


def test_overlay_marks_bottom_right_only(photo):
    out = _arr(T.apply(photo, "overlay", 0.3))
    diff = np.abs(out - _arr(photo)).sum(-1)
    h, w = diff.shape
    assert diff[: h // 2].max() == 0 and diff[:, : w // 2].max() == 0  # top and left untouched
    assert (diff > 0).mean() > 0.01
