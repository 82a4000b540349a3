"""Shrink a decoded image to what its caller needs, and convert it to 8-bit RGB without full-resolution copies.

Every method resizes to a few hundred pixels at most (CNN 224, SSIM <= 256, pixel methods <= 128, hashes <= 64),
so a 13,000 x 13,000 PNG must not stay 507 MB of RGB while it waits in a batch. :func:`reduce_factors` says by how
much a decoded image may be box-reduced (``PIL.Image.reduce``, an exact integer-factor mean) so that each side
stays at least :data:`REDUCE_MARGIN` x the caller's target; :func:`to_rgb` converts any Pillow mode to RGB *and*
applies that reduction stripe by stripe, so the only full-resolution buffer alive is the decoded file itself.

Why a margin of 3 (Pillow's ``reducing_gap`` documents the same two-step scheme and calls 3 "indistinguishable"):
measured on the 14 demo photos upscaled 3x with +-5 grey-level noise, every method encoded from the reduced image
versus from full resolution: pixel features within 3 grey levels (margin 2: 17), pair scores within 0.0005 cosine /
0.0015 SSIM / 0.007 CNN cosine (the cat's near copy is 0.04 from 1), hashes 0-0.5 bits on average. JPEG draft
decoding (margin 1, already used) changes features more than that.

Conversion rules (unchanged from before the reduction was added): first frame, alpha composited on white,
16-bit scaled by 1/257, 32-bit int and float scaled by their evident range (never clipped).
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np
from PIL import Image

from . import config

#: Each side of a reduced image stays >= this many times the caller's target size.
REDUCE_MARGIN = 3
#: Pixels converted at once (rows of a stripe x width): bounds the temporaries of a mode conversion.
STRIPE_PIXELS = 1 << 22
#: How a caller will use the image, which decides how far each axis may be reduced:
#: "cover" - both sides stay >= margin x target (aspect kept; any crop or resize to target works);
#: "contain" - the long side stays >= margin x target (aspect kept; thumbnails that fit in target);
#: "stretch" - each side on its own stays >= margin x target (the caller resizes to a square ignoring the aspect,
#: as every similarity method does).
FITS = ("cover", "contain", "stretch")


class PixelGate:
    """Bounds the full-resolution pixels being decoded at once in this process, all threads together.

    Streamlit serves every visitor from threads of one process: ten visitors each decoding a 169 MP PNG would be
    ten 676 MB buffers. A decode holds ``width x height`` pixels of ``config.budgets().decode_batch_pixels`` until
    its image is shrunk; an image larger than the whole budget waits until it can decode alone.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self.in_flight = 0
        self.peak = 0

    @contextlib.contextmanager
    def hold(self, pixels: int):
        need = max(1, min(int(pixels), config.budgets().decode_batch_pixels))
        budget = config.budgets().decode_batch_pixels
        with self._cond:
            while self.in_flight and self.in_flight + need > budget:
                self._cond.wait()
            self.in_flight += need
            self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            with self._cond:
                self.in_flight -= need
                self._cond.notify_all()


#: The process-wide gate :func:`core.images.open_image` decodes through.
DECODE_GATE = PixelGate()


