"""The Ray engine (``index build|update --engine ray``) gives the same index as the local engine.

One local Ray cluster (2 CPUs) serves the whole module (start-up ~10 s). The folder: 300 small images (JPEG, PNG,
WebP; byte-identical copies in other folders) plus files the scan skips (truncated JPEG, text, empty) and PNGs that
pass the scan but fail to *decode* (bad zlib stream, short IDAT), so the workers' skip reasons are compared too.
CNN features are compared on a 60-image subset (with the two undecodable PNGs): 300 CNN encodes per engine would
add ~1 minute on 2 shared cores without covering anything more.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import datasets
from core.__main__ import main
from core.collection import build as cbuild
from core.collection import store
from core.collection.ray_engine import CHANGED_REASON, INSTALL_HINT, RayEngine, WorkerReadError
from core.methods import get

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

HASHES = "ahash,phash,colorhash"


# ---------------------------------------------------------------------------------------------------------------
# the generated folder
# ---------------------------------------------------------------------------------------------------------------
def picture(seed: int, w: int = 64, h: int = 48) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_failing_decode(seed: int, kind: str) -> bytes:
    """A PNG whose chunks and CRCs are valid (the scan accepts it) but whose pixel data does not decode."""
    raw = encoded(picture(seed), "PNG")
    out, pos = raw[:8], 8
    while pos < len(raw):
        n = struct.unpack(">I", raw[pos:pos + 4])[0]
        tag, data = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + n]
        pos += 12 + n
        if tag == b"IDAT":
            data = (b"\x78\x9c" + bytes(np.random.default_rng(seed).integers(0, 256, 64, dtype=np.uint8))
                    if kind == "garbage" else data[:len(data) // 2])  # a cut zlib stream
        out += struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    return out


def write_folder(root: Path, n: int = 300) -> None:
    for k in range(n):
        d = root / f"d{k % 3}"
        d.mkdir(parents=True, exist_ok=True)
        fmt, ext = [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")][k % 3]
        kw = {"quality": 85} if fmt != "PNG" else {}
        (d / f"img{k:03d}.{ext}").write_bytes(encoded(picture(k), fmt, **kw))
    for k in range(0, 30, 3):  # byte-identical copies: one content, encoded once, two rows
        (root / "copies").mkdir(exist_ok=True)
        shutil.copy(root / "d0" / f"img{k:03d}.jpg", root / "copies" / f"copy{k:03d}.jpg")
    bad = root / "bad"
    bad.mkdir()
    (bad / "truncated.jpg").write_bytes(encoded(picture(900), "JPEG")[:200])
    (bad / "notes.txt").write_text("not a picture")
    (bad / "empty.png").write_bytes(b"")
    (bad / "garbage.png").write_bytes(png_failing_decode(901, "garbage"))
    (bad / "short.png").write_bytes(png_failing_decode(902, "short"))


def cli(*args) -> int:
    return main([str(a) for a in args])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def assert_same_index(local: Path, ray: Path, cnn_atol: float = 1e-5) -> None:
    """Every file of the two index folders equal: hash features bit for bit, CNN features to ``cnn_atol``."""
    ml, mr = (json.loads((p / store.MANIFEST).read_text()) for p in (local, ray))
    for m in (ml, mr):
        m.pop("created"), m.pop("updated")
    assert ml == mr
    assert (local / "files.csv").read_bytes() == (ray / "files.csv").read_bytes()
    assert (local / "skipped.csv").read_bytes() == (ray / "skipped.csv").read_bytes()
    for e in ml["methods"]:
        fl, fr = local / "features" / e["dir"], ray / "features" / e["dir"]
        assert (fl / "files.csv").read_bytes() == (fr / "files.csv").read_bytes()
        assert (fl / "skipped.csv").read_bytes() == (fr / "skipped.csv").read_bytes()
        xl, xr = np.load(fl / "features.npy"), np.load(fr / "features.npy")
        assert xl.dtype == xr.dtype and xl.shape == xr.shape and xl.shape[0] > 0
        if get(e["method"]).family == "cnn":
            assert np.allclose(xl, xr, rtol=0, atol=cnn_atol), float(np.abs(xl - xr).max())
        else:
            assert np.array_equal(xl, xr)


# ---------------------------------------------------------------------------------------------------------------
# fixtures: one cluster, one folder, the two builds
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for the whole module; the CLI's engine joins it (and leaves it running)."""
    import ray

    engine = RayEngine(workers=2)
    engine.connect()
    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2
    yield ray
    engine.close()
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ray") / "photos"
    write_folder(root)
    return root


@pytest.fixture(scope="module")
def built(cluster, folder, tmp_path_factory):
    """The hash methods indexed by both engines: (local index, ray index)."""
    out = tmp_path_factory.mktemp("ray-idx")
    assert cli("index", "build", folder, "--methods", HASHES, "--out", out / "local", "--no-cache") == 0
    assert cli("index", "build", folder, "--methods", HASHES, "--out", out / "ray", "--no-cache",
               "--engine", "ray") == 0
    return out / "local", out / "ray"


