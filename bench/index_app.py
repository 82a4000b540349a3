"""A 100,000-image saved index opened in the app (issue 14, deliverable 3/5): time to the first page of groups and
to a search result.

    python bench/index_app.py [--n 100000] [--cnn-dim 1280] [--browser] [--out bench/RESULTS.md]

Generates the index of ``tests/test_app_index.py`` (features only: 64-bit average hashes with 300 planted
near-duplicate groups, and CNN-like 1280-d ``cnn-cosine`` vectors, clustered, with the same groups planted) in a
temporary folder, then measures in this process with Streamlit's AppTest (the script's own run time, no browser):

* **open**: the sidebar run that opens the index (manifest, files list, memory-mapped features), cold;
* **duplicates, first page of groups**: switching to the Duplicates page, cold (the all-pairs search runs: exact
  multi-index hashing / faiss for the hashes, the IVF index of :mod:`core.scale` for the CNN vectors) and warm (a
  new session: the result is memoised);
* **search result**: the Search page with a query picked from the index (its stored row, no encoding), cold and
  warm, and for the hashes with an uploaded JPEG query (encoded once).

With ``--browser`` it also starts the app (``scripts/run.sh``) and measures in Chromium, in a fresh session per
method: typing the index path -> the sidebar caption, the Duplicates page -> the first group heading, the Search
page -> the results heading. Writes the marked section ``index-app`` of ``bench/RESULTS.md`` with the machine and
the load average.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import results_file  # noqa: E402 - bench/results_file.py
START, END = "<!-- index-app:start -->", "<!-- index-app:end -->"
APP = str(ROOT / "app.py")


def load() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


def write_section(path: Path, lines: list[str]) -> None:
    results_file.write_section(path, lines, START, END)


def _jpeg() -> bytes:
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((320, 240))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def apptest_times(index_dir: Path, method: str, params_key: str, thr: float, query: str) -> dict:
    """Seconds of each AppTest run (see the module docstring)."""
    from streamlit.testing.v1 import AppTest

    def opened():
        at = AppTest.from_file(APP, default_timeout=3600)
        at.run()
        at.sidebar.radio(key="ds_source").set_value("Saved index").run()
        t = time.perf_counter()
        at.sidebar.text_input(key="ds_index").input(str(index_dir)).run()
        t_open = time.perf_counter() - t
        assert not at.exception, at.exception
        at.sidebar.selectbox(key="method").set_value(method).run()
        at.session_state[f"thr::{params_key}"] = thr
        return at, t_open

    out: dict = {}
    for label in ("cold", "warm"):
        at, t_open = opened()
        out.setdefault("open", t_open)
        t = time.perf_counter()
        at.switch_page("pages/duplicates.py").run()
        out[f"duplicates_{label}"] = time.perf_counter() - t
        assert not at.exception, at.exception
        heads = [m.value for m in at.markdown if m.value.startswith("**Group ")]
        out["groups_on_first_page"] = len(heads)
        out["groups"] = next(m.value for m in at.metric if m.label == "Groups")
        out["index"] = next((c.value for c in at.caption if c.value.startswith(":material/speed: Pairs found by")),
                            "").replace(":material/speed: ", "").replace("\\", "")
    for label in ("cold", "warm"):
        at, _ = opened()
        at.session_state["query"] = {"kind": "dataset", "name": query, "data": None}
        t = time.perf_counter()
        at.switch_page("pages/search.py").run()
        out[f"search_{label}"] = time.perf_counter() - t
        assert not at.exception, at.exception
        out["search_heading"] = next((m.value for m in at.markdown if m.value.startswith("####")), "")
    if method == "ahash":
        at, _ = opened()
        at.session_state["query"] = {"kind": "upload", "name": "query.jpg", "data": _jpeg()}
        t = time.perf_counter()
        at.switch_page("pages/search.py").run()
        out["search_upload"] = time.perf_counter() - t
        assert not at.exception, at.exception
    return out


def browser_times(index_dir: Path, methods: list[tuple[str, float]]) -> dict:
    """Chromium, ``scripts/run.sh``: a fresh session per method (its name and threshold in the URL, as a shared link
    would carry them). Seconds from Enter in the index path box to the first group heading of the Duplicates page
    (opening the index included) and to the end of that run, then from clicking "Search" in the navigation to the
    results heading and to the end of that run."""
    sys.path.insert(0, str(ROOT / "tests"))
    import browser as B  # noqa: E402
    from playwright.sync_api import sync_playwright

    long = 1800  # seconds: a cold IVF build under load
    app = B.start_app(Path(tempfile.mkdtemp(prefix="dupfinder-index-app-")))
    out: dict = {}
    try:
        with sync_playwright() as p:
            br = B.launch(p)
            for name, thr in methods:
                page = br.new_page(viewport=B.VIEWPORT)
                page.set_default_timeout(long * 1000)
                page.goto(f"{app.url}/duplicates?src=index&m={name}&t={thr:g}")  # source, method, threshold
                B.wait_idle(page, long)
                box = page.locator('[data-testid="stSidebar"] input[placeholder="/path/to/index"]')
                box.fill(str(index_dir))
                t = time.perf_counter()
                box.press("Enter")
                B.wait_text(page, r"Group 1 ·", timeout=long)
                out[f"{name}_first_group"] = time.perf_counter() - t
                B.wait_idle(page, long)
                out[f"{name}_duplicates_idle"] = time.perf_counter() - t
                B.assert_no_exception(page, "duplicates")
                t = time.perf_counter()
                page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Search").first.click()
                page.locator('[data-testid="stMain"] h4').filter(has_text="of the top").first.wait_for()
                out[f"{name}_search_heading"] = time.perf_counter() - t
                B.wait_idle(page, long)
                out[f"{name}_search_idle"] = time.perf_counter() - t
                B.assert_no_exception(page, "search")
                page.close()
            br.close()
    finally:
        app.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--cnn-dim", type=int, default=1280)
    ap.add_argument("--browser", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dupfinder-bench-index-app-"))
    os.environ.setdefault("DUPFINDER_CACHE_DIR", str(tmp / "cache"))
    os.environ["DUPFINDER_LOCAL"] = "1"
    os.environ.setdefault("DUPFINDER_WARMUP", "0")
    from core.methods import get
    from tests.test_app_index import make_index

    loads = [load()]
    t = time.perf_counter()
    planted = make_index(tmp / "index", n=a.n, cnn_dim=a.cnn_dim)
    t_gen = time.perf_counter() - t
    size_mb = sum(f.stat().st_size for f in (tmp / "index").rglob("*") if f.is_file()) / 2**20
    query = planted[5][0]
    rows = {}
    for name, thr in (("ahash", 4), ("cnn-cosine", 0.9)):
        if name == "cnn-cosine" and not a.cnn_dim:
            continue
        m = get(name)
        res = apptest_times(tmp / "index", name, m.params_key(m.default_params()), thr, query)
        rows[name] = res
        loads.append(load())
        print(name, json.dumps(res, default=str), flush=True)
    web = {}
    if a.browser:
        web = browser_times(tmp / "index", [("ahash", 4)] + ([("cnn-cosine", 0.9)] if a.cnn_dim else []))
        loads.append(load())
        print("browser", json.dumps(web), flush=True)

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "## A 100,000-image saved index opened in the app (issue 14, `python bench/index_app.py`)",
        "",
        f"Run on {when}. Machine: {machine()}. Load average (1 / 5 / 15 min) at the start and after each part: "
        + "; ".join(loads) + ". The machine is shared (2 cores): absolute times vary with the load.",
        "",
        f"Index: {a.n:,} images, features only (generated in {t_gen:.0f} s, {size_mb:.0f} MB on disk): 64-bit average "
        f"hashes with 300 planted near-duplicate groups, and {a.cnn_dim}-d float32 `cnn-cosine` vectors (1,000 "
        "clusters, the same groups planted). No image file: every thumbnail is the \"missing on disk\" placeholder "
        "(one `stat` each). AppTest script time (the server's work for one run, no browser), cold = first session "
        "after the index was opened, warm = a new session (results memoised process-wide).",
        "",
        "| method (threshold) | open index | Duplicates, first page of groups: cold | warm | Search result: cold | "
        "warm | uploaded query |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        thr = 4 if name == "ahash" else 0.9
        up = f"{r['search_upload']:.2f} s" if "search_upload" in r else "–"
        lines.append(f"| {name} ({thr:g}) | {r['open']:.2f} s | {r['duplicates_cold']:.2f} s | "
                     f"{r['duplicates_warm']:.2f} s | {r['search_cold']:.2f} s | {r['search_warm']:.2f} s | {up} |")
    lines.append("")
    for name, r in rows.items():
        lines.append(f"- {name}: {r['groups']} groups found (300 planted), {r['groups_on_first_page']} on the first "
                     f"page; search: \"{r['search_heading'].lstrip('# ')}\"" + (f"; {r['index']}" if r["index"] else ""))
    if web:
        lines += ["", "Chromium (`scripts/run.sh`, a new server: the index opened cold by the first session; a fresh "
                  "session per method, method and threshold in the URL), seconds:", "",
                  "| method | index path typed -> Duplicates: first group heading | -> page idle (thumbnails) | "
                  "Search clicked -> results heading | -> page idle |", "|---|---:|---:|---:|---:|"]
        for name, _ in ([("ahash", 0)] + ([("cnn-cosine", 0)] if a.cnn_dim else [])):
            g = lambda k: f"{web.get(f'{name}_{k}', float('nan')):.2f}"  # noqa: E731
            lines.append(f"| {name} | {g('first_group')} | {g('duplicates_idle')} | {g('search_heading')} | "
                         f"{g('search_idle')} |")
    write_section(Path(a.out), lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
