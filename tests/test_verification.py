"""Geometric verification: crops to half the area and perspective re-shots verify; a shared logo or a shared
tiled background between two different photos does not; features are extracted once per image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import transforms as T
from core.verification import LocalFeatureStore, VerifyConfig, extract, verify_features, verify_images

SOURCES = Path(__file__).resolve().parents[1] / "data" / "demo" / "sources"


def src(name: str, size=(640, 480)) -> Image.Image:
    with Image.open(SOURCES / f"{name}.jpg") as im:
        return im.convert("RGB").resize(size, Image.Resampling.BILINEAR)


@pytest.fixture(scope="module")
def coffee():
    return src("coffee", (600, 400))


def crop_area(img, share: float, corner: bool):
    w, h = img.size
    cw, ch = round(w * share ** 0.5), round(h * share ** 0.5)
    x0, y0 = (0, 0) if corner else ((w - cw) // 2, (h - ch) // 2)
    return img.crop((x0, y0, x0 + cw, y0 + ch))


@pytest.mark.parametrize("share,corner", [(0.5, True), (0.5, False), (0.6, False), (0.8, True)])
def test_crops_down_to_half_the_area_verify(coffee, share, corner):
    v = verify_images(coffee, crop_area(coffee, share, corner))
    assert v.verified, v.reason
    assert v.inliers >= VerifyConfig().min_inliers
    # the matched region in the original lies inside the crop's place and covers most of it
    (x0, y0), (x1, y1) = v.region_a.min(axis=0), v.region_a.max(axis=0)
    w, h = coffee.size
    assert (x1 - x0) * (y1 - y0) >= 0.5 * share * w * h


@pytest.mark.parametrize("steps", [[("perspective", 0.3)], [("tilt", 0.3), ("rotation", 8)],
                                   [("perspective", -0.35), ("crop", 0.15), ("brightness", 0.8)]])
def test_perspective_reshots_verify(coffee, steps):
    shot = coffee
    for name, s in steps:
        shot = T.apply(shot, name, s)
    v = verify_images(coffee, shot)
    assert v.verified, v.reason
    assert v.region_b is not None and v.region_b.shape == (4, 2)


def test_warp_perspective_reshot_verifies():
    import cv2

    img = src("astronaut")
    a = np.asarray(img)
    h, w = a.shape[:2]
    quad = np.float32([[60, 30], [w - 20, 0], [w - 70, h - 10], [10, h - 50]])
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), quad)
    shot = Image.fromarray(cv2.warpPerspective(a, M, (w, h)))
    v = verify_images(img, shot)
    assert v.verified, v.reason
    # the reported region in b is the warped box: its corners lie near the warped image's corners
    assert np.all(np.abs(v.region_b - cv2.perspectiveTransform(v.region_a.reshape(-1, 1, 2), M).reshape(-1, 2))
                  < 12)


def with_logo(img: Image.Image, logo: Image.Image) -> Image.Image:
    out = img.copy()
    out.paste(logo, (out.width - logo.width - 8, 8))
    return out


@pytest.mark.parametrize("share", [0.25, 0.35])
def test_shared_logo_does_not_verify(share):
    """Two different photos with the same (textured, photographic) logo in a corner."""
    logo = src("rocket", (round(640 * share), round(480 * share)))
    a, b = with_logo(src("astronaut"), logo), with_logo(src("chelsea"), logo)
    v = verify_images(a, b)
    assert not v.verified
    # the logo itself does match: this is the coverage rule at work, not a lack of matches
    assert v.matches >= 10


def on_background(photo: Image.Image, tile: Image.Image, share: float, offset: int = 0) -> Image.Image:
    W, H = 800, 600
    bg = Image.new("RGB", (W, H))
    for y in range(-tile.height, H, tile.height):
        for x in range(-tile.width, W, tile.width):
            bg.paste(tile, (x + offset, y + offset))
    pw, ph = round(W * share ** 0.5), round(H * share ** 0.5)
    bg.paste(photo.resize((pw, ph)), ((W - pw) // 2, (H - ph) // 2))
    return bg


@pytest.mark.parametrize("tile,size,offset", [("brick", 64, 0), ("gravel", 96, 0), ("gravel", 96, 37),
                                              ("text", 120, 0), ("grass", 160, 0), ("coffee", 200, 37)])
def test_shared_tiled_background_does_not_verify(tile, size, offset):
    """Two different photos on the same tiled backdrop (same phase, or shifted as by another shot)."""
    t = src(tile, (size, size))
    a = on_background(src("astronaut"), t, 0.5)
    b = on_background(src("chelsea"), t, 0.5, offset)
    assert not verify_images(a, b).verified


def test_same_photo_on_backdrop_verifies():
    """Control for the test above: the same photo on the same backdrop verifies."""
    t = src("gravel", (96, 96))
    a = on_background(src("astronaut"), t, 0.5)
    b = on_background(src("astronaut"), t, 0.5)
    assert verify_images(a, T.apply(b, "jpeg", 60)).verified


@pytest.mark.parametrize("t", [Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM,
                               Image.Transpose.TRANSPOSE])
def test_mirrored_copies_verify(coffee, t):
    """SIFT descriptors are not mirror-invariant: the check also tries b mirrored and maps the region back."""
    copy = crop_area(coffee, 0.6, False).transpose(t)
    v = verify_images(coffee, copy)
    assert v.verified and v.mirrored, v.reason
    assert np.all(v.region_b >= -2) and np.all(v.region_b[:, 0] <= copy.width + 2)


def test_unrelated_photos_do_not_verify():
    assert not verify_images(src("astronaut"), src("chelsea")).verified
    assert not verify_images(src("coffee"), src("clock")).verified


def test_flat_images_do_not_verify_or_crash():
    flat = Image.new("RGB", (300, 200), (200, 200, 200))
    v = verify_images(flat, flat)
    assert not v.verified and v.inliers == 0
    assert v.to_json()["verified"] is False


def test_to_json_fields(coffee):
    j = verify_images(coffee, crop_area(coffee, 0.6, False)).to_json()
    assert set(j) >= {"inliers", "verified", "reason", "coverage", "region_a", "region_b"}
    assert isinstance(j["inliers"], int) and j["verified"] is True and len(j["region_b"]) == 4


def test_store_extracts_once_per_image_and_survives_bad_files(coffee):
    imgs = {"a": coffee, "b": crop_area(coffee, 0.5, True), "c": src("clock")}
    calls = []

    def load(key):
        calls.append(key)
        if key == "bad":
            raise OSError("unreadable")
        return imgs[key]

    store = LocalFeatureStore(load)
    assert store.verify("a", "b").verified
    assert not store.verify("a", "c").verified
    assert not store.verify("b", "c").verified
    v = store.verify("a", "bad")
    assert not v.verified and v.reason == "unreadable"
    # features once per image (and once for its mirror image, tried when the plain check fails), not per pair
    assert store.extracted <= 2 * 4
    assert sorted(set(calls)) == ["a", "b", "bad", "c"] and len(calls) == store.extracted
    n = store.extracted
    store.verify("a", "c")
    store.verify("b", "c")
    assert store.extracted == n  # nothing recomputed for pairs of known images


def test_store_is_bounded(coffee):
    store = LocalFeatureStore(lambda k: coffee, max_bytes=1)
    for k in range(5):
        store.get(k)
    assert len(store) <= 2


def test_extract_bounded_size():
    big = src("coffee", (2400, 1600))
    f = extract(big)
    assert max(f.size) == VerifyConfig().max_side and f.scale == pytest.approx(2400 / 640)
    assert f.desc.dtype == np.uint8 and len(f.xy) <= VerifyConfig().max_keypoints
    v = verify_features(f, extract(crop_area(big, 0.5, True)))
    assert v.verified and v.region_a.max() > 640  # regions are reported in original pixels
