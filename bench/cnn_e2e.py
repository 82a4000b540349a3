"""CNN end to end vs fastdup, the levers behind it, and the app's first-result latency (issue 15, targets 1, 3, 4).

Run from the repository root::

    python bench/cnn_e2e.py                    # every section (~15 min on 2 quiet cores)
    python bench/cnn_e2e.py --only e2e,app     # some sections: e2e, levers, app

Writes a section of ``bench/RESULTS.md`` between ``<!-- cnn-e2e:start -->`` and ``<!-- cnn-e2e:end -->`` (the rest of
the file is left alone). Figures are ratios measured in one interleaved run, because the machine is shared.

* **e2e** - fresh processes on the 2,000-file folder that ``bench/run.py`` builds (imported, not copied):
  ours now ``python -m core duplicates FOLDER --method cnn-cosine --json`` with a cold feature cache
  (``DUPFINDER_CACHE_DIR`` a fresh temporary folder holding only the ONNX export, which ``python -m core warmup``
  makes at install time), ours before (the commit given by ``--before``, extracted with ``git archive``, run the
  same way with a fully cold cache - as issue 15 measured it), and fastdup ``fastdup.create(work_dir,
  input_dir).run(num_threads=2)`` in its own virtual environment (``bench/work/fastdup-venv``, made with
  ``python -m venv`` + ``pip install fastdup==2.54``; reported as unavailable if that fails). Runs alternate so
  machine load hits all alike. Pair F1 against the folder's ``GROUND_TRUTH.csv``.
* **levers** - in process: JPEG draft vs full decode (feature cosine, mAP and pair F1 on ``/work/shared/data/*``),
  ONNX Runtime threads / batch / spinning, INT8 static quantisation (speed, cosine to fp32, mAP).
* **app** - a cold server (``tests/browser.py``'s ``start_app``, the README's run command) and Debian's chromium:
  seconds from ``page.goto`` to the first ranked result of average hash (Home) and of CNN + cosine (Search page,
  method picked in the sidebar right after the first result).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run as bench_run  # noqa: E402  (the workload builder, truth pairs and F1 of bench/run.py)

WORK = ROOT / "bench" / "work"
FASTDUP = "fastdup==2.54"
START, END = "<!-- cnn-e2e:start -->", "<!-- cnn-e2e:end -->"

_FASTDUP_RUNNER = r"""
import json, os, sys, time
t0 = time.perf_counter()
import fastdup
fd = fastdup.create(work_dir=sys.argv[2], input_dir=sys.argv[1])
fd.run(num_threads=int(sys.argv[3]), overwrite=True)
t_run = time.perf_counter() - t0
sim = fd.similarity(data=False)
cc, _ = fd.connected_components(data=False)
names = {}
try:
    amap = fd.annotations(valid_only=False)
    names = dict(zip(amap["index"] if "index" in amap else amap.index, amap["filename"]))
except Exception:
    pass
def nm(i):
    return os.path.basename(str(names.get(int(i), i)))
pairs = [[nm(a), nm(b), float(d)] for a, b, d in zip(sim["from"], sim["to"], sim["distance"])]
comp_col = "component_id" if "component_id" in cc else cc.columns[-1]
id_col = "__id" if "__id" in cc else ("index" if "index" in cc else None)
ids = cc[id_col] if id_col else cc.index
comps = {}
for i, c in zip(ids, cc[comp_col]):
    comps.setdefault(int(c), []).append(nm(i))
print(json.dumps({"run_seconds": t_run, "pairs": pairs, "components": list(comps.values())}))
"""


def machine() -> str:
    return bench_run.machine()


def load() -> float:
    return os.getloadavg()[0]


# ---------------------------------------------------------------------------------------------------------------
# environments
# ---------------------------------------------------------------------------------------------------------------
def ensure_fastdup(venv: Path) -> Path | str:
    """The fastdup venv's python, or a sentence saying why fastdup is unavailable (never raises)."""
    py = venv / "bin" / "python"
    try:
        if not (py.is_file() and subprocess.run([str(py), "-c", "import fastdup"], capture_output=True,
                                                 env=_fd_env()).returncode == 0):
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            p = subprocess.run([str(py), "-m", "pip", "install", "-q", FASTDUP], capture_output=True, text=True)
            if p.returncode != 0:
                return f"`pip install {FASTDUP}` failed: {p.stderr.strip().splitlines()[-1:]}"
        return py
    except Exception as e:  # noqa: BLE001 - a peer that cannot be installed is reported, never fatal
        return f"fastdup unavailable: {e}"