def reduce_factors(width: int, height: int, target: int | None, fit: str = "cover") -> tuple[int, int]:
    """Integer box-reduction factors (fx, fy) >= 1 for a ``width`` x ``height`` image shrunk towards ``target``."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if not target or target <= 0:
        return 1, 1
    keep = REDUCE_MARGIN * int(target)
    fx, fy = max(1, width // keep), max(1, height // keep)
    if fit == "stretch":
        return fx, fy
    if fit == "contain":  # the long side keeps >= keep pixels; the short side may go below (never under 1 px)
        f = max(1, max(width, height) // keep)
    else:
        f = min(fx, fy)
    return f, f


def reduced_size(width: int, height: int, target: int | None, fit: str = "cover") -> tuple[int, int]:
    """Size of the image :func:`to_rgb` returns for a decoded ``width`` x ``height`` (an upper bound for a JPEG,
    which draft mode may shrink further at decode time)."""
    fx, fy = reduce_factors(width, height, target, fit)
    return -(-width // fx), -(-height // fy)


def to_rgb(im: Image.Image, factors: tuple[int, int] = (1, 1)) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, box-reduced by ``factors`` (fx, fy).

    Large images are converted in horizontal stripes whose height is a multiple of ``fy``, each reduced before the
    next, so no full-resolution RGB / float copy of the whole image is ever made; the result equals converting the
    whole image and then reducing it (a box mean is local). The input is not modified (the caller closes it).
    """
    fx, fy = max(1, int(factors[0])), max(1, int(factors[1]))
    w, h = im.size
    scale = _range_of(im)  # I / F / I;16: one pass over stripes for the global range
    if fx == fy == 1 and w * h <= STRIPE_PIXELS:
        return _convert(im, scale, copy=True)
    rows = max(fy, (STRIPE_PIXELS // max(1, w)) // fy * fy)
    out = Image.new("RGB", (-(-w // fx), -(-h // fy)))
    for y in range(0, h, rows):
        part = _convert(im.crop((0, y, w, min(h, y + rows))), scale, copy=False)
        if fx > 1 or fy > 1:
            part = part.reduce((fx, fy))
        out.paste(part, (0, y // fy))
    return out


def _convert(im: Image.Image, scale, copy: bool) -> Image.Image:
    """One piece of an image to RGB (alpha on white, high bit depths scaled with the whole image's ``scale``)."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im.copy() if copy else im
    if scale is not None:
        return Image.fromarray(_scale_to_u8(np.asarray(im), scale), "L").convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    try:
        return im.convert("RGB")
    except ValueError:
        from .images import ImageError  # images imports this module; the error type lives there

        raise ImageError(f"unsupported colour mode {mode}") from None


def _stripes(im: Image.Image):
    w, h = im.size
    rows = max(1, STRIPE_PIXELS // max(1, w))
    for y in range(0, h, rows):
        yield np.asarray(im.crop((0, y, w, min(h, y + rows))))


def _range_of(im: Image.Image):
    """(offset, multiplier) mapping a 16-bit / 32-bit / float image to 0..255, or None for other modes.

    [0, 1] floats -> x255; values within 0..255 kept; within 0..65535 -> /257 (16-bit data widened to 32 bits);
    anything else min-max normalised. Non-finite values count as 0.
    """
    mode = im.mode
    if mode.startswith("I;16"):
        return 0.0, 1.0 / 257.0
    if mode not in ("I", "F"):
        return None
    lo, hi = np.inf, -np.inf
    for a in _stripes(im):
        a = _finite32(a)
        if a.size:
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    if lo > hi:  # empty
        return 0.0, 1.0
    if mode == "F" and lo >= 0 and hi <= 1.0:
        return 0.0, 255.0
    if lo >= 0 and hi <= 255:
        return 0.0, 1.0
    if lo >= 0 and hi <= 65535:
        return 0.0, 1.0 / 257.0
    span = hi - lo
    return (lo, 255.0 / span) if span > 0 else (lo, 0.0)


def _finite32(a: np.ndarray) -> np.ndarray:
    # float32, not float64: half the bytes, and exact for every 16-bit value (the common case)
    a = a.astype(np.float32)
    return np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def _scale_to_u8(a: np.ndarray, scale) -> np.ndarray:
    lo, mul = scale
    a = _finite32(a)
    if lo:
        a -= np.float32(lo)
    if mul != 1.0:
        a *= np.float32(mul)
    np.rint(a, out=a)
    np.clip(a, 0, 255, out=a)
    return a.astype(np.uint8)


__all__ = ["DECODE_GATE", "FITS", "REDUCE_MARGIN", "STRIPE_PIXELS", "PixelGate", "reduce_factors",
           "reduced_size", "to_rgb"]
