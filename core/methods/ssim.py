"""SSIM with SSIM-PIL's semantics, vectorised.

SSIM-PIL's ``compare_ssim(a, b, tile_size=7, GPU=False)`` is *not* textbook (Gaussian-window) SSIM: it cuts each
channel into non-overlapping ``tile x tile`` tiles (dropping the right/bottom remainder), computes the SSIM formula
once per tile and channel with population statistics, and averages. Constants: ``C1 = (0.01 * 255)**2``,
``C2 = (0.03 * 255)**2``; per tile ``(2 mx my + C1)(2 cov + C2) / ((mx^2 + my^2 + C1)(vx + vy + C2))``.

The fast path stores each image's resized pixels once and computes, for all pairs of a block at once, the only
pair-dependent statistic (the per-tile sum of ``x * y``) as a batched matrix product; it matches SSIM-PIL to
~1e-15. SSIM-PIL itself is the per-pair reference (``compare``).

Source: https://en.wikipedia.org/wiki/Structural_similarity and SSIM-PIL 1.0.14 ``_cpu_strategy.py``.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .base import Method, Param, ThresholdSpec

TILE = 7
C1 = (255 * 0.01) ** 2
C2 = (255 * 0.03) ** 2
SIZE_CHOICES = (64, 128, 256)
DEFAULT_SIZE = 128


def _prepare(img: Image.Image, size: int, grayscale: bool) -> Image.Image:
    return img.convert("L" if grayscale else "RGB").resize((size, size), Image.Resampling.BILINEAR)


def encode_ssim(images, size: int = DEFAULT_SIZE, grayscale: bool = False, **_ignored) -> np.ndarray:
    """Resized pixels, one ``uint8`` row per image of length ``size*size*channels`` (layout H, W, C)."""
    ch = 1 if grayscale else 3
    out = np.empty((len(images), size * size * ch), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = np.asarray(_prepare(img, size, grayscale), dtype=np.uint8).reshape(-1)
    return out


def _tiles(X: np.ndarray, size: int, ch: int) -> np.ndarray:
    """(n, size*size*ch) uint8 -> (T, n, TILE*TILE) float64, T = tiles per image * channels."""
    n = X.shape[0]
    k = size // TILE
    usable = k * TILE
    img = X.reshape(n, size, size, ch)[:, :usable, :usable, :].astype(np.float64)
    # (n, ky, 7, kx, 7, ch) -> (ky, kx, ch, n, 7*7)
    t = img.reshape(n, k, TILE, k, TILE, ch).transpose(1, 3, 5, 0, 2, 4).reshape(k * k * ch, n, TILE * TILE)
    return t


def _tile_stats(X: np.ndarray, size: int, ch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tiles (T, n, 49), per-tile sums (T, n) and sums of squared deviations (T, n) of rows ``X``."""
    t = _tiles(X, size, ch)
    s = t.sum(axis=2)
    v = ((t - (s / (TILE * TILE))[..., None]) ** 2).sum(axis=2)
    return t, s, v


def block_shape(n_a: int, n_b: int, tiles: int, block_bytes: int) -> tuple[int, int]:
    """Rows of A and of B per block so that one block's float64 arrays stay within ``block_bytes``.

    A block of r x c pairs holds the tiles of r + c images (twice: values and deviations, ``2 * 49 * 8 * tiles``
    bytes each) and about six (tiles, r, c) float64 arrays of pair statistics.
    """
    unit = 8 * tiles
    per_img, per_pair = 2 * TILE * TILE, 6
    budget = max(1.0, block_bytes / unit)
    # square blocks first (both sides large), then let the other side grow if one side is short
    s = int((-2 * per_img + np.sqrt(4 * per_img ** 2 + 4 * per_pair * budget)) / (2 * per_pair))
    r = max(1, min(n_a, s))
    c = max(1, min(n_b, int((budget - per_img * r) / (per_img + per_pair * r))))
    r = max(1, min(n_a, int((budget - per_img * c) / (per_img + per_pair * c))))
    return r, c


