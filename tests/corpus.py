"""Deterministic generator of normal, odd and hostile test files (no network, no /work/shared).

Shared by the core, CLI and AppTest suites:

* :func:`photo` and the ``*_bytes`` builders return one file's bytes;
* :func:`build_corpus` writes a folder of every case and returns ``{relative name: Expect}``;
* :func:`build_corpus_zip` returns the same cases as an in-memory zip;
* the ``zip_*`` builders return hostile archives (path traversal, symlink, nested, encrypted,
  bombs) as bytes; :func:`raw_zip` writes a zip by hand for the cases ``zipfile`` refuses.

Images are smooth gradients plus shapes from NumPy so that JPEG behaves like on photos and files
stay small (the whole corpus is < 1 MB and builds in well under a second).
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

# --------------------------------------------------------------------------------------------
# pixels
# --------------------------------------------------------------------------------------------


def photo_array(w: int = 96, h: int = 64, seed: int = 0) -> np.ndarray:
    """Photo-like RGB uint8 array (h, w, 3): smooth gradients, a disc and a bar, deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    fx, fy = x / max(w - 1, 1), y / max(h - 1, 1)
    a, b, c = rng.uniform(0.3, 1.0, 3)
    img = np.stack([255 * (a * fx), 255 * (b * fy), 255 * (c * (1 - fx) * (1 - fy) + 0.2)], -1)
    cx, cy, r = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h, 0.2 * min(w, h) + 1
    disc = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    img[disc] = rng.uniform(0, 255, 3)
    img[int(0.7 * h): int(0.8 * h) + 1, int(0.1 * w): int(0.4 * w) + 1] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def photo(w: int = 96, h: int = 64, seed: int = 0) -> Image.Image:
    """:func:`photo_array` as an RGB ``PIL.Image``."""
    return Image.fromarray(photo_array(w, h, seed), "RGB")


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    """Encode ``img`` with Pillow into bytes."""
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def jpeg_bytes(w=96, h=64, seed=0, **kw) -> bytes:
    return encode(photo(w, h, seed), "JPEG", quality=90, **kw)