def _fd_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["SENTRY_OPT_OUT"] = "1"  # no telemetry (the machine is offline anyway)
    return env


def before_tree(rev: str, full: bool = False) -> Path:
    """The project at ``rev`` (git archive; ``core/`` only unless ``full``), to run "before" figures in the same run."""
    out = WORK / f"before-{rev[:10]}{'-full' if full else ''}"
    if not (out / "core" / "__main__.py").is_file():
        out.mkdir(parents=True, exist_ok=True)
        paths = [] if full else ["core", "data/demo"]
        arch = subprocess.run(["git", "archive", rev, *paths], cwd=ROOT, check=True,
                              capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=arch, check=True)
    return out


def warm_onnx_cache() -> Path:
    """A cache root holding only the ONNX export (made once, as ``python -m core warmup`` does at install)."""
    root = WORK / "onnx-cache"
    env = dict(os.environ, DUPFINDER_CACHE_DIR=str(root), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", "from core import cnn; cnn.ensure_onnx()"], env=env, check=True, cwd=ROOT)
    return root / "onnx"


def fresh_cache(onnx_dir: Path | None) -> str:
    d = Path(tempfile.mkdtemp(prefix="cnn-e2e-cache-"))
    if onnx_dir is not None:
        shutil.copytree(onnx_dir, d / "onnx")
    return str(d)


# ---------------------------------------------------------------------------------------------------------------
# e2e
# ---------------------------------------------------------------------------------------------------------------
CPU: dict[str, list] = {}


def _timed(cmd, env, cwd, who: str | None = None):
    """Run ``cmd``; (wall seconds, stdout). CPU seconds of the whole process tree (user + sys of the command, its
    worker processes and any orphan they leave, all threads: :mod:`treecpu`) go to ``CPU[who]``."""
    import treecpu

    r = treecpu.run(cmd, env=env, cwd=cwd)
    if who:
        CPU.setdefault(who, []).append(r.cpu)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[:5]} failed ({r.returncode}): {r.stderr[-1500:]}")
    return r.wall, r.stdout


def _our_pairs(out: str) -> set:
    return {frozenset((Path(p["a"]).name, Path(p["b"]).name)) for p in json.loads(out)["pairs"]}


def _our_pairs_at(out: str, threshold: float) -> set:
    return {frozenset((Path(p["a"]).name, Path(p["b"]).name)) for p in json.loads(out)["pairs"]
            if p["score"] >= threshold}


def _fd_pairs(res: dict, threshold: float | None = None) -> set:
    return {frozenset((a, b)) for a, b, d in res["pairs"] if a != b and (threshold is None or d >= threshold)}


def _component_pairs(groups) -> set:
    return {frozenset((a, b)) for g in groups for i, a in enumerate(g) for b in g[i + 1:]}


