"""Geometric verification: do two images show the same scene, seen through one plane-to-plane mapping?

The second stage of a two-stage search (see :mod:`core.two_stage`): a global descriptor proposes candidate pairs,
and this module checks each one with local features, the way the winning systems of the 2021 Image Similarity
Challenge did. It catches what global descriptors miss (crops down to half the area, re-shots from another angle)
and rejects what they confuse.

Per image (once per run, cached in memory by :class:`LocalFeatureStore`): the image is converted to grey and
shrunk to :attr:`VerifyConfig.max_side` pixels on its long side, and OpenCV's SIFT finds at most
:attr:`VerifyConfig.max_keypoints` keypoints (descriptors kept as ``uint8``: 128 bytes each).

Per pair (:func:`verify_features`):

1. match descriptors a -> b, keep a match only when it is clearly better than the second best (Lowe's ratio test,
   ``ratio`` 0.75) and each keypoint of ``b`` is used once. Repeated texture (a tiled background, a brick wall)
   gives near-equal first and second matches and is dropped here;
2. fit a homography with OpenCV's USAC (MAGSAC++) robust estimator; its inliers are the matches it explains;
3. accept only if there are at least ``min_inliers`` inliers, the mapping is sane (finite, orientation-preserving
   or mirrored but not folded: the matched region maps to a convex quadrilateral; local scale within
   ``1/max_scale .. max_scale``), and the inliers cover a meaningful part of an image: the convex hull of the
   inliers covers at least ``min_coverage`` of the image in which it is larger (for a crop, that is the crop).
   A logo pasted in a corner gives many inliers packed in a few percent of both images: rejected.

Result (:class:`Verification`): ``inliers`` (int), ``verified`` (bool), the ``reason`` when rejected, the
``coverage`` and the matched region as a quadrilateral in each image, in the *original* pixel coordinates:
``region_a`` is the bounding box of the inliers in ``a`` and ``region_b`` its image under the homography.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

import cv2
import numpy as np
from PIL import Image

from . import config


@dataclass(frozen=True)
class VerifyConfig:
    """Parameters of the local-feature check (defaults: see the module docstring; not tuned to one set)."""

    max_side: int = 640  # long side (px) features are computed at: bounds time and memory per image
    max_keypoints: int = 1000
    ratio: float = 0.75  # Lowe's ratio test
    ransac_px: float = 6.0  # reprojection error (px at max_side) for an inlier: ~1 % of the long side
    min_inliers: int = 15
    min_coverage: float = 0.2  # share of the image (the one where it is larger) covered by the inliers' hull
    max_scale: float = 6.0  # local scale of the mapping between the two resized images
    thumb_side: int = 160  # long side of the grey thumbnail kept for the appearance check
    min_agreement: float = 0.5  # share of the region's textured cells that must look alike once aligned
    mirrors: bool = True  # also try b mirrored (SIFT descriptors are not mirror-invariant)


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints of one image: ``xy`` (n, 2) float32 in resized pixels, ``desc`` (n, 128) uint8 SIFT descriptors,
    ``size`` (w, h) of the resized image and ``scale`` = original / resized (to report regions in original px)."""

    xy: np.ndarray
    desc: np.ndarray
    size: tuple[int, int]
    scale: float
    thumb: np.ndarray | None = None  # (h, w) uint8 grey, long side ``thumb_side``: for the appearance check

    @property
    def nbytes(self) -> int:
        return int(self.xy.nbytes + self.desc.nbytes + (0 if self.thumb is None else self.thumb.nbytes))


@dataclass(frozen=True)
class Verification:
    """Outcome of one pair check (JSON-ready through :meth:`to_json`)."""

    inliers: int
    verified: bool
    reason: str = ""  # why not verified ("" when verified)
    matches: int = 0  # matches that passed the ratio test
    coverage: float = 0.0
    agreement: float = 0.0  # share of the matched region's textured cells that look alike once aligned
    region_a: np.ndarray | None = None  # (4, 2) float, original pixels of a
    region_b: np.ndarray | None = None  # (4, 2) float, original pixels of b
    mirrored: bool = False  # b matched once mirrored left-right
    points_a: np.ndarray | None = None  # (inliers, 2) float, original pixels of a: the inlier keypoints (to draw)
    points_b: np.ndarray | None = None  # (inliers, 2) float, original pixels of b, row i matches points_a[i]

    def to_json(self) -> dict[str, Any]:
        def quad(q):
            return None if q is None else [[round(float(x), 1), round(float(y), 1)] for x, y in q]
        return {"inliers": int(self.inliers), "verified": bool(self.verified), "reason": self.reason,
                "coverage": round(float(self.coverage), 4), "agreement": round(float(self.agreement), 4),
                "region_a": quad(self.region_a),
                "region_b": quad(self.region_b), "mirrored": bool(self.mirrored)}