def png_bytes(w=96, h=64, seed=0) -> bytes:
    return encode(photo(w, h, seed), "PNG")


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """First ``keep`` fraction of a file (a cut download)."""
    return data[: int(len(data) * keep)]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png_bytes(w: int = 50_000, h: int = 50_000) -> bytes:
    """A valid-looking ~100-byte PNG declaring ``w`` x ``h`` pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def cmyk_jpeg_bytes() -> bytes:
    return encode(photo(80, 60, 3).convert("CMYK"), "JPEG", quality=90)


def png16_bytes(w: int = 64, h: int = 32) -> bytes:
    """16-bit greyscale PNG (mode I;16): a horizontal ramp 0..65535."""
    ramp = np.linspace(0, 65535, w).round().astype(np.uint16)
    return encode(Image.fromarray(np.tile(ramp, (h, 1))), "PNG")


def palette_transparent_png_bytes() -> bytes:
    """P-mode PNG, left half fully transparent (index 0), right half opaque red (index 1)."""
    a = np.zeros((20, 40), np.uint8)
    a[:, 20:] = 1
    im = Image.fromarray(a, "P")
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    return encode(im, "PNG", transparency=0)


def la_png_bytes() -> bytes:
    """LA PNG: black, alpha 0 on the left half and 255 on the right half."""
    lum = np.zeros((16, 32), np.uint8)
    alpha = np.zeros((16, 32), np.uint8)
    alpha[:, 16:] = 255
    return encode(Image.merge("LA", [Image.fromarray(lum), Image.fromarray(alpha)]), "PNG")


def rgba_png_bytes() -> bytes:
    """RGBA PNG: blue, transparent top half."""
    a = np.zeros((20, 30, 4), np.uint8)
    a[..., 2] = 255
    a[10:, :, 3] = 255
    return encode(Image.fromarray(a, "RGBA"), "PNG")


def _frames(n: int = 3) -> list[Image.Image]:
    # frame 0 red, then green, then blue: "first frame" is checkable by colour
    cols = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    return [Image.new("RGB", (32, 24), cols[i % 4]) for i in range(n)]


def animated_gif_bytes() -> bytes:
    f = _frames()
    return encode(f[0], "GIF", save_all=True, append_images=f[1:], duration=100, loop=0)


def animated_webp_bytes() -> bytes:
    f = _frames()
    return encode(f[0], "WEBP", save_all=True, append_images=f[1:], duration=100, lossless=True)


def multipage_tiff_bytes() -> bytes:
    f = _frames()
    return encode(f[0], "TIFF", save_all=True, append_images=f[1:])


def exif_rotated_jpeg_bytes() -> bytes:
    """JPEG whose raw pixels are rotated; EXIF orientation 6 makes it upright.

    Upright picture: 60 wide x 40 high, top half red, bottom half blue. Stored: rotated 90
    degrees counter-clockwise (40 wide x 60 high); orientation 6 = "rotate 90 CW to view".
    """
    up = np.zeros((40, 60, 3), np.uint8)
    up[:20] = (255, 0, 0)
    up[20:] = (0, 0, 255)
    stored = Image.fromarray(up).transpose(Image.Transpose.ROTATE_90)  # CCW
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def heic_bytes() -> bytes | None:
    """HEIC file via pillow_heif, or None when its encoder is unavailable."""
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        return encode(photo(64, 48, 5), "HEIF", quality=90)
    except Exception:
        return None


PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SVG_BYTES = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>\n'
TEXT_BYTES = b"This is not a picture.\nJust some notes about the holiday.\n"
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(112) + b"PE\x00\x00" + bytes(64)
ELF_BYTES = b"\x7fELF\x02\x01\x01\x00" + bytes(120)

# --------------------------------------------------------------------------------------------
# zips
# --------------------------------------------------------------------------------------------


def zip_bytes(entries: dict[str, bytes] | list[tuple[str, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A normal zip made by ``zipfile`` from ``{name: data}``."""
    buf = io.BytesIO()
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return buf.getvalue()


@dataclass
class RawEntry:
    """One entry for :func:`raw_zip`: raw name bytes, flags and unix mode under our control."""

    name: bytes
    data: bytes = b""
    flags: int = 0
    unix_mode: int | None = None  # e.g. 0o120777 for a symlink
    deflate: bool = True
    declared_size: int | None = None  # lie about the uncompressed size
    compressed: bytes | None = None  # pre-compressed raw-deflate stream (reused for bombs)
    crc: int | None = None


def raw_zip(entries: list[RawEntry]) -> bytes:
    """Write a zip by hand (local headers, central directory, end record).

    ``zipfile`` cannot write encrypted flags, non-UTF-8 names without re-encoding, lying sizes,
    or thousands of entries sharing one pre-compressed stream quickly; this can.
    """
    out = io.BytesIO()
    central = []
    for e in entries:
        if e.compressed is not None:
            comp, method = e.compressed, 8
        elif e.deflate:
            co = zlib.compressobj(9, zlib.DEFLATED, -15)
            comp, method = co.compress(e.data) + co.flush(), 8
        else:
            comp, method = e.data, 0
        crc = e.crc if e.crc is not None else zlib.crc32(e.data)
        usize = e.declared_size if e.declared_size is not None else len(e.data)
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, e.flags, method, 0, 0x21,
                              crc, len(comp), usize, len(e.name), 0))
        out.write(e.name)
        out.write(comp)
        made_by = (3 << 8 | 20) if e.unix_mode is not None else 20
        ext_attr = (e.unix_mode << 16) if e.unix_mode is not None else 0
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, made_by, 20, e.flags, method, 0,
                                   0x21, crc, len(comp), usize, len(e.name), 0, 0, 0, 0,
                                   ext_attr, offset) + e.name)
    cd_start = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_start
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), cd_size, cd_start, 0))
    return out.getvalue()


