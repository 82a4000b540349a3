"""Image decoding: one safe way to turn a file (path or bytes) into an RGB ``PIL.Image``.

Everything that reads pixels goes through :func:`open_image`, so every method sees the same
pixels: first frame only, EXIF orientation applied, any colour mode converted to 8-bit RGB (alpha
composited on white, 16-bit scaled rather than clipped), and JPEGs decoded with
``Image.draft`` when only a small size is needed (decoding dominates the cost of hashing a
large JPEG; the measured figures are in ``bench/RESULTS.md``).

Every failure is raised as :class:`ImageError` with a short human-readable ``reason`` (worded by
:mod:`core.file_kinds` from the file's first bytes); no Pillow, pillow_heif, ``OSError``, ``struct.error`` ...
escapes. :func:`probe` reads a header only (with ``verify``, also :mod:`core.integrity`'s truncation checks);
:func:`read_exif` reads EXIF tags the same safe way. The decompression-bomb limit is
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
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile

from . import config, downscale, integrity, pillow_guard
from .file_kinds import HEAD_BYTES, failure_reason

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_FORMATS",
    "ImageError",
    "ImageInfo",
    "open_image",
    "probe",
    "read_exif",
    "thumbnail",
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
            self.head = self.fp.read(HEAD_BYTES)
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


def _exif(im: Image.Image, header_only: bool = False) -> Image.Exif:
    """``im``'s EXIF. ``header_only``: for PNG, ``getexif()`` decodes every pixel to find an eXIf chunk after the
    image data; read only a chunk seen before it (the usual place), so the read stays a header read."""
    if header_only and im.format == "PNG":
        exif = Image.Exif()
        raw = im.info.get("exif")
        if raw:
            exif.load(raw)
        return exif
    return im.getexif()


def _orientation(im: Image.Image, header_only: bool = False) -> int:
    """EXIF orientation (1..8); 1 when absent or unreadable (broken EXIF must not lose the image).

    ``header_only`` (see :func:`_exif`): decoding still applies the full EXIF, so at worst a probe reports width
    and height swapped, never a wrong picture.
    """
    try:
        o = int(_exif(im, header_only).get(0x0112, 1))
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
            raise ImageError(failure_reason(src.head, e)) from None
        try:
            yield im
        except (ImageError, MemoryError):
            raise
        except Exception as e:  # anything Pillow/pillow_heif throws on hostile input
            raise ImageError(failure_reason(src.head, e)) from None
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
            reason = integrity.incomplete_reason(bytes(source), fmt)
            if reason:
                raise ImageError(reason)
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


def read_exif(source, *, ifd: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> dict:
    """The EXIF tags of an image file, read from its header only (no pixel decoded), as ``{tag: value}``.

    Opened like :func:`probe` (our formats only, PNG floods refused, the size checked against ``max_pixels``).

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The image file.
    ifd : int, optional
        A sub-IFD to read instead of the main one (e.g. ``0x8769``, the Exif IFD holding ``DateTimeOriginal``).
    max_pixels : int or None, optional
        Decompression-bomb limit on width x height; None disables it.

    Raises
    ------
    ImageError
        Not an image, unsupported, corrupt or too large.
    """
    with _pillow(source) as im:
        _check_pixels(*im.size, max_pixels)
        exif = _exif(im, header_only=True)
        # inside the block: a TIFF's sub-IFDs are read from the still open file
        return dict(exif.get_ifd(ifd) if ifd is not None else exif)


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
