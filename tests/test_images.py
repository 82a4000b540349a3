"""core.images: decoding every odd/hostile case to upright 8-bit RGB, or a clear ImageError."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import corpus as C  # noqa: E402

from core import file_kinds  # noqa: E402
from core.images import ImageError, ImageInfo, open_image, probe, thumbnail  # noqa: E402

GOOD = [(n, d) for n, d, e in C.corpus_files() if e == "used"]
BAD = [(n, d, e.reason) for n, d, e in C.corpus_files()
       if e == "skipped" and e.reason not in ("hidden/system file", "labels file")]


@pytest.mark.parametrize("name,data", GOOD, ids=[n[:40] for n, _ in GOOD])
def test_good_files_decode_to_rgb(name, data):
    info = probe(data)
    im = open_image(data)
    assert isinstance(info, ImageInfo)
    assert im.mode == "RGB"
    assert im.size == (info.width, info.height)
    assert np.asarray(im).dtype == np.uint8


@pytest.mark.parametrize("name,data,reason", BAD, ids=[n for n, _, _ in BAD])
def test_bad_files_raise_image_error_with_reason(name, data, reason):
    with pytest.raises(ImageError) as ei:
        probe(data, verify=True)
    assert reason.lower() in ei.value.reason.lower()
    assert str(ei.value) == ei.value.reason
    if "truncated" not in reason:  # truncation is only visible with verify=True or a full decode
        with pytest.raises(ImageError):
            open_image(data)


def test_truncated_files_fail_full_decode_too():
    for data in (C.truncated(C.jpeg_bytes(200, 150)), C.truncated(C.png_bytes(200, 150))):
        with pytest.raises(ImageError, match="truncated"):
            open_image(data)


def test_reasons_name_the_file_kind():
    def reason(data):
        with pytest.raises(ImageError) as ei:
            probe(data)
        return ei.value.reason

    assert reason(C.PDF_BYTES) == "not an image (PDF document)"
    assert "SVG" in reason(C.SVG_BYTES)
    assert "executable" in reason(C.EXE_BYTES)
    assert "text" in reason(C.TEXT_BYTES)
    assert reason(b"") == "empty file"
    assert "ZIP" in reason(C.zip_bytes({"a": b"a"}))


def test_path_and_bytes_sources_agree(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(C.png_bytes())
    assert probe(p) == probe(str(p)) == probe(p.read_bytes())
    assert np.array_equal(np.asarray(open_image(p)), np.asarray(open_image(p.read_bytes())))
    with pytest.raises(ImageError, match="cannot read"):
        probe(tmp_path / "missing.jpg")


def test_png_named_jpg_is_read_by_content():
    assert probe(C.png_bytes()).format == "PNG"


def test_decompression_bomb_refused_without_allocating():
    saved = Image.MAX_IMAGE_PIXELS
    data = C.bomb_png_bytes()
    for fn in (probe, open_image):
        with pytest.raises(ImageError) as ei:
            fn(data)
        assert "50000x50000" in ei.value.reason and "too large" in ei.value.reason
    # Pillow's global is left alone
    assert Image.MAX_IMAGE_PIXELS == saved
    # a per-call limit is honoured both ways
    with pytest.raises(ImageError, match="too large"):
        probe(C.png_bytes(96, 64), max_pixels=1000)
    assert probe(data, max_pixels=None).width == 50_000


def test_exif_orientation_applied():
    data = C.exif_rotated_jpeg_bytes()
    raw = Image.open(io.BytesIO(data))
    assert raw.size == (40, 60)  # stored sideways
    info = probe(data)
    assert (info.width, info.height) == (60, 40)
    a = np.asarray(open_image(data)).astype(int)
    assert a.shape == (40, 60, 3)
    top, bottom = a[:15].mean(axis=(0, 1)), a[25:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60  # red on top: upright
    assert bottom[2] > 200 and bottom[0] < 60


def test_sixteen_bit_is_scaled_not_clipped():
    a = np.asarray(open_image(C.png16_bytes()))[0, :, 0].astype(int)
    assert probe(C.png16_bytes()).mode.startswith("I;16")
    assert a[0] == 0 and a[-1] == 255
    assert np.all(np.diff(a) >= 0)  # a ramp stays a ramp
    assert 100 < a[len(a) // 2] < 155  # mid-grey, not 255 (clipping would saturate)


def test_alpha_composited_on_white():
    pal = np.asarray(open_image(C.palette_transparent_png_bytes()))
    assert tuple(pal[5, 5]) == (255, 255, 255)  # transparent -> white
    assert tuple(pal[5, 30]) == (255, 0, 0)
    la = np.asarray(open_image(C.la_png_bytes()))
    assert tuple(la[5, 2]) == (255, 255, 255) and tuple(la[5, 30]) == (0, 0, 0)
    rgba = np.asarray(open_image(C.rgba_png_bytes()))
    assert tuple(rgba[2, 2]) == (255, 255, 255) and tuple(rgba[15, 2]) == (0, 0, 255)


def test_other_modes_to_rgb():
    cmyk = open_image(C.cmyk_jpeg_bytes())
    assert probe(C.cmyk_jpeg_bytes()).mode == "CMYK" and cmyk.mode == "RGB"
    ref = np.asarray(C.photo(80, 60, 3)).astype(int)
    assert np.abs(np.asarray(cmyk).astype(int) - ref).mean() < 12
    for mode in ("1", "L", "I", "F", "YCbCr", "P", "RGBA", "LA"):
        im = C.photo(16, 8).convert(mode) if mode not in ("I", "F") else C.photo(16, 8).convert("L").convert(mode)
        fmt = "TIFF"
        if mode == "YCbCr":
            fmt = "JPEG"
        try:
            data = C.encode(im, fmt)
        except OSError:
            data = C.encode(im, "PNG")
        out = open_image(data)
        assert out.mode == "RGB" and out.size == (16, 8), mode


def test_float_and_int32_scaling():
    f = Image.fromarray(np.linspace(0, 1, 32, dtype=np.float32).reshape(1, 32).repeat(4, 0), "F")
    a = np.asarray(open_image(C.encode(f, "TIFF")))[0, :, 0]
    assert a[0] == 0 and a[-1] == 255
    i = Image.fromarray(np.linspace(0, 65535, 32).astype(np.int32).reshape(1, 32).repeat(4, 0), "I")
    b = np.asarray(open_image(C.encode(i, "TIFF")))[0, :, 0]
    assert b[0] == 0 and b[-1] == 255 and 100 < b[16] < 155


@pytest.mark.parametrize("maker", [C.animated_gif_bytes, C.animated_webp_bytes, C.multipage_tiff_bytes])
def test_first_frame_of_animations(maker):
    data = maker()
    assert probe(data, count_frames=True).frames == 3
    assert probe(data).frames == (3 if maker is C.animated_webp_bytes else None)  # GIF/TIFF: not walked
    px = np.asarray(open_image(data))[5, 5].astype(int)
    assert px[0] > 200 and px[1] < 50 and px[2] < 50  # frame 0 is red


def test_heic():
    data = C.heic_bytes()
    if data is None:
        pytest.skip("pillow_heif cannot encode HEIF here")
    info = probe(data)
    assert info.format == "HEIF" and (info.width, info.height) == (64, 48)
    im = open_image(data)
    ref = np.asarray(C.photo(64, 48, 5)).astype(int)
    assert np.abs(np.asarray(im).astype(int) - ref).mean() < 10


def test_draft_keeps_both_sides_at_least_target():
    data = C.jpeg_bytes(800, 600, seed=3)
    for t in (1, 50, 100, 150, 299, 300, 301, 600, 1000):
        im = open_image(data, target_size=t)
        assert im.mode == "RGB"
        assert min(im.size) >= min(t, 600), (t, im.size)
        assert abs(im.size[0] * 600 - im.size[1] * 800) <= 800  # aspect kept (to the rounding of a reduction)
    assert open_image(data, target_size=100).size == (200, 150)  # 1/4: largest draft scale keeping >= 100
    # draft stops at 1/8 (100 x 75); the box reduction then keeps both sides >= 3 x 10
    assert open_image(data, target_size=10).size == (50, 38)


def test_every_format_is_reduced_right_after_decoding():
    """Not only JPEGs: any image is box-reduced to >= REDUCE_MARGIN x target per side, as ``fit`` says."""
    from core.downscale import REDUCE_MARGIN

    assert REDUCE_MARGIN == 3
    png = C.png_bytes(800, 600)
    assert open_image(png).size == (800, 600)  # no target: full resolution
    assert open_image(png, target_size=100).size == (400, 300)  # cover: both sides >= 300
    assert open_image(png, target_size=300).size == (800, 600)  # nothing to gain below 3 x target
    wide = C.encode(C.photo(3000, 300), "PNG")
    assert open_image(wide, target_size=50).size == (1500, 150)  # cover: the short side limits
    assert open_image(wide, target_size=50, fit="stretch").size == (150, 150)  # each axis on its own
    assert open_image(wide, target_size=50, fit="contain").size == (150, 15)  # long side >= 150
    # the reduction is a box mean of the full decode: same picture, only smaller
    full = np.asarray(open_image(png)).astype(float)
    small = np.asarray(open_image(png, target_size=100)).astype(float)
    assert np.abs(full.reshape(300, 2, 400, 2, 3).mean(axis=(1, 3)) - small).max() <= 0.5 + 1e-9
    with pytest.raises(ValueError, match="fit"):
        open_image(png, target_size=10, fit="squash")


def test_draft_with_exif_rotation_is_upright_and_big_enough():
    im = open_image(C.exif_rotated_jpeg_bytes(), target_size=10)
    assert im.size[0] > im.size[1] and min(im.size) >= 10


def test_tiny_and_thin_images():
    assert open_image(C.encode(Image.new("RGB", (1, 1)), "PNG")).size == (1, 1)
    thin = open_image(C.encode(C.photo(2, 2000), "PNG"))
    assert thin.size == (2, 2000)
    t = thumbnail(thin, 192)
    assert max(t.size) <= 192 and min(t.size) >= 1


def test_thumbnail():
    im = C.photo(400, 100)
    t = thumbnail(im, 192)
    assert t.size == (192, 48) and t.mode == "RGB" and im.size == (400, 100)
    assert thumbnail(C.photo(50, 20), 192).size == (50, 20)  # never enlarged


def test_verify_detects_truncated_webp():
    data = C.encode(C.photo(seed=3), "WEBP", quality=90)
    with pytest.raises(ImageError, match="truncated"):
        probe(data[:-10], verify=True)


def test_sniff_helpers():
    assert file_kinds.describe_bytes(b"%PDF-1.7") == "PDF document"
    assert file_kinds.describe_bytes(b"\x00\x00\x00\x18ftypmp42") == "MP4 video"
    assert file_kinds.describe_bytes(bytes(range(256))) is None


# ---- property tests: only ImageError ever escapes --------------------------------------------
SEEDS = [C.jpeg_bytes(48, 32), C.png_bytes(48, 32), C.encode(C.photo(48, 32), "GIF"),
         C.encode(C.photo(48, 32), "WEBP"), C.encode(C.photo(48, 32), "TIFF"),
         C.encode(C.photo(48, 32), "BMP"), C.png16_bytes(), C.animated_gif_bytes(),
         C.exif_rotated_jpeg_bytes()]
_heic = C.heic_bytes()
if _heic:
    SEEDS.append(_heic)
SMALL = 4_000_000  # corrupted headers may declare big sizes; keep allocations small and fast


def _only_image_error(data: bytes) -> None:
    for fn in (lambda d: probe(d, max_pixels=SMALL, verify=True),
               lambda d: open_image(d, max_pixels=SMALL),
               lambda d: open_image(d, target_size=16, max_pixels=SMALL)):
        try:
            out = fn(data)
        except ImageError as e:
            assert isinstance(e.reason, str) and e.reason
        else:
            if isinstance(out, Image.Image):
                assert out.mode == "RGB"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=512))
def test_random_bytes_only_raise_image_error(data):
    _only_image_error(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SEEDS))), st.data())
def test_corrupted_images_only_raise_image_error(i, draw):
    data = bytearray(SEEDS[i])
    n = draw.draw(st.integers(1, 8))
    for _ in range(n):
        op = draw.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw.draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw.draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos: pos + draw.draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw.draw(st.binary(min_size=1, max_size=16))
    _only_image_error(bytes(data))
