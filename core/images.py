"""Image decoding: one safe way to turn a file (path or bytes) into an RGB ``PIL.Image``.

Everything that reads pixels goes through :func:`open_image`, so every method sees the same
pixels: first frame only, EXIF orientation applied, any colour mode converted to 8-bit RGB (alpha
composited on white, 16-bit scaled rather than clipped), and JPEGs decoded with
``Image.draft`` when only a small size is needed (decoding dominates the cost of hashing a
12 MP JPEG: 65 ms full versus 23 ms drafted, see DESIGN.md).

Every failure is raised as :class:`ImageError` with a short human-readable ``reason``; no
Pillow, pillow_heif, ``OSError``, ``struct.error`` ... escapes. The decompression-bomb limit is
checked here against the declared size *before* any pixel is allocated, with our own per-call
``max_pixels`` (Pillow's process-wide ``Image.MAX_IMAGE_PIXELS`` is not relied on).

Only the formats in :data:`SUPPORTED_FORMATS` are tried. Formats Pillow can open but that are
unsafe (EPS runs Ghostscript) or that have no magic number (TGA would "recognise" random bytes)
are left out on purpose.

References: Pillow ``Image.draft`` (https://pillow.readthedocs.io/en/stable/reference/Image.html),
EXIF orientation (https://www.cipa.jp/std/documents/e/DC-008-2012_E.pdf, tag 0x0112).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile

from . import config, downscale, pillow_guard

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_FORMATS",
    "ImageError",
    "ImageInfo",
    "describe_bytes",
    "open_image",
    "probe",
    "thumbnail",
    "thumbnail_bytes",
]

#: Decompression-bomb limit in pixels (width x height as declared in the header). Same value
#: Pillow refuses at (2 x its default ``MAX_IMAGE_PIXELS``): ~179 MP, about 537 MB as RGB.
#: Large enough for any camera (a 100 MP medium format is 11648x8736).
DEFAULT_MAX_PIXELS: int = 178_956_970

#: Pillow format names that :func:`probe` / :func:`open_image` accept ("MPO" comes through the
#: JPEG opener, "HEIF" is registered lazily from pillow_heif).
SUPPORTED_FORMATS: tuple[str, ...] = (
    "JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "ICO", "PPM", "JPEG2000", "AVIF", "QOI",
    "PSD", "HEIF",
)

_HEAD_BYTES = 4096  # enough for every magic number we sniff (tar's is at offset 257)


def _configured_max_pixels() -> int | None:
    try:
        return config.env_number("DUPFINDER_MAX_PIXELS", DEFAULT_MAX_PIXELS)
    except ValueError:  # reported clearly where the limits are read (core.datasets.Limits)
        return None


# once, at import: Pillow's process-wide guards are never toggled at run time (see core.pillow_guard)
pillow_guard.install_pillow_limits(_configured_max_pixels())


class ImageError(Exception):
    """A file could not be read as an image.

    Parameters
    ----------
    reason : str
        Short human-readable reason, shown as-is in the UI and the CLI
        (e.g. ``"not an image (PDF document)"``, ``"truncated/corrupt JPEG"``).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class ImageInfo:
    """Header facts about an image file, read without decoding pixels.

    Attributes
    ----------
    format : str
        Pillow format name ("JPEG", "PNG", "HEIF", "MPO", ...).
    width, height : int
        Size in pixels *after* EXIF orientation (what a viewer shows).
    mode : str
        Pillow mode of the stored pixels ("RGB", "I;16", "P", "CMYK", ...).
    frames : int or None
        Number of frames/pages (1 for still images); None when counting would walk the whole file (GIF, TIFF)
        and :func:`probe` was not asked to (``count_frames``).
    """

    format: str
    width: int
    height: int
    mode: str
    frames: int | None


# --------------------------------------------------------------------------------------------
# lazy HEIF registration
# --------------------------------------------------------------------------------------------
_heif_lock = threading.Lock()
_heif_state: bool | None = None  # None = not tried yet, True = registered, False = unavailable


def _ensure_heif() -> bool:
    """Register pillow_heif's opener once; importing it costs ~50 ms, so only on first use."""
    global _heif_state
    if _heif_state is None:
        with _heif_lock:
            if _heif_state is None:
                try:
                    import pillow_heif

                    pillow_heif.register_heif_opener()
                    _heif_state = True
                except Exception:  # not installed / broken native lib: HEIC just unsupported
                    _heif_state = False
    return bool(_heif_state)


