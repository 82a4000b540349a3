"""What a file is, from its first bytes, and why it could not be read as an image: the words every skipped file
is listed with.

* :func:`image_magic` -> the image format a file *claims* to be by its magic number ("JPEG", "HEIF", ...);
* :func:`describe_bytes` -> what a non-image file is ("PDF document", "ZIP archive", "SVG vector image", ...);
* :func:`failure_reason` -> the reason shown for a file Pillow could not identify or decode
  ("truncated/corrupt JPEG (...)", "not an image (PDF document)", "image too large: ...");
* :func:`short_error` -> an exception's message on one line, at most 80 characters.

Pure functions of bytes and exceptions: nothing is opened or decoded here (:mod:`core.images` does that).
"""
from __future__ import annotations

import re

from PIL import Image

from . import pillow_guard

__all__ = ["HEAD_BYTES", "HEIF_BRANDS", "describe_bytes", "failure_reason", "image_magic", "short_error"]

#: How many first bytes to keep: enough for every magic number sniffed here (tar's is at offset 257).
HEAD_BYTES = 4096

#: ISO-BMFF ``ftyp`` brands of HEIF/HEIC and AVIF files.
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})


def image_magic(head: bytes) -> str | None:
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
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
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
        if brand in HEIF_BRANDS:
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


def failure_reason(head: bytes, exc: BaseException | None) -> str:
    """Best reason for a file Pillow could not identify or decode, from its first bytes and the exception."""
    if not head:
        return "empty file"
    if isinstance(exc, Image.DecompressionBombError):  # Pillow's own guard, inside a plugin (GIF frame, TIFF tile)
        return f"image too large: {short_error(exc)} (possible decompression bomb)"
    if "MAX_TEXT_MEMORY" in str(exc):  # PngImagePlugin's bound on all text chunks of one file
        return (f"PNG refused: text metadata over the {pillow_guard.PNG_MAX_TEXT_MEMORY >> 20} MiB limit "
                "(a metadata flood)")
    if "MAX_TEXT_CHUNK" in str(exc):  # ... and on one compressed text chunk, inflated
        return "PNG refused: a compressed text chunk inflates past 1 MiB (a metadata bomb)"
    if isinstance(exc, Image.UnidentifiedImageError):
        exc = None  # "cannot identify image file <_io.BytesIO ...>" says nothing useful
    claimed = image_magic(head)
    if claimed:
        if claimed in ("HEIF", "AVIF") and claimed not in Image.OPEN:
            return f"{claimed} not supported (pillow_heif unavailable)"
        return f"truncated/corrupt {claimed} ({short_error(exc)})" if exc else f"truncated/corrupt {claimed}"
    what = describe_bytes(head)
    if what:
        return f"not an image ({what})"
    return "not an image (unrecognised file format)"


def short_error(exc: BaseException | None) -> str:
    """``exc``'s message on one line (its type name if it has none), cut to 80 characters; "" for None."""
    if exc is None:
        return ""
    msg = str(exc).strip() or type(exc).__name__
    msg = re.sub(r"\s+", " ", msg)
    return msg if len(msg) <= 80 else msg[:77] + "..."
