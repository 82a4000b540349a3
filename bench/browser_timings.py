"""What a user *sees* in Chromium (issue 11, item 5): first thumbnail on Home, Duplicates opened directly, a
Search threshold-slider move — each on a warm server (a first session has encoded the demo set), in fresh
sessions, median of N.

Usage: ``.venv/bin/python bench/browser_timings.py [--root CHECKOUT] [--repeats 3] [--label after]``

``--root`` measures another checkout (e.g. a temporary worktree of ``main`` for "before") with that checkout's own
``scripts/run.sh``; the browser helpers come from this checkout's ``tests/browser.py``. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))
import browser as B  # noqa: E402

FIRST_IMG_JS = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"] img')]
    .some(i => i.complete && i.naturalWidth > 0)"""
MEANINGFUL_JS = """() => !!document.querySelector('[data-testid="stMain"] h1, [data-testid="stMain"] [data-testid="stProgress"],'
    + ' [data-testid="stMain"] [data-testid="stSpinner"]')"""
HEADING_JS = """() => { const h = [...document.querySelectorAll('[data-testid="stMain"] h4')]
    .find(e => e.innerText.includes('of the top')); return h ? h.innerText : null; }"""


def _command(root: Path):
    def cmd(port: int) -> list[str]:
        return ["bash", str(root / "scripts" / "run.sh"), "--server.headless", "true", "--server.address",
                "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none"]
    return cmd


def measure(url: str, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {k: [] for k in ("home_meaningful", "home_first_thumb", "dup_meaningful",
                                                    "dup_all_thumbs", "search_slider_heading", "search_slider_idle")}
    with sync_playwright() as p:
        browser = B.launch(p)
        warm = browser.new_page(viewport=B.VIEWPORT)  # warm the server: demo set, features, thumbnails
        for path in ("", "/duplicates", "/search"):
            warm.goto(url + path)
            warm.locator('[data-testid="stMain"] h1').first.wait_for(timeout=300_000)
            B.wait_idle(warm, 300)
        warm.close()
        for _ in range(repeats):
            page = browser.new_page(viewport=B.VIEWPORT)
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_function(MEANINGFUL_JS, timeout=120_000, polling=50)
            out["home_meaningful"].append(time.perf_counter() - t0)
            page.wait_for_function(FIRST_IMG_JS, timeout=120_000, polling=50)
            out["home_first_thumb"].append(time.perf_counter() - t0)
            B.wait_idle(page)
            page.close()

            page = browser.new_page(viewport=B.VIEWPORT)
            t0 = time.perf_counter()
            page.goto(url + "/duplicates")
            page.wait_for_function(MEANINGFUL_JS, timeout=120_000, polling=50)
            out["dup_meaningful"].append(time.perf_counter() - t0)
            # idle = run over and every image complete; require the group thumbnails to exist
            page.locator('[data-testid="stMain"] [data-testid="stImage"] img').first.wait_for(timeout=120_000)
            page.wait_for_function(B.IDLE_JS, timeout=120_000, polling=50)
            out["dup_all_thumbs"].append(time.perf_counter() - t0)
            page.close()

            page = browser.new_page(viewport=B.VIEWPORT)
            page.goto(url + "/search")
            page.locator('[data-testid="stMain"] h4').filter(has_text="of the top").first.wait_for(timeout=120_000)
            B.wait_idle(page)
            slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
            for key in ("ArrowRight", "ArrowRight", "ArrowLeft"):
                before = page.evaluate(HEADING_JS)
                slider.focus()
                t0 = time.perf_counter()
                page.keyboard.press(key)
                page.wait_for_function(f"() => ({HEADING_JS})() !== {json.dumps(before)}", timeout=60_000, polling=20)
                out["search_slider_heading"].append(time.perf_counter() - t0)
                page.wait_for_function(B.IDLE_JS, timeout=60_000, polling=20)
                out["search_slider_idle"].append(time.perf_counter() - t0)
                page.wait_for_timeout(400)
            page.close()
        browser.close()
    return {k: round(statistics.median(v), 3) for k, v in out.items()} | {"n": repeats}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=HERE)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    app = B.start_app(Path(tempfile.mkdtemp(prefix="ux-bench-")), command=_command(a.root.resolve()))
    try:
        res = measure(app.url, a.repeats)
    finally:
        app.stop()
    res["label"] = a.label or str(a.root)
    res["load1"] = round(os.getloadavg()[0], 2)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
