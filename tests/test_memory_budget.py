"""Memory is a budget (issue 9): attacks that used to exhaust the server's memory, each with a bound asserted on the
work. Files are generated at test time and are small on disk (a 13,000 x 13,000 solid-colour PNG is 0.5 MB).

Peak memory is measured on the whole process tree of the CLI (parent + decode workers), sampled from /proc: the
``ru_maxrss`` of children is the maximum of any *one* child, not the sum that the machine has to hold.
"""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import blocks, downscale, images
from core.cache import FeatureCache
from core.encoding import Features, decode_for, encode_dataset, split_jobs
from core.methods import METHODS, get
from core.methods.ssim import ssim_pairwise
from core.sizeof import nbytes
from ui.caching import ByteLRU

ROOT = Path(__file__).resolve().parents[1]
GB = 1 << 30


# ------------------------------------------------------------------------------------------------ generators
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def solid_png_idat(w: int, h: int, rgb=(200, 30, 30)) -> bytes:
    """Compressed IDAT payload of a solid-colour RGB image, fed row by row (never w x h bytes in memory)."""
    c = zlib.compressobj(9)
    out = [c.compress(b"\x00" + bytes(rgb) * w)]
    up = b"\x02" + bytes(3 * w)  # PNG filter "Up": every later row is all zeros
    out += [c.compress(up) for _ in range(h - 1)]
    out.append(c.flush())
    return b"".join(out)