# --------------------------------------------------------------------------------------------
# sniffing
# --------------------------------------------------------------------------------------------
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


def _image_magic(head: bytes) -> str | None:
    """Name of the image format a file *claims* to be by its magic number, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:2] == b"BM":
        return "BMP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "AVIF" if head[8:12] in (b"avif", b"avis") else "HEIF"
    if head.startswith(b"\x00\x00\x00\x0cjP  ") or head.startswith(b"\xff\x4f\xff\x51"):
        return "JPEG 2000"
    return None


def describe_bytes(head: bytes) -> str | None:
    """Say what a non-image file is, from its first bytes (magic numbers), if cheaply known.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (4 KiB is plenty).

    Returns
    -------
    str or None
        e.g. ``"PDF document"``, ``"SVG vector image"``, ``"Windows executable"``,
        ``"ZIP archive"``, ``"text file"``; None when unknown.
    """
    if not head:
        return "empty file"
    sigs = [
        (b"%PDF", "PDF document"),
        (b"MZ", "Windows executable"),
        (b"\x7fELF", "ELF executable"),
        (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
        (b"\xce\xfa\xed\xfe", "Mach-O executable"),
        (b"\xca\xfe\xba\xbe", "Mach-O/Java binary"),
        (b"PK\x03\x04", "ZIP archive"),
        (b"PK\x05\x06", "ZIP archive"),
        (b"\x1f\x8b", "gzip archive"),
        (b"7z\xbc\xaf\x27\x1c", "7z archive"),
        (b"Rar!", "RAR archive"),
        (b"BZh", "bzip2 archive"),
        (b"\xfd7zXZ\x00", "xz archive"),
        (b"\xd0\xcf\x11\xe0", "Microsoft Office document"),
        (b"SQLite format 3\x00", "SQLite database"),
        (b"ID3", "MP3 audio"),
        (b"OggS", "Ogg audio/video"),
        (b"fLaC", "FLAC audio"),
        (b"\x1aE\xdf\xa3", "Matroska/WebM video"),
        (b"FUJIFILMCCD-RAW", "Fujifilm RAW photo (not supported)"),
        (b"8BPS", "Photoshop document"),
        (b"#!", "script"),
        (b"{\\rtf", "RTF document"),
    ]
    for sig, what in sigs:
        if head.startswith(sig):
            return what
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar archive"
    if head[:4] == b"RIFF":
        kind = head[8:12]
        return {b"WAVE": "WAV audio", b"AVI ": "AVI video"}.get(kind, "RIFF file")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "HEIF/AVIF image"
        if brand == b"crx ":
            return "Canon CR3 RAW photo (not supported)"
        if brand.startswith(b"qt"):
            return "QuickTime video"
        return "MP4 video"
    text = _as_text(head)
    if text is not None:
        low = text.lstrip("\ufeff \t\r\n").lower()
        if low.startswith("<") and "<svg" in low[:2048]:
            return "SVG vector image"
        if low.startswith("<!doctype html") or low.startswith("<html"):
            return "HTML document"
        if low.startswith("<?xml") or low.startswith("<"):
            return "XML document"
        if low.startswith("{") or low.startswith("["):
            return "JSON/text file"
        return "text file"
    return None


def _as_text(head: bytes) -> str | None:
    """Decode ``head`` as text if it looks like text (UTF-8/UTF-16 with no control bytes)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head.decode("utf-16")[:2048]
        except UnicodeDecodeError:
            pass
    try:
        # the 4 KiB cut may split a multi-byte character: ignore only a short tail
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:
            return None
        text = head[: e.start].decode("utf-8")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n\f")
    return text if controls == 0 else None


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------
class _Source:
    """Context manager giving a seekable binary file for a path, bytes or a file object."""

    def __init__(self, source):
        self.source = source
        self.fp = None
        self.head = b""
        self._close = False

    def __enter__(self):
        src = self.source
        if isinstance(src, (bytes, bytearray, memoryview)):
            self.fp = io.BytesIO(src)
        elif isinstance(src, (str, os.PathLike)):
            try:
                self.fp = open(src, "rb")
            except OSError as e:
                raise ImageError(f"cannot read file: {e.strerror or e}") from None
            self._close = True
        elif hasattr(src, "read") and hasattr(src, "seek"):
            self.fp = src
            src.seek(0)
        else:
            raise ImageError(f"unsupported source type {type(src).__name__}")
        # keep the first bytes now: Pillow closes the file object when the image is closed,
        # and the failure reason is sniffed from them afterwards
        try:
            self.head = self.fp.read(_HEAD_BYTES)
            self.fp.seek(0)
        except OSError as e:
            self.__exit__(None, None, None)
            raise ImageError(f"cannot read file: {e.strerror or e}") from None
        if not self.head:
            self.__exit__(None, None, None)
            raise ImageError("empty file")
        return self.fp

    def __exit__(self, *exc):
        if self._close:
            self.fp.close()
        return False

