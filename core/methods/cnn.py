"""CNN features compared by Euclidean distance or cosine similarity (the article's last two rows).

Each image is run through EfficientNet (Lite0 ImageNet weights by default, see :mod:`core.cnn`) and becomes the
1,280 globally average-pooled activations of the last convolution block. Two records share that encoder:

* ``cnn-euclidean`` - L2 distance between feature vectors, lower is closer;
* ``cnn-cosine`` - cosine similarity between feature vectors, higher is closer.

Source: Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs" (https://arxiv.org/abs/1905.11946), Lite
variants https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite; PyTorch implementation
https://github.com/lukemelas/EfficientNet-PyTorch. The article used un-pooled final feature maps without
normalisation; pooled, normalised features are the better default (:meth:`core.cnn.Model.feature_maps` keeps the
article's variant available).

Default thresholds were calibrated on the project's three development sets (caltech101_random_resize,
imagededup_testdata, pillow_photos; 169 images, 5,302 pairs) by maximising pair F1 - see ``extra["calibration"]``.
They hold for the Lite0 weights; a different network (B0 weights) has a different feature scale, so re-check the
Euclidean threshold with the threshold sweep.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import kernels
from .base import Method, Param, ThresholdSpec

_SOURCE = "https://arxiv.org/abs/1905.11946 (EfficientNet); https://github.com/lukemelas/EfficientNet-PyTorch"

_PARAMS = (
    Param("weights", None, "Path to an EfficientNet-B0 or -Lite0 .pth state dict (efficientnet_pytorch key names). "
                           "Empty: $DUPFINDER_EFFICIENTNET_WEIGHTS if set, else the bundled EfficientNet-Lite0 "
                           "ImageNet weights. Nothing is ever downloaded."),
    Param("backend", "auto", "Inference engine: 'onnx' (ONNX Runtime, ~3x faster on CPU), 'torch' (PyTorch, the "
                             "reference), or 'auto' (ONNX Runtime when available, else PyTorch). Results agree to "
                             "about 1e-5.", choices=("auto", "torch", "onnx")),
)


def cache_identity(params) -> dict:
    """The weights file that will really run (explicit, environment or bundled) with its size and mtime, so features
    cached for one network are never served for another. The backend is left out: torch and ONNX agree to ~1e-5."""
    import os

    from core import cnn

    path = cnn.resolve_weights(params.get("weights")) or cnn.lite0_weights_path()
    st = os.stat(path)
    return {"weights": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _model(weights=None, backend="auto"):
    from core import cnn  # lazy: keeps torch out of `import core.methods...`

    return cnn.get_model(weights, backend)


def encode(images: Sequence, weights: str | None = None, backend: str = "auto", *, progress=None,
           batch_size: int | None = None) -> np.ndarray:
    """Pooled EfficientNet features.

    Parameters
    ----------
    images : list of RGB PIL.Image.Image
    weights, backend : see the method parameters
    progress : callable(done, total, message), optional
    batch_size : int, optional
        Images per forward pass (speed/memory only; default :data:`core.cnn.DEFAULT_BATCH`).

    Returns
    -------
    ndarray, shape (n, 1280), float32
    """
    from core import cnn

    model = _model(weights, backend)
    if len(images) == 0:
        return np.empty((0, cnn.FEATURE_DIM), np.float32)
    return model.features(images, batch_size=batch_size or cnn.DEFAULT_BATCH, progress=progress)


def _as2d(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(1, -1) if x.ndim == 1 else x


def pairwise_euclidean(A, B, **_params) -> np.ndarray:
    """L2 distances, shape (len(A), len(B)), float64.

    Uses ||a||^2 + ||b||^2 - 2 a.b in float64 (one matrix product; cancellation error ~1e-13 relative to
    ||a||^2 ~ 200, i.e. < 1e-6 in distance), clipped at 0 before the square root.
    """
    A, B = _as2d(A), _as2d(B)
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.sqrt(np.maximum(d2, 0.0))


def pairwise_cosine(A, B, **_params) -> np.ndarray:
    """Cosine similarities, shape (len(A), len(B)), float64 in [-1, 1]; an all-zero row scores 0."""
    A, B = _as2d(A), _as2d(B)
    na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
    An = A / np.where(na == 0, 1.0, na)[:, None]
    Bn = B / np.where(nb == 0, 1.0, nb)[:, None]
    return np.clip(An @ Bn.T, -1.0, 1.0)


def _encode_one(img, weights, backend) -> np.ndarray:
    # the article encodes both images for every pair; so does the reference (one forward pass per image)
    return _model(weights, backend).features([img], batch_size=1)[0]


def compare_euclidean(img_a, img_b, weights: str | None = None, backend: str = "auto") -> float:
    """Article-style reference: encode each image on its own, then ``numpy.linalg.norm(fa - fb)``."""
    fa, fb = _encode_one(img_a, weights, backend), _encode_one(img_b, weights, backend)
    return float(np.linalg.norm(fa - fb))


def compare_cosine(img_a, img_b, weights: str | None = None, backend: str = "auto") -> float:
    """Article-style reference: encode each image on its own, then ``fa . fb / (|fa| |fb|)``."""
    fa, fb = _encode_one(img_a, weights, backend), _encode_one(img_b, weights, backend)
    denom = float(np.linalg.norm(fa)) * float(np.linalg.norm(fb))
    return float(np.dot(fa, fb) / denom) if denom else 0.0


_SUMMARY = ("A neural network, EfficientNet-Lite0 trained on ImageNet (1.3 million photos of 1,000 kinds of "
            "things), looks at each picture shrunk to 224x224 pixels and describes what is in it with 1,280 "
            "numbers. Two copies of the same photo get almost the same numbers even after resizing, re-compressing, "
            "small crops or colour changes, because the network reacts to content and shapes rather than exact "
            "pixels. {how} (With your own EfficientNet-B0 weights file, B0 runs instead; the app shows which "
            "network ran.)")
_WINS = ("Re-encoded, resized, slightly cropped, recoloured or re-shot copies of the same scene; photos with "
         "different sizes or formats. The most robust of the classic methods in the article (86 % on SFBench).")
_FAILS = ("Different photos of the same kind of thing (two ants, two cups of coffee) can score as close as real "
          "duplicates; it does not see small edits such as a watermark or text; slowest method "
          "(~50-200 images per second on a laptop CPU, plus a one-off model load of 1-2 s).")

_CALIBRATION = {
    "sets": "caltech101_random_resize, imagededup_testdata, pillow_photos (169 images, 5,302 pairs, 732 duplicate)",
    "cnn-euclidean": {"default": 10.0, "mean_pair_f1": 0.894, "pooled_pair_f1": 0.919,
                      "per_set_f1": {"caltech101_random_resize": 1.0, "imagededup_testdata": 0.783,
                                     "pillow_photos": 0.900},
                      "best_mean_f1": "0.901 at 11.0 (plateau 8.75-11.0; 11 sits on the closest non-duplicate, "
                                      "10.8, so 10 is used)"},
    "cnn-cosine": {"default": 0.70, "mean_pair_f1": 0.931, "pooled_pair_f1": 0.946,
                   "per_set_f1": {"caltech101_random_resize": 1.0, "imagededup_testdata": 0.859,
                                  "pillow_photos": 0.934},
                   "best_mean_f1": "0.938 at 0.63 (plateau 0.605-0.755; 0.63 is near the closest non-duplicate, "
                                   "0.668, so 0.70 is used)"},
}

CNN_EUCLIDEAN = Method(
    name="cnn-euclidean",
    label="CNN features + Euclidean",
    family="cnn",
    summary=_SUMMARY.format(how="Here the numbers are compared by straight-line (Euclidean) distance: 0 means "
                                "identical descriptions; near-duplicates are usually below 10, unrelated photos "
                                "around 15-25."),
    wins=_WINS,
    fails=_FAILS + " The distance scale depends on the network, so a threshold tuned for one weights file does not "
                   "carry over to another.",
    unit="L2 distance",
    higher_is_closer=False,
    threshold=ThresholdSpec(min=0.0, max=40.0, step=0.1, default=10.0),
    encode=encode,
    pairwise=pairwise_euclidean,
    topk_bounds=kernels.bounds_euclidean,
    encode_in_parent=True,
    compare=compare_euclidean,
    params=_PARAMS,
    input_size=224,
    version="1",
    cache_identity=cache_identity,
    # features are float32 (~7 significant digits, values up to ~6, norms ~15): the reference's float32
    # norm(fa - fb) and pairwise's float64 expansion differ by ~1e-5; 1e-3 (<1e-4 relative to typical
    # distances of 5-25) leaves room for batch-vs-single BLAS differences without hiding real bugs.
    reference_atol=1e-3,
    source=_SOURCE,
    article_row=True,
    extra={"feature_dim": 1280, "network": "EfficientNet-Lite0 (ImageNet) by default", "calibration": _CALIBRATION},
)

CNN_COSINE = Method(
    name="cnn-cosine",
    label="CNN features + cosine",
    family="cnn",
    summary=_SUMMARY.format(how="Here the numbers are compared by cosine similarity, which ignores overall "
                                "strength and compares the pattern: 1 means identical; near-duplicates are "
                                "usually above 0.7, unrelated photos around 0.1-0.4."),
    wins=_WINS + " Cosine is less sensitive than Euclidean distance to how 'busy' a picture is, so one threshold "
                 "transfers better between collections.",
    fails=_FAILS,
    unit="cosine similarity",
    higher_is_closer=True,
    threshold=ThresholdSpec(min=0.0, max=1.0, step=0.005, default=0.70),
    encode=encode,
    pairwise=pairwise_cosine,
    topk_bounds=kernels.bounds_cosine,
    encode_in_parent=True,
    compare=compare_cosine,
    params=_PARAMS,
    input_size=224,
    version="1",
    cache_identity=cache_identity,
    # float32 features: the reference's float32 dot/norms are good to ~1e-7; 1e-5 covers batch-vs-single noise.
    reference_atol=1e-5,
    source=_SOURCE,
    article_row=True,
    extra={"feature_dim": 1280, "network": "EfficientNet-Lite0 (ImageNet) by default", "calibration": _CALIBRATION},
)