# ---------------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------------
def test_build_on_ray_equals_local(built):
    local, ray = built
    assert_same_index(local, ray)
    files = read_csv(local / "files.csv")
    assert len(files) == 300 + 10 + 2  # every image, every copy and the two PNGs that pass the scan
    skipped = {r["name"]: r["reason"] for r in read_csv(local / "skipped.csv")}
    assert set(skipped) == {"bad/truncated.jpg", "bad/notes.txt", "bad/empty.png"}
    for e in json.loads((local / store.MANIFEST).read_text())["methods"]:
        # the workers, not the scan, found these two undecodable: same names and reasons as the local engine
        rows = read_csv(ray / "features" / e["dir"] / "skipped.csv")
        assert {r["name"] for r in rows} == {"bad/garbage.png", "bad/short.png"}
        assert all("corrupt PNG" in r["reason"] for r in rows)
        assert e["rows"] == 310


def test_cnn_features_on_ray_match_local(cluster, folder, tmp_path):
    sub = tmp_path / "subset"
    for k in range(58):
        src = folder / f"d{k % 3}"
        name = next(src.glob(f"img{k:03d}.*")).name
        (sub / src.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(src / name, sub / src.name / name)
    shutil.copytree(folder / "bad", sub / "bad")
    assert cli("index", "build", sub, "--methods", "cnn-cosine", "--out", tmp_path / "local", "--no-cache") == 0
    assert cli("index", "build", sub, "--methods", "cnn-cosine", "--out", tmp_path / "ray", "--no-cache",
               "--engine", "ray") == 0
    assert_same_index(tmp_path / "local", tmp_path / "ray", cnn_atol=1e-5)


def test_update_on_ray_equals_local_update(built, folder, tmp_path, capsys):
    # both indexes and the folder copied, the copies' manifests pointed at the copied folder
    root = tmp_path / "photos"
    shutil.copytree(folder, root)
    idx = {}
    for name, src in zip(("local", "ray"), built):
        idx[name] = tmp_path / name
        shutil.copytree(src, idx[name])
        m = json.loads((idx[name] / store.MANIFEST).read_text())
        m["root"] = str(root)
        (idx[name] / store.MANIFEST).write_text(json.dumps(m))
    for k in range(5):  # added
        (root / "new").mkdir(exist_ok=True)
        (root / "new" / f"add{k}.jpg").write_bytes(encoded(picture(5000 + k), "JPEG", quality=80))
    (root / "new" / "garbage2.png").write_bytes(png_failing_decode(903, "garbage"))
    for k in (1, 4, 7):  # changed content under the same name
        (root / "d1" / f"img{k:03d}.png").write_bytes(encoded(picture(6000 + k), "PNG"))
    for k in (2, 5):  # removed
        (root / "d2" / f"img{k:03d}.webp").unlink()
    capsys.readouterr()
    counts = {}
    for name in ("local", "ray"):
        assert cli("index", "update", idx[name], "--no-cache", "--json", "--engine", name) == 0
        counts[name] = json.loads(capsys.readouterr().out)
    assert counts["local"] == counts["ray"] == {"added": 6, "changed": 3, "removed": 2, "unchanged": 307}
    assert_same_index(idx["local"], idx["ray"])
    m = json.loads((idx["ray"] / store.MANIFEST).read_text())
    assert m["last_update"]["encoded"] == 3 * 9  # only the 9 new contents, per method
    assert all(e["rows"] == 310 + 5 - 2 for e in m["methods"])


def test_cli_joins_a_running_cluster_by_address(cluster, folder, tmp_path):
    """``--ray-address``: a separate process joins the module's cluster (ships ``core`` with ``py_modules``, passes
    the DUPFINDER_* settings) and writes the same index as the local engine."""
    sub = tmp_path / "photos"
    shutil.copytree(folder / "d0", sub / "d0", ignore=lambda d, names: sorted(names)[24:])
    shutil.copytree(folder / "bad", sub / "bad")
    address = cluster.get_runtime_context().gcs_address
    run = subprocess.run([sys.executable, "-m", "core", "index", "build", str(sub), "--methods", "dhash", "--out",
                          str(tmp_path / "ray"), "--no-cache", "--engine", "ray", "--ray-address", address],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert cli("index", "build", sub, "--methods", "dhash", "--out", tmp_path / "local", "--no-cache") == 0
    assert_same_index(tmp_path / "local", tmp_path / "ray")


def test_engine_reasons_for_files_gone_or_changed_after_the_scan(cluster, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    for k in range(6):
        (root / f"{k}.jpg").write_bytes(encoded(picture(100 + k), "JPEG"))
    ds = datasets.load(str(root))
    (root / "0.jpg").unlink()  # deleted after the scan: both engines skip it with the same reason
    (root / "1.jpg").write_bytes(encoded(picture(999), "JPEG"))  # content no longer matches its hash
    m = get("dhash")
    local = cbuild.local_engine(cache=False, workers=0)(ds.items, m, {})
    with RayEngine(workers=2) as engine:
        ray = engine(ds.items, m, {})
    gone = ds.items[0].content_id
    assert ray.failed[gone] == local.failed[gone] and "cannot read file" in ray.failed[gone]
    assert ray.failed[ds.items[1].content_id] == CHANGED_REASON
    for it in ds.items[2:]:
        assert np.array_equal(ray.rows[it.content_id], local.rows[it.content_id])


def test_worker_that_cannot_read_a_file_the_driver_can_is_an_error(cluster, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    for k in range(3):
        (root / f"{k}.jpg").write_bytes(encoded(picture(200 + k), "JPEG"))
    ds = datasets.load(str(root))
    data = (root / "0.jpg").read_bytes()
    (root / "0.jpg").unlink()

    def back_on_the_driver(done, total, msg):  # the worker missed it; the driver sees it: not a shared path
        (root / "0.jpg").write_bytes(data)

    with RayEngine(workers=2, progress=back_on_the_driver) as engine, pytest.raises(WorkerReadError,
                                                                                    match="shared path"):
        engine(ds.items, get("ahash"), {})


def test_zip_entries_travel_to_the_workers(cluster, folder, tmp_path):
    import zipfile

    z = tmp_path / "set.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted((folder / "d0").iterdir())[:20] + [folder / "bad" / "garbage.png"]:
            zf.write(p, p.name)
    ds = datasets.load(str(z))
    m = get("whash")
    local = cbuild.local_engine(cache=False, workers=0)(ds.items, m, {})
    with RayEngine(workers=2) as engine:
        ray = engine(ds.items, m, {})
    assert ray.failed == local.failed and len(ray.failed) == 1
    assert ray.rows.keys() == local.rows.keys() and len(ray.rows) == 20
    assert all(np.array_equal(ray.rows[c], local.rows[c]) for c in local.rows)


def test_engine_ray_without_ray_installed_exits_2_with_the_install_command(tmp_path, monkeypatch, capsys):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "a.jpg").write_bytes(encoded(picture(1), "JPEG"))
    assert cli("index", "build", tmp_path / "one", "--methods", "ahash", "--out", tmp_path / "idx") == 0
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    capsys.readouterr()
    assert cli("index", "build", tmp_path / "one", "--methods", "ahash", "--out", tmp_path / "new",
               "--engine", "ray") == 2
    err = capsys.readouterr().err
    assert "pip install -r requirements-scale.txt" in err and INSTALL_HINT in err
    assert not (tmp_path / "new").exists()  # refused before anything was scanned or written
    before = (tmp_path / "idx" / store.MANIFEST).read_bytes()
    assert cli("index", "update", tmp_path / "idx", "--engine", "ray") == 2
    assert "pip install -r requirements-scale.txt" in capsys.readouterr().err
    assert (tmp_path / "idx" / store.MANIFEST).read_bytes() == before


def test_ray_address_needs_the_ray_engine(folder, tmp_path, capsys):
    assert cli("index", "build", folder, "--methods", "ahash", "--out", tmp_path / "idx",
               "--ray-address", "auto") == 2
    assert "--engine ray" in capsys.readouterr().err


def test_a_batch_is_encoded_in_pieces_within_the_decode_pixel_budget(folder, monkeypatch):
    """encode_batch (what a Ray worker runs) encodes as soon as the decoded pixels reach the budget: the rows are the
    same as one encode of the whole batch, and a failing file in the middle keeps its place."""
    import pyarrow as pa

    from core.collection.ray_engine import encode_batch

    ds = datasets.load(str(folder / "d1"))
    items = ds.items[:10]
    bad = datasets.load(str(folder / "bad")).items  # garbage.png, short.png: pass the scan, fail to decode
    jobs = items[:5] + bad + items[5:]
    table = pa.table({"cid": [it.content_id for it in jobs], "path": [it.path for it in jobs],
                      "data": pa.array([b""] * len(jobs), pa.binary())})
    m = get("phash")
    p = m.resolve_params({})
    calls = []
    real = m.encode
    spy = m.with_(encode=lambda imgs, **kw: calls.append(len(imgs)) or real(imgs, **kw))
    monkeypatch.setenv("DUPFINDER_DECODE_BATCH_PIXELS", str(3 * 64 * 48))  # three 64x48 images
    out = encode_batch(spy, p, table).to_pydict()
    assert calls == [3, 3, 3, 1]
    local = cbuild.local_engine(cache=False, workers=0)(jobs, m, {})
    for cid, feat, reason in zip(out["cid"], out["feature"], out["reason"]):
        if cid in local.failed:
            assert reason == local.failed[cid] and feat == b""
        else:
            assert reason == "" and feat == local.rows[cid].tobytes()
    assert sum(1 for r in out["reason"] if r) == 2