def _pil_open(fp) -> ImageFile.ImageFile:
    """Open ``fp`` lazily (header only) as one of our formats; never touches Pillow's process-wide settings.

    PNG chunk floods are refused first (:func:`core.pillow_guard.png_flood_reason`). Pillow's own size check is
    skipped here (:func:`core.pillow_guard.open_header`): our callers check ``im.size`` against their per-call
    ``max_pixels`` with :func:`_check_pixels` before any pixel is decoded.
    """
    reason = pillow_guard.png_flood_reason(fp)
    if reason:
        raise ImageError(reason)
    return pillow_guard.open_header(fp, _formats())


def _formats() -> list[str]:
    _ensure_heif()
    Image.init()
    return [f for f in SUPPORTED_FORMATS if f in Image.OPEN]


def _fail_reason(head: bytes, exc: BaseException | None) -> str:
    """Best reason for a file Pillow could not identify or decode, from its first bytes."""
    if not head:
        return "empty file"
    if isinstance(exc, Image.DecompressionBombError):  # Pillow's own guard, inside a plugin (GIF frame, TIFF tile)
        return f"image too large: {_short(exc)} (possible decompression bomb)"
    if "MAX_TEXT_MEMORY" in str(exc):  # PngImagePlugin's bound on all text chunks of one file
        return (f"PNG refused: text metadata over the {pillow_guard.PNG_MAX_TEXT_MEMORY >> 20} MiB limit "
                "(a metadata flood)")
    if "MAX_TEXT_CHUNK" in str(exc):  # ... and on one compressed text chunk, inflated
        return "PNG refused: a compressed text chunk inflates past 1 MiB (a metadata bomb)"
    if isinstance(exc, Image.UnidentifiedImageError):
        exc = None  # "cannot identify image file <_io.BytesIO ...>" says nothing useful
    claimed = _image_magic(head)
    if claimed:
        if claimed in ("HEIF", "AVIF") and claimed not in Image.OPEN:
            return f"{claimed} not supported (pillow_heif unavailable)"
        return f"truncated/corrupt {claimed} ({_short(exc)})" if exc else f"truncated/corrupt {claimed}"
    what = describe_bytes(head)
    if what:
        return f"not an image ({what})"
    return "not an image (unrecognised file format)"


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    msg = str(exc).strip() or type(exc).__name__
    msg = re.sub(r"\s+", " ", msg)
    return msg if len(msg) <= 80 else msg[:77] + "..."


def _mp(pixels: int) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f} MP" if mp >= 10 else f"{mp:.1f} MP"


def _check_pixels(w: int, h: int, max_pixels: int | None) -> None:
    if w <= 0 or h <= 0:
        raise ImageError(f"invalid image size {w}x{h}")
    if max_pixels is not None and w * h > max_pixels:
        raise ImageError(
            f"image too large: {w}x{h} = {_mp(w * h)} exceeds the {_mp(max_pixels)} limit "
            "(possible decompression bomb)"
        )


def _orientation(im: Image.Image, header_only: bool = False) -> int:
    """EXIF orientation (1..8); 1 when absent or unreadable (broken EXIF must not lose the image).

    ``header_only``: for PNG, ``getexif()`` decodes every pixel to find an eXIf chunk after the image data; read
    only a chunk seen before it (the usual place), so a probe stays a header read. Decoding still applies the
    full EXIF, so at worst a probe reports width and height swapped, never a wrong picture.
    """
    try:
        if header_only and im.format == "PNG":
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
            o = int(exif.get(0x0112, 1))
            return o if 1 <= o <= 8 else 1
        o = int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1
    return o if 1 <= o <= 8 else 1


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