def solid_png(w: int, h: int, idat: bytes, tag: str) -> bytes:
    """A valid PNG around ``idat``; ``tag`` (a tEXt chunk) makes each file's content hash differ."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"tEXt", b"Comment\x00" + tag.encode())
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def huge_png_zip(path: Path, n: int, side: int) -> Path:
    idat = solid_png_idat(side, side)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for k in range(n):
            z.writestr(f"huge_{k:02d}.png", solid_png(side, side, idat, f"copy {k}"))
    return path


# ------------------------------------------------------------------------------------------------ RSS sampler
def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(d), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24 of stat = rss in pages
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_measured(cmd: list[str], env: dict, kill_above: int = 6 * GB, timeout: float = 900
                 ) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``cmd``, sampling the process tree's resident memory every 20 ms; returns (result, peak bytes).

    The tree is killed if it goes past ``kill_above`` (so a regression cannot take the test machine down)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            r = _tree_rss(proc.pid)
            peak[0] = max(peak[0], r)
            if r > kill_above:
                os.killpg(proc.pid, 9)
                return
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        done.set()
        t.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak[0]


# ------------------------------------------------------------------------------------------------ the attack
@pytest.mark.slow
def test_cli_32_huge_pngs_cnn_two_workers_stays_under_2_5_gb(tmp_path):
    """The issue's case: 32 solid-colour 13,000 x 13,000 PNGs (169 MP each, under the 179 MP limit; 0.5 MB each)
    in a zip, ``duplicates --method cnn-cosine`` on 2 workers. Before the fix each worker held a 32-image batch of
    full-resolution decodes (~20 GB); now the whole process tree stays under 2.5 GB, and every file is used."""
    from core import cnn

    cnn.get_model()  # export the ONNX graph in this process (the test cache dir), as a warm server would have it
    z = huge_png_zip(tmp_path / "huge.zip", 32, 13_000)
    assert z.stat().st_size < 20 << 20
    env = dict(os.environ, DUPFINDER_WORKERS="2", PYTHONDONTWRITEBYTECODE="1")
    res, peak = run_measured([sys.executable, "-m", "core", "duplicates", str(z), "--method", "cnn-cosine",
                              "--json", "--no-cache"], env, kill_above=4 * GB)
    assert res.returncode == 0, (peak, res.stderr[-2000:])
    j = json.loads(res.stdout)
    assert j["images"] + len(j["skipped"]) == 32 and j["images"] == 32  # every file accounted for, none lost
    assert len(j["groups"]) == 1 and len(j["groups"][0]["members"]) == 32  # identical pictures: one group
    print(f"peak RSS of the process tree: {peak / GB:.2f} GB")
    assert peak < 2.5 * GB, f"peak resident memory {peak / GB:.2f} GB"


# ------------------------------------------------------------------------------------------------ decoding
def test_huge_png_is_shrunk_right_after_decoding():
    idat = solid_png_idat(6000, 4000, (10, 200, 10))
    data = solid_png(6000, 4000, idat, "x")
    for m in (METHODS["cnn-cosine"], METHODS["ssim"], METHODS["phash"]):
        im = decode_for(m, data)
        t = downscale.REDUCE_MARGIN * m.input_size
        assert t <= im.width < 2 * t and t <= im.height < 2 * t, (m.name, im.size)
        assert tuple(np.asarray(im)[5, 5]) == (10, 200, 10)


def test_decode_batches_are_budgeted_in_pixels(monkeypatch):
    jobs = [(f"c{k}", None) for k in range(10)]
    cost = {f"c{k}": 100 for k in range(10)}
    cost["c3"] = 1000  # larger than the budget: a batch of its own
    got = split_jobs(jobs, cost, max_files=4, max_pixels=250)
    assert [[j[0] for j in b] for b in got] == [["c0", "c1"], ["c2"], ["c3"], ["c4", "c5"], ["c6", "c7"],
                                                ["c8", "c9"]]
    assert [len(b) for b in split_jobs(jobs, {c: 1 for c in cost}, 4, 10 ** 9)] == [4, 4, 2]


def test_encode_dataset_batches_follow_the_pixel_budget(tmp_path, monkeypatch):
    """With a budget of ~2 decoded images, batches hold 2 images whatever batch_size says; rows are unchanged."""
    from core import datasets

    for k in range(6):
        Image.new("RGB", (900, 700), (40 * k, 20, 200 - 30 * k)).save(tmp_path / f"{k}.png")
    ds = datasets.load(str(tmp_path))
    m = get("ahash")
    ref = encode_dataset(ds, m, cache=False, workers=0)
    sizes = []
    real = m.encode

    def spy(imgs, **p):
        sizes.append(len(imgs))
        return real(imgs, **p)

    monkeypatch.setenv("DUPFINDER_DECODE_BATCH_PIXELS", str(2 * 450 * 700))  # 900x700 for 128 px: 450 x 700
    got = encode_dataset(ds, m.with_(encode=spy), cache=False, workers=0, batch_size=32)
    assert sizes == [2, 2, 2]
    assert np.array_equal(got.data, ref.data)


@pytest.mark.parametrize("mode", ["F", "I", "I;16"])
def test_float_and_32_bit_tiffs_convert_in_float32_stripes(mode, monkeypatch):
    """No float64 copy of a whole 32-bit/float image: every array numpy makes during the conversion is a stripe."""
    w, h = 1200, 900
    ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :].repeat(h, 0)
    if mode == "F":
        src = Image.fromarray(ramp * 3.0 - 1.0, "F")  # outside [0, 1]: min-max scaled
    elif mode == "I":
        src = Image.fromarray((ramp * 70000).astype(np.int32), "I")
    else:
        src = Image.fromarray((ramp * 65535).astype(np.uint16))  # mode I;16
        assert src.mode == "I;16"
    buf = io.BytesIO()
    src.save(buf, "TIFF")
    monkeypatch.setattr(downscale, "STRIPE_PIXELS", 100_000)
    largest = [0]
    real = downscale._finite32

    def spy(a):
        largest[0] = max(largest[0], a.size)
        return real(a)

    monkeypatch.setattr(downscale, "_finite32", spy)
    out = np.asarray(images.open_image(buf.getvalue()))
    assert largest[0] <= 100_000 + w  # one stripe at a time
    assert out.shape == (h, w, 3)
    row = out[0, :, 0].astype(int)
    assert row[0] <= 1 and row[-1] >= 254 and np.all(np.diff(row) >= 0)  # scaled, not clipped, still a ramp
    small = np.asarray(images.open_image(buf.getvalue(), target_size=50, fit="stretch"))
    assert small.shape == (150, 150, 3)  # each axis reduced to >= 3 x 50


# ------------------------------------------------------------------------------------------------ SSIM blocks
@pytest.mark.parametrize("size,gray", [(64, True), (128, False)])
def test_ssim_blocks_equal_unblocked(size, gray):
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, (13, size * size * (1 if gray else 3)), dtype=np.uint8)
    X[7] = X[2] // 2 + 60
    whole = ssim_pairwise(X, X, size=size, grayscale=gray, block_bytes=1 << 34)
    for bb in (1, 50_000, 2 << 20):
        assert np.array_equal(ssim_pairwise(X, X, size=size, grayscale=gray, block_bytes=bb), whole), bb
    np.testing.assert_allclose(np.diag(whole), 1.0, atol=1e-12)


def test_ssim_never_converts_all_of_b(monkeypatch):
    """The float64 tiles made at once cover a block of rows, not all of B."""
    from core.methods import ssim

    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, (40, 64 * 64), dtype=np.uint8)
    seen = []
    real = ssim._tiles
    monkeypatch.setattr(ssim, "_tiles", lambda Y, s, c: seen.append(len(Y)) or real(Y, s, c))
    ssim_pairwise(X, X, size=64, grayscale=True, block_bytes=3 << 20)
    assert max(seen) < 40


# ------------------------------------------------------------------------------------------------ pairs
def _features(X: np.ndarray, method="cnn-cosine") -> Features:
    m = get(method)
    return Features(method=m, params=m.default_params(), data=X, names=[f"img{i:05d}" for i in range(len(X))],
                    content_ids=[str(i) for i in range(len(X))])


def test_pairs_are_capped_closest_first_with_a_message():
    from core.search import find_duplicates

    rng = np.random.default_rng(6)
    base = rng.normal(size=1280).astype(np.float32)
    X = base + 0.05 * rng.normal(size=(400, 1280)).astype(np.float32)  # 400 near-identical images: 79,800 pairs
    F = _features(X)
    full = find_duplicates(F, 0.0, max_pairs=None)
    cut = find_duplicates(F, 0.0, max_pairs=1000)
    assert full.total_pairs == len(full.pairs) == 400 * 399 // 2 and not full.truncated and full.message is None
    assert cut.truncated and len(cut.pairs) == 1000 and cut.total_pairs == full.total_pairs
    assert cut.message.startswith("79,800 pairs at this threshold: showing the closest 1,000; tighten the threshold")
    assert cut.pairs.equals(full.pairs.iloc[:1000].reset_index(drop=True))  # the closest ones, in order
    assert cut.groups.equals(full.groups) and cut.copies.equals(full.copies)  # groups from every pair


def test_pair_cap_from_settings_and_on_the_hash_kernel(monkeypatch):
    from core import search

    monkeypatch.setenv("DUPFINDER_MAX_PAIRS", "500")
    X = np.zeros((300, 8), np.uint8)  # 300 identical hashes: 44,850 pairs through the Hamming kernel
    d = search.find_duplicates(_features(X, "ahash"), 10)
    assert len(d.pairs) == 500 and d.total_pairs == 44_850 and d.n_groups == 1
    assert d.truncated


def test_cli_reports_truncation_on_stderr_and_in_json(tmp_path):
    for k in range(5):
        Image.new("RGB", (64, 64), (120, 120, 120)).save(tmp_path / f"{k}.png", pnginfo=_text(str(k)))
    env = dict(os.environ, DUPFINDER_MAX_PAIRS="3")
    r = subprocess.run([sys.executable, "-m", "core", "duplicates", str(tmp_path), "--method", "ahash", "--json",
                        "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["truncated"] is True and j["total_pairs"] == 10 and len(j["pairs"]) == 3
    assert "10 pairs at this threshold: showing the closest 3; tighten the threshold" in r.stderr
    assert len(j["groups"]) == 1 and len(j["groups"][0]["members"]) == 5


def _text(s):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("k", s)
    return info


def test_blocks_bound_the_float64_copies(monkeypatch):
    """Every pairwise call of the all-pairs loops gets few enough rows that its float64 copies fit the budget."""
    from core import search

    rng = np.random.default_rng(7)
    X = rng.integers(0, 256, (500, 64 * 64 * 3), dtype=np.uint8)  # pixel rows: 96 KB each in float64
    F = _features(X, "euclidean")
    calls = []

    def shapes_only(A, B, **_p):  # records the block shapes; the scores themselves do not matter here
        calls.append((len(A), len(B)))
        return np.full((len(A), len(B)), 100.0)

    F = Features(method=F.method.with_(pairwise=shapes_only), params={"size": 64}, data=X, names=F.names,
                 content_ids=F.content_ids)
    monkeypatch.setattr(search, "BLOCK_BYTES", 8 << 20)
    search.nearest_neighbours(F)
    search.pair_indices(F, 1.0)
    d = X.shape[1]
    assert len(calls) > 10
    assert max(8 * d * (a + b) + 8 * blocks.TEMPORARIES * a * b for a, b in calls) <= 8 << 20


def test_evaluation_blocks_match_the_full_matrix(monkeypatch):
    from core import evaluation

    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 64)).astype(np.float32)
    X[1::3] = X[0::3] + 0.01
    F = _features(X)
    groups = {n: f"g{i // 3}" for i, n in enumerate(F.names)}
    ref = (evaluation.precision_at_k(F, groups)["accuracy"], evaluation.mean_average_precision(F, groups),
           evaluation.pair_prf(F, groups, 0.9)["f1"])
    monkeypatch.setenv("DUPFINDER_BLOCK_BYTES", "20000")  # many tiny blocks
    got = (evaluation.precision_at_k(F, groups)["accuracy"], evaluation.mean_average_precision(F, groups),
           evaluation.pair_prf(F, groups, 0.9)["f1"])
    assert got == pytest.approx(ref, abs=1e-12)


# ------------------------------------------------------------------------------------------------ caches
def test_byte_lru_evicts_by_bytes_and_entries():
    lru = ByteLRU(max_bytes=3_000_000, max_entries=10)
    a, b, c = (np.zeros(1_000_000, np.uint8) for _ in range(3))
    lru.put("a", a)
    lru.put("b", b)
    assert lru.get("a") is a  # a is now the most recent
    lru.put("c", c)
    lru.put("d", np.zeros(900_000, np.uint8))  # over 3 MB: the least recently used (b) goes
    assert "b" not in lru and "a" in lru and "c" in lru and "d" in lru
    assert lru.total_bytes <= 3_000_000
    assert lru.put("huge", np.zeros(4_000_000, np.uint8)) is False and "huge" not in lru  # larger than the budget
    small = ByteLRU(max_bytes=10 ** 9, max_entries=2)
    for k in range(5):
        small.put(k, k)
    assert len(small) == 2 and 4 in small and 3 in small


def test_sizeof_counts_arrays_frames_and_features():
    X = np.zeros((1000, 1280), np.float32)
    F = _features(X)
    assert nbytes(F) >= X.nbytes
    df = pd.DataFrame({"a": [f"name-{i:06d}.jpg" for i in range(10_000)], "s": np.zeros(10_000)})
    assert nbytes(df) == int(df.memory_usage(deep=True).sum()) > 10_000 * (15 + 8)  # the strings count
    assert nbytes({"x": X, "y": X[:10]}) < X.nbytes + 10_000  # a view of a counted array costs nothing more


def test_disk_cache_evicts_least_recently_used_under_a_tiny_cap(tmp_path):
    cache = FeatureCache(tmp_path / "f.sqlite", max_bytes=40_000)
    cache.touch_every_ms = 0  # record every read (the default refreshes a row at most once a minute)
    row = np.zeros(2_000, np.uint8)  # ~2.2 KB per row with its header and keys
    for k in range(40):
        cache.put_many({f"id{k:02d}": row}, "m")
        cache.get_many(["id00"], "m")  # id00 is used all the time
    assert cache.size_bytes() <= 40_000 and cache.evicted > 0
    kept = set(cache.get_many([f"id{k:02d}" for k in range(40)], "m"))
    assert "id00" in kept and "id39" in kept and "id01" not in kept
    assert kept == {"id00"} | {f"id{k:02d}" for k in range(40 - len(kept) + 1, 40)}  # the newest, in order
    again = FeatureCache(tmp_path / "f.sqlite", max_bytes=40_000)  # the sizes survive a reopen
    assert again.size_bytes() == cache.size_bytes()


def test_disk_cache_from_before_the_cap_is_migrated(tmp_path):
    import sqlite3

    p = tmp_path / "old.sqlite"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE features (content_id TEXT NOT NULL, method_key TEXT NOT NULL, value BLOB NOT NULL, "
                "PRIMARY KEY (content_id, method_key))")
    buf = io.BytesIO()
    np.save(buf, np.arange(10, dtype=np.uint8))
    con.execute("INSERT INTO features VALUES ('c', 'm', ?)", (buf.getvalue(),))
    con.commit()
    con.close()
    cache = FeatureCache(p, max_bytes=1 << 20)
    assert np.array_equal(cache.get_many(["c"], "m")["c"], np.arange(10))
    assert cache.size_bytes() > len(buf.getvalue())


# ------------------------------------------------------------------------------------------------ the app
def test_duplicates_page_says_the_list_was_cut_and_pages_the_tables(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import widgets

    monkeypatch.setenv("DUPFINDER_MAX_PAIRS", "10")
    monkeypatch.setattr(widgets, "PAGE_ROWS", 4)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/duplicates.py").run()
    key = get("ahash").params_key(get("ahash").default_params())
    at.slider(key=f"dup_thr::{key}").set_value(30).run()  # loose: hundreds of pairs among the 38 demo photos
    assert not at.exception, at.exception
    total = int(at.metric[1].value)
    assert total > 10
    warning = at.warning[0].value
    assert f"{total:,} pairs at this threshold: showing the closest 10; tighten the threshold" in warning
    assert any(e.label == f"The closest 10 of {total:,} duplicate pairs" for e in at.expander)
    pairs_table = at.dataframe[1].value  # copies, pairs, then the skipped-files list
    assert len(pairs_table) == 4  # one page of the 10 kept pairs
    assert any("Page (of 3" in n.label for n in at.number_input)
    assert "Rows 1–4 of 10." in [c.value for c in at.caption]
    copies_table = at.dataframe[0].value
    assert len(copies_table) == 4  # 38 images: paged too


def test_threads_decoding_at_once_share_the_full_resolution_pixel_budget(monkeypatch):
    """App visitors decode in threads of one process: their full-resolution pixels in flight stay within the
    budget (an image larger than the budget decodes alone)."""
    from concurrent.futures import ThreadPoolExecutor

    idat = solid_png_idat(3000, 2000)
    files = [solid_png(3000, 2000, idat, str(k)) for k in range(8)]  # 6 MP each
    monkeypatch.setenv("DUPFINDER_DECODE_BATCH_PIXELS", str(13_000_000))  # room for two at once
    gate = downscale.PixelGate()
    monkeypatch.setattr(downscale, "DECODE_GATE", gate)
    with ThreadPoolExecutor(8) as ex:
        out = list(ex.map(lambda d: images.open_image(d, target_size=64, fit="stretch"), files))
    assert all(im.size == (200, 200) for im in out)
    assert 6_000_000 <= gate.peak <= 13_000_000 and gate.in_flight == 0
    monkeypatch.setenv("DUPFINDER_DECODE_BATCH_PIXELS", str(1_000_000))  # smaller than one image: one at a time
    gate.peak = 0
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda d: images.open_image(d, target_size=64), files[:4]))
    assert gate.peak == 1_000_000 and gate.in_flight == 0


def test_object_notes_go_with_their_objects():
    """The UI's notes on core objects (a dataset's fingerprint, what an encoding cost) are kept beside them, never
    set on them, and freed with them."""
    import dataclasses
    import gc

    from core.datasets import Dataset, Item
    from ui.caching import ObjectNotes, dataset_fingerprint

    notes = ObjectNotes()
    ds = Dataset(name="d", items=[Item("a.jpg", "0" * 64, 1, 1, 1, "JPEG")], skipped=[])
    notes.put(ds, "note")
    notes.put(ds, "newer")
    assert notes.get(ds) == "newer" and len(notes) == 1 and not hasattr(ds, "_ui_fingerprint")
    del ds
    gc.collect()
    assert len(notes) == 0
    a = Dataset(name="a", items=[Item("a.jpg", "1" * 64, 1, 1, 1, "JPEG")], skipped=[])
    b = Dataset(name="b", items=[Item("a.jpg", "1" * 64, 1, 1, 1, "JPEG")], skipped=[])
    fp = dataset_fingerprint(a)
    assert fp == dataset_fingerprint(b)  # content, not identity
    assert set(vars(a)) <= {f.name for f in dataclasses.fields(a)}  # nothing bolted onto the core object
    a.items.append(Item("b.jpg", "2" * 64, 1, 1, 1, "JPEG"))
    assert dataset_fingerprint(a) != fp  # items added since: computed again