def ssim_pairwise(A: np.ndarray, B: np.ndarray, size: int = DEFAULT_SIZE, grayscale: bool = False,
                  block_bytes: int | None = None, **_ignored) -> np.ndarray:
    """SSIM-PIL SSIM for every pair of rows; shape (len(A), len(B)), values in [-1, 1] (typically [0, 1]).

    Works in blocks of A rows x B rows whose float64 temporaries stay within ``block_bytes`` (default
    ``core.config.budgets().block_bytes``): no float64 copy of all of A or B is made (at size 256, RGB, that is
    1.5 MB per image). Every pair's value depends only on its two rows, so the blocks give identical values.
    """
    from core import config  # lazy: keeps the method modules free of settings at import time

    ch = 1 if grayscale else 3
    n_px = TILE * TILE
    k = size // TILE
    T = k * k * ch
    n_a, m = A.shape[0], B.shape[0]
    out = np.empty((n_a, m), dtype=np.float64)
    rows, cols = block_shape(n_a, m, T, int(block_bytes or config.budgets().block_bytes))
    for c0 in range(0, m, cols):
        TB, sb, vb = _tile_stats(B[c0:c0 + cols], size, ch)  # (T, c, 49), (T, c), (T, c)
        mb = sb / n_px
        for r0 in range(0, n_a, rows):
            TA, sa, va = _tile_stats(A[r0:r0 + rows], size, ch)
            ma = sa / n_px
            sxy = np.matmul(TA, TB.transpose(0, 2, 1))  # (T, r, c)
            cov = (sxy - sa[:, :, None] * sb[:, None, :] / n_px) / n_px
            var_sum = (va[:, :, None] + vb[:, None, :]) / n_px
            mu_a, mu_b = ma[:, :, None], mb[:, None, :]
            per_tile = ((2.0 * mu_a * mu_b + C1) * (2.0 * cov + C2)
                        / (mu_a * mu_a + mu_b * mu_b + C1) / (var_sum + C2))
            # mean over a contiguous last axis: numpy sums each pair's T values in the same (pairwise) order
            # whatever the block shape, so every block size gives bit-identical scores
            out[r0:r0 + rows, c0:c0 + cols] = np.ascontiguousarray(per_tile.transpose(1, 2, 0)).mean(axis=2)
    return out


def ssim_compare(img_a: Image.Image, img_b: Image.Image, size: int = DEFAULT_SIZE, grayscale: bool = False,
                 **_ignored) -> float:
    """Reference: SSIM-PIL's own ``compare_ssim(..., GPU=False)`` on the two resized images (slow: pure Python)."""
    from SSIM_PIL import compare_ssim  # imported lazily: the package prints on import when pyopencl is missing

    return float(compare_ssim(_prepare(img_a, size, grayscale), _prepare(img_b, size, grayscale),
                              tile_size=TILE, GPU=False))


SSIM = Method(
    name="ssim",
    label="SSIM (structural similarity)",
    family="structure",
    summary=("Shrinks both images to the same square, cuts them into small 7x7 tiles and compares brightness, "
             "contrast and local structure tile by tile (SSIM-PIL's algorithm). 1 means structurally identical."),
    wins="re-encoded, lightly compressed, slightly blurred or brightened copies",
    fails="anything that moves pixels: crops, rotations, flips, re-shot photos; it is also the slowest pixel method",
    unit="SSIM",
    higher_is_closer=True,
    threshold=ThresholdSpec(min=0.0, max=1.0, step=0.005, default=0.52),
    encode=encode_ssim,
    pairwise=ssim_pairwise,
    compare=ssim_compare,
    params=(Param("size", DEFAULT_SIZE, "images are resized to size x size before comparing", SIZE_CHOICES),
            Param("grayscale", False, "compare luminance only (faster) instead of R, G and B", (False, True))),
    input_size=256,
    reference_atol=1e-9,
    source="https://en.wikipedia.org/wiki/Structural_similarity",
    article_row=True,
)