def zip_traversal() -> bytes:
    """Entries named ``../evil.jpg``, ``/abs.jpg``, ``a/../../up.png`` and ``C:\\win.jpg``."""
    return raw_zip([RawEntry(b"../evil.jpg", jpeg_bytes(seed=1)),
                    RawEntry(b"/abs.jpg", jpeg_bytes(seed=2)),
                    RawEntry(b"a/../../up.png", png_bytes(seed=3)),
                    RawEntry(b"C:\\win\\dos.jpg", jpeg_bytes(seed=4)),
                    RawEntry(b"ok.jpg", jpeg_bytes(seed=5))])


def zip_symlink() -> bytes:
    """A symlink entry (unix mode S_IFLNK) pointing outside, plus one normal image."""
    return raw_zip([RawEntry(b"link.jpg", b"../../../../etc/passwd", unix_mode=0o120777, deflate=False),
                    RawEntry(b"real.jpg", jpeg_bytes(seed=6), unix_mode=0o100644)])


def zip_nested() -> bytes:
    inner = zip_bytes({"inner.jpg": jpeg_bytes(seed=7)})
    return zip_bytes({"inner.zip": inner, "disguised.jpg": inner, "outer.jpg": jpeg_bytes(seed=8)})


def zip_encrypted() -> bytes:
    """A normal zip whose first entry has the 'encrypted' flag (bit 0) patched in both headers."""
    data = bytearray(zip_bytes({"secret.jpg": jpeg_bytes(seed=9), "open.jpg": jpeg_bytes(seed=10)}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("secret.jpg")
        local = info.header_offset
    struct.pack_into("<H", data, local + 6, struct.unpack_from("<H", data, local + 6)[0] | 1)
    cd = data.find(b"PK\x01\x02")
    while cd >= 0:
        name_len = struct.unpack_from("<H", data, cd + 28)[0]
        if bytes(data[cd + 46: cd + 46 + name_len]) == b"secret.jpg":
            struct.pack_into("<H", data, cd + 8, struct.unpack_from("<H", data, cd + 8)[0] | 1)
        cd = data.find(b"PK\x01\x02", cd + 4)
    return bytes(data)


_ZEROS_MB = 5


def _zeros_stream(mb: int = _ZEROS_MB) -> tuple[bytes, int, int]:
    """Raw-deflate stream of ``mb`` MiB of zeros, its CRC and size (built once, reused)."""
    data = bytes(mb << 20)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    return co.compress(data) + co.flush(), zlib.crc32(data), len(data)


def zip_bomb(entries: int = 1000, mb: int = _ZEROS_MB) -> bytes:
    """``entries`` x ``mb`` MiB of zeros, ~1000:1 each (default: 5 GiB declared in a 5 MB zip)."""
    comp, crc, size = _zeros_stream(mb)
    return raw_zip([RawEntry(f"z{i:04d}.bmp".encode(), compressed=comp, crc=crc, declared_size=size)
                    for i in range(entries)])


def zip_ratio_bomb() -> bytes:
    """One 5 MiB entry of zeros (ratio ~1000:1) beside a normal image."""
    comp, crc, size = _zeros_stream()
    return raw_zip([RawEntry(b"bomb.png", compressed=comp, crc=crc, declared_size=size),
                    RawEntry(b"fine.jpg", jpeg_bytes(seed=11))])


def zip_lying_size() -> bytes:
    """An entry whose headers declare 100 bytes but which inflates to 5 MiB."""
    comp, crc, _ = _zeros_stream()
    return raw_zip([RawEntry(b"liar.png", compressed=comp, crc=crc, declared_size=100),
                    RawEntry(b"fine.jpg", jpeg_bytes(seed=12))])


def zip_names() -> bytes:
    """Non-UTF-8 (latin-1, no UTF-8 flag), UTF-8-flagged, control-char and 250-char names."""
    long = ("x" * 246 + ".jpg").encode()
    return raw_zip([RawEntry(b"caf\xe9.jpg", jpeg_bytes(seed=13)),                 # cp437 fallback
                    RawEntry("日本.jpg".encode(), jpeg_bytes(seed=14), flags=0x800),  # UTF-8 flag
                    RawEntry("ünï.jpg".encode(), jpeg_bytes(seed=15)),              # UTF-8, no flag
                    RawEntry(b"bell\x07\x1b.jpg", jpeg_bytes(seed=16)),              # control chars
                    RawEntry(long, jpeg_bytes(seed=17)),
                    RawEntry(b"dup.jpg", jpeg_bytes(seed=18)),
                    RawEntry(b"dup.jpg", jpeg_bytes(seed=19))])                      # same name twice


# --------------------------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What loading a corpus file must give: ``status`` "used"/"skipped", ``reason`` substring."""

    status: str
    reason: str = ""

    def __eq__(self, other):  # lets tests compare with the plain strings "used"/"skipped"
        if isinstance(other, str):
            return self.status == other
        return isinstance(other, Expect) and (self.status, self.reason) == (other.status, other.reason)

    __hash__ = object.__hash__


USED, SKIP = "used", "skipped"


def corpus_files() -> list[tuple[str, bytes, Expect]]:
    """Every folder-able case as ``(relative posix name, bytes, Expect)``.

    Names are plain str (non-UTF-8 names are handled by :func:`build_corpus`, see there).
    Good images come in four groups of labelled folders for label tests:
    ``good/<format>/...``.
    """
    u, s = Expect(USED), lambda r: Expect(SKIP, r)
    files: list[tuple[str, bytes, Expect]] = [
        ("good/a_photo.jpg", jpeg_bytes(seed=1), u),
        ("good/b_photo.png", png_bytes(seed=2), u),
        ("good/c_photo.webp", encode(photo(seed=3), "WEBP", quality=90), u),
        ("good/d_photo.tif", encode(photo(seed=4), "TIFF"), u),
        ("good/e_photo.bmp", encode(photo(seed=5), "BMP"), u),
        ("good/f_photo.gif", encode(photo(seed=6), "GIF"), u),
        ("odd/png_named.jpg", png_bytes(seed=7), u),
        ("odd/one_px.png", encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), u),
        ("odd/thin_2x2000.png", encode(photo(2, 2000, 8), "PNG"), u),
        ("odd/cmyk.jpg", cmyk_jpeg_bytes(), u),
        ("odd/gray16.png", png16_bytes(), u),
        ("odd/palette_alpha.png", palette_transparent_png_bytes(), u),
        ("odd/la.png", la_png_bytes(), u),
        ("odd/rgba.png", rgba_png_bytes(), u),
        ("odd/animated.gif", animated_gif_bytes(), u),
        ("odd/animated.webp", animated_webp_bytes(), u),
        ("odd/multipage.tiff", multipage_tiff_bytes(), u),
        ("odd/exif_rot6.jpg", exif_rotated_jpeg_bytes(), u),
        ("dup_a/same.jpg", jpeg_bytes(seed=20), u),
        ("dup_b/same.jpg", jpeg_bytes(seed=21), u),
        ("odd/" + "l" * 246 + ".jpg", jpeg_bytes(seed=22), u),
        ("bad/empty.jpg", b"", s("empty file")),
        ("bad/truncated.jpg", truncated(jpeg_bytes(200, 150, seed=23)), s("truncated")),
        ("bad/truncated.png", truncated(png_bytes(200, 150, seed=24)), s("truncated")),
        ("bad/text.jpg", TEXT_BYTES, s("text")),
        ("bad/doc.png", PDF_BYTES, s("PDF")),
        ("bad/vector.jpg", SVG_BYTES, s("SVG")),
        ("bad/program.jpg", EXE_BYTES, s("executable")),
        ("bad/elf.png", ELF_BYTES, s("executable")),
        ("bad/notes.txt", TEXT_BYTES, s("text")),
        ("bad/archive.jpg", zip_bytes({"x.txt": b"x"}), s("archive")),
        ("bad/bomb.png", bomb_png_bytes(), s("too large")),
        (".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(64), s("hidden/system file")),
        ("good/Thumbs.db", b"\xd0\xcf\x11\xe0" + bytes(64), s("hidden/system file")),
        ("good/desktop.ini", b"[.ShellClassInfo]\n", s("hidden/system file")),
        ("__MACOSX/good/._a_photo.jpg", b"\x00\x05\x16\x07" + bytes(60), s("hidden/system file")),
        (".hidden/photo.jpg", jpeg_bytes(seed=25), s("hidden/system file")),
        ("good/.dotfile.jpg", jpeg_bytes(seed=26), s("hidden/system file")),
        ("GROUND_TRUTH.csv", b"file,group\ngood/a_photo.jpg,x\ngood/b_photo.png,x\n", s("labels file")),
    ]
    heic = heic_bytes()
    if heic is not None:
        files.append(("good/g_photo.heic", heic, u))
    return files


NON_UTF8_NAME = b"odd/caf\xe9_latin1.jpg"  # raw file-system name, not valid UTF-8


def build_corpus(dir: str | os.PathLike) -> dict[str, Expect]:
    """Write every case under ``dir``; return ``{relative posix name: Expect}``.

    The non-UTF-8 file is written with a raw bytes name; its key is the display name the loader
    must produce (undecodable bytes replaced by U+FFFD): ``"odd/caf\ufffd_latin1.jpg"``.
    Expect compares equal to the plain strings ``"used"`` / ``"skipped"``.
    """
    root = os.fspath(dir)
    expected: dict[str, Expect] = {}
    for name, data, exp in corpus_files():
        path = os.path.join(root, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        expected[name] = exp
    raw = os.path.join(os.fsencode(root), *NON_UTF8_NAME.split(b"/"))
    try:
        with open(raw, "wb") as f:
            f.write(jpeg_bytes(seed=27))
        expected[NON_UTF8_NAME.decode("utf-8", "replace")] = Expect(USED)
    except (OSError, UnicodeError):  # file systems that insist on UTF-8 names (macOS APFS)
        pass
    return expected


def build_corpus_zip() -> bytes:
    """The corpus as a zip (names as in :func:`corpus_files`), plus zip-only hostile entries.

    Use :func:`corpus_zip_expected` for the expectations.
    """
    entries = [RawEntry(n.encode(), d) for n, d, _ in corpus_files()]
    entries += [RawEntry(n.encode(), d, **kw) for n, d, kw, _ in _zip_only()]
    return raw_zip(entries)


def _zip_only():
    return [
        ("../evil.jpg", jpeg_bytes(seed=30), {}, Expect(USED)),
        ("link.jpg", b"../../etc/passwd", {"unix_mode": 0o120777, "deflate": False}, Expect(SKIP, "symlink")),
        ("nested.zip", zip_bytes({"in.jpg": jpeg_bytes(seed=31)}), {}, Expect(SKIP, "nested archive")),
    ]


def corpus_zip_expected() -> dict[str, Expect]:
    """Expectations for :func:`build_corpus_zip`, keyed by the loader's normalised names."""
    exp = {n: e for n, _, e in corpus_files()}
    exp["bad/archive.jpg"] = Expect(SKIP, "nested archive")
    exp["evil.jpg"] = Expect(USED)  # "../" dropped by normalisation
    exp["link.jpg"] = Expect(SKIP, "symlink")
    exp["nested.zip"] = Expect(SKIP, "nested archive")
    return exp
