"""Where the CPU of ``python -m core duplicates FOLDER --method cnn-cosine`` goes, stage by stage (issue 15, target 1).

Run from the repository root::

    python bench/cnn_stages.py FOLDER [--limit N] [--fastdup PYTHON] [--json OUT]

CPU seconds (user + system, every thread) are the figure, not wall time: the machine is shared, and CPU seconds do
not change with the neighbours' load. Three measurements:

1. **The real command, whole tree** (:mod:`treecpu`: the command, its decode worker processes, every thread),
   with a cold feature cache holding only the ONNX export (a fresh ``DUPFINDER_CACHE_DIR``, as
   ``bench/cnn_e2e.py`` runs it). The command runs ``core.__main__.main`` in-process under a small driver that
   wraps the stages' functions with ``time.process_time`` (the parent's share of each stage) and records the
   parent's own CPU at the end; the workers' CPU is the tree's minus the parent's.
2. **Each stage alone, per file size class** (one process, sequential, a sample of every class scaled to the
   folder's counts): reading, ``images.probe(verify=True)``, SHA-256 (the dataset load), the worker's decode
   (``images.open_image(target_size=224, fit="stretch")``: JPEG draft, box reduction) and resize to 224x224
   (``cnn.resize_to_input``), the network (``Model.features_from_pixels``, batches of 16) with ONNX Runtime's
   thread spinning on (default) and off.
3. **Start-up**: interpreter + the imports of the parent (``core``'s CLI, ONNX Runtime, pandas) and of a decode
   worker (``core.cnn_pipeline`` under a spawned interpreter), each under :mod:`treecpu`.

With ``--fastdup PYTHON`` (a virtual environment's interpreter with fastdup installed, e.g. the one
``bench/cnn_e2e.py`` makes), fastdup's default run on the same folder is measured the same way (whole tree), and
its interpreter + ``import fastdup``.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import treecpu  # noqa: E402

_DRIVER = r"""
import json, os, resource, sys, time
startup = time.process_time()          # interpreter start + site, before this line
out, argv = sys.argv[1], sys.argv[2:]
S = {}
def timed(name, fn):
    def w(*a, **k):
        t = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            S[name] = S.get(name, 0.0) + time.process_time() - t
    return w
t = time.process_time()
import core.__main__ as M
from core import cache, cli_two_stage, cnn, cnn_pipeline, encoding, keeper, search, scale, invariance
from core.collection import groups
import onnxruntime, pandas, PIL.Image
S["imports"] = time.process_time() - t
M._load = timed("dataset load", M._load)
M.encode_dataset = timed("encode (parent, all)", M.encode_dataset)
cnn_pipeline.model_for = timed("model load", cnn_pipeline.model_for)
cnn.Model.features_from_pixels = timed("inference", cnn.Model.features_from_pixels)
cache.FeatureCache.put_many = timed("feature cache writes", cache.FeatureCache.put_many)
encoding._get_pool = timed("pool start (parent side)", encoding._get_pool)
cli_two_stage.duplicates_run = timed("all pairs + groups", cli_two_stage.duplicates_run)
groups.duplicates_regrouped = timed("regroup", groups.duplicates_regrouped)
keeper.chooser = timed("keeper", keeper.chooser)
class J:
    dumps = staticmethod(timed("JSON", json.dumps))
M.json = J
t = time.process_time()
rc = M.main(argv)
S["main"] = time.process_time() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
with open(out, "w") as f:
    json.dump({"stages": S, "startup": startup, "parent": ru.ru_utime + ru.ru_stime, "rc": rc}, f)
sys.stdout.flush()
"""

_FASTDUP_RUN = r"""
import sys, fastdup
fd = fastdup.create(work_dir=sys.argv[2], input_dir=sys.argv[1])
fd.run(num_threads=int(sys.argv[3]), overwrite=True)
"""


def classes(folder: Path, limit: int | None) -> dict[str, list[Path]]:
    """The folder's JPEGs by size class (sorted names; ``limit``: every k-th file, all classes alike)."""
    from PIL import Image

    out: dict[str, list[Path]] = collections.defaultdict(list)
    for f in sorted(folder.glob("*.jpg")):
        with Image.open(f) as im:
            w, h = im.size
        out[f"{w}x{h}"].append(f)
    total = sum(len(v) for v in out.values())
    if limit and limit < total:  # the same share of every class
        for k, v in out.items():
            m = max(1, round(len(v) * limit / total))
            out[k] = [v[int(i * len(v) / m)] for i in range(m)]
    return dict(out)


