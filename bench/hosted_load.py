"""Hosted-load run: N concurrent browser sessions against one app started the *hosted* way.

The server is a plain ``streamlit run app.py`` (no ``DUPFINDER_LOCAL``: the mode a public host runs), on loopback.
Each session is a separate Playwright context (its own cookies, its own Streamlit session) that:

1. opens the app, picks "CNN features + cosine" in the sidebar,
2. switches the source to "Upload images" and uploads its own zip of ``--images`` photos (content differs per user,
   so nothing is shared through the content-keyed caches: every session costs the server a full encode),
3. waits for the Search page's ranked result.

Measured: time from the upload to the first ranked result per session (p50/p95), errors (exceptions shown on a page,
sessions that never got a result), the server's peak memory (sum of VmHWM over the streamlit process tree) and the
current resident memory sampled every 0.5 s. Results go to the ``hosted-load`` section of ``bench/RESULTS.md``.

    python bench/hosted_load.py                 # 10 sessions x 200 images (the issue's run)
    python bench/hosted_load.py --users 3 --images 40   # a smoke run
"""
from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import results_file  # noqa: E402 - bench/results_file.py
sys.path.insert(0, str(ROOT / "tests"))

import browser as B  # noqa: E402  (tests/browser.py: chromium launch flags, idle waits)

START, END = "<!-- hosted-load:start -->", "<!-- hosted-load:end -->"


# ------------------------------------------------------------------------------------------------ data
def user_zip(user: int, n: int, size=(640, 480)) -> bytes:
    """``n`` JPEGs cut from the demo source photos with a per-user seed: random crop box, scale and colour, so every
    user's files have different content (no cross-session cache hits)."""
    rng = random.Random(1000 + user)
    sources = [Image.open(p).convert("RGB") for p in sorted((ROOT / "data" / "demo" / "sources").glob("*.jpg"))]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            src = sources[rng.randrange(len(sources))]
            w, h = src.size
            cw, ch = int(w * rng.uniform(0.45, 0.95)), int(h * rng.uniform(0.45, 0.95))
            x, y = rng.randrange(w - cw + 1), rng.randrange(h - ch + 1)
            im = src.crop((x, y, x + cw, y + ch)).resize(size, Image.BILINEAR)
            im = ImageEnhance.Color(im).enhance(rng.uniform(0.6, 1.4))
            im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
            out = io.BytesIO()
            im.save(out, "JPEG", quality=rng.randrange(70, 95))
            zf.writestr(f"u{user}_img_{i:04d}.jpg", out.getvalue())
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ server
def start_hosted(tmp: Path) -> B.App:
    """``streamlit run app.py`` with only the flags a headless host needs; DUPFINDER_LOCAL is removed."""
    env = {k: v for k, v in os.environ.items() if k not in ("DUPFINDER_LOCAL", "DUPFINDER_ALLOW_FOLDER")}
    env["DUPFINDER_CACHE_DIR"] = str(tmp / "cache")  # cold caches: every encode is real work
    port = B.free_port()
    log = tmp / "streamlit.log"
    py = ROOT / ".venv" / "bin" / "python"
    cmd = [str(py if py.exists() else sys.executable), "-m", "streamlit", "run", "app.py", "--server.headless",
           "true", "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats",
           "false", "--server.fileWatcherType", "none"]
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    app = B.App(f"http://127.0.0.1:{port}", proc, log, 0.0)
    while time.perf_counter() - t0 < 120 and proc.poll() is None:
        if B._healthy(port):
            app.start_seconds = time.perf_counter() - t0
            return app
        time.sleep(0.25)
    tail = app.log_tail()
    app.stop()
    raise RuntimeError(f"the hosted app did not start:\n{tail}")


