"""Speed benchmark: ours vs the decode limit, comparison kernels, cache, and ours vs imagededup PHash.

Run from the repository root::

    python bench/run.py            # full run (~10-15 min on 2 cores, first run includes building the workload)
    python bench/run.py --quick    # smoke run (~2 min), small workload, fewer repeats

Writes ``bench/RESULTS.md`` (``--out`` to change). Not run by CI: the tests check that the fast paths are *correct*
(``tests/test_fast_paths.py``); this script measures how fast they are. Figures are medians over repeats, and the
headline figures are ratios measured in the same run, because shared machines are noisy.

Workload (built once into ``--work``, default ``$TMPDIR/dupfinder-bench``, reused while this file is unchanged):
derived copies of the 14 photos the repo ships (``data/demo/sources``). Each "scene" is a 2x2 mosaic of random
crops of those photos (so there are as many distinct pictures as needed), made at 640x480, and for camera-sized
files upscaled to 4000x3000 (12 MP) with added sensor-like noise so the JPEGs have realistic sizes (~3-4 MB).
The 2,000-file folder: 400 groups of 4 (12 MP original; 640x480 "web" copy; 640x480 brightened + re-compressed
copy; 2000x1500 re-compressed copy at quality 70) plus 400 singleton distractors (100 of them 12 MP), with
``GROUND_TRUTH.csv``. The near-duplicate edits come from :mod:`core.transforms`.

Peers (imagededup PHash and CNN, fastdup) each run in a virtual environment of their own, made by the benchmark
under ``bench/work/peers`` (``--peers-dir``) from the complete pinned lists in ``bench/requirements/``: see
``bench/peers.py``. A peer that cannot be installed or run is reported in the results, never fatal; never in
requirements.txt.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # bench/peers.py

from PIL import Image  # noqa: E402

WORK_VERSION = "1"
#: the last line this script writes: sections after it in RESULTS.md (other bench scripts' marked sections, written
#: by hand or by bench/scale.py, engines.py, hostile_input.py, ...) are kept as they are when this script rewrites it
END_LINE = "Total benchmark time"


# ---------------------------------------------------------------------------------------------------------------
# workload
# ---------------------------------------------------------------------------------------------------------------
def _sources() -> list[Image.Image]:
    d = ROOT / "data" / "demo" / "sources"
    return [Image.open(p).convert("RGB") for p in sorted(d.glob("*.jpg"))]


_SRC: list | None = None
_NOISE: np.ndarray | None = None


def _scene(seed: int) -> Image.Image:
    """640x480 mosaic of 4 random crops of the shipped photos (distinct per seed)."""
    global _SRC
    if _SRC is None:
        _SRC = _sources()
    rng = np.random.default_rng(seed)
    out = Image.new("RGB", (640, 480))
    for q in range(4):
        src = _SRC[int(rng.integers(len(_SRC)))]
        w, h = src.size
        f = rng.uniform(0.35, 0.8)
        cw, ch = int(w * f), int(h * f)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        tile = src.crop((x, y, x + cw, y + ch)).resize((320, 240), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.paste(tile, ((q % 2) * 320, (q // 2) * 240))
    return out


def _camera(img: Image.Image, seed: int, size=(4000, 3000)) -> Image.Image:
    """Upscale to camera size and add fine noise/detail so the JPEG has a realistic size."""
    global _NOISE
    if _NOISE is None:
        _NOISE = np.random.default_rng(7).normal(0, 5, (3100, 4100, 1)).astype(np.int16)
    big = np.asarray(img.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    rng = np.random.default_rng(seed)
    oy, ox = int(rng.integers(0, 100)), int(rng.integers(0, 100))
    big = big + _NOISE[oy:oy + size[1], ox:ox + size[0]]
    return Image.fromarray(np.clip(big, 0, 255).astype(np.uint8))


def _make_group(args):
    """Write the files of one group (or one distractor); returns [(file, group)]."""
    folder, g, kind = args
    from core import transforms as T

    base = _scene(1000 + g)
    rows = []
    if kind == "group":
        cam = _camera(base, g)
        cam.save(folder / f"g{g:03d}_a_orig.jpg", quality=90)
        base.save(folder / f"g{g:03d}_b_web.jpg", quality=85)
        T.apply(base, "brightness", 1.15).save(folder / f"g{g:03d}_c_edit.jpg", quality=75)
        cam.resize((2000, 1500), Image.Resampling.LANCZOS).save(folder / f"g{g:03d}_d_recomp.jpg", quality=70)
        rows = [(f"g{g:03d}_{s}.jpg", f"g{g:03d}") for s in ("a_orig", "b_web", "c_edit", "d_recomp")]
    else:
        name = f"x{g:04d}_single.jpg"
        (_camera(base, g) if kind == "distractor12" else base).save(folder / name, quality=88)
        rows = [(name, name)]
    return rows


def n_groups_for(quick: bool) -> tuple[int, int]:
    return (40, 40) if quick else (400, 400)


def build_workload(work: Path, quick: bool) -> Path:
    # keyed on the code that makes the files (not the whole script), so editing the measurements keeps the workload
    import inspect
    code = "".join(inspect.getsource(f) for f in (_scene, _camera, _make_group, _sources))
    src_digest = hashlib.sha256((code + f"{n_groups_for(quick)}").encode()).hexdigest()[:10]
    n_groups, n_single = n_groups_for(quick)
    folder = work / f"v{WORK_VERSION}-{src_digest}-{'quick' if quick else 'full'}" / "folder"
    if (folder / "GROUND_TRUTH.csv").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder, g, "group") for g in range(n_groups)]
    jobs += [(folder, n_groups + k, "distractor12" if k % 4 == 0 else "distractor") for k in range(n_single)]
    t = time.perf_counter()
    rows = []
    if len(jobs) <= 4:  # a tiny workload (tests): not worth a pool
        rows = [r for job in jobs for r in _make_group(job)]
    else:
        with cf.ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            for r in ex.map(_make_group, jobs, chunksize=4):
                rows += r
    with open(folder / "GROUND_TRUTH.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "group"])
        w.writerows(rows)
    print(f"workload: {len(rows)} files in {time.perf_counter() - t:.0f} s -> {folder}", flush=True)
    return folder


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------
def med(ts):
    return statistics.median(ts)


def timeit(fn, repeats):
    ts = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return med(ts), out


def _decode_chunk(paths, target):
    """The decode limit: open + draft + convert, nothing else (runs in the pool's workers)."""
    for p in paths:
        with Image.open(p) as im:
            im.draft("RGB", (target, target))
            im.convert("RGB")
    return len(paths)


def decode_limit(paths, target, workers):
    """Images/s of open+draft+convert on ``paths`` with the same pool and chunking as core.encoding."""
    from core import encoding

    if workers <= 1:
        t = time.perf_counter()
        _decode_chunk(paths, target)
        return len(paths) / (time.perf_counter() - t)
    pool = encoding._get_pool(workers)
    chunk = max(1, min(32, -(-len(paths) // (4 * workers))))
    t = time.perf_counter()
    list(pool.map(_decode_chunk, [paths[s:s + chunk] for s in range(0, len(paths), chunk)],
                  [target] * (-(-len(paths) // chunk))))
    return len(paths) / (time.perf_counter() - t)


def machine() -> str:
    model = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


# ---------------------------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------------------------
IMAGEHASH_KINDS = ("ahash", "phash", "dhash", "whash", "colorhash")  # hashes imagehash also computes


def bench_encoding(folder: Path, quick: bool, R: list):
    import functools

    from core import datasets
    from core.encoding import encode_dataset
    from core.methods import REGISTRY, hashing

    files = sorted(folder.glob("*.jpg"))
    sets = {"640x480": [p for p in files if "_b_web" in p.name or "_c_edit" in p.name][: 48 if quick else 128],
            "12 MP": [p for p in files if "_a_orig" in p.name][: 12 if quick else 32]}
    reps = 2 if quick else 3
    methods = [m for m in REGISTRY if m.family != "cnn"]
    R.append("## 1. Encoding throughput vs the decode limit (2 worker processes, no cache)\n")
    R.append("Decode limit = `Image.open` + `draft('RGB', S)` + `convert('RGB')` on the same files, with the same "
             "process pool and chunking, S = the method's input size (128 px for the hashes, 256 for the rest: a "
             "640x480 JPEG drafts to 160x120 or 320x240, a 12 MP one to 500x375 either way). Ours = `encode_dataset(workers=2, cache=False)` on the loaded dataset "
             "(decode via `core.images.open_image` + the method's encoder).\n")
    R.append("For the hashes, the last column is the same encode with imagehash called on each image in turn (the "
             "encoder before issue 15's batch kernels; identical output), measured interleaved in the same run.\n")
    R.append("| files | method | ours img/s | decode limit img/s | ours / limit | imagehash per image / limit |")
    R.append("|---|---|---:|---:|---:|---:|")
    out = {}
    ds = datasets.load(str(folder))
    for label, paths in sets.items():
        keep = {p.name for p in paths}
        items = [it for it in ds.items if it.name in keep]
        for m in methods:
            encode_dataset(items[:8], m, cache=False, workers=2)  # warm up: workers import the method's modules
            # the same method with imagehash's per-image loop as its encoder (hash methods only)
            ref = (m.with_(encode=functools.partial(hashing.encode_hash_imagehash, m.name))
                   if m.name in IMAGEHASH_KINDS else None)  # PDQ has no imagehash counterpart
            lim, ours, before = [], [], []
            for _ in range(reps):  # interleaved, so drift on a shared machine hits both alike
                lim.append(decode_limit([str(p) for p in paths], m.input_size or 256, 2))
                t = time.perf_counter()
                encode_dataset(items, m, cache=False, workers=2)
                ours.append(len(items) / (time.perf_counter() - t))
                if ref is not None:
                    t = time.perf_counter()
                    encode_dataset(items, ref, cache=False, workers=2)
                    before.append(len(items) / (time.perf_counter() - t))
            o, l_ = med(ours), med(lim)
            b = med(before) if before else None
            out[(label, m.name)] = (o, l_, b)
            R.append(f"| {label} ({len(items)}) | {m.name} | {o:.0f} | {l_:.0f} | {o / l_:.0%} | "
                     f"{f'{b / l_:.0%}' if b else '-'} |")
        # one process, for reference
        seq_l = med([decode_limit([str(p) for p in paths], methods[2].input_size or 256, 1) for _ in range(reps)])
        seq_o = med([len(items) / timeit(lambda: encode_dataset(items, methods[2], cache=False, workers=0), 1)[0]
                     for _ in range(reps)])
        R.append(f"| {label} ({len(items)}), 1 process | {methods[2].name} | {seq_o:.0f} | {seq_l:.0f} | "
                 f"{seq_o / seq_l:.0%} |")
        print(f"encoding {label} done", flush=True)
    R.append("")
    hash_breakdown(sets, quick, R)
    return out


def hash_breakdown(sets: dict, quick: bool, R: list) -> None:
    """Where a hash's time goes, per image, in one process (CPU time, so other processes' load matters less)."""
    from core import images
    from core.methods import get, hash_kernels, hashing

    def cpu_ms(fn, paths, reps):
        ts = []
        for _ in range(reps):
            t = time.process_time()
            fn()
            ts.append(time.process_time() - t)
        return min(ts) / len(paths) * 1e3

    def decode(paths, mode):
        def run():
            for p in paths:
                with Image.open(p) as im:
                    im.draft(mode, (128, 128))
                    im.convert(mode)
        return run

    reps = 3 if quick else 5
    R.append("### Where the hashes' time goes (CPU ms per image, one process, best of %d)\n" % reps)
    R.append("Decode limit = open + `draft('RGB', 128)` + `convert('RGB')`; `open_image` = the app's decoder (adds "
             "EXIF orientation, mode handling, a copy); Pillow = the hash's own Pillow calls (`convert('L')` + "
             "LANCZOS `resize` to the hash's thumbnail; colour hash: `convert('L')` + `convert('HSV')` of the whole "
             "draft), which imagehash and the batch kernels make identically; imagehash / kernels = the whole hash "
             "(Pillow calls included). The bound is decode limit / (open_image + kernels). Last column, a lever not "
             "taken: decoding the JPEG straight to greyscale (`draft('L', 128)`: libjpeg skips the chroma), then "
             "the same kernels.\n")
    R.append("| files | hash | decode limit | open_image | Pillow | imagehash | kernels | bound | grey decode + "
             "kernels (bound) |")
    R.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, paths in sets.items():
        paths = [str(p) for p in paths]
        lim = cpu_ms(decode(paths, "RGB"), paths, reps)
        opn = cpu_ms(lambda: [images.open_image(p, target_size=128) for p in paths], paths, reps)
        grey = cpu_ms(decode(paths, "L"), paths, reps)
        imgs = [images.open_image(p, target_size=128) for p in paths]
        greys = []
        for p in paths:
            with Image.open(p) as im:
                im.draft("L", (128, 128))
                greys.append(im.convert("L"))
        for name in ("ahash", "phash", "dhash", "whash", "colorhash"):
            m = get(name)
            hs = m.default_params()["hash_size"]
            if name == "colorhash":
                pil = lambda: [(im.convert("L"), im.convert("HSV")) for im in imgs]  # noqa: E731
            else:
                w, h = {"phash": (4 * hs, 4 * hs), "dhash": (hs + 1, hs)}.get(name, (hs, hs))
                if name == "whash":
                    w = h = hash_kernels.whash_scale(imgs[0].size, hs)
                pil = lambda w=w, h=h: [im.convert("L").resize((w, h), Image.Resampling.LANCZOS)  # noqa: E731
                                        for im in imgs]
            t_pil = cpu_ms(pil, paths, reps)
            t_ih = cpu_ms(lambda: [hashing.hash_bits(name, im, hs) for im in imgs], paths, reps)
            t_k = cpu_ms(lambda: m.encode(imgs, hash_size=hs), paths, reps)
            if name == "colorhash":
                lever = "- (needs colour)"
            else:
                t_g = cpu_ms(lambda: m.encode(greys, hash_size=hs), paths, reps)
                lever = f"{grey:.2f} + {t_g:.2f} ({lim / (grey + t_g):.0%})"
            R.append(f"| {label} | {name} | {lim:.2f} | {opn:.2f} | {t_pil:.2f} | {t_ih:.2f} | {t_k:.2f} | "
                     f"{lim / (opn + t_k):.0%} | {lever} |")
    R.append("")


def bench_cnn(folder: Path, quick: bool, R: list):
    from core import cnn
    from core.images import open_image

    paths = sorted(folder.glob("*_b_web.jpg"))[: 32 if quick else 96]
    imgs = [open_image(str(p), target_size=224) for p in paths]
    model = cnn.get_model(backend="auto")
    res = {}
    for backend, bs in (("onnx", 32), ("onnx", 4), ("torch", 4)):
        model.features(imgs[:8], batch_size=bs, backend=backend)  # warm-up
        dt, _ = timeit(lambda: model.features(imgs, batch_size=bs, backend=backend), 2 if quick else 3)
        res[(backend, bs)] = len(imgs) / dt
    a = model.features(imgs[:16], batch_size=16, backend="onnx")
    b = model.features(imgs[:16], batch_size=4, backend="torch")
    diff = float(np.abs(a - b).max())
    R.append("## 2. CNN features (EfficientNet-Lite0, 224 px, decoded images in memory)\n")
    R.append("| backend | batch | img/s |")
    R.append("|---|---:|---:|")
    for (bk, bs), v in res.items():
        R.append(f"| {bk} | {bs} | {v:.0f} |")
    R.append(f"\nONNX vs torch features: max abs difference {diff:.1e} (target < 1e-4). "
             f"Default batch in `core.cnn`: {cnn.DEFAULT_BATCH}.\n")
    return res, diff


def bench_ssim(folder: Path, quick: bool, R: list):
    from core.images import open_image
    from core.methods import get

    m = get("ssim")
    paths = sorted(folder.glob("*_b_web.jpg"))[:64]
    imgs = [open_image(str(p), target_size=256) for p in paths]
    X = m.encode(imgs)
    dt, S = timeit(lambda: m.pairwise(X, X), 3)
    per_vec = dt / (len(X) ** 2)
    n_ref = 3 if quick else 6
    ts, diffs = [], []
    for k in range(n_ref):
        t = time.perf_counter()
        v = m.compare(imgs[k], imgs[k + 1])
        ts.append(time.perf_counter() - t)
        diffs.append(abs(v - S[k, k + 1]))
    per_ref = med(ts)
    R.append("## 3. SSIM: vectorised vs SSIM-PIL per pair (128 px, RGB)\n")
    R.append(f"vectorised {per_vec * 1e6:.1f} us/pair (64x64 block), SSIM-PIL {per_ref * 1e3:.1f} ms/pair -> "
             f"**{per_ref / per_vec:.0f}x** faster; max abs difference {max(diffs):.1e}. (Excluding encoding; "
             "SSIM-PIL's figure includes resizing both images, ~0.5 ms.)\n")
    return per_ref / per_vec, max(diffs)


def bench_compare(quick: bool, R: list):
    from core import kernels
    from core import search as S
    from core.encoding import Features
    from core.methods import get

    rng = np.random.default_rng(0)
    sizes = [1000, 10000] + ([] if quick else [100000])
    R.append("## 4. Comparisons (synthetic features)\n")
    R.append(f"All pairs within 10 bits of N random 64-bit hashes with 10 % planted near-duplicates "
             f"(`pair_indices`, faiss available: {kernels.faiss_available()}); top-10 of one query among N "
             "1280-d float32 CNN features (`search(..., top_k=10)`, median of 20 queries after the first, which "
             "also computes the row norms once).\n")
    R.append("| N | all pairs (fast) s | all pairs (generic blocks) s | pairs | exact | top-10 query cosine ms | "
             "top-10 euclidean ms | first query ms | full-sort query ms |")
    R.append("|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    res = {}
    for n in sizes:
        X = rng.integers(0, 256, (n, 8), dtype=np.uint8)
        k = n // 10
        X[n - k:] = X[:k] ^ np.packbits(rng.random((k, 64)) < 0.06, axis=1)
        F = Features(method=get("phash"), params={"hash_size": 8}, data=X, names=[f"h{i}" for i in range(n)],
                     content_ids=[str(i) for i in range(n)])
        t_fast, fast = timeit(lambda: S.pair_indices(F, 10), 1 if n >= 100000 else 3)
        if n <= 10000:
            old, S.PAIRS_FAST_MIN = S.PAIRS_FAST_MIN, 10 ** 12
            t_ref, ref = timeit(lambda: S.pair_indices(F, 10), 1)
            S.PAIRS_FAST_MIN = old
            exact = all(np.array_equal(a, b) for a, b in zip(fast, ref))
            t_ref_s = f"{t_ref:.3f}"
        else:
            exact, t_ref_s = "(not run: ~30 s)", "-"
        V = rng.standard_normal((n, 1280)).astype(np.float32)
        q_times = {}
        first = None
        for name in ("cnn-cosine", "cnn-euclidean"):
            FV = Features(method=get(name), params={}, data=V, names=[f"v{i}" for i in range(n)],
                          content_ids=[str(i) for i in range(n)])
            t = time.perf_counter()
            S.search(V[0], FV, 0.5, top_k=10)
            first = first or (time.perf_counter() - t)
            ts = []
            for qi in range(1, 21):
                t = time.perf_counter()
                S.search(V[qi] + 0.1, FV, 0.5, top_k=10)
                ts.append(time.perf_counter() - t)
            q_times[name] = med(ts)
        FV = Features(method=get("cnn-cosine"), params={}, data=V, names=[f"v{i}" for i in range(n)],
                      content_ids=[str(i) for i in range(n)])
        old, S.TOPK_FAST_MIN = S.TOPK_FAST_MIN, 10 ** 12
        t_full, _ = timeit(lambda: S.search(V[1], FV, 0.5, top_k=10), 1 if n >= 100000 else 3)
        S.TOPK_FAST_MIN = old
        res[n] = (t_fast, q_times["cnn-cosine"], q_times["cnn-euclidean"])
        R.append(f"| {n:,} | {t_fast:.3f} | {t_ref_s} | {len(fast[0]):,} | {exact} | "
                 f"{q_times['cnn-cosine'] * 1e3:.1f} | {q_times['cnn-euclidean'] * 1e3:.1f} | {first * 1e3:.0f} | "
                 f"{t_full * 1e3:.0f} |")
        del V, FV
        print(f"compare N={n} done", flush=True)
    R.append("")
    return res


def _run(cmd, env=None, cwd=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return dt, p.stdout


def _env(cache_dir: str, **extra) -> dict:
    env = dict(os.environ)
    env.update({"DUPFINDER_CACHE_DIR": cache_dir, "DUPFINDER_MAX_TOTAL_BYTES": "64G", "PYTHONPATH": str(ROOT)},
               **extra)
    env.pop("DUPFINDER_NO_CACHE", None)
    return env


def bench_cache(folder: Path, quick: bool, R: list):
    reps = 1 if quick else 2
    firsts, seconds = [], []
    for _ in range(reps):
        cache = tempfile.mkdtemp(prefix="dupfinder-bench-cache-")
        cmd = [sys.executable, "-m", "core", "duplicates", str(folder), "--method", "phash", "--json"]
        firsts.append(_run(cmd, _env(cache), cwd=ROOT)[0])
        seconds.append(med([_run(cmd, _env(cache), cwd=ROOT)[0] for _ in range(2)]))
    # where the warm run's time goes (in-process)
    from core import datasets
    from core.encoding import encode_dataset
    from core.methods import get
    from core.search import find_duplicates
    os.environ["DUPFINDER_MAX_TOTAL_BYTES"] = "64G"
    with datasets.no_stat_memo():
        t_load, ds = timeit(lambda: datasets.load(str(folder)), 1)
    datasets.load(str(folder))  # fills the stat memo of this process's cache dir
    t_memo, _ = timeit(lambda: datasets.load(str(folder)), 3)
    t_imp = _run([sys.executable, "-c", "import core.__main__, core.search, core.encoding"], _env(cache), cwd=ROOT)[0]
    f, s = med(firsts), med(seconds)
    R.append("## 5. Feature cache: `python -m core duplicates FOLDER --method phash` twice\n")
    R.append(f"{len(ds.items)} files: first run (empty cache) {f:.1f} s, second run (unchanged folder) {s:.2f} s -> "
             f"**{f / s:.1f}x** faster. Of the second run: Python start-up + imports {t_imp:.2f} s; loading the "
             f"folder with the stat memo (one `os.stat` per file, no read) {t_memo:.3f} s, versus {t_load:.2f} s "
             "without it (read + SHA-256 + header check of every file); the cached features themselves cost "
             "milliseconds.\n")
    return f / s, t_load, t_imp


def _truth_pairs(folder: Path) -> set:
    groups: dict[str, list[str]] = {}
    with open(folder / "GROUND_TRUTH.csv") as f:
        for r in csv.DictReader(f):
            groups.setdefault(r["group"], []).append(r["file"])
    return {frozenset((a, b)) for g in groups.values() for i, a in enumerate(g) for b in g[i + 1:]}


def _f1(pred: set, truth: set):
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(truth) if truth else 0.0
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


def _peer_line(name: str, env) -> str:
    import peers
    if isinstance(env, peers.Unavailable):
        return f"- **{name}: not run** - {env.reason}"
    where = env.python.parent.parent
    where = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
    return f"- {name}: environment `{where}` ({'built by this run' if env.created else 'reused'})"


def _ours_duplicates(folder: Path, method: str, extra=()) -> tuple[float, set]:
    """Our CLI end to end in a fresh process with an empty cache: (seconds, predicted pairs)."""
    cmd = [sys.executable, "-m", "core", "duplicates", str(folder), "--method", method, "--json", "--no-cache",
           *extra]
    dt, out = _run(cmd, _env(tempfile.mkdtemp(prefix="dupfinder-bench-cache-")), cwd=ROOT)
    return dt, {frozenset((p["a"], p["b"])) for p in json.loads(out)["pairs"]}


def _peer_run(env, cmd_tail: list, marker: str) -> tuple[float, dict | None, str | None]:
    """Run a peer's runner; (seconds, parsed JSON, None) or (seconds, None, reason it failed)."""
    import peers
    t = time.perf_counter()
    p = subprocess.run([str(env.python), *map(str, cmd_tail)], capture_output=True, text=True,
                       env=peers.peer_env_vars(), cwd=tempfile.gettempdir())
    dt = time.perf_counter() - t
    out = p.stdout
    if p.returncode != 0 or marker not in out:
        return dt, None, f"exited {p.returncode}: {peers._tail(p.stderr or out, 400)}"
    try:  # the marker starts the runner's last line: one JSON document
        return dt, json.loads(out[out.rindex(marker) + len(marker):].strip().splitlines()[0]), None
    except (ValueError, IndexError) as e:
        return dt, None, f"unreadable output ({e}): {peers._tail(out, 300)}"


def bench_peers(folder: Path, quick: bool, peers_dir: Path, R: list):
    """Ours vs imagededup (PHash, CNN) and fastdup on the same folder, each peer in its own environment."""
    import peers
    truth = _truth_pairs(folder)
    n = sum(1 for _ in folder.glob("*.jpg"))
    reps = 1 if quick else 3
    envs = {name: peers.ensure_env(name, peers_dir) for name in ("imagededup", "fastdup")}
    res: dict = {"envs": envs}
    R.append(f"## 6. End to end vs the peers ({n} files, 2 processes / threads each)\n")
    R.append("Every run is a fresh process on the same folder, wall time including start-up, imports and (for the "
             "CNNs) loading the model; ours with an empty cache directory. Pair precision / recall / F1 against "
             f"`GROUND_TRUTH.csv` ({len(truth)} true pairs). Each peer runs in a virtual environment of its own "
             "(`bench/peers.py`, pinned lists in `bench/requirements/`):\n")
    R += [_peer_line(k, v) for k, v in envs.items()]
    R.append("")
    R.append("| comparison | ours s | peer s | ours img/s | peer img/s | ours faster | ours F1 (P / R) | peer F1 (P / R) |")
    R.append("|---|---:|---:|---:|---:|---:|---|---|")
    runner_dir = Path(tempfile.mkdtemp(prefix="dupfinder-peers-"))
    notes = []

    def row(label, ours_t, peer_t, ours_pairs, peer_pairs):
        fo, po, ro = _f1(ours_pairs, truth)
        ft, pt, rt = _f1(peer_pairs, truth)
        R.append(f"| {label} | {ours_t:.1f} | {peer_t:.1f} | {n / ours_t:.0f} | {n / peer_t:.0f} | "
                 f"**{peer_t / ours_t:.1f}x** | {fo:.3f} ({po:.3f} / {ro:.3f}) | {ft:.3f} ({pt:.3f} / {rt:.3f}) |")
        return peer_t / ours_t, fo, ft

    def pairs_of(dups: dict) -> set:
        return {frozenset((a, b)) for a, bs in dups.items() for b in bs}

    # imagededup PHash vs our pHash, both at 10 bits (imagededup's default; ours differs)
    idd = envs["imagededup"]
    if isinstance(idd, peers.Env):
        runner = peers.write_runner(runner_dir, "idd_runner.py", peers.IMAGEDEDUP_RUNNER)
        ours_t, theirs_t, ours, theirs, err = [], [], set(), set(), None
        for _ in range(reps):  # alternate, so machine load hits both alike
            dt, ours = _ours_duplicates(folder, "phash", ["--threshold", "10"])
            ours_t.append(dt)
            dt, out, err = _peer_run(idd, [runner, "phash", folder, 2], "RESULT ")
            if err:
                break
            theirs_t.append(dt)
            theirs = pairs_of(out["duplicates"])
        if err:
            notes.append(f"imagededup PHash failed: {err}")
        else:
            res["imagededup"] = row("pHash, 10 bits: ours vs imagededup PHash", med(ours_t), med(theirs_t), ours,
                                    theirs)
        # imagededup CNN: tried for real; reported when it cannot run here
        dt, out, err = _peer_run(idd, [runner, "cnn", folder, 2], "RESULT ")
        if err or "unavailable" in out:
            notes.append("**imagededup CNN: not run** - " + (err or out["unavailable"]) + ". It needs torchvision "
                         "(PyPI's build does not import beside the CPU torch this machine kind provides; the "
                         "matching CUDA pair is ~5.5 GB) and downloads its MobileNetV3 weights from the PyTorch "
                         "site on first use, which an offline machine cannot reach.")
        else:
            dt_o, ours_cnn = _ours_duplicates(folder, "cnn-cosine")
            res["imagededup_cnn"] = row("CNN: ours cnn-cosine vs imagededup CNN (0.9)", dt_o, dt, ours_cnn,
                                        pairs_of(out["duplicates"]))
    fd = envs["fastdup"]
    if isinstance(fd, peers.Env):
        runner = peers.write_runner(runner_dir, "fastdup_runner.py", peers.FASTDUP_RUNNER)
        ours_t, theirs_t, ours, theirs, err = [], [], set(), set(), None
        for _ in range(reps):
            dt, ours = _ours_duplicates(folder, "cnn-cosine")
            ours_t.append(dt)
            dt, out, err = _peer_run(fd, [runner, folder, tempfile.mkdtemp(prefix="dupfinder-fastdup-"), 2],
                                     "RESULT ")
            if err:
                break
            theirs_t.append(dt)
            theirs = {frozenset(p) for p in out["pairs"]}
        if err:
            notes.append(f"fastdup failed: {err}")
        else:
            res["fastdup"] = row("CNN: ours cnn-cosine (default threshold) vs fastdup (its default 0.9)",
                                 med(ours_t), med(theirs_t), ours, theirs)
    R.append("")
    R += [f"- {t}" for t in notes]
    R.append(f"\nMedians of {reps} alternating runs (the imagededup CNN probe and its comparison: one run).\n")
    return res


_DASH_RUNNER = r"""
import json, os, statistics, sys, time
from streamlit.testing.v1 import AppTest

folder, reps = sys.argv[1], int(sys.argv[2])
out = {}


def timed(fn):
    t = time.perf_counter()
    at = fn()
    dt = time.perf_counter() - t
    if at.exception:
        raise SystemExit("app exception: " + str([e.value for e in at.exception])[:2000])
    return dt


at = AppTest.from_file(os.path.join(os.getcwd(), "app.py"), default_timeout=900)
at.run()
at.radio(key="ds_source").set_value("Folder path").run()
out["load_s"] = timed(lambda: at.text_input(key="ds_folder").set_value(folder).run())
out["images"] = int(len(at.session_state["_dataset"].items))
out["encode_s"] = timed(lambda: at.switch_page("pages/search.py").run())   # ahash: encodes the folder
out["idle_rerun_s"] = statistics.median(timed(lambda: at.run()) for _ in range(reps))
key = next(s.key for s in at.slider if s.key and s.key.startswith("search_thr::"))
vals = [6, 14, 9, 12, 7, 10, 13, 8][:max(3, reps)]
out["slider_s"] = [timed(lambda v=v: at.slider(key=key).set_value(v).run()) for v in vals]
names = [b.key.split("::", 1)[1] for b in at.button if b.key and b.key.startswith("search_pick::")][1:1 + max(3, reps)]
out["new_query_s"] = [timed(lambda n=n: at.button(key="search_pick::" + n).click().run()) for n in names]
# another hash method whose features are in the on-disk cache (e.g. from an earlier session) vs not cached yet
out["method_cold_s"] = timed(lambda: at.selectbox(key="method").set_value("dhash").run())  # cold: encodes
at.selectbox(key="method").set_value("ahash").run()
out["method_switch_back_s"] = timed(lambda: at.selectbox(key="method").set_value("dhash").run())
at.switch_page("pages/duplicates.py").run()
dkey = next(s.key for s in at.slider if s.key and s.key.startswith("dup_thr::"))
out["dup_slider_s"] = [timed(lambda v=v: at.slider(key=dkey).set_value(v).run()) for v in vals]
# the same thresholds again: groups computed and thumbnails decoded once already
out["dup_slider_again_s"] = [timed(lambda v=v: at.slider(key=dkey).set_value(v).run()) for v in vals]
print("RESULT " + json.dumps(out))
"""


def bench_dashboard(folder: Path, quick: bool, R: list):
    """AppTest re-runs of the real app on the 2,000-file folder (its own process: a fresh Streamlit runtime)."""
    reps = 3 if quick else 5
    runner = Path(tempfile.mkdtemp(prefix="dupfinder-dash-")) / "dash_runner.py"
    runner.write_text(_DASH_RUNNER)
    env = _env(tempfile.mkdtemp(prefix="dupfinder-bench-cache-"), DUPFINDER_LOCAL="1")
    _, out = _run([sys.executable, str(runner), str(folder), str(reps)], env, cwd=ROOT)
    d = json.loads(out[out.index("RESULT ") + 7:].strip())
    sl, nq, ds = med(d["slider_s"]), med(d["new_query_s"]), med(d["dup_slider_s"])
    R.append(f"## 7. Dashboard (AppTest re-runs of `app.py`, folder source, {d['images']:,} images)\n")
    R.append("Each figure is one full script re-run as `streamlit.testing.v1.AppTest` executes it (sidebar + page, "
             "everything a browser would be sent, minus the network). Dataset and features stay in the process "
             "after the first run, exactly as in the served app.\n")
    R.append("| step | seconds |")
    R.append("|---|---:|")
    R.append(f"| load the folder (sidebar; stat memo cold) | {d['load_s']:.2f} |")
    R.append(f"| open Search: encode {d['images']:,} images with average hash (first time) | {d['encode_s']:.1f} |")
    R.append(f"| re-run with nothing changed | {d['idle_rerun_s']:.3f} |")
    R.append(f"| **Search: threshold slider move** (median of {len(d['slider_s'])}) | **{sl:.3f}** |")
    R.append(f"| **Search: new query picked, results shown** (median of {len(d['new_query_s'])}) | **{nq:.3f}** |")
    R.append(f"| switch to another hash method (dHash) not encoded yet: encodes {d['images']:,} images | "
             f"{d['method_cold_s']:.1f} |")
    R.append(f"| switch to another hash method whose features are in the feature cache | "
             f"{d['method_switch_back_s']:.3f} |")
    R.append(f"| Duplicates page (dHash): threshold slider move to a new value (median of {len(d['dup_slider_s'])}) | "
             f"{ds:.3f} |")
    R.append(f"| Duplicates page (dHash): slider back to a value seen before (median of "
             f"{len(d['dup_slider_again_s'])}) | {med(d['dup_slider_again_s']):.3f} |")
    R.append("\nThe Duplicates page re-renders every group of its first page (up to 12 groups, ~50 thumbnails with "
             "their captions and buttons), the copies-per-image chart and two 2,000-row tables on each move; a new "
             "threshold also brings groups whose thumbnails are decoded once (12 MP JPEG drafted: ~15 ms each).\n")
    R.append("")
    return sl, nq, d


def write_summary(R: list, res: dict, load_start: float) -> list:
    """The issue-5 targets, each with the measured figure, in a table at the top."""
    rows = []

    def add(target, figure, ok):
        rows.append(f"| {target} | {figure} | {'met' if ok else '**not met**' if ok is not None else '-'} |")

    enc = res.get("encoding")
    if enc:
        from core.methods import get
        for (label, name), (o, l_, b) in enc.items():
            if get(name).family != "hash":  # the 80 % target is for the hash methods
                continue
            add(f"{name} at {label}: >= 80 % of the decode limit",
                f"{o:.0f} / {l_:.0f} img/s = {o / l_:.0%} (imagehash per image: {b / l_:.0%})", o / l_ >= 0.8)
    cnn = res.get("cnn")
    if cnn:
        (r, diff) = cnn
        best = max(v for (bk, _), v in r.items() if bk == "onnx")
        add("CNN ONNX >= 120 img/s at 224 px, equal to torch within 1e-4", f"{best:.0f} img/s, max diff {diff:.1e}",
            best >= 120 and diff < 1e-4)
    ssim = res.get("ssim")
    if ssim:
        add("SSIM vectorised >= 20x SSIM-PIL, equal values", f"{ssim[0]:.0f}x, max diff {ssim[1]:.1e}",
            ssim[0] >= 20 and ssim[1] < 1e-6)
    cmp_ = res.get("compare")
    if cmp_ and 100000 in cmp_:
        t_fast, qc, qe = cmp_[100000]
        add("all pairs within 10 bits, N = 100,000 64-bit hashes < 5 s", f"{t_fast:.2f} s", t_fast < 5)
        add("top-10 of one query among 100,000 CNN features < 100 ms",
            f"cosine {qc * 1e3:.0f} ms, euclidean {qe * 1e3:.0f} ms", max(qc, qe) < 0.1)
    cache = res.get("cache")
    if cache:
        add("second `duplicates` run on an unchanged folder >= 10x faster", f"{cache[0]:.1f}x", cache[0] >= 10)
    pr = res.get("peers")
    if pr is not None:
        idd = pr.get("imagededup")
        if idd:
            add("ours >= 2x faster than imagededup PHash (2,000 files), F1 equal or better",
                f"{idd[0]:.1f}x, F1 {idd[1]:.3f} vs {idd[2]:.3f}", idd[0] >= 2 and idd[1] >= idd[2])
        else:
            add("ours >= 2x faster than imagededup PHash", "imagededup PHash not run (see section 6)", None)
        fdr = pr.get("fastdup")
        if fdr:
            add("CNN end to end >= 2.5x faster than fastdup, F1 equal or better",
                f"{fdr[0]:.1f}x, F1 {fdr[1]:.3f} vs {fdr[2]:.3f}", fdr[0] >= 2.5 and fdr[1] >= fdr[2])
        else:
            add("CNN end to end >= 2.5x faster than fastdup", "fastdup not run (see section 6)", None)
    dash = res.get("dashboard")
    if dash:
        add("dashboard: threshold slider redraw < 300 ms (2,000 images encoded), Search page", f"{dash[0] * 1e3:.0f} ms",
            dash[0] < 0.3)
        d = dash[2]
        dn, da = med(d["dup_slider_s"]), med(d["dup_slider_again_s"])
        add("dashboard: threshold slider redraw < 300 ms, Duplicates page (new value / value seen before)",
            f"{dn * 1e3:.0f} ms / {da * 1e3:.0f} ms", dn < 0.3)
        add("dashboard: first results of a new hash search < 1 s", f"{dash[1] * 1e3:.0f} ms", dash[1] < 1)
    head = ["## Summary: targets of issues 5 and 15\n", "| target | measured | |", "|---|---|---|", *rows, ""]
    return head


def _summary_safe(R, res, load_start):
    try:
        return write_summary(R, res, load_start)
    except Exception as e:  # never lose a 15-minute run to a formatting bug
        return [f"(summary failed: {e!r})", ""]


# ---------------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small workload, fewer repeats (smoke run)")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "dupfinder-bench"))
    ap.add_argument("--peers-dir", default=str(ROOT / "bench" / "work" / "peers"),
                    help="where the peers' own virtual environments are made (git-ignored)")
    ap.add_argument("--out", default=str(ROOT / "bench" / ("RESULTS-quick.md" if "--quick" in sys.argv
                                                           else "RESULTS.md")))
    ap.add_argument("--skip", default="", help="comma list of sections to skip: encoding,cnn,ssim,compare,"
                                                "cache,peers,dashboard")
    a = ap.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    os.environ.setdefault("DUPFINDER_CACHE_DIR", tempfile.mkdtemp(prefix="dupfinder-bench-cache-"))
    os.environ["DUPFINDER_MAX_TOTAL_BYTES"] = "64G"
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    folder = build_workload(Path(a.work), a.quick)
    R: list = []
    sections = [("encoding", lambda: bench_encoding(folder, a.quick, R)),
                ("cnn", lambda: bench_cnn(folder, a.quick, R)),
                ("ssim", lambda: bench_ssim(folder, a.quick, R)),
                ("compare", lambda: bench_compare(a.quick, R)),
                ("cache", lambda: bench_cache(folder, a.quick, R)),
                ("peers", lambda: bench_peers(folder, a.quick, Path(a.peers_dir), R)),
                ("dashboard", lambda: bench_dashboard(folder, a.quick, R))]
    res = {}
    for name, fn in sections:
        if name in skip:
            continue
        t = time.perf_counter()
        res[name] = fn()
        print(f"[{name}] {time.perf_counter() - t:.0f} s", flush=True)
        Path(a.out + ".partial").write_text("\n".join(R) + "\n")  # a crash later keeps what was measured
    load_end = os.getloadavg()[0]
    R = ["# Benchmark results", "",
         f"Generated by `python bench/run.py{' --quick' if a.quick else ''}` on {time.strftime('%Y-%m-%d %H:%M %Z')}. "
         f"Machine: {machine()}; 1-minute load average {load_start:.1f} at the start, {load_end:.1f} at the end "
         "(2 cores: a load above 2 means other processes competed for the CPUs; ratios measured in the same "
         "run are the robust figures).", "", *_summary_safe(R, res, load_start), *R]
    R.append(f"Total benchmark time {time.perf_counter() - t0:.0f} s.")
    old = Path(a.out).read_text() if Path(a.out).exists() else ""
    if END_LINE in old:  # keep the hand-written sections of other benchmarks that follow the generated part
        tail = old[old.index(END_LINE):].split("\n", 1)[1].strip("\n") if "\n" in old[old.index(END_LINE):] else ""
        if tail:
            R += ["", tail]
    Path(a.out).write_text("\n".join(R) + "\n")
    Path(a.out + ".partial").unlink(missing_ok=True)
    print("\n".join(R))
    return 0


if __name__ == "__main__":
    sys.exit(main())
