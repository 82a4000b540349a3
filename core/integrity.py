"""Cheap checks that an image file is whole (not cut short), run on its bytes at dataset load time.

:func:`incomplete_reason` reads the whole file but decodes no pixel: a JPEG's end-of-image marker after its first
scan, a PNG's chunk CRCs up to IEND, a WebP's RIFF length. :func:`core.images.probe` runs it with
``verify=True`` (as dataset loading does), so the common broken files are listed as skipped when a set is loaded
rather than failing later, in the middle of an encoding.
"""
from __future__ import annotations

import io
import struct
import warnings

from . import pillow_guard
from .file_kinds import short_error

__all__ = ["incomplete_reason", "jpeg_first_scan"]


def incomplete_reason(data: bytes, fmt: str) -> str | None:
    """Why a JPEG/PNG/WebP file (Pillow format name ``fmt``) is visibly truncated or corrupt, or None.

    Other formats are not checked (None).
    """
    if fmt in ("JPEG", "MPO"):
        sos = jpeg_first_scan(data)
        if sos < 0:
            return "truncated/corrupt JPEG (no image data)"
        # entropy-coded data byte-stuffs 0xFF, so FF D9 after the first scan can only be an EOI
        if data.rfind(b"\xff\xd9", sos) < 0:
            return "truncated/corrupt JPEG (end-of-image marker missing)"
    elif fmt == "PNG":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fp = io.BytesIO(data)
                flood = pillow_guard.png_flood_reason(fp)
                if flood:
                    raise ValueError(flood)
                im = pillow_guard.open_header(fp, ["PNG"])
                im.verify()  # walks every chunk and checks CRCs; does not inflate IDAT
        except Exception as e:
            return f"truncated/corrupt PNG ({short_error(e)})"
    elif fmt == "WEBP" and data[:4] == b"RIFF":
        declared = struct.unpack("<I", data[4:8])[0] + 8
        if len(data) < declared:
            return f"truncated/corrupt WebP ({len(data)} of {declared} bytes)"
    return None


def jpeg_first_scan(data: bytes) -> int:
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
