"""EfficientNet features (core.cnn) and the two CNN method records (core.methods.cnn).

Fixtures: tests/data/cat.jpg and coffee.jpg (scikit-image's CC0 photos, see tests/data/README.md).
Network access is blocked for the whole module: nothing here may download weights.
"""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"

pytest.importorskip("torch")
pytest.importorskip("efficientnet_pytorch")

from core import cnn  # noqa: E402
from core.methods.cnn import CNN_COSINE, CNN_EUCLIDEAN  # noqa: E402

RECORDS = [CNN_EUCLIDEAN, CNN_COSINE]
CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967

pytestmark = pytest.mark.usefixtures("offline_cnn")  # tests/conftest.py: no network, private ONNX cache


def _load(name: str) -> Image.Image:
    with Image.open(DATA / name) as im:
        return im.convert("RGB")


@pytest.fixture(scope="module")
def cat():
    return _load("cat.jpg")


@pytest.fixture(scope="module")
def coffee():
    return _load("coffee.jpg")


@pytest.fixture(scope="module")
def cat_copy(cat):
    """A near-duplicate: resized to 90 % and re-encoded as JPEG quality 70."""
    small = cat.resize((round(cat.width * 0.9), round(cat.height * 0.9)), Image.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=70)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


@pytest.fixture(scope="module")
def torch_model():
    return cnn.get_model(backend="torch")


# --- cheap, no network --------------------------------------------------------------------------------------------
def test_import_does_not_import_torch():
    code = "import core.cnn, core.methods.cnn, sys; assert 'torch' not in sys.modules, 'torch imported eagerly'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_records_metadata():
    assert CNN_EUCLIDEAN.name == "cnn-euclidean" and not CNN_EUCLIDEAN.higher_is_closer
    assert CNN_COSINE.name == "cnn-cosine" and CNN_COSINE.higher_is_closer
    for m in RECORDS:
        assert m.family == "cnn" and m.article_row and m.input_size == 224
        t = m.threshold
        assert t.min <= t.default <= t.max and t.step > 0
        assert m.default_params() == {"weights": None, "backend": "auto"}
        assert "EfficientNet-Lite0" in m.summary and "1,280" in m.summary
        with pytest.raises(ValueError):
            m.resolve_params({"backend": "cuda"})


def test_pairwise_formulas_match_naive():
    rng = np.random.default_rng(0)
    A = rng.uniform(0, 4, (5, 1280)).astype(np.float32)
    B = rng.uniform(0, 4, (3, 1280)).astype(np.float32)
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    naive_l2 = np.linalg.norm(A64[:, None, :] - B64[None, :, :], axis=2)
    naive_cos = (A64 @ B64.T) / np.outer(np.linalg.norm(A64, axis=1), np.linalg.norm(B64, axis=1))
    d = CNN_EUCLIDEAN.pairwise(A, B)
    s = CNN_COSINE.pairwise(A, B)
    assert d.shape == s.shape == (5, 3) and d.dtype == s.dtype == np.float64
    np.testing.assert_allclose(d, naive_l2, rtol=1e-9)
    np.testing.assert_allclose(s, naive_cos, rtol=1e-9)
    # self-distance is exactly representable as 0 after clipping; self-similarity 1
    np.testing.assert_allclose(np.diag(CNN_EUCLIDEAN.pairwise(A, A)), 0, atol=1e-5)
    np.testing.assert_allclose(np.diag(CNN_COSINE.pairwise(A, A)), 1, atol=1e-12)


