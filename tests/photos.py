"""Small real photos for tests (committed under tests/data, see its README) and derived copies."""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageEnhance

DATA = Path(__file__).parent / "data"


@lru_cache(maxsize=None)
def photo(name: str) -> Image.Image:
    """'cat' or 'coffee' as an RGB PIL image."""
    with Image.open(DATA / f"{name}.jpg") as im:
        return im.convert("RGB")


def near_copy(img: Image.Image) -> Image.Image:
    """A slightly transformed copy: 85 % resize, 3 % brighter, JPEG quality 70."""
    w, h = img.size
    small = img.resize((int(w * 0.85), int(h * 0.85)), Image.Resampling.BILINEAR)
    small = ImageEnhance.Brightness(small).enhance(1.03)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=70)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
