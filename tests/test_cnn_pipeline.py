"""The pipelined CNN encoder (core.cnn_pipeline), the torch-free ONNX load and the warm-up (core.warmup).

* the pipeline (workers decode + resize, the parent infers) returns the sequential path's rows, names and order;
* bad files in a CNN run are skipped with reasons (used + skipped = given), also when the pool breaks;
* features of the pipeline's entry point agree with the torch reference;
* a process that finds the ONNX export never imports torch; ``python -m core warmup`` makes that export.

Network access is blocked for the module (nothing may download weights); ONNX exports go to a private cache.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"

pytest.importorskip("onnxruntime")

from core import cnn, cnn_pipeline, config, encoding  # noqa: E402
from core.datasets import Item  # noqa: E402
from core.methods import get  # noqa: E402

pytestmark = pytest.mark.usefixtures("offline_cnn")  # tests/conftest.py: no network, private ONNX cache


def _jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def items() -> list[Item]:
    """21 files: the two photos in several edits and formats (RGBA PNG, greyscale, big, small), 3 bad files."""
    import hashlib

    cat, coffee = (Image.open(DATA / n).convert("RGB") for n in ("cat.jpg", "coffee.jpg"))
    files: list[tuple[str, bytes]] = []
    for name, im in (("cat", cat), ("coffee", coffee)):
        files += [
            (f"{name}.jpg", (DATA / f"{name}.jpg").read_bytes()),
            (f"{name}_small.jpg", _jpeg(im.resize((im.width // 3, im.height // 3)))),
            (f"{name}_big.jpg", _jpeg(im.resize((im.width * 3, im.height * 3)), 90)),  # drafted on decode
            (f"{name}_q40.jpg", _jpeg(im, 40)),
            (f"{name}_grey.png", _png(ImageOps.grayscale(im))),
            (f"{name}_rgba.png", _png(im.convert("RGBA"))),
            (f"{name}_mirror.jpg", _jpeg(ImageOps.mirror(im))),
            (f"{name}_crop.jpg", _jpeg(im.crop((20, 20, im.width - 20, im.height - 30)))),
            (f"{name}_tiny.png", _png(im.resize((40, 30)))),
        ]
    good = (DATA / "cat.jpg").read_bytes()
    files += [("truncated.jpg", good[: len(good) // 3]), ("notes.jpg", b"shopping list: milk, eggs\n"),
              ("empty.jpg", b"")]
    # bad files pass as items here (as a file that breaks between loading and encoding would)
    return [Item(name=n, content_id=hashlib.sha256(n.encode() + b).hexdigest(), size_bytes=len(b), width=0,
                 height=0, format="JPEG", data=b) for n, b in files]


BAD = {"truncated.jpg", "notes.jpg", "empty.jpg"}


@pytest.fixture(scope="module")
def sequential(items):
    return encoding.encode_dataset(items, get("cnn-cosine"), cache=False, workers=0)


def _check_used_plus_skipped(feats, items):
    assert len(feats.names) + len(feats.skipped) == len(items)
    assert {s.file for s in feats.skipped} == BAD
    assert all(s.reason for s in feats.skipped)


@pytest.mark.parametrize("name", ["cnn-cosine", "cnn-euclidean"])
def test_pipeline_rows_equal_sequential_rows(name, items, sequential, monkeypatch):
    calls = []
    real = cnn_pipeline.encode_parallel
    monkeypatch.setattr(cnn_pipeline, "encode_parallel", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(cnn_pipeline, "CHUNK", 4)  # several chunks in flight, a short last one
    piped = encoding.encode_dataset(items, get(name), cache=False, workers=2)
    assert calls, "the CNN method did not go through the pipelined encoder"
    assert piped.names == sequential.names  # same rows, same order
    assert piped.data.shape == sequential.data.shape == (len(items) - len(BAD), cnn.FEATURE_DIM)
    np.testing.assert_allclose(piped.data, sequential.data, atol=1e-5, rtol=0)
    _check_used_plus_skipped(piped, items)
    _check_used_plus_skipped(sequential, items)


def test_broken_pool_falls_back_to_sequential(items, sequential, monkeypatch):
    class BrokenPool:
        def submit(self, *a, **k):
            raise RuntimeError("worker died")

        def shutdown(self, *a, **k):
            pass

    monkeypatch.setattr(encoding, "_get_pool", lambda n: BrokenPool())
    feats = encoding.encode_dataset(items, get("cnn-cosine"), cache=False, workers=2)
    assert feats.names == sequential.names
    np.testing.assert_allclose(feats.data, sequential.data, atol=1e-5, rtol=0)
    _check_used_plus_skipped(feats, items)


def test_remaining_after_counts_finished_chunks():
    jobs = [(str(i), b"") for i in range(10)]
    assert cnn_pipeline.remaining_after(jobs, {}) == jobs
    assert cnn_pipeline.remaining_after(jobs, {"done_chunks": 0}) == jobs
    state = {"done_chunks": 1}
    assert cnn_pipeline.remaining_after(jobs, state) == jobs[cnn_pipeline.CHUNK:]


def test_decode_to_input_matches_preprocess(items):
    ok, pixels, failed, secs = cnn_pipeline.decode_to_input([(it.content_id, it.source) for it in items])
    assert pixels.shape == (len(items) - len(BAD), 224, 224, 3) and pixels.dtype == np.uint8
    assert len(ok) + len(failed) == len(items) and secs >= 0
    assert set(failed) == {it.content_id for it in items if it.name in BAD}
    from core import images

    model = cnn.get_model()
    first = images.open_image(items[0].source, target_size=224)
    np.testing.assert_array_equal(model.normalise(pixels[:1]), model.preprocess([first]))


def test_pipeline_features_agree_with_torch_reference(items):
    model = cnn.get_model(backend="onnx")
    assert model.backend == "onnx"
    from core import images

    imgs = [images.open_image(it.source, target_size=224) for it in items[:6]]
    pixels = np.stack([cnn.resize_to_input(im) for im in imgs])
    onnx = model.features_from_pixels(pixels)
    ref = model.features(imgs, backend="torch")
    assert onnx.shape == (6, cnn.FEATURE_DIM) and onnx.dtype == np.float32
    np.testing.assert_allclose(onnx, ref, atol=1e-4, rtol=0)  # test_cnn.py's ONNX-vs-torch tolerance
    assert model.features_from_pixels(pixels[:0]).shape == (0, cnn.FEATURE_DIM)


def test_warmup_exports_then_a_new_process_runs_without_torch(tmp_path):
    env = dict(os.environ, DUPFINDER_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    env.pop(cnn.WEIGHTS_ENV, None)
    out = subprocess.run([sys.executable, "-m", "core", "warmup", "--json"], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    got = json.loads(out)
    assert got["errors"] == [] and Path(got["onnx"]).is_file() and Path(got["onnx"]).parent == tmp_path / "onnx"
    mtime = Path(got["onnx"]).stat().st_mtime_ns
    code = ("import sys; from core import cnn; from PIL import Image\n"
            "m = cnn.get_model()\n"
            "f = m.features([Image.open(sys.argv[1]).convert('RGB')])\n"
            "assert m.backend == 'onnx' and f.shape == (1, 1280), (m.backend, f.shape)\n"
            "assert 'torch' not in sys.modules, 'torch imported although the ONNX export exists'\n"
            "print(m.onnx_file)")
    run = subprocess.run([sys.executable, "-c", code, str(DATA / "cat.jpg")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == got["onnx"]
    again = json.loads(subprocess.run([sys.executable, "-m", "core", "warmup", "--json"], env=env, cwd=ROOT,
                                      check=True, capture_output=True, text=True, timeout=600).stdout)
    assert again["onnx"] == got["onnx"] and Path(got["onnx"]).stat().st_mtime_ns == mtime  # not re-exported


def test_background_warmup_switch(monkeypatch):
    from core import warmup

    monkeypatch.setenv("DUPFINDER_WARMUP", "0")
    monkeypatch.setattr(warmup, "_started", type(warmup._started)())
    assert warmup.start_background() is None
    calls = []
    monkeypatch.setattr(warmup, "warm_up", lambda **k: calls.append(k))
    monkeypatch.setenv("DUPFINDER_WARMUP", "1")
    t = warmup.start_background()
    assert t is not None
    t.join(60)
    assert calls == [{}]
    assert warmup.start_background() is None  # once per process


def test_warm_up_caches_the_demo_features():
    from core import datasets, demo, warmup
    from core.encoding import encode_dataset

    out = warmup.warm_up()
    assert out["errors"] == [] and out["model"] == "onnx"
    assert out["demo_features"] == list(warmup.DEMO_METHODS)
    ds = datasets.load(str(demo.demo_dataset_path()))
    for name in warmup.DEMO_METHODS:
        feats = encode_dataset(ds, get(name), cache=True, workers=0)
        assert feats.n_cached == len(ds.items) and feats.n_encoded == 0, name  # nothing left to encode


def test_ort_spinning_setting_gives_the_same_features(items, monkeypatch):
    from core import images

    imgs = [images.open_image(it.source, target_size=224) for it in items[:3]]
    ref = cnn.get_model(backend="onnx").features(imgs)
    other = "0" if config.ort_spinning() else "1"  # the default is off; compare with the other setting
    monkeypatch.setenv("DUPFINDER_ORT_SPINNING", other)
    assert config.ort_spinning() == (other == "1")
    quiet = cnn._build(None, "onnx")  # uncached: a session built with the other setting
    np.testing.assert_array_equal(quiet.features(imgs), ref)