def test_missing_weights_file_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        cnn.get_model(weights=tmp_path / "nope.pth")
    monkeypatch.setenv(cnn.WEIGHTS_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(FileNotFoundError):
        cnn.get_model()
    with pytest.raises(ValueError):
        cnn.get_model(backend="tpu")


# --- the real network ---------------------------------------------------------------------------------------------
def test_classification_sanity(torch_model, cat, coffee):
    """Wrongly built or wrongly loaded weights cannot classify these two photos correctly."""
    assert torch_model.arch == "efficientnet-lite0"
    assert "EfficientNet-Lite0" in torch_model.name and "ImageNet" in torch_model.name
    logits = torch_model.logits([cat, coffee])
    assert logits.shape == (2, 1000) and logits.dtype == np.float32
    top1 = logits.argmax(1)
    assert int(top1[0]) in CAT_CLASSES
    assert int(top1[1]) == ESPRESSO
    p = np.exp(logits[1] - logits[1].max())
    assert p[ESPRESSO] / p.sum() > 0.5


def test_features_shape_dtype_determinism(torch_model, cat, coffee):
    f1 = torch_model.features([cat, coffee])
    f2 = torch_model.features([cat, coffee])
    assert f1.shape == (2, 1280) and f1.dtype == np.float32
    assert np.isfinite(f1).all() and (f1 >= 0).all() and (f1 <= 6).all()  # ReLU6 then averaging
    np.testing.assert_array_equal(f1, f2)


def test_batch_equals_single(torch_model, cat, coffee, cat_copy):
    imgs = [cat, coffee, cat_copy, coffee.convert("L").convert("RGB"), cat]
    batched = torch_model.features(imgs, batch_size=4)  # one full batch + a remainder
    single = np.concatenate([torch_model.features([im], batch_size=1) for im in imgs])
    np.testing.assert_allclose(batched, single, atol=1e-4, rtol=0)


def test_non_rgb_input_is_converted(torch_model, cat):
    f_rgb = torch_model.features([cat])
    f_rgba = torch_model.features([cat.convert("RGBA")])
    np.testing.assert_allclose(f_rgb, f_rgba, atol=1e-6)


def test_feature_maps_pool_to_features(torch_model, cat):
    maps = torch_model.feature_maps([cat])
    assert maps.shape == (1, 1280 * 7 * 7) and maps.dtype == np.float32
    np.testing.assert_allclose(maps.reshape(1, 1280, 49).mean(2), torch_model.features([cat]), atol=1e-5)


def test_onnx_matches_torch(cat, coffee, cat_copy, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv(cnn.CACHE_ENV, str(tmp_path))
    model = cnn._build(None, "onnx")  # uncached: exercises a fresh export into tmp_path
    assert model.backend == "onnx"
    assert Path(model.onnx_file).is_file() and Path(model.onnx_file).parent == tmp_path / "onnx"
    imgs = [cat, coffee, cat_copy]
    f_onnx = model.features(imgs, backend="onnx")
    f_torch = model.features(imgs, backend="torch")
    assert f_onnx.shape == (3, 1280) and f_onnx.dtype == np.float32
    np.testing.assert_allclose(f_onnx, f_torch, atol=1e-4, rtol=0)
    assert model.logits([cat, coffee], backend="onnx").argmax(1)[1] == ESPRESSO
    # second build reuses the cached file instead of exporting again
    mtime = Path(model.onnx_file).stat().st_mtime_ns
    again = cnn._build(None, "auto")
    assert again.onnx_file == model.onnx_file and Path(again.onnx_file).stat().st_mtime_ns == mtime


@pytest.mark.parametrize("method", RECORDS, ids=lambda m: m.name)
def test_near_duplicate_closer_than_other_photo(method, cat, coffee, cat_copy):
    F = method.encode([cat, cat_copy, coffee])
    assert F.shape == (3, 1280) and F.dtype == np.float32
    S = method.pairwise(F[:1], F[1:])
    dup, other = S[0, 0], S[0, 1]
    assert method.order(S[0]).tolist() == [0, 1]
    assert method.is_match(dup, method.threshold.default)
    assert not method.is_match(other, method.threshold.default)
    # the per-pair reference agrees in direction too
    ref_dup, ref_other = method.compare(cat, cat_copy), method.compare(cat, coffee)
    assert method.closeness(np.array([ref_dup]))[0] > method.closeness(np.array([ref_other]))[0]


@pytest.mark.parametrize("method", RECORDS, ids=lambda m: m.name)
def test_pairwise_agrees_with_reference(method, cat, coffee, cat_copy):
    for a, b in [(cat, cat_copy), (cat, coffee)]:
        fast = method.pairwise(method.encode([a]), method.encode([b]))[0, 0]
        assert fast == pytest.approx(method.compare(a, b), abs=method.reference_atol)
    assert method.encode([]).shape == (0, 1280)


def test_b0_state_dict_is_detected(tmp_path, cat):
    """A B0-shaped state dict (random init - no download) selects B0 and ImageNet mean/std normalisation."""
    import torch
    from efficientnet_pytorch import EfficientNet

    path = tmp_path / "b0.pth"
    torch.save(EfficientNet.from_name("efficientnet-b0").state_dict(), path)
    assert cnn.detect_arch(torch.load(path, weights_only=True)) == "efficientnet-b0"
    model = cnn._build(str(path), "torch")
    assert model.arch == "efficientnet-b0" and model.name.startswith("EfficientNet-B0")
    np.testing.assert_allclose(model.mean, [123.675, 116.28, 103.53], rtol=1e-5)
    assert model.features([cat]).shape == (1, 1280)
    lite = torch.load(cnn.lite0_weights_path(), weights_only=True)
    assert cnn.detect_arch(lite) == "efficientnet-lite0"