# --------------------------------------------------------------------------------------------
# integrity (cheap truncation checks, used at dataset load time)
# --------------------------------------------------------------------------------------------
def _check_complete(data: bytes, fmt: str) -> None:
    """Raise ImageError if a JPEG/PNG/WebP is visibly truncated, without decoding pixels."""
    if fmt in ("JPEG", "MPO"):
        sos = _jpeg_first_scan(data)
        if sos < 0:
            raise ImageError("truncated/corrupt JPEG (no image data)")
        # entropy-coded data byte-stuffs 0xFF, so FF D9 after the first scan can only be an EOI
        if data.rfind(b"\xff\xd9", sos) < 0:
            raise ImageError("truncated/corrupt JPEG (end-of-image marker missing)")
    elif fmt == "PNG":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = _pil_open(io.BytesIO(data))
                im.verify()  # walks every chunk and checks CRCs; does not inflate IDAT
        except Exception as e:
            raise ImageError(f"truncated/corrupt PNG ({_short(e)})") from None
    elif fmt == "WEBP" and data[:4] == b"RIFF":
        declared = struct.unpack("<I", data[4:8])[0] + 8
        if len(data) < declared:
            raise ImageError(f"truncated/corrupt WebP ({len(data)} of {declared} bytes)")


def _jpeg_first_scan(data: bytes) -> int:
    """Offset of the primary image's first SOS marker (walking segments from SOI), or -1."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:  # junk between segments: decoders skip to the next marker, so do we
            i = data.find(b"\xff", i)
            if i < 0:
                return -1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # stand-alone markers
            i += 2
            continue
        if marker == 0xD9:
            return -1
        if marker == 0xDA:
            return i
        i += 2 + ((data[i + 2] << 8) | data[i + 3])
    return -1


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _pillow(source):
    """Open ``source`` with Pillow for the ``with`` block and close it after. Every failure, in opening or inside
    the block, becomes :class:`ImageError` with a reason (never another exception type); Pillow's warnings about
    corrupt EXIF/TIFF tags are silenced, since real failures are raised."""
    src = _Source(source)
    with src as fp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = _pil_open(fp)
        except ImageError:
            raise
        except Exception as e:
            raise ImageError(_fail_reason(src.head, e)) from None
        try:
            yield im
        except (ImageError, MemoryError):
            raise
        except Exception as e:  # anything Pillow/pillow_heif throws on hostile input
            raise ImageError(_fail_reason(src.head, e)) from None
        finally:
            im.close()


#: Formats whose frame count is found only by walking every frame (Pillow's ``n_frames`` seeks to the end).
_WALKED_FRAME_FORMATS = ("GIF", "TIFF")


def probe(source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, verify: bool = False,
          count_frames: bool = False) -> ImageInfo:
    """Read an image's header (format, size, mode, frames) without decoding pixels.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The image file.
    max_pixels : int or None, optional
        Decompression-bomb limit on width x height; None disables it.
    verify : bool, optional
        Also run cheap truncation checks that read the whole file but decode nothing: JPEG end
        marker after the first scan, PNG chunk CRCs up to IEND, WebP RIFF length. Dataset
        loading uses this so the common broken files are reported at load time.
    count_frames : bool, optional
        Also count the frames of a GIF or TIFF, which walks every frame (a GIF of 100,000 tiny frames: seconds).
        Otherwise ``frames`` is None for those formats; other formats report it from their header.

    Returns
    -------
    ImageInfo
        Width/height after EXIF orientation.

    Raises
    ------
    ImageError
        Not an image, unsupported, corrupt, truncated (with ``verify``) or too large.
    """
    if verify and not isinstance(source, (bytes, bytearray, memoryview)):
        with _Source(source) as fp:
            try:
                source = fp.read()
            except OSError as e:
                raise ImageError(f"cannot read file: {e.strerror or e}") from None
    with _pillow(source) as im:
        w, h = im.size
        _check_pixels(w, h, max_pixels)
        fmt = im.format or "unknown"
        mode = im.mode
        frames: int | None = None
        if count_frames or fmt not in _WALKED_FRAME_FORMATS:
            try:
                frames = int(getattr(im, "n_frames", 1) or 1)
            except Exception:  # counting frames walks the file; a broken tail is not fatal here
                frames = 1
        if _orientation(im, header_only=True) >= 5:
            w, h = h, w
        if verify:
            _check_complete(bytes(source), fmt)
    return ImageInfo(format=fmt, width=w, height=h, mode=mode, frames=frames)


def open_image(
    source, *, target_size: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS, fit: str = "cover"
) -> Image.Image:
    """Decode an image file to an upright 8-bit RGB ``PIL.Image``.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The image file.
    target_size : int, optional
        The size the caller will shrink the result to. A JPEG is decoded with ``Image.draft`` at
        the largest 1/1, 1/2, 1/4 or 1/8 scale whose *both* sides stay >= ``target_size`` px;
        then any image is box-reduced right after decoding by integer factors that keep its sides
        >= ``core.downscale.REDUCE_MARGIN`` x ``target_size`` (as ``fit`` says), so only one
        full-resolution buffer (the decoded file) is ever alive. Callers still resize to their
        exact size themselves.
    max_pixels : int or None, optional
        Decompression-bomb limit on the declared width x height, checked before any pixel is
        allocated; None disables it.
    fit : {"cover", "contain", "stretch"}
        How far each axis may be reduced (see :data:`core.downscale.FITS`): both sides stay >=
        the margin ("cover"), the long side does ("contain", thumbnails), or each side on its own
        ("stretch", for callers that resize to a square ignoring the aspect: every method).

    Returns
    -------
    PIL.Image.Image
        Mode "RGB", first frame (GIF, animated WebP, multi-page TIFF), EXIF orientation applied,
        alpha composited on white, 16-bit/32-bit/float scaled (not clipped) to 0..255.

    Raises
    ------
    ImageError
        For every failure (never another exception type).
    """
    if fit not in downscale.FITS:  # a caller's mistake, not a bad file: not an ImageError
        raise ValueError(f"fit must be one of {downscale.FITS}, got {fit!r}")
    try:
        with _pillow(source) as im:
            _check_pixels(*im.size, max_pixels)
            if target_size and im.format in ("JPEG", "MPO"):
                t = max(1, int(target_size))
                im.draft("RGB", (t, t))
            # full-resolution pixels in flight are budgeted per process (threads of the app decode at once)
            with downscale.DECODE_GATE.hold(im.size[0] * im.size[1]):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    im.load()
                # after load(): PNG's getexif() loads the pixels itself, and _orientation() swallows errors, so
                # reading it first let a corrupt PNG come out as a blank picture (found by bench/fuzz.py)
                orientation = _orientation(im)
                # the target is square, so factors from the stored (pre-rotation) size are right after rotating too
                rgb = downscale.to_rgb(im, downscale.reduce_factors(*im.size, target_size, fit))
                im.close()  # drop the full-resolution buffer before the next decode may start
        return rgb.transpose(_TRANSPOSE[orientation]) if orientation != 1 else rgb
    except MemoryError:
        raise ImageError("not enough memory to decode the image") from None


def thumbnail(img: Image.Image, size: int = 192) -> Image.Image:
    """Shrunken copy, aspect ratio kept, long side <= ``size`` px (never enlarged).

    Parameters
    ----------
    img : PIL.Image.Image
        Any image (normally the output of :func:`open_image`).
    size : int
        Bound on the long side, in pixels.

    Returns
    -------
    PIL.Image.Image
        RGB copy; the input is left untouched.
    """
    t = img.convert("RGB") if img.mode != "RGB" else img.copy()
    # reducing_gap: box-reduce first, then a cheap high-quality resample (Pillow's fast path)
    t.thumbnail((max(1, int(size)), max(1, int(size))), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return t


def thumbnail_bytes(source, size: int = 192, *, quality: int = 85,
                    max_pixels: int | None = DEFAULT_MAX_PIXELS) -> bytes:
    """JPEG-encoded thumbnail of an image file (decoded with JPEG draft mode).

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The image file.
    size : int
        Bound on the thumbnail's long side, in pixels.
    quality : int
        JPEG quality of the thumbnail.
    max_pixels : int or None
        Decompression-bomb limit, as in :func:`open_image`.

    Returns
    -------
    bytes
        A baseline JPEG.

    Raises
    ------
    ImageError
    """
    t = thumbnail(open_image(source, target_size=size, max_pixels=max_pixels, fit="contain"), size)
    buf = io.BytesIO()
    try:
        t.save(buf, "JPEG", quality=quality)
    except Exception as e:  # pragma: no cover - encoding an RGB image should not fail
        raise ImageError(f"cannot encode thumbnail ({_short(e)})") from None
    return buf.getvalue()
