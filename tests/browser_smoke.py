"""Real-browser smoke run of the dashboard (not collected by pytest: run it as a script).

    python tests/browser_smoke.py [--out test-artifacts/smoke] [--url http://127.0.0.1:8599]

Without ``--url`` it starts ``streamlit run app.py`` on a free port with an empty cache folder (a true cold
start), drives Debian's chromium with Playwright (never ``playwright install``), takes a screenshot of every page
(tall viewport: Streamlit scrolls inside the page, so ``full_page`` would miss content) and prints timings:

* first ranked result on the Home page (average hash, cold start),
* a threshold slider move on the Search page until the match count redraws,
* first ranked result with CNN + cosine on the Search page (cold: model load + encoding).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PAGES = [("home", ""), ("search", "search"), ("duplicates", "duplicates"), ("compare", "compare"),
         ("threshold", "threshold"), ("experiments", "experiments"), ("robustness", "robustness")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, cache: str) -> subprocess.Popen:
    env = dict(os.environ, DUPFINDER_CACHE_DIR=cache)
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("streamlit did not start")


IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  const st = app.getAttribute('data-test-script-state');
  if (st === 'running' || st === 'initial' || st === 'rerunRequested') return false;
  if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSkeletonElement"]')) return false;
  return [...document.images].every(i => i.complete);
}"""


def wait_idle(page, timeout: float = 120) -> None:
    """Wait until Streamlit has finished running the script (no 'running' status widget)."""
    page.wait_for_timeout(200)
    page.wait_for_function(IDLE_JS, timeout=timeout * 1000)
    page.wait_for_timeout(200)


def match_heading(page) -> str:
    loc = page.locator("h4", has_text=re.compile(r"of the top"))
    return loc.first.inner_text(timeout=120_000)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "test-artifacts" / "smoke"))
    ap.add_argument("--url")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    proc = None
    cache = tempfile.mkdtemp(prefix="dupfinder-smoke-")
    url = a.url
    if url is None:
        port = free_port()
        proc = start_server(port, cache)
        url = f"http://127.0.0.1:{port}"
    times = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            # 1. cold start: first ranked result on Home (average hash)
            t0 = time.perf_counter()
            page.goto(url)
            page.get_by_text(re.compile(r"#1")).first.wait_for(timeout=120_000)
            times["home_first_result_ahash_s"] = time.perf_counter() - t0
            wait_idle(page)
            page.screenshot(path=str(out / "home.png"))
            # 3. slider move on Search (ahash)
            page.goto(f"{url}/search")
            wait_idle(page)
            before = match_heading(page)
            times["slider_start_heading"] = before
            slider = page.locator('[data-testid="stSlider"] input[type="range"]').first
            slider.focus()
            steps = []
            for _ in range(4):  # one step at a time: threshold +1 unit, until the heading redraws
                t0 = time.perf_counter()
                page.keyboard.press("ArrowRight")
                page.wait_for_function(
                    "(b) => { const h=[...document.querySelectorAll('h4')].find(e=>e.innerText.includes('of the top'));"
                    " return h && h.innerText !== b; }", arg=before, timeout=30_000)
                steps.append(time.perf_counter() - t0)
                wait_idle(page)
                before = match_heading(page)
            times["slider_step_redraw_s (median of 4 single steps)"] = sorted(steps)[len(steps) // 2]
            times["slider_final_heading"] = before
            page.screenshot(path=str(out / "search_after_slider.png"))
            # 3b. CNN + cosine on Search (cold: model load + encoding; nothing else used the CNN yet)
            sel = page.locator('[data-testid="stSidebar"] input[aria-label="Method"]')
            sel.click()
            t0 = time.perf_counter()
            page.get_by_role("option", name="CNN features + cosine").click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('label')].some(e => e.innerText.includes('cosine similarity'))",
                timeout=180_000)
            wait_idle(page, 180)
            match_heading(page)
            times["search_first_result_cnn_cosine_s"] = time.perf_counter() - t0
            page.screenshot(path=str(out / "search_cnn.png"))
            # 4. every page (new sessions: method back to the default)
            for name, path in PAGES[1:]:
                page.goto(f"{url}/{path}")
                wait_idle(page, 180)
                if page.get_by_text("Page not found").count():
                    continue
                page.screenshot(path=str(out / f"{name}.png"))
            browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(cache, ignore_errors=True)
    for k, v in times.items():
        print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