_sift_local = threading.local()


def _sift(n: int):
    """One SIFT detector per thread (OpenCV objects are not thread-safe)."""
    det = getattr(_sift_local, "det", None)
    if det is None or getattr(_sift_local, "n", None) != n:
        det = cv2.SIFT_create(nfeatures=n)
        _sift_local.det, _sift_local.n = det, n
    return det


def extract(img: Image.Image, cfg: VerifyConfig = VerifyConfig()) -> LocalFeatures:
    """SIFT keypoints and descriptors of ``img`` on a grey copy shrunk to ``cfg.max_side`` (never enlarged)."""
    grey = img.convert("L")
    w, h = grey.size
    scale = max(w, h) / cfg.max_side if max(w, h) > cfg.max_side else 1.0
    if scale > 1.0:
        grey = grey.resize((max(1, round(w / scale)), max(1, round(h / scale))), Image.Resampling.BILINEAR)
    arr = np.asarray(grey, dtype=np.uint8)
    t = max(1.0, max(grey.size) / cfg.thumb_side)
    thumb = cv2.resize(arr, (max(1, round(grey.size[0] / t)), max(1, round(grey.size[1] / t))),
                       interpolation=cv2.INTER_AREA)
    kps, desc = _sift(cfg.max_keypoints).detectAndCompute(arr, None)
    if desc is None or not kps:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), grey.size, scale, thumb)
    xy = np.array([k.pt for k in kps], dtype=np.float32)
    # OpenCV's SIFT descriptors are float32 holding integers 0..255 (saturated): uint8 loses nothing
    return LocalFeatures(xy, np.clip(np.rint(desc), 0, 255).astype(np.uint8), grey.size, scale, thumb)