def bench_e2e(folder: Path, reps: int, before_rev: str | None, R: list) -> dict:
    truth = bench_run._truth_pairs(folder)
    n = sum(1 for _ in folder.glob("*.jpg"))
    onnx_dir = warm_onnx_cache()
    fd_py = ensure_fastdup(WORK / "fastdup-venv")
    runner = WORK / "fastdup_runner.py"
    runner.write_text(_FASTDUP_RUNNER)
    before = before_tree(before_rev) if before_rev else None
    times: dict[str, list] = {"ours": [], "before": [], "fastdup": []}
    outs: dict = {}
    cmd = ["-m", "core", "duplicates", str(folder), "--method", "cnn-cosine", "--json"]
    for r in range(reps):
        env = bench_run._env(fresh_cache(onnx_dir))
        dt, outs["ours"] = _timed([sys.executable, *cmd], env, ROOT, "ours")
        times["ours"].append(dt)
        print(f"[e2e {r}] ours {dt:.1f} s (load {load():.1f})", flush=True)
        if before is not None:
            env = bench_run._env(fresh_cache(None))
            env["PYTHONPATH"] = str(before)
            dt, outs["before"] = _timed([sys.executable, *cmd], env, before, "before")
            times["before"].append(dt)
            print(f"[e2e {r}] before {dt:.1f} s", flush=True)
        if isinstance(fd_py, Path):
            wd = tempfile.mkdtemp(prefix="cnn-e2e-fastdup-")
            try:
                dt, out = _timed([str(fd_py), str(runner), str(folder), wd, "2"], _fd_env(), tempfile.gettempdir(),
                                 "fastdup")
                outs["fastdup"] = json.loads(out[out.index('{"run_seconds"'):])
                times["fastdup"].append(dt)
                print(f"[e2e {r}] fastdup {dt:.1f} s", flush=True)
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                fd_py = f"fastdup failed to run: {str(e)[-300:]}"
            finally:
                shutil.rmtree(wd, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    res = {"n": n, "times": times, "median": med, "truth": len(truth)}
    rows = []
    f_ours = bench_run._f1(_our_pairs(outs["ours"]), truth)
    rows.append(("ours (this branch)", med["ours"], f_ours, "threshold 0.70 (default)"))
    res["f1_ours"] = f_ours[0]
    for t in (0.85, 0.90, 0.95):  # not a re-tuned default: the folder's scenes share source photos (see below)
        rows.append((f"ours, same run, pairs at threshold {t}", med["ours"], bench_run._f1(_our_pairs_at(outs["ours"], t),
                                                                                     truth), f"threshold {t}"))
    if "before" in med:
        fb = bench_run._f1(_our_pairs(outs["before"]), truth)
        rows.append((f"ours before (`{before_rev[:10]}`, cold ONNX export)", med["before"], fb,
                     "threshold 0.70 (default)"))
        res["f1_before"] = fb[0]
    if "fastdup" in med:
        fdres = outs["fastdup"]
        fs = bench_run._f1(_fd_pairs(fdres), truth)
        fc = bench_run._f1(_component_pairs(fdres["components"]), truth)
        rows.append(("fastdup 2.54, similarity pairs", med["fastdup"], fs, "its default similarity threshold"))
        rows.append(("fastdup 2.54, connected components", med["fastdup"], fc, "its default components"))
        res["f1_fastdup"] = max(fs[0], fc[0])
        res["fastdup_run_seconds"] = fdres["run_seconds"]
    res["fastdup_status"] = fd_py if isinstance(fd_py, str) else "ok"
    R.append(f"### CNN end to end: {n} files, `duplicates --method cnn-cosine` vs fastdup (medians of {reps}, "
             "interleaved)\n")
    R.append("Fresh processes, wall time including start-up, imports, model load, decoding, inference, all pairs and "
             "groups. Ours: cold feature cache (a fresh `DUPFINDER_CACHE_DIR`) holding only the ONNX export, which "
             "`python -m core warmup` (install) or `scripts/serve.py` (server start) makes once; *before* is the base "
             "commit's code with a fully cold cache, as issue 15 measured it (its first run exported the model "
             "too). fastdup: `fastdup.create(work_dir, input_dir).run(num_threads=2)` in its own venv.\n")
    R.append("| run | seconds | images/s | pair precision | pair recall | pair F1 | pairs from |")
    R.append("|---|---:|---:|---:|---:|---:|---|")
    for name, sec, (f, p, rc), how in rows:
        R.append(f"| {name} | {sec:.1f} | {n / sec:.0f} | {p:.3f} | {rc:.3f} | {f:.3f} | {how} |")
    R.append("")
    if "fastdup" in med:
        res["ratio"] = med["fastdup"] / med["ours"]
        R.append(f"Ours is **{res['ratio']:.2f}x** faster than fastdup ({n / med['ours']:.0f} vs "
                 f"{n / med['fastdup']:.0f} images/s); all runs: ours {_fmt(times['ours'])}, fastdup "
                 f"{_fmt(times['fastdup'])}" + (f", before {_fmt(times['before'])}" if times["before"] else "") +
                 f" s. {len(truth)} true pairs.\n")
    else:
        R.append(f"fastdup unavailable: {res['fastdup_status']}\n")
    cpu = {k: statistics.median(v) for k, v in CPU.items() if v}
    res["cpu"] = cpu
    if cpu:
        R.append("CPU seconds of the whole process tree (user + sys of the command, its decode workers and every "
                 "thread; `bench/treecpu.py`): " +
                 ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()) +
                 (f"; fastdup / ours **{cpu['fastdup'] / cpu['ours']:.2f}x**" if "fastdup" in cpu and "ours" in cpu
                  else "") + ".\n")
    if "before" in med:
        res["speedup"] = med["before"] / med["ours"]
        R.append(f"This branch vs before: **{res['speedup']:.2f}x** ({n / med['before']:.0f} -> "
                 f"{n / med['ours']:.0f} images/s).\n")
    return res


