"""Registry of image transforms: the robustness lab and the demo data are both built from it.

Each :class:`Transform` is one family of edits (rotation, crop, JPEG re-encoding, ...) with one scalar
*strength* in a natural unit (degrees, fraction, quality, ...). ``TRANSFORMS`` is ordered (geometry first,
then photometric edits, then encodings and overlays) and drives the UI pickers, the sweep experiment and
the tests; adding a transform is one function plus one registry entry.

Conventions shared by every transform
-------------------------------------
* RGB :class:`PIL.Image.Image` in, new RGB image out; the input is never modified. :func:`apply` converts
  other modes to RGB first.
* Deterministic: same input and strength -> same pixels (noise uses a fixed seed; the overlay uses Pillow's
  bundled default font).
* ``identity`` is the strength at which the transform returns the input unchanged within rounding (max abs
  pixel difference <= 1); the exception is ``jpeg`` at quality 100, a real encode/decode round trip:
  max abs difference ~3-4 levels, mean < 0.2 (measured on the demo photos).
* ``sweep`` lists the default strengths of the sweep experiment. It starts at ``identity`` and moves
  monotonically away from it: increasing for most transforms, **decreasing** for ``scale`` and ``jpeg``,
  whose identity sits at the top of their range (factor 1.0, quality 100). Use :func:`severity` for an
  always-increasing 0..1 "how far from identity" axis.
* Geometry and size: ``rotation``, ``perspective``, ``tilt``, ``hflip`` keep the canvas size (uncovered
  corners are filled white, like a print on white paper or a scanned page); ``crop``, ``shift``, ``scale``
  and ``aspect`` change the output size, as real crops and resizes do.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

__all__ = ["Transform", "TRANSFORMS", "apply", "severity", "perspective_coefficients", "NOISE_SEED"]

WHITE = (255, 255, 255)
NOISE_SEED = 20240607  # fixed: the same image and sigma always get the same noise
_RESAMPLE = Image.Resampling.BICUBIC


@dataclass(frozen=True)
class Transform:
    """One registered transform family.

    Attributes
    ----------
    name : str
        Stable id (CLI, DataFrame columns, URLs).
    label, description : str
        Short UI label and one plain-language sentence.
    min, max, step, default : float
        Slider range of the strength, in ``unit``.
    unit : str
        Unit of the strength ("degrees", "fraction", "JPEG quality", ...).
    identity : float
        Strength at which the transform is the identity (within rounding, see module docstring).
    apply : Callable[[Image, float], Image]
        ``apply(rgb_image, strength) -> rgb_image``; pure and deterministic.
    sweep : tuple of float
        Default strengths for the sweep experiment, from ``identity`` outwards (monotonic).
    """

    name: str
    label: str
    description: str
    min: float
    max: float
    step: float
    default: float
    unit: str
    identity: float
    apply: Callable[[Image.Image, float], Image.Image]
    sweep: tuple[float, ...]

    @property
    def binary(self) -> bool:
        """True for on/off transforms (``hflip``): only ``min`` and ``max`` are meaningful."""
        return self.step >= self.max - self.min


# --------------------------------------------------------------------------------------------- geometry
def _rotation(img: Image.Image, degrees: float) -> Image.Image:
    # Counter-clockwise about the centre, same canvas size, corners filled white. expand=True + crop back
    # would change the scale of the content; keeping size keeps "same picture, turned" literal.
    return img.rotate(degrees, resample=_RESAMPLE, expand=False, fillcolor=WHITE)


def _crop(img: Image.Image, fraction: float) -> Image.Image:
    # Centre crop removing `fraction` of the width and of the height (half on each side); output smaller.
    w, h = img.size
    cw, ch = max(1, round(w * (1 - fraction))), max(1, round(h * (1 - fraction)))
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def _shift(img: Image.Image, fraction: float) -> Image.Image:
    # Off-centre crop (re-framing): remove |fraction| of width and height from one corner's side.
    # Positive keeps the bottom-right part (content moves up-left in the frame), negative the top-left.
    w, h = img.size
    cw, ch = max(1, round(w * (1 - abs(fraction)))), max(1, round(h * (1 - abs(fraction))))
    left, top = (w - cw, h - ch) if fraction >= 0 else (0, 0)
    return img.crop((left, top, left + cw, top + ch))


def perspective_coefficients(dst: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """Solve the 8 coefficients of Pillow's ``Image.transform(..., PERSPECTIVE, data)``.

    Pillow maps each *output* pixel (x, y) to the *input* point
    ``((a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (g x + h y + 1))``. Given four output points
    ``dst`` and the input points ``src`` they must sample, this solves the 8x8 linear system
    (the standard direct linear transform for a homography with h33 = 1).

    Parameters
    ----------
    dst, src : ndarray, shape (4, 2)
        Corresponding points (x, y) in output and input pixel coordinates.

    Returns
    -------
    tuple of 8 float
        ``(a, b, c, d, e, f, g, h)``.
    """
    dst = np.asarray(dst, dtype=np.float64)
    src = np.asarray(src, dtype=np.float64)
    A = np.zeros((8, 8))
    rhs = np.zeros(8)
    for i, ((x, y), (X, Y)) in enumerate(zip(dst, src)):
        A[2 * i] = [x, y, 1, 0, 0, 0, -x * X, -y * X]
        A[2 * i + 1] = [0, 0, 0, x, y, 1, -x * Y, -y * Y]
        rhs[2 * i], rhs[2 * i + 1] = X, Y
    return tuple(float(v) for v in np.linalg.solve(A, rhs))


def _keystone(img: Image.Image, strength: float, vertical: bool) -> Image.Image:
    """Project the picture as if the camera were turned (yaw) or pitched (tilt) away from it.

    The far edge is shortened by ``|strength|`` of its length (centred), the near edge stays; the
    homography also foreshortens the interior, unlike a linear shear. Canvas size is kept, uncovered
    wedges are white. Positive strength: right edge (yaw) / top edge (tilt) is the far one.
    """
    w, h = img.size
    s = abs(strength)
    src = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=np.float64)  # TL, TR, BR, BL
    dst = src.copy()
    if not vertical:
        if strength >= 0:  # right edge far: shrink it vertically
            dst[1, 1], dst[2, 1] = s * h / 2, h - s * h / 2
        else:
            dst[0, 1], dst[3, 1] = s * h / 2, h - s * h / 2
    else:
        if strength >= 0:  # top edge far: shrink it horizontally
            dst[0, 0], dst[1, 0] = s * w / 2, w - s * w / 2
        else:
            dst[3, 0], dst[2, 0] = s * w / 2, w - s * w / 2
    coeffs = perspective_coefficients(dst, src)
    return img.transform(img.size, Image.Transform.PERSPECTIVE, coeffs, resample=_RESAMPLE, fillcolor=WHITE)


def _perspective(img: Image.Image, strength: float) -> Image.Image:
    return _keystone(img, strength, vertical=False)


def _tilt(img: Image.Image, strength: float) -> Image.Image:
    return _keystone(img, strength, vertical=True)


def _scale(img: Image.Image, factor: float) -> Image.Image:
    # Uniform resize; the output is the smaller image (what a thumbnail or a "resize for web" produces).
    w, h = img.size
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if size == img.size:
        return img.copy()
    return img.resize(size, Image.Resampling.LANCZOS)


def _aspect(img: Image.Image, ratio: float) -> Image.Image:
    # Non-uniform resize: width x ratio, height unchanged (a stretched or squashed copy).
    w, h = img.size
    size = (max(1, round(w * ratio)), h)
    if size == img.size:
        return img.copy()
    return img.resize(size, Image.Resampling.LANCZOS)


def _hflip(img: Image.Image, strength: float) -> Image.Image:
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if strength >= 0.5 else img.copy()


# ----------------------------------------------------------------------------------------- photometric
def _brightness(img: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(factor)  # pixel x factor, clipped


def _contrast(img: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Contrast(img).enhance(factor)  # around the mean grey level


def _gamma(img: Image.Image, gamma: float) -> Image.Image:
    # out = 255 * (in / 255) ** gamma; gamma > 1 darkens mid-tones, < 1 lightens; black and white stay.
    lut = [min(255, max(0, round(255.0 * (i / 255.0) ** gamma))) for i in range(256)]
    return img.point(lut * 3)


def _grayscale(img: Image.Image, amount: float) -> Image.Image:
    # Blend towards the ITU-R 601 luma (Pillow's "L"); 1 = fully grey, still 3-channel RGB.
    grey = img.convert("L").convert("RGB")
    return Image.blend(img, grey, amount)


def _hue_matrix(degrees: float) -> np.ndarray:
    """3x3 RGB rotation about the grey axis (1, 1, 1) by ``degrees`` (Rodrigues' formula).

    Keeps grey pixels grey and the sum R+G+B constant; a cheap, linear stand-in for an HSV hue shift.
    """
    t = np.deg2rad(degrees)
    k = np.ones(3) / np.sqrt(3.0)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.cos(t) * np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * np.outer(k, k)


def _hue(img: Image.Image, degrees: float) -> Image.Image:
    arr = np.asarray(img, dtype=np.float64)
    out = arr @ _hue_matrix(degrees).T
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


# ----------------------------------------------------------------------------------- noise and encoding
def _blur(img: Image.Image, radius: float) -> Image.Image:
    if radius <= 0:
        return img.copy()
    return img.filter(ImageFilter.GaussianBlur(radius))


def _noise(img: Image.Image, sigma: float) -> Image.Image:
    # Additive Gaussian noise, sigma in grey levels (0..255), independent per channel, fixed seed.
    if sigma <= 0:
        return img.copy()
    arr = np.asarray(img, dtype=np.float64)
    rng = np.random.default_rng(NOISE_SEED)
    out = arr + rng.normal(0.0, sigma, size=arr.shape)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


def _jpeg(img: Image.Image, quality: float) -> Image.Image:
    # Encode + decode in memory. Chroma: 4:4:4 at quality >= 90 (as high-quality export presets do),
    # 4:2:0 below (Pillow's and most cameras' default) -- so quality 100 is near-identity (max diff ~4).
    q = int(round(quality))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q, subsampling=0 if q >= 90 else 2)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def _overlay(img: Image.Image, fraction: float) -> Image.Image:
    """Stamp a watermark: a translucent dark box with white text, bottom-right, ``fraction`` of the width."""
    if fraction <= 0:
        return img.copy()
    w, h = img.size
    bw = max(2, round(w * fraction))
    bh = max(2, min(h, round(bw * 0.3)))
    margin = round(min(w, h) * 0.03)
    x1, y1 = max(0, w - margin - bw), max(0, h - margin - bh)
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rectangle((x1, y1, x1 + bw - 1, y1 + bh - 1), fill=(20, 20, 20, 170), outline=(255, 255, 255, 220),
                   width=max(1, bh // 20))
    text = "\u00a9 SAMPLE"
    size = max(6, round(bh * 0.55))
    font = ImageFont.load_default(size=size)  # Pillow's bundled font: deterministic on every machine
    while size > 6 and draw.textlength(text, font=font) > bw * 0.9:
        size -= 1
        font = ImageFont.load_default(size=size)
    draw.text((x1 + bw / 2, y1 + bh / 2), text, font=font, fill=(255, 255, 255, 235), anchor="mm")
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


# ---------------------------------------------------------------------------------------------- registry
_ALL = [
    Transform("rotation", "Rotation", "Turn the picture about its centre; same canvas, white corners.",
              -180.0, 180.0, 0.5, 5.0, "degrees", 0.0, _rotation,
              (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 45.0, 90.0, 180.0)),
    Transform("crop", "Crop", "Cut a centred crop; the fraction of width and of height removed.",
              0.0, 0.8, 0.01, 0.1, "fraction removed", 0.0, _crop,
              (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)),
    Transform("shift", "Off-centre crop",
              "Re-frame: cut this fraction of width and height from the top-left (+) or bottom-right (-).",
              -0.6, 0.6, 0.01, 0.15, "fraction removed", 0.0, _shift,
              (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)),
    Transform("perspective", "Perspective (turn)",
              "Re-shoot from the side: a 3-D turn that shortens the far edge by this fraction.",
              -0.6, 0.6, 0.01, 0.2, "far-edge shrink", 0.0, _perspective,
              (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)),
    Transform("tilt", "Perspective (tilt)",
              "Re-shoot from below/above: a 3-D tilt that shortens the top (or bottom) edge by this fraction.",
              -0.6, 0.6, 0.01, 0.2, "far-edge shrink", 0.0, _tilt,
              (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)),
    Transform("scale", "Resize", "Shrink the whole picture by this factor (output is smaller).",
              0.05, 1.0, 0.01, 0.5, "scale factor", 1.0, _scale,
              (1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05)),
    Transform("aspect", "Stretch", "Change the aspect ratio: width times this ratio, height unchanged.",
              0.5, 2.0, 0.01, 1.25, "width ratio", 1.0, _aspect,
              (1.0, 1.05, 1.1, 1.25, 1.5, 1.75, 2.0)),
    Transform("hflip", "Mirror", "Flip left-right (on/off).",
              0.0, 1.0, 1.0, 1.0, "on/off", 0.0, _hflip, (0.0, 1.0)),
    Transform("brightness", "Brightness", "Multiply every pixel by this factor (clipped at white).",
              0.1, 3.0, 0.05, 1.3, "factor", 1.0, _brightness,
              (1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0)),
    Transform("contrast", "Contrast", "Stretch grey levels away from the mean by this factor.",
              0.1, 3.0, 0.05, 1.5, "factor", 1.0, _contrast,
              (1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0)),
    Transform("gamma", "Gamma", "Tone curve out = in ** gamma on 0..1 levels (gamma > 1 darkens).",
              0.2, 5.0, 0.05, 1.5, "gamma", 1.0, _gamma,
              (1.0, 1.2, 1.5, 2.0, 3.0, 4.0, 5.0)),
    Transform("grayscale", "Greyscale", "Blend towards the grey-level version (1 = fully grey).",
              0.0, 1.0, 0.05, 1.0, "blend", 0.0, _grayscale,
              (0.0, 0.25, 0.5, 0.75, 1.0)),
    Transform("hue", "Colour shift", "Rotate hues about the grey axis (greys stay grey).",
              -180.0, 180.0, 1.0, 30.0, "degrees", 0.0, _hue,
              (0.0, 10.0, 20.0, 45.0, 90.0, 135.0, 180.0)),
    Transform("blur", "Blur", "Gaussian blur with this radius (standard deviation) in pixels.",
              0.0, 10.0, 0.1, 1.5, "radius px", 0.0, _blur,
              (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0)),
    Transform("noise", "Noise", "Add Gaussian noise with this standard deviation, in grey levels (fixed seed).",
              0.0, 80.0, 1.0, 15.0, "sigma (0-255)", 0.0, _noise,
              (0.0, 5.0, 10.0, 20.0, 30.0, 50.0, 80.0)),
    Transform("jpeg", "JPEG re-encode", "Save as JPEG at this quality and decode again.",
              5.0, 100.0, 1.0, 50.0, "JPEG quality", 100.0, _jpeg,
              (100.0, 90.0, 75.0, 50.0, 30.0, 15.0, 5.0)),
    Transform("overlay", "Watermark", "Stamp a text box in the corner; its width as a fraction of the image.",
              0.0, 0.9, 0.01, 0.3, "width fraction", 0.0, _overlay,
              (0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.9)),
]
TRANSFORMS: dict[str, Transform] = {t.name: t for t in _ALL}


def apply(img: Image.Image, name: str, strength: float) -> Image.Image:
    """Apply the registered transform ``name`` at ``strength`` to ``img``.

    Parameters
    ----------
    img : PIL.Image.Image
        Any mode; converted to RGB first (alpha is dropped, not composited).
    name : str
        A key of :data:`TRANSFORMS`.
    strength : float
        In ``[TRANSFORMS[name].min, TRANSFORMS[name].max]``, in the transform's ``unit``.

    Returns
    -------
    PIL.Image.Image
        A new RGB image; ``img`` is not modified.

    Raises
    ------
    KeyError
        Unknown transform name (the message lists the known ones).
    ValueError
        Strength outside the registered range.
    """
    try:
        t = TRANSFORMS[name]
    except KeyError:
        raise KeyError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}") from None
    strength = float(strength)
    if not (t.min - 1e-9 <= strength <= t.max + 1e-9):
        raise ValueError(f"{name}: strength {strength} outside [{t.min}, {t.max}] ({t.unit})")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return t.apply(img, strength)


def severity(name: str, strength: float) -> float:
    """Distance from identity as a fraction of the farthest end of the range: 0 = identity, 1 = extreme.

    Gives every transform an increasing axis (``scale`` and ``jpeg`` included) for sweep charts.
    """
    t = TRANSFORMS[name]
    span = max(abs(t.max - t.identity), abs(t.min - t.identity))
    return abs(float(strength) - t.identity) / span if span else 0.0