def _ratio_matches(da: np.ndarray, db: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ia, ib) of the matches a -> b passing the ratio test, each ``b`` keypoint used at most once."""
    if len(da) < 2 or len(db) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da.astype(np.float32), db.astype(np.float32), k=2)
    ia, ib, dist = [], [], []
    for pair in knn:
        if len(pair) == 2 and pair[0].distance < ratio * pair[1].distance:
            ia.append(pair[0].queryIdx)
            ib.append(pair[0].trainIdx)
            dist.append(pair[0].distance)
    if not ia:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ia_a, ib_a, d_a = np.asarray(ia), np.asarray(ib), np.asarray(dist)
    order = np.argsort(d_a, kind="stable")  # the best match wins a contested b keypoint
    _, first = np.unique(ib_a[order], return_index=True)
    keep = np.sort(order[first])
    return ia_a[keep], ib_a[keep]


def _hull_share(pts: np.ndarray, size: tuple[int, int]) -> float:
    if len(pts) < 3:
        return 0.0
    hull = cv2.convexHull(pts.astype(np.float32))
    return float(cv2.contourArea(hull)) / float(max(1, size[0] * size[1]))


def _box(pts: np.ndarray) -> np.ndarray:
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _sane(H: np.ndarray, box_a: np.ndarray, cfg: VerifyConfig) -> tuple[bool, str, np.ndarray | None]:
    """Is the homography a plausible view change? Returns (ok, reason, box_a mapped into b)."""
    if H is None or not np.all(np.isfinite(H)) or abs(H[2, 2]) < 1e-12:
        return False, "no consistent geometry", None
    quad = cv2.perspectiveTransform(box_a.reshape(-1, 1, 2), H).reshape(-1, 2)
    if not np.all(np.isfinite(quad)):
        return False, "degenerate mapping", None
    # the four corners must stay in front of the camera: a sign change of the projective denominator folds space
    w = H[2, 0] * box_a[:, 0] + H[2, 1] * box_a[:, 1] + H[2, 2]
    if not (np.all(w > 0) or np.all(w < 0)):
        return False, "mapping folds the region", None
    if not cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
        return False, "matched region not convex", None
    area_a = cv2.contourArea(box_a.astype(np.float32))
    area_b = cv2.contourArea(quad.astype(np.float32))
    if area_a <= 0 or area_b <= 0:
        return False, "matched region has no area", None
    s = float(np.sqrt(area_b / area_a))
    if not (1.0 / cfg.max_scale <= s <= cfg.max_scale):
        return False, f"scale {s:.2f} out of bounds", None
    return True, "", quad


def _agreement(fa: LocalFeatures, fb: LocalFeatures, H: np.ndarray, box_a: np.ndarray, grid: int = 8) -> float:
    """Share of the textured cells of the matched region of ``a`` that look like ``b`` once ``b`` is aligned.

    ``b``'s thumbnail is warped into ``a``'s with the homography; the region (``box_a``) is cut into ``grid`` x
    ``grid`` cells; a cell counts when it is fully covered by the warped image and textured in ``a`` (grey standard
    deviation >= 8 of 255: flat cells say nothing); it agrees when the normalised cross-correlation is >= 0.5
    (robust to brightness, contrast and gamma changes). Matches on a shared frame or backdrop around two
    different photos have the right geometry but the centre of the region disagrees.
    """
    ta, tb = fa.thumb, fb.thumb
    if ta is None or tb is None:
        return 1.0
    sa = ta.shape[1] / fa.size[0]  # thumb px per resized px
    sb = tb.shape[1] / fb.size[0]
    Ht = np.diag([sb, sb, 1.0]) @ H @ np.diag([1 / sa, 1 / sa, 1.0])
    h, w = ta.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(tb, Ht, (w, h), flags=flags, borderValue=0).astype(np.float64)
    valid = cv2.warpPerspective(np.full(tb.shape, 255, np.uint8), Ht, (w, h), flags=cv2.INTER_NEAREST |
                                cv2.WARP_INVERSE_MAP, borderValue=0) == 255
    (x0, y0), (x1, y1) = np.floor(box_a.min(axis=0) * sa).astype(int), np.ceil(box_a.max(axis=0) * sa).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    xs = np.linspace(x0, x1, grid + 1).astype(int)
    ys = np.linspace(y0, y1, grid + 1).astype(int)
    a = ta.astype(np.float64)
    agree = counted = 0
    for r in range(grid):
        for c in range(grid):
            sl = (slice(ys[r], ys[r + 1]), slice(xs[c], xs[c + 1]))
            pa, pw = a[sl], warped[sl]
            if pa.size < 9 or not valid[sl].all() or pa.std() < 8.0:
                continue
            counted += 1
            sw = pw.std()
            if sw > 1e-6 and np.mean((pa - pa.mean()) * (pw - pw.mean())) / (pa.std() * sw) >= 0.5:
                agree += 1
    return agree / counted if counted else 1.0


def verify_features(fa: LocalFeatures, fb: LocalFeatures, cfg: VerifyConfig = VerifyConfig()) -> Verification:
    """Check one pair from cached local features (module docstring, steps 1-3)."""
    ia, ib = _ratio_matches(fa.desc, fb.desc, cfg.ratio)
    n = len(ia)
    if n < max(4, cfg.min_inliers):
        return Verification(inliers=0, verified=False, reason=f"{n} distinctive matches", matches=n)
    pa, pb = fa.xy[ia].astype(np.float64), fb.xy[ib].astype(np.float64)
    H, mask = cv2.findHomography(pa, pb, cv2.USAC_MAGSAC, cfg.ransac_px, maxIters=2000, confidence=0.999)
    if H is None or mask is None:
        return Verification(inliers=0, verified=False, reason="no consistent geometry", matches=n)
    inl = mask.reshape(-1).astype(bool)
    k = int(inl.sum())
    pts_a, pts_b = pa[inl] * fa.scale, pb[inl] * fb.scale
    if k < cfg.min_inliers:
        return Verification(inliers=k, verified=False, reason=f"{k} inliers < {cfg.min_inliers}", matches=n,
                            points_a=pts_a, points_b=pts_b)
    box_a = _box(pa[inl])
    ok, reason, quad = _sane(H, box_a, cfg)
    cov = max(_hull_share(pa[inl], fa.size), _hull_share(pb[inl], fb.size))
    ra = box_a * fa.scale
    rb = None if quad is None else quad * fb.scale
    if ok and cov < cfg.min_coverage:
        ok, reason = False, f"inliers cover {cov:.0%} of the image (< {cfg.min_coverage:.0%})"
    agree = _agreement(fa, fb, H, box_a) if ok else 0.0
    if ok and agree < cfg.min_agreement:
        ok, reason = False, f"aligned region looks alike in {agree:.0%} of its cells (< {cfg.min_agreement:.0%})"
    return Verification(inliers=k, verified=ok, reason=reason, matches=n, coverage=cov, agreement=agree,
                        region_a=ra, region_b=rb, points_a=pts_a, points_b=pts_b)


def unmirror(v: Verification, width_b: float) -> Verification:
    """A check made against ``b`` mirrored left-right, with its region mapped back to ``b``'s own pixels."""
    pb = None
    if v.points_b is not None:
        pb = v.points_b.copy()
        pb[:, 0] = width_b - pb[:, 0]
    if v.region_b is None:
        return dataclasses.replace(v, points_b=pb)  # (mirrored stays as before: no region was matched)
    rb = v.region_b.copy()
    rb[:, 0] = width_b - rb[:, 0]
    return dataclasses.replace(v, region_b=rb[::-1].copy(), points_b=pb, mirrored=True)