def _fmt(ts) -> str:
    return ", ".join(f"{t:.1f}" for t in ts)


# ---------------------------------------------------------------------------------------------------------------
# app latency
# ---------------------------------------------------------------------------------------------------------------
_CNN_SHOWN = ("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
              " return !!m && m.innerText.includes('cosine similarity') && /#1\\b/.test(m.innerText) &&"
              " [...m.querySelectorAll('h4')].some(e => e.innerText.includes('of the top')); }")


def _app_link(B, env: dict) -> float:
    """One cold server: seconds from opening ``/search?method=cnn-cosine`` to the first ranked CNN result."""
    from playwright.sync_api import sync_playwright

    B.ROOT = ROOT
    app = B.start_app(Path(tempfile.mkdtemp(prefix="cnn-e2e-app-run-")), env=env)
    try:
        with sync_playwright() as p:
            browser = B.launch(p)
            page = browser.new_page(viewport=B.VIEWPORT)
            t0 = time.perf_counter()
            page.goto(app.url + "/search?method=cnn-cosine")
            page.wait_for_function(_CNN_SHOWN, timeout=300_000)
            dt = time.perf_counter() - t0
            B.assert_no_exception(page, "search")
            browser.close()
        return dt
    finally:
        app.stop()


def _app_once(B, root: Path, env: dict) -> tuple[float, float, float]:
    """One cold server of the checkout at ``root``: (s to first ahash result, s to first CNN result, s from pick)."""
    import re

    from playwright.sync_api import sync_playwright

    B.ROOT = root  # start_app runs ROOT/scripts/run.sh
    app = B.start_app(Path(tempfile.mkdtemp(prefix="cnn-e2e-app-run-")), env=env)
    try:
        with sync_playwright() as p:
            browser = B.launch(p)
            page = browser.new_page(viewport=B.VIEWPORT)
            t0 = time.perf_counter()
            page.goto(app.url + "/search")
            page.locator('[data-testid="stMain"]').get_by_text(re.compile(r"^#1\b")).first.wait_for(timeout=300_000)
            t_ahash = time.perf_counter() - t0
            B.wait_idle(page)
            t1 = time.perf_counter()
            B.choose_select(page, "Method", "CNN features + cosine", scope='[data-testid="stSidebar"]', timeout=300)
            page.wait_for_function(_CNN_SHOWN, timeout=300_000)
            t_cnn = time.perf_counter()
            B.assert_no_exception(page, "search")
            browser.close()
        return t_ahash, t_cnn - t0, t_cnn - t1
    finally:
        app.stop()


