"""Opening a file with Pillow safely: header only, our formats only, no process-wide switch, no chunk floods.

Two guards used by :mod:`core.images` before any pixel is decoded:

* :func:`open_header` identifies the file and parses its header the way ``PIL.Image.open`` does (each registered
  format's ``accept`` test, then its opener; lazy, no pixels), minus Pillow's process-wide decompression-bomb check.
  That check refuses above 2 x ``Image.MAX_IMAGE_PIXELS`` before the caller can compare the size with its *own*
  per-call limit; the old way round it lifted ``Image.MAX_IMAGE_PIXELS`` for the whole process for a moment, so
  another thread opening an image then had no guard at all. Here the global is never touched at run time: the
  caller checks ``im.size`` against its limit before it loads pixels (:func:`core.images.probe`,
  :func:`core.images.open_image`). :func:`install_pillow_limits` runs once, at import.
* :func:`png_flood_reason` walks a PNG's chunk headers (8 bytes each, no CRC, no inflation) and refuses floods:
  Pillow parses every chunk in Python (~5 µs each), so 16 M empty chunks in a 200 MB file cost minutes.
"""
from __future__ import annotations

import struct

from PIL import Image, ImageFile, PngImagePlugin

__all__ = ["PNG_MAX_METADATA_CHUNKS", "PNG_MAX_TEXT_MEMORY", "install_pillow_limits", "open_header",
           "png_flood_reason"]

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_DATA_CHUNKS = (b"IDAT", b"fdAT", b"fcTL")
#: PNG chunks other than image data in one file. Real files carry a handful (colour profile, gamma, text, EXIF,
#: time, physical size); a thousand is already absurd.
PNG_MAX_METADATA_CHUNKS = 1024
#: Decompressed text (tEXt/zTXt/iTXt) Pillow keeps per PNG. Pillow's default is 64 MiB per image; real text
#: metadata (XMP, comments) is kilobytes.
PNG_MAX_TEXT_MEMORY = 8 << 20


def _png_max_data_chunks(file_size: int) -> int:
    """Image-data chunks allowed in a PNG of ``file_size`` bytes: encoders write 8-64 KiB per IDAT (libpng: 8 KiB),
    so more than one chunk per 512 bytes of file (plus 4,096 for tiny files and APNG frames) is a flood."""
    return 4096 + file_size // 512


def png_flood_reason(fp) -> str | None:
    """Why this PNG is refused before Pillow parses it (too many chunks), or None (also for non-PNG files).

    Parameters
    ----------
    fp : binary file object, seekable
        Left at an unspecified position.

    Returns
    -------
    str or None
        A short human-readable reason.

    Notes
    -----
    Stops at IEND, at the end of the file or at the first count over its limit: at most
    ``PNG_MAX_METADATA_CHUNKS + _png_max_data_chunks(size)`` 8-byte reads. Broken chunk structure is left to
    Pillow, which reports it.
    """
    fp.seek(0)
    if fp.read(8) != _PNG_SIG:
        return None
    size = fp.seek(0, 2)
    max_data = _png_max_data_chunks(size)
    pos, meta, data = 8, 0, 0
    while pos + 8 <= size:
        fp.seek(pos)
        head = fp.read(8)
        if len(head) < 8:
            break
        length, ctype = struct.unpack(">I4s", head)
        if ctype in _PNG_DATA_CHUNKS:
            data += 1
            if data > max_data:
                return (f"PNG refused: more than {max_data:,} image-data chunks in {size:,} bytes "
                        "(a chunk flood)")
        else:
            meta += 1
            if meta > PNG_MAX_METADATA_CHUNKS:
                return f"PNG refused: more than {PNG_MAX_METADATA_CHUNKS:,} metadata chunks (a chunk flood)"
            if ctype == b"IEND":
                break
        pos += 12 + length  # length, type, data, CRC
    return None


def open_header(fp, formats: list[str]) -> ImageFile.ImageFile:
    """Identify ``fp`` among ``formats`` and parse its header (lazy: no pixels), like ``Image.open`` without its
    size check.

    Parameters
    ----------
    fp : binary file object, seekable
    formats : list of str
        Pillow format names, tried in order; each must be registered (``Image.OPEN``, after ``Image.init()``).

    Returns
    -------
    PIL.ImageFile.ImageFile
        The caller must check ``im.size`` against its own limit before loading pixels.

    Raises
    ------
    PIL.UnidentifiedImageError
        No format accepts the file.
    Exception
        Whatever a format's opener raises for a file it accepted but cannot parse, other than the "not mine"
        errors ``Image.open`` also treats as "try the next format".
    """
    fp.seek(0)
    prefix = fp.read(16)
    for fmt in formats:
        factory, accept = Image.OPEN[fmt]
        verdict = accept(prefix) if accept else True
        if not verdict or isinstance(verdict, str):  # a str is Pillow's "looks like it, but unsupported" note
            continue
        fp.seek(0)
        try:
            return factory(fp, "")
        except (SyntaxError, IndexError, TypeError, struct.error):  # as Image.open: not this format
            continue
    raise Image.UnidentifiedImageError("cannot identify image file")


def install_pillow_limits(max_pixels: int | None) -> None:
    """Set Pillow's process-wide limits once (at import of :mod:`core.images`), never to be toggled afterwards.

    * ``Image.MAX_IMAGE_PIXELS`` keeps Pillow's default unless the configured limit is higher: Pillow's own guard
      also runs inside some plugins (GIF frames, TIFF tiles, MPO, WebP) and must not refuse what we allow. It stays
      on for every other user of Pillow in the process.
    * ``PngImagePlugin.MAX_TEXT_MEMORY`` is lowered to :data:`PNG_MAX_TEXT_MEMORY` (``MAX_TEXT_CHUNK``, 1 MiB per
      compressed text chunk, is kept).
    """
    if max_pixels is not None and Image.MAX_IMAGE_PIXELS is not None and max_pixels > 2 * Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels // 2 + 1
    PngImagePlugin.MAX_TEXT_MEMORY = min(PngImagePlugin.MAX_TEXT_MEMORY, PNG_MAX_TEXT_MEMORY)