def subset(folder: Path, files: list[Path]) -> Path:
    """A folder of hard links (or copies) to ``files``: the command sees exactly these."""
    d = Path(tempfile.mkdtemp(prefix="cnn-stages-folder-"))
    for f in files:
        try:
            os.link(f, d / f.name)
        except OSError:
            shutil.copy2(f, d / f.name)
    return d


def onnx_cache() -> Path:
    """A cache root holding only the ONNX export (as ``python -m core warmup`` leaves it)."""
    root = ROOT / "bench" / "work" / "onnx-cache"
    if not list((root / "onnx").glob("*.onnx")):
        env = dict(os.environ, DUPFINDER_CACHE_DIR=str(root), PYTHONPATH=str(ROOT))
        treecpu.run([sys.executable, "-c", "from core import cnn; cnn.ensure_onnx()"], env=env, cwd=ROOT)
    return root / "onnx"


def run_ours(folder: Path, extra_env: dict | None = None) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="cnn-stages-cache-"))
    shutil.copytree(onnx_cache(), cache / "onnx")
    env = dict(os.environ, DUPFINDER_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), DUPFINDER_MAX_TOTAL_BYTES="64G")
    env.update(extra_env or {})
    rep = cache / "stages.json"
    try:
        r = treecpu.run([sys.executable, "-c", _DRIVER, str(rep), "duplicates", str(folder), "--method",
                         "cnn-cosine", "--json"], env=env, cwd=ROOT)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        d = json.loads(rep.read_text())
        d.update(tree=r.cpu, wall=r.wall, wall_tree=r.wall_tree, orphans=r.orphans, subreaper=r.tree,
                 workers=r.cpu - d["parent"], pairs=len(json.loads(r.stdout)["pairs"]))
        return d
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def startup_costs(fd_python: str | None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = ("import core.__main__; from core import cache, cli_two_stage, cnn, cnn_pipeline, encoding, keeper, "
              "search, scale, invariance; from core.collection import groups; import onnxruntime, pandas, PIL.Image")
    out = {"bare interpreter": treecpu.run([sys.executable, "-c", "pass"]).cpu,
           "parent: interpreter + imports": treecpu.run([sys.executable, "-c", parent], env=env, cwd=ROOT).cpu,
           "worker: spawned interpreter + imports": treecpu.run(
               [sys.executable, "-c", "import multiprocessing as m, core.cnn_pipeline as p\n"
                "if __name__ == '__main__':\n"
                "    q = m.get_context('spawn').Process(target=p.decode_to_input, args=([],)); q.start(); q.join()"],
               env=env, cwd=ROOT).cpu}
    if fd_python:
        out["fastdup: interpreter + import fastdup"] = treecpu.run([fd_python, "-c", "import fastdup"],
                                                                   env=_fd_env()).cpu
    return out


def _fd_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["SENTRY_OPT_OUT"] = "1"
    return env


def run_fastdup(fd_python: str, folder: Path, threads: int = 2) -> dict:
    wd = tempfile.mkdtemp(prefix="cnn-stages-fastdup-")
    runner = Path(wd) / "run.py"
    runner.write_text(_FASTDUP_RUN)
    try:
        r = treecpu.run([fd_python, str(runner), str(folder), str(Path(wd) / "work"), str(threads)], env=_fd_env(),
                        cwd=wd)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        return {"tree": r.cpu, "wall": r.wall, "orphans": r.orphans}
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def per_stage(by_class: dict[str, list[Path]], sample: int, threads_note: bool = True) -> dict:
    """CPU ms per file of each stage, per size class (one process, sequential; ``sample`` files per class)."""
    os.environ.setdefault("DUPFINDER_MAX_TOTAL_BYTES", "64G")
    os.environ["DUPFINDER_CACHE_DIR"] = str(onnx_cache().parent)  # the export exists: no torch here
    from core import cnn, images
    from core.datasets.folder import read_file

    pc = time.process_time
    res: dict = {}
    pixels = []
    for cls, files in by_class.items():
        fs = files[:sample]
        acc = collections.defaultdict(float)
        for f in fs:
            t = pc(); data = read_file(str(f), 1 << 30); acc["read"] += pc() - t
            t = pc(); images.probe(data, verify=True); acc["probe (verify)"] += pc() - t
            t = pc(); hashlib.sha256(data).hexdigest(); acc["SHA-256"] += pc() - t
            t = pc(); img = images.open_image(str(f), target_size=cnn.INPUT_SIZE, fit="stretch")
            acc["decode (draft + reduce)"] += pc() - t
            t = pc(); px = cnn.resize_to_input(img); acc["resize to 224"] += pc() - t
            pixels.append(px)
            acc["decoded size"] = img.size
        res[cls] = {"n": len(files), "sampled": len(fs), "bytes": statistics.mean(f.stat().st_size for f in fs),
                    "decoded": acc.pop("decoded size"),
                    "ms": {k: 1000 * v / len(fs) for k, v in acc.items()}}
    import numpy as np

    batch = np.stack(pixels[:64])
    for threads, spin in ((cnn.ORT_THREADS, "1"), (cnn.ORT_THREADS, "0"), (1, "0")):
        os.environ["DUPFINDER_ORT_SPINNING"] = spin
        threads0, cnn.ORT_THREADS = cnn.ORT_THREADS, threads
        cnn._get_model_cached.cache_clear()  # a new session: threads and spinning are session options
        t = pc()
        model = cnn.get_model()
        load = pc() - t
        model.features_from_pixels(batch[:16])  # first run: allocations
        t, w = pc(), time.perf_counter()
        for s in range(0, len(batch), 16):
            model.features_from_pixels(batch[s:s + 16])
        res[f"inference threads={threads} spinning={spin}"] = {
            "ms_per_image": 1000 * (pc() - t) / len(batch),
            "wall_ms_per_image": 1000 * (time.perf_counter() - w) / len(batch), "model_load_cpu_s": load}
        cnn.ORT_THREADS = threads0
    os.environ.pop("DUPFINDER_ORT_SPINNING", None)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--limit", type=int, default=None, help="every k-th file only, this many")
    ap.add_argument("--sample", type=int, default=24, help="files per size class for the per-stage figures")
    ap.add_argument("--fastdup", default=None, help="python of a virtual environment with fastdup")
    ap.add_argument("--only", default="stages,startup,ours,fastdup")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for our command (repeatable)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    only = set(a.only.split(","))
    folder = Path(a.folder)
    by_class = classes(folder, a.limit)
    files = [f for fs in by_class.values() for f in fs]
    run_dir = subset(folder, files) if a.limit else folder
    out: dict = {"files": len(files), "classes": {k: len(v) for k, v in by_class.items()},
                 "load_start": os.getloadavg()[0]}
    try:
        if "stages" in only:
            out["stages"] = per_stage(by_class, a.sample)
            print(json.dumps(out["stages"], indent=1), flush=True)
        if "startup" in only:
            out["startup"] = startup_costs(a.fastdup)
            print(json.dumps(out["startup"], indent=1), flush=True)
        if "ours" in only:
            out["ours"] = run_ours(run_dir)
            print(json.dumps(out["ours"], indent=1), flush=True)
            if a.env:  # the same command with these settings, right after (A/B)
                out["ours with " + " ".join(a.env)] = run_ours(run_dir, dict(kv.split("=", 1) for kv in a.env))
                print(json.dumps(out["ours with " + " ".join(a.env)], indent=1), flush=True)
        if "fastdup" in only and a.fastdup:
            out["fastdup"] = run_fastdup(a.fastdup, run_dir)
            print(json.dumps(out["fastdup"], indent=1), flush=True)
    finally:
        if a.limit:
            shutil.rmtree(run_dir, ignore_errors=True)
    out["load_end"] = os.getloadavg()[0]
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