def bench_app(reps: int, R: list, before_rev: str | None = None) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import browser as B

    B.require_browser()
    cache = Path(tempfile.mkdtemp(prefix="cnn-e2e-app-"))
    env = dict(os.environ, DUPFINDER_CACHE_DIR=str(cache), DUPFINDER_WARMUP="1")
    env.pop("PYTHONPATH", None)
    # install-time step (what scripts/run.sh does before starting the server): ONNX export + demo sets; the
    # "before" code finds the same ONNX file (same name) and demo sets in the shared cache root
    subprocess.run([sys.executable, "-m", "core", "warmup"], env=env, cwd=ROOT, check=True, capture_output=True)
    roots = {"now": ROOT}
    if before_rev:
        b = before_tree(before_rev, full=True)
        if not (b / ".venv").exists():
            (b / ".venv").symlink_to(os.path.realpath(ROOT / ".venv"))
        roots["before"] = b
    res: dict = {k: {"ahash": [], "cnn": [], "pick": []} for k in roots}
    link: list = []
    for r in range(reps):
        for k, root in roots.items():
            for f in cache.glob("features.sqlite*"):  # cold feature cache: every image is encoded
                f.unlink()
            a, c, pk = _app_once(B, root, env)
            for key, v in (("ahash", a), ("cnn", c), ("pick", pk)):
                res[k][key].append(v)
            print(f"[app {r} {k}] ahash {a:.2f} s, cnn {c:.2f} s, from pick {pk:.2f} s (load {load():.1f})",
                  flush=True)
        for f in cache.glob("features.sqlite*"):
            f.unlink()
        link.append(_app_link(B, env))
        print(f"[app {r} link] cnn {link[-1]:.2f} s (load {load():.1f})", flush=True)
    med = {k: {kk: statistics.median(v) for kk, v in d.items()} for k, d in res.items()}
    R.append(f"### App latency: cold server, demo set, Debian chromium (medians of {reps}, interleaved)\n")
    R.append("Each run starts a new server (`bash scripts/run.sh`) with an empty feature cache; the ONNX export and "
             "the demo sets were made once before the first run (`python -m core warmup`, an install step; the "
             "*before* code finds the same files). *now*: `scripts/serve.py` (started by `run.sh`) imports the "
             "pages' heavy modules, loads the model (ONNX Runtime, no torch) and re-fills the feature cache with the "
             "demo set's average-hash and CNN features before the server answers its health check; *before* = the "
             "base commit's app, run the same way. The browser opens the Search page, waits for the first ranked "
             "result (average hash, the default method), then picks *CNN features + cosine* in the sidebar and "
             "waits for its first ranked result; a separate cold server is opened at `/search?method=cnn-cosine` "
             "(a link naming the method, new here) and timed to its first CNN result.\n")
    R.append("| first ranked result | " + " | ".join(f"{k} (s after `page.goto`)" for k in roots) + " | target |")
    R.append("|---|" + "---:|" * len(roots) + "---:|")
    for key, label, target in (("ahash", "average hash", "<= 1.5"),
                               ("cnn", "CNN + cosine (page open, first result, method pick)", "<= 3"),
                               ("pick", "CNN + cosine, from the method pick", "")):
        R.append(f"| {label} | " + " | ".join(f"{med[k][key]:.2f} ({_fmt(res[k][key])})" for k in roots)
                 + f" | {target} |")
    R.append(f"| CNN + cosine, page opened as `/search?method=cnn-cosine` (now only) | {statistics.median(link):.2f} "
             f"({_fmt(link)}) | | <= 3 |")
    R.append("")
    return {"median": med, "runs": res, "link": link}


# ---------------------------------------------------------------------------------------------------------------
def write_section(lines: list, out: Path) -> None:
    text = out.read_text() if out.is_file() else "# Benchmark results\n"
    block = "\n".join([START, *lines, END])
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="e2e,levers,app")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--before", default="8912fd4", help="commit whose code gives the 'before' figures ('' = none)")
    ap.add_argument("--work", default=str(WORK), help="where the workload is built")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    a = ap.parse_args(argv)
    only = set(a.only.split(","))
    os.environ["DUPFINDER_MAX_TOTAL_BYTES"] = "64G"
    l0 = load()
    R: list = []
    res = {}
    if "e2e" in only:
        folder = bench_run.build_workload(Path(a.work), False)
        res["e2e"] = bench_e2e(folder, a.reps, a.before or None, R)
    if "levers" in only:
        import cnn_levers

        res["levers"] = cnn_levers.bench_levers(R)
    if "app" in only:
        res["app"] = bench_app(a.reps, R, a.before or None)
    head = [f"## CNN end to end, levers and app latency (issue 15: `python bench/cnn_e2e.py --only {a.only}`)\n",
            f"Run on {time.strftime('%Y-%m-%d %H:%M %Z')}. Machine: {machine()}; 1-minute load average {l0:.1f} at "
            f"the start, {load():.1f} at the end. The machine was shared with other busy processes (load above 2 "
            "on 2 cores means they competed for the CPUs): absolute seconds are inflated, the ratios of runs "
            "interleaved in one session are the meaningful figures.\n"]
    write_section(head + R, Path(a.out))
    print("\n".join(head + R))
    (WORK / "cnn_e2e_last.json").write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
