"""Regression tests from fuzzing the loaders (``bench/fuzz.py``, summary in ``bench/FUZZ.md``).

1. A short, derandomised replay of every fuzz property (the same code as the benchmark, a few hundred examples per
   target), so CI keeps checking "only ImageError / DatasetError, every file accounted for".
2. Hand-written inputs for the mutation classes the fuzzer exercises most (sizes in headers set to 0 / 65535 /
   2^31, broken chunk lengths, IFD offsets out of range, wrong CRCs, zip directories that lie), each pinned to
   its expected outcome.
3. The fuzzer's findings, each with the input it found (see ``bench/FUZZ.md``).
"""
from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corpus as C
from core import datasets as D
from core import images as I

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import fuzz as F  # noqa: E402

REPLAY = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def seeds():
    img = F._image_seeds()
    return img, F._zip_seeds(img)


# ------------------------------------------------------------------------------------------------ 1. replay
def _replay(prop_args, check):
    @REPLAY
    @given(st.tuples(*prop_args))
    def run(args):
        check(*args)
    run()


def test_replay_probe_and_open_image(seeds):
    img, _ = seeds
    names, pool = sorted(img), list(img.values())
    _replay((st.sampled_from(names), st.lists(F.mutation, max_size=6), st.sampled_from([None, 8, 224])),
            lambda s, m, t: (F.check_probe(F.mutate(img[s], m, pool)), F.check_open(F.mutate(img[s], m, pool), t)))


def test_replay_load_files(seeds):
    img, _ = seeds
    names, pool = sorted(img), list(img.values())
    _replay((st.lists(st.tuples(st.sampled_from(names), st.lists(F.mutation, max_size=3),
                                st.sampled_from(["a.jpg", "../b.png", ".x.jpg", "GROUND_TRUTH.csv", "c.zip"])),
                      min_size=1, max_size=4),),
            lambda entries: F.check_load_files([(f, F.mutate(img[s], m, pool)) for s, m, f in entries]))


def test_replay_load_zip(seeds):
    _, zips = seeds
    names, pool = sorted(zips), list(zips.values())
    _replay((st.sampled_from(names), st.lists(F.mutation, max_size=6)),
            lambda s, m: F.check_load_zip(F.mutate(zips[s], m, pool)))


