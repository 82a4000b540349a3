"""Encode throughput of the index engines on one machine: ``--engine local`` vs ``--engine ray``, 1 and 2 workers.

    python bench/engines.py [--full [--images 400]] [--rounds 3] [--methods phash,cnn-cosine] [--out bench/RESULTS.md]

Workload: the folder of ``bench/run.py``'s :func:`build_workload` (imported, not copied): groups of a 12 MP
original, a 640x480 web copy, an edited 640x480 copy and a 2000x1500 re-compressed copy, then singletons. By default
every file of its quick 200-file folder (40 groups + 40 singletons, 50 files 12 MP, ~143 MB); with ``--full`` the
first ``--images`` files of its 2,000-file folder. Each measurement is one engine call on those
images (the map of ``index build``: decode + encode, no feature cache), as :func:`core.collection.build.build` makes
it:

* ``local``: :func:`core.collection.build.local_engine` with ``workers`` processes (1 = the sequential path in this
  process; 2 = the process pool; CNN: workers decode, this process runs the network);
* ``ray``: :class:`core.collection.ray_engine.RayEngine` on one local Ray cluster of 2 CPUs, its tasks (hashes) or
  CNN actors limited to ``workers`` at once.

Rates per call: *call* = images / wall time of the whole call (Ray: building the Dataset, scheduling, CNN actors
loading the network); *steady* = what a long build sustains (Ray: images / (last batch end - first batch start) on
the workers' clocks, since the driver receives Ray's batches in bursts; local: between the first and the last batch
the engine reported); Ray *per worker* = images / the batches' summed busy seconds, the per-core figure behind the
100M-image plan of ``docs/SCALING.md``. The peak RSS of the Ray worker processes is sampled from ``/proc``. The
configurations are interleaved round by round, so load from other processes hits them alike; the machine is shared,
so the ratios are the robust figures. Writes the section between ``<!-- engines:start -->`` and
``<!-- engines:end -->`` of ``--out`` (appended when the markers are missing).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

START, END = "<!-- engines:start -->", "<!-- engines:end -->"
CONFIGS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


class Clock:
    """Progress callback recording (time, images done) after every batch."""

    def __init__(self):
        self.marks: list[tuple[float, int]] = []

    def __call__(self, done, total, msg=""):
        if done:  # not the "starting" call
            self.marks.append((time.perf_counter(), done))

    def steady(self) -> float | None:
        """Images per second from the first to the last batch (None with fewer than 3 batches)."""
        if len(self.marks) < 3:
            return None
        (t0, d0), (t1, d1) = self.marks[0], self.marks[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None


def run_once(kind: str, workers: int, items, method, ray_engine_cls, local_engine) -> dict:
    """One engine call on ``items``: {"call", "steady", "per_worker", "per_cpu"} in images/s (per_worker: Ray only;
    per_cpu: Ray, and local with 1 worker, whose work all happens in this process)."""
    clock = Clock()
    if kind == "local":
        engine = local_engine(cache=False, progress=clock, workers=workers)
        t, c = time.perf_counter(), time.process_time()
        enc = engine(items, method, {})
        dt, cpu = time.perf_counter() - t, time.process_time() - c
        out = {"steady": clock.steady(), "per_worker": None, "per_cpu": len(items) / cpu if workers == 1 else None}
    else:
        with ray_engine_cls(workers=workers, progress=clock) as engine:
            t = time.perf_counter()
            enc = engine(items, method, {})
            dt = time.perf_counter() - t
        st = engine.stats  # worker-side clocks: the driver receives Ray's batches in bursts
        out = {"steady": st["images"] / st["span"] if st["span"] else None,
               "per_worker": st["images"] / st["busy"] if st["busy"] else None,
               "per_cpu": st["images"] / st["cpu"] if st["cpu"] else None}
    assert len(enc.rows) + len(enc.failed) == len(items)
    out["call"] = len(items) / dt
    return out


class PeakRSS:
    """Samples the peak RSS (``VmHWM``) of the Ray worker processes running one of our UDFs, by UDF name."""

    def __init__(self, period: float = 0.5):
        self.peak_kb: dict[str, int] = {}
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                    if not title.startswith("ray::"):
                        continue
                    kind = next((k for k in ("CnnEncoder", "encode_task") if k in title), None)
                    if kind is None:
                        continue
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kb[kind] = max(self.peak_kb.get(kind, 0), int(line.split()[1]))
                except OSError:
                    continue
            self._stop.wait(self.period)

    def __enter__(self):
        if os.path.isdir("/proc"):
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    block = f"{START}\n{text.rstrip()}\n{END}\n"
    if START in old and END in old:
        new = old[:old.index(START)] + block + old[old.index(END) + len(END):].lstrip("\n")
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block
    path.write_text(new)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="use the 2,000-file workload (default: the 200-file one)")
    ap.add_argument("--images", type=int, default=400, help="with --full: images taken from it")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--methods", default="phash,cnn-cosine")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "dupfinder-bench"))
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    a = ap.parse_args(argv)
    os.environ.setdefault("DUPFINDER_CACHE_DIR", tempfile.mkdtemp(prefix="dupfinder-bench-engines-"))

    import run as bench_run  # bench/run.py: its workload builder and machine description

    from core import datasets
    from core.collection.build import local_engine
    from core.collection.ray_engine import RayEngine
    from core.methods import get

    folder = bench_run.build_workload(Path(a.work), quick=not a.full)
    ds = datasets.load(str(folder))
    items = list({it.content_id: it for it in ds.items}.values())  # the engine contract: distinct contents
    items = items[:a.images] if a.full else items
    mb = sum(it.size_bytes for it in items) / 1e6
    mb_all = sum(it.size_bytes for it in ds.items) / 1e6
    big = [it for it in items if it.width * it.height >= 10_000_000]  # the 12 MP camera originals
    methods = [get(n.strip()) for n in a.methods.split(",") if n.strip()]
    load0 = os.getloadavg()
    t_start = time.time()
    cluster = RayEngine(workers=2)
    t = time.perf_counter()
    cluster.connect()  # one local cluster of 2 CPUs; each RayEngine below joins it
    t_ray_start = time.perf_counter() - t
    res: dict[tuple[str, str, int], list[dict]] = {}
    try:
        with PeakRSS() as rss:
            for m in methods:
                for kind, w in CONFIGS:  # warm-up: process pools, both Ray workers' imports, the ONNX export
                    run_once(kind, w, items[:80], m, RayEngine, local_engine)
                for r in range(a.rounds):
                    for kind, w in CONFIGS:
                        x = run_once(kind, w, items, m, RayEngine, local_engine)
                        res.setdefault((m.name, kind, w), []).append(x)
                        print(f"{m.name} {kind} x{w} round {r + 1}: " + ", ".join(
                            f"{k} {v:.1f}" for k, v in x.items() if v is not None) + " img/s", flush=True)
                    for kind, w in (("local", 1), ("ray", 2)):  # camera photos only: the 100M plan's unit
                        x = run_once(kind, w, big, m, RayEngine, local_engine)
                        res.setdefault((m.name, kind + " 12 MP", w), []).append(x)
                        print(f"{m.name} {kind} x{w} 12 MP round {r + 1}: per_cpu {x['per_cpu']:.1f} img/s",
                              flush=True)
    finally:
        cluster.close()
    scans = []
    for _ in range(a.rounds):  # the driver's scan (read + SHA-256 + header probe of every file), one process
        with datasets.no_stat_memo():
            t = time.perf_counter()
            datasets.load(str(folder))
            scans.append(time.perf_counter() - t)
    t_scan = statistics.median(scans)
    load1 = os.getloadavg()

    def fmt(v) -> str:  # NaN: not measured (local per-worker and pool CPU, too few batches for a steady rate)
        return "" if v != v else f"{v:.1f}"

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else float("nan")

    R = ["## Engines: `--engine local` vs `--engine ray` (encode throughput, one machine)", ""]
    R.append(f"Generated by `python bench/engines.py{f' --full --images {a.images}' if a.full else ''}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t_start))}. Machine: {bench_run.machine()}. "
             f"1-minute load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end: the machine's 2 cores "
             "were shared with other busy processes (other jobs running tests and benchmarks), so absolute rates "
             "are low and noisy; the configurations ran interleaved in one run, so compare the ratios. Median of "
             f"{a.rounds} rounds.")
    R.append("")
    R.append(f"Workload: `bench/run.py`'s {'2,000-file' if a.full else '200-file'} folder, {len(items)} distinct "
             f"images "
             f"({mb:.0f} MB of JPEG: 12 MP, 2000x1500 and 640x480), every one decoded and encoded per call (no "
             f"cache). Ray: one local cluster of 2 CPUs (start-up {t_ray_start:.1f} s, once, not counted), tasks "
             "or CNN actors limited to the worker count. *call* = images / wall time of one engine call (Ray: "
             "planning the Dataset, scheduling, each CNN actor loading the network); *steady* excludes that "
             "per-call start (see below).")
    R.append("")
    R.append(f"Rows *12 MP*: the {len(big)} camera originals of the folder alone (the unit of the 100M-image plan).")
    R.append("")
    R.append("| method | engine | workers | call img/s | steady img/s | per worker img/s | per CPU-second img/s | "
             "call vs local (same workers) |")
    R.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for m in methods:
        for kind, w in CONFIGS + (("local 12 MP", 1), ("ray 12 MP", 2)):
            xs = res[(m.name, kind, w)]
            call, steady, per, pcpu = (med([x[k] for x in xs]) for k in ("call", "steady", "per_worker", "per_cpu"))
            base_key = (m.name, kind.replace("ray", "local"), w)
            ratio = f"{call / med([x['call'] for x in res[base_key]]):.2f}" if base_key in res else ""
            R.append(f"| {m.name} | {kind} | {w} | {call:.1f} | {fmt(steady)} | {fmt(per)} | {fmt(pcpu)} | "
                     f"{ratio} |")
    R.append("")
    R.append("Ray *steady* and *per worker* come from the workers' own clocks (each batch's start and end): steady = "
             "images / (last batch end - first batch start), per worker = images / the sum of the batches' busy "
             "seconds; per CPU-second = images / the CPU seconds the work used (all threads of the process: the rate "
             "of one dedicated core, which other processes' load does not lower). Local *steady* = images/s between "
             "the first and the last batch the engine reported. Peak RSS of one Ray worker process (VmHWM, "
             "sampled): " + ", ".join(
                 f"{'CNN actor' if k == 'CnnEncoder' else 'hash task worker'} {v / 1024:.0f} MiB"
                 for k, v in sorted(rss.peak_kb.items())) + ".")
    R.append("")
    R.append("Local CNN: the network runs in the calling process with ONNX Runtime's 2 threads whatever the worker "
             "count (worker processes only decode); a Ray CNN actor runs it with 1 thread per actor CPU. Ray also "
             "SHA-256-checks every file it reads (the local engine does not).")
    R.append("")
    for m in methods:
        r1 = med([x["steady"] for x in res[(m.name, "ray", 1)]])
        r2 = med([x["steady"] for x in res[(m.name, "ray", 2)]])
        p2 = med([x["per_worker"] for x in res[(m.name, "ray", 2)]])
        c2 = med([x["per_cpu"] for x in res[(m.name, "ray", 1)] + res[(m.name, "ray", 2)]])
        c_loc = med([x["per_cpu"] for x in res[(m.name, "local", 1)]])
        c12 = med([x["per_cpu"] for x in res[(m.name, "ray 12 MP", 2)]])
        c12_loc = med([x["per_cpu"] for x in res[(m.name, "local 12 MP", 1)]])
        R.append(f"- {m.name}: Ray steady {r1:.1f} img/s with 1 worker, {r2:.1f} with 2 ({r2 / r1:.2f}x on 2 shared "
                 f"cores); {p2:.1f} img/s per worker-second with 2 workers; per CPU-second: {c2:.1f} img/s on Ray "
                 f"workers vs {c_loc:.1f} for the local engine in one process (the mix), {c12:.1f} vs {c12_loc:.1f} "
                 f"on the {len(big)} 12 MP photos.")
    R.append("")
    n_files = len(ds.items) + len(ds.skipped)
    R.append(f"- The driver's scan (`core.datasets.load` without the stat memo: read, SHA-256 and header probe of "
             f"every file, one process): {n_files / t_scan:.0f} files/s, {mb_all / t_scan:.0f} MB/s.")
    R.append("")
    write_section(Path(a.out), "\n".join(R))
    print("\n".join(R))
    return 0


if __name__ == "__main__":
    sys.exit(main())