def verify_with_mirror(fa: LocalFeatures, fb: LocalFeatures, fb_mirror: Callable[[], LocalFeatures | None],
                       cfg: VerifyConfig = VerifyConfig()) -> Verification:
    """:func:`verify_features`, then, if not verified and ``cfg.mirrors``, against ``b`` mirrored (a mirrored copy
    has different SIFT descriptors); the better of the two checks is returned."""
    v = verify_features(fa, fb, cfg)
    if v.verified or not cfg.mirrors:
        return v
    fm = fb_mirror()
    if fm is None:
        return v
    vm = verify_features(fa, fm, cfg)
    if vm.verified or vm.inliers > v.inliers:
        return unmirror(vm, fb.size[0] * fb.scale)
    return v


def verify_images(img_a: Image.Image, img_b: Image.Image, cfg: VerifyConfig = VerifyConfig()) -> Verification:
    """Check one pair of images (extracts features for both; use :class:`LocalFeatureStore` for many pairs)."""
    return verify_with_mirror(extract(img_a, cfg), extract(img_b, cfg),
                              lambda: extract(img_b.transpose(Image.Transpose.FLIP_LEFT_RIGHT), cfg), cfg)


class LocalFeatureStore:
    """Local features of the images of one run, computed once per image and kept in memory (LRU, bounded).

    Parameters
    ----------
    load : callable key -> PIL.Image.Image
        Opens an image (e.g. a dataset item's source); may raise, then the image has no features (and every
        pair with it is not verified, reason "unreadable").
    cfg : VerifyConfig
    max_bytes : int, optional
        Bound on the cached features (default :func:`core.config.verify_cache_bytes`); least recently used images
        are dropped and recomputed if needed again.
    """

    def __init__(self, load: Callable[[Hashable], Image.Image], cfg: VerifyConfig = VerifyConfig(),
                 max_bytes: int | None = None):
        self.load = load
        self.cfg = cfg
        self.max_bytes = config.verify_cache_bytes() if max_bytes is None else int(max_bytes)
        self._lru: OrderedDict[Hashable, LocalFeatures | None] = OrderedDict()
        self._bytes = 0
        self.extracted = 0  # images whose features were computed (a test checks "once per image")

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, key: Hashable, mirrored: bool = False) -> LocalFeatures | None:
        """The features of one image (computed on first use; ``mirrored``: of its left-right mirror image); None if
        it could not be opened."""
        slot = (key, mirrored)
        if slot in self._lru:
            self._lru.move_to_end(slot)
            return self._lru[slot]
        try:
            img = self.load(key)
            f = extract(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else img, self.cfg)
        except Exception:  # noqa: BLE001 - one unreadable file must not stop a run: its pairs stay unverified
            f = None
        self.extracted += 1
        self._lru[slot] = f
        self._bytes += f.nbytes if f is not None else 0
        while self._bytes > self.max_bytes and len(self._lru) > 2:
            _, old = self._lru.popitem(last=False)
            self._bytes -= old.nbytes if old is not None else 0
        return f

    def verify(self, key_a: Hashable, key_b: Hashable) -> Verification:
        """Check the pair (``key_b`` also mirrored when needed, see :func:`verify_with_mirror`)."""
        fa, fb = self.get(key_a), self.get(key_b)
        if fa is None or fb is None:
            return Verification(inliers=0, verified=False, reason="unreadable")
        return verify_with_mirror(fa, fb, lambda: self.get(key_b, mirrored=True), self.cfg)