# ------------------------------------------------------------------------------------------------ 2. pinned inputs
def _png_with_ihdr(w: int, h: int, depth: int = 8, colour: int = 2, idat: bytes | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    body = C.png_chunk(b"IHDR", ihdr) + C.png_chunk(b"IDAT", idat if idat is not None else zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + body + C.png_chunk(b"IEND", b"")


def _jpeg_sof(w: int, h: int) -> bytes:
    """A small real JPEG with its SOF0 width/height overwritten."""
    b = bytearray(C.jpeg_bytes(32, 24, seed=1))
    i = b.find(b"\xff\xc0")
    struct.pack_into(">HH", b, i + 5, h, w)
    return bytes(b)


def _gif_screen(w: int, h: int) -> bytes:
    b = bytearray(C.encode(C.photo(16, 12, 2), "GIF"))
    struct.pack_into("<HH", b, 6, w, h)  # logical screen
    j = b.find(b"\x2c")  # image descriptor
    struct.pack_into("<HH", b, j + 5, w, h)
    return bytes(b)


def _tiff_bad_ifd() -> bytes:
    b = bytearray(C.encode(C.photo(16, 12, 3), "TIFF"))
    struct.pack_into("<I", b, 4, 0x7FFFFFF0)  # first IFD offset far past the end
    return bytes(b)


BAD_IMAGES = {
    "png_zero_width": _png_with_ihdr(0, 10),
    "png_2^31_height": _png_with_ihdr(10, 0x80000000),
    "png_bad_depth": _png_with_ihdr(10, 10, depth=7),
    "png_bad_colour_type": _png_with_ihdr(10, 10, colour=5),
    "png_idat_garbage": _png_with_ihdr(10, 10, idat=b"\x78\x9c" + b"\xff" * 40),
    "png_bad_crc": C.png_bytes(seed=1)[:29] + b"\0\0\0\0" + C.png_bytes(seed=1)[33:],
    "jpeg_sof_zero": _jpeg_sof(0, 0),
    "jpeg_sof_65535": _jpeg_sof(65535, 65535),
    "gif_zero_screen": _gif_screen(0, 0),
    "tiff_ifd_out_of_range": _tiff_bad_ifd(),
    "bmp_header_only": b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 10, -10, 1, 24, 0,
                                                                                    0, 0, 0, 0, 0),
    "webp_riff_lies": b"RIFF\xff\xff\xff\x7fWEBPVP8 " + b"\0" * 20,
    "ico_zero_entries": b"\0\0\1\0\0\0",
    "only_magic_jpeg": b"\xff\xd8\xff",
    "only_magic_png": b"\x89PNG\r\n\x1a\n",
}


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_malformed_headers_only_raise_image_error(name):
    data = BAD_IMAGES[name]
    for call in (lambda: I.probe(data, verify=True), lambda: I.probe(data),
                 lambda: I.open_image(data, target_size=64)):
        try:
            out = call()
        except I.ImageError as e:
            assert e.reason
        else:  # a decoder may legitimately recover a picture; then it must be a real one
            assert out.width > 0 and out.height > 0
    ds = D.load_files([(f"{name}.img", data), ("ok.jpg", C.jpeg_bytes(seed=2))])
    assert ds.files_given == len(ds.items) + len(ds.skipped) == 2


# ------------------------------------------------------------------------------------------------ 3. findings
def _finding_one_px_png_flip() -> bytes:
    """bench/fuzz.py finding (open_image, "SilentDecode"): the corpus 1x1 PNG with one bit flipped at byte 41 —
    inside the zlib stream of IDAT, CRC not re-computed. Plain Pillow: "broken data stream"."""
    png = next(d for n, d, _ in C.corpus_files() if n == "odd/one_px.png")
    return F.mutate(png, [("flip", 41, 0, b"")], [])


@pytest.mark.parametrize("data", [_finding_one_px_png_flip(), BAD_IMAGES["png_idat_garbage"]],
                         ids=["one_px_png_bitflip", "png_idat_garbage"])
def test_finding_corrupt_png_is_not_decoded_as_a_blank_picture(data):
    """Was: open_image read the EXIF orientation before load(); PNG's getexif() loads the pixels, the decode error
    was swallowed by _orientation(), and the zero-filled buffer came out as a black image — a corrupt file used as
    a picture (and a false duplicate of every other such file). Fixed by reading the orientation after load()."""
    with pytest.raises(I.ImageError, match="corrupt PNG"):
        I.open_image(data)
    with pytest.raises(I.ImageError):
        I.open_image(data, target_size=8)
    # through a dataset: the encoder lists it as skipped, with the reason, and accounts for every file
    from core.encoding import encode_dataset
    from core.methods import METHODS

    ds = D.load_files([("broken.png", data), ("ok.jpg", C.jpeg_bytes(seed=2))])
    feats = encode_dataset(ds, METHODS["ahash"], cache=False)
    assert len(feats) + len(ds.skipped) + len(feats.skipped) == 2
    assert [s.file for s in [*ds.skipped, *feats.skipped]] == ["broken.png"]


def test_exif_orientation_still_applied_after_the_fix():
    im = I.open_image(C.exif_rotated_jpeg_bytes())
    assert im.size == (60, 40)  # upright: 60 wide, red on top
    r, g, b = im.getpixel((30, 5))
    assert r > 200 and b < 60
    assert I.open_image(C.exif_rotated_jpeg_bytes(), target_size=8).size[0] > I.open_image(
        C.exif_rotated_jpeg_bytes(), target_size=8).size[1]


def test_finding_zip_entry_with_empty_name():
    """bench/fuzz.py finding (load_zip, "IndexError @ zipfile.py"): an entry whose name length is 0 made
    ``ZipInfo.is_dir()`` (``filename[-1]``) raise IndexError out of load_zip. Found by prefixing the encrypted-entry
    zip with 12 zero bytes and zeroing one 32-bit field of its central directory. Now: a file called "unnamed"."""
    enc = C.zip_encrypted()
    found = F.mutate(enc, [("insert", 0, 0, b"\x00" * 12), ("int32", 1 << 30, 0, b"")], [])
    ds = D.load_zip(found)
    assert ds.files_given == len(ds.items) + len(ds.skipped) == 2
    assert "unnamed" in [*ds.names(), *(s.file for s in ds.skipped)]
    hand = C.raw_zip([C.RawEntry(b"", C.jpeg_bytes(seed=1)), C.RawEntry(b"ok.jpg", C.jpeg_bytes(seed=2))])
    ds = D.load_zip(hand)
    assert sorted(ds.names()) == ["ok.jpg", "unnamed"] and not ds.skipped and ds.files_given == 2


def _zip_patched(offset_from: str, field: int, fmt: str, value: int) -> bytes:
    """A two-entry zip with one field of the end-of-central-directory / central directory patched."""
    b = bytearray(C.zip_bytes({"a.jpg": C.jpeg_bytes(seed=3), "b.png": C.png_bytes(seed=4)}))
    base = b.rfind(b"PK\x05\x06") if offset_from == "eocd" else b.find(b"PK\x01\x02")
    struct.pack_into(fmt, b, base + field, value)
    return bytes(b)


BAD_ZIPS = {  # name: (bytes, expected outcome)
    "eocd_count_lies": (_zip_patched("eocd", 10, "<H", 9999), "Dataset"),
    "eocd_cd_offset_past_end": (_zip_patched("eocd", 16, "<I", 0x7FFFFFFF), "Dataset"),  # every entry skipped
    "cd_local_offset_past_end": (_zip_patched("cd", 42, "<I", 0x7FFFFFF0), "Dataset"),
    "cd_method_unknown": (_zip_patched("cd", 10, "<H", 99), "Dataset"),
    "cd_name_length_huge": (_zip_patched("cd", 28, "<H", 0xFFFF), "Dataset"),
    "cd_crc_wrong": (_zip_patched("cd", 16, "<I", 0xDEADBEEF), "Dataset"),
    "cd_sizes_zero": (_zip_patched("cd", 20, "<I", 0), "Dataset"),
    "truncated_half": (C.zip_bytes({"a.jpg": C.jpeg_bytes(seed=5)})[:200], "DatasetError"),
    "empty_bytes": (b"", "DatasetError"),
    "eocd_only": (b"PK\x05\x06" + b"\0" * 18, "Dataset"),
}


@pytest.mark.parametrize("name", sorted(BAD_ZIPS))
def test_malformed_zips_dataset_or_dataset_error(name):
    data, expect = BAD_ZIPS[name]
    try:
        ds = D.load_zip(data)
    except D.DatasetError as e:
        assert expect == "DatasetError", f"refused: {e}"
        assert str(e)
        return
    assert expect == "Dataset"
    assert ds.files_given == len(ds.items) + len(ds.skipped)
    for it in ds.items:
        I.open_image(it.source, target_size=32)  # what survives the loader decodes
    for sk in ds.skipped:
        assert sk.reason and not any(ord(ch) < 32 for ch in sk.file), sk
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            n = sum(1 for i in zf.infolist() if not i.is_dir())
    except Exception:
        return
    assert ds.files_given == n