class RssSampler(threading.Thread):
    """Samples the resident memory (VmRSS) of the server's process tree every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.period, self.peak_mb, self._stop = pid, period, 0.0, threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for p in B.proc_tree(self.pid):
                try:
                    for line in Path(f"/proc/{p}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                except OSError:
                    pass
            self.peak_mb = max(self.peak_mb, total / 1024)
            self._stop.wait(self.period)

    def stop(self) -> None:
        self._stop.set()


# ------------------------------------------------------------------------------------------------ one session
async def session(browser, url: str, user: int, data: bytes, n: int, out: dict) -> None:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 2000})
    page = await ctx.new_page()
    page.set_default_timeout(120_000)
    try:
        await page.goto(url)
        await B.wait_idle_async(page, timeout=600)
        await B.goto_page_async(page, "Search", timeout=600)

        async def pick_method():
            await page.locator('[data-testid="stSidebar"] input[aria-label="Method"]').first.click(timeout=15_000)
            await page.get_by_role("option", name="CNN features + cosine", exact=True).first.click(timeout=15_000)
        await B.retry_async(pick_method, what=f"user {user}: method")
        await B.wait_idle_async(page, timeout=600)
        await B.retry_async(lambda: page.locator('[data-testid="stSidebar"] [data-testid="stRadioOption"]').filter(
            has_text="Upload images").first.click(timeout=15_000), what=f"user {user}: upload source")
        await B.wait_idle_async(page, timeout=600)
        inp = page.locator('[data-testid="stSidebar"] [data-testid="stFileUploader"] input[type="file"]').first
        t0 = time.perf_counter()
        await B.retry_async(lambda: inp.set_input_files([B.file_payload(f"user{user}.zip", data, "application/zip")],
                                                        timeout=60_000), what=f"user {user}: upload")
        await B.wait_text_async(page, rf"{n}\s*images\s*·", '[data-testid="stSidebar"]', timeout=600)
        # the demo set's result stays on screen while the new run encodes: wait for a result naming this user's files
        await B.wait_text_async(page, rf"of the top \d+ match[\s\S]*\bu{user}_img_", timeout=900)
        await B.wait_idle_async(page, timeout=600)
        out["seconds"] = time.perf_counter() - t0
        await B.assert_no_exception_async(page, f"user {user}")
        text = await page.locator('[data-testid="stMain"]').inner_text()
        foreign = {int(u) for u in re.findall(r"\bu(\d+)_img_", text)} - {user}
        if foreign:
            raise AssertionError(f"user {user} sees files of users {sorted(foreign)}")
    finally:
        await ctx.close()


# ------------------------------------------------------------------------------------------------ report
def load_avg() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def write_section(path: Path, lines: list[str]) -> None:
    results_file.write_section(path, lines, START, END)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    a = ap.parse_args(argv)
    from playwright.async_api import async_playwright

    zips = [user_zip(u, a.images) for u in range(a.users)]
    tmp = Path(tempfile.mkdtemp(prefix="dupfinder-hosted-load-"))
    load_before = load_avg()
    app = start_hosted(tmp)
    sampler = RssSampler(app.pid)
    sampler.start()
    results: list[dict] = [{} for _ in range(a.users)]
    errors: list[str] = []

    async def run():
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=B.CHROMIUM, args=B.CHROMIUM_ARGS)
            try:
                got = await asyncio.gather(*(session(browser, app.url, u, zips[u], a.images, results[u])
                                             for u in range(a.users)), return_exceptions=True)
            finally:
                await browser.close()
            for u, r in enumerate(got):
                if isinstance(r, BaseException):
                    errors.append(f"user {u}: {type(r).__name__}: {str(r)[:300]}")

    t0 = time.perf_counter()
    try:
        asyncio.run(run())
    finally:
        wall = time.perf_counter() - t0
        sampler.stop()
        peak_hwm = B.peak_rss_mb(app.pid)
        alive = app.proc.poll() is None
        app.stop()
    secs = [r["seconds"] for r in results if "seconds" in r]
    cpu = platform.processor() or platform.machine()
    lines = [
        "## Hosted load: concurrent browser sessions, each uploading its own zip and searching with CNN + cosine",
        "",
        f"`python bench/hosted_load.py --users {a.users} --images {a.images}`: a plain `streamlit run app.py` "
        "(hosted mode, cold feature cache) on loopback; "
        f"{a.users} Playwright contexts in one Debian chromium, started together. Machine: {cpu}, "
        f"{os.cpu_count()} CPUs; load average before the run {load_before}, after {load_avg()}.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| sessions / images per session | {a.users} / {a.images} |",
        f"| sessions with a result | {len(secs)} of {a.users} |",
        f"| errors | {len(errors)} |",
        f"| time from upload to first ranked result, p50 | {pct(secs, 0.5):.1f} s |" if secs else "| p50 | - |",
        f"| time from upload to first ranked result, p95 | {pct(secs, 0.95):.1f} s |" if secs else "| p95 | - |",
        f"| wall time of the whole run | {wall:.1f} s |",
        f"| server peak memory (sum of VmHWM over the process tree) | {peak_hwm:.0f} MiB |",
        f"| server peak resident memory (sampled every 0.5 s, tree sum) | {sampler.peak_mb:.0f} MiB |",
        f"| server alive at the end | {'yes' if alive else 'NO'} |",
        "",
        f"Every session encodes its own {a.images} new images with the CNN (no content is shared), so the p95 is "
        f"bounded by {a.users * a.images:,} CNN encodes on {os.cpu_count()} cores queued behind each other.",
    ]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {e}" for e in errors]
    write_section(Path(a.out), lines)
    print("\n".join(lines))
    return 1 if errors or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
