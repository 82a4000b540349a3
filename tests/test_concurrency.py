"""Several users at once (issue 6.5): one app server, five concurrent browser sessions (Playwright contexts, each
its own cookies and Streamlit session) that upload *different* data and search.

Each user uploads a zip of 8 demo photos renamed ``u<i>_<name>.jpg``; the subsets overlap in content on purpose
(users 0 and 1 share photos), so the process-wide caches keyed by content are exercised across sessions. Checked:
no Streamlit exception anywhere; each user's sidebar counts its own 8 images; the Search gallery and table show
only that user's file names, never another user's — also after every user has moved the threshold slider. The
server's peak memory (VmHWM of the streamlit process and its children) is printed and bounded generously.
"""
from __future__ import annotations

import asyncio
import io
import re
import time
import zipfile

import pytest

import browser as B

pytestmark = [pytest.mark.browser, pytest.mark.slow]

USERS = 5
PER_USER = 8
MEMORY_LIMIT_MB = 6 * 1024


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    B.require_browser()
    a = B.start_app(tmp_path_factory.mktemp("concurrency-app"))
    yield a
    a.stop()


def _user_zip(i: int, files) -> tuple[bytes, list[str]]:
    buf, names = io.BytesIO(), []
    with zipfile.ZipFile(buf, "w") as zf:
        for j in range(PER_USER):
            f = files[(i * 6 + j) % len(files)]
            name = f"u{i}_{f.name}"
            zf.writestr(name, f.read_bytes())
            names.append(name)
    return buf.getvalue(), names


async def _user(browser, url: str, i: int, data: bytes, names: list[str], log: dict) -> None:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 2000})
    page = await ctx.new_page()
    page.set_default_timeout(90_000)
    t0 = time.perf_counter()
    try:
        await page.goto(url)
        await page.locator('[data-testid="stMain"]').get_by_text(re.compile(r"^#1\b")).first.wait_for(
            timeout=B.RUN_TIMEOUT * 1000)
        await B.wait_idle_async(page)
        await B.assert_no_exception_async(page, f"user {i} home")
        await B.goto_page_async(page, "Search")
        await B.retry_async(lambda: page.locator('[data-testid="stSidebar"] [data-testid="stRadioOption"]').filter(
            has_text="Upload images").first.click(timeout=15_000), what=f"user {i}: upload source")
        await B.wait_idle_async(page)
        inp = page.locator('[data-testid="stSidebar"] [data-testid="stFileUploader"] input[type="file"]').first
        await B.retry_async(lambda: inp.set_input_files([B.file_payload(f"user{i}.zip", data, "application/zip")],
                                                        timeout=15_000), what=f"user {i}: upload")
        # the upload request completes before Streamlit reruns: wait for its outcome, not just "not running"
        await B.wait_text_async(page, rf"{PER_USER}\s*images\s*·", '[data-testid="stSidebar"]')
        await B.wait_idle_async(page)
        await B.assert_no_exception_async(page, f"user {i} search after upload")
        h1 = await page.locator('[data-testid="stMain"] h1').first.inner_text()
        assert "Search" in h1, f"user {i}: after the upload the app shows {h1!r}, not the Search page"
        side = await page.locator('[data-testid="stSidebar"]').inner_text()
        assert re.search(rf"{PER_USER}\s*images\s*·\s*0 skipped", side), f"user {i} sidebar:\n{side}"
        heading = page.locator('[data-testid="stMain"] h4').filter(has_text="of the top").first
        before = await heading.inner_text()
        await _check_only_mine(page, i, names, "after upload")
        slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
        await slider.focus()
        await page.keyboard.press("End")
        await page.wait_for_function(
            "(b) => { const h = [...document.querySelectorAll('[data-testid=\"stMain\"] h4')]"
            ".find(e => e.innerText.includes('of the top')); return h && h.innerText !== b; }", arg=before,
            timeout=60_000)
        await B.wait_idle_async(page)
        await B.assert_no_exception_async(page, f"user {i} after slider")
        after = await heading.inner_text()
        assert after.startswith(f"{PER_USER - 1} of the top {PER_USER - 1}"), f"user {i}: {after!r}"
        await _check_only_mine(page, i, names, "after the slider")
        log[i] = (time.perf_counter() - t0, before, after)
    except Exception:
        B.ARTIFACTS.joinpath("concurrency").mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(B.ARTIFACTS / "concurrency" / f"FAILED_user{i}.png"))
        raise
    else:
        B.ARTIFACTS.joinpath("concurrency").mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(B.ARTIFACTS / "concurrency" / f"user{i}_search.png"))
    finally:
        await ctx.close()


async def _check_only_mine(page, i: int, names: list[str], when: str) -> None:
    text = await page.locator('[data-testid="stMain"]').inner_text()
    users = {int(u) for u in re.findall(r"\bu(\d+)_", text)}
    assert users == {i}, f"user {i} {when}: sees file names of users {sorted(users)}"
    shown = [n for n in names if n[:26] in text]
    # the first photo is the default query (excluded from its own ranking); the other 7 are ranked
    assert len(shown) >= PER_USER - 1, f"user {i} {when}: only {shown} of its files shown"


def test_five_concurrent_sessions_upload_search_and_stay_isolated(app):
    from playwright.async_api import async_playwright

    from core import demo

    files = sorted((demo.demo_dataset_path() / "images").glob("*.jpg"))
    uploads = [_user_zip(i, files) for i in range(USERS)]
    base_mb = B.peak_rss_mb(app.pid)
    for old in (B.ARTIFACTS / "concurrency").glob("*.png"):  # screenshots of an earlier run
        old.unlink()
    log: dict = {}

    async def main():
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=B.CHROMIUM, args=B.CHROMIUM_ARGS)
            try:
                results = await asyncio.gather(*(_user(browser, app.url, i, d, n, log)
                                                 for i, (d, n) in enumerate(uploads)), return_exceptions=True)
            finally:
                await browser.close()
            errors = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
            assert not errors, "; ".join(f"user {i}: {type(e).__name__}: {e}" for i, e in errors)

    t0 = time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - t0
    peak_mb = B.peak_rss_mb(app.pid)
    lines = [f"{USERS} concurrent sessions finished in {wall:.1f} s (per user: "
             + ", ".join(f"{log[i][0]:.1f} s" for i in sorted(log)) + ")",
             f"server peak memory (VmHWM, streamlit + children): {peak_mb:.0f} MiB "
             f"(after start-up: {base_mb:.0f} MiB)"]
    print("\n" + "\n".join(lines), flush=True)
    B.ARTIFACTS.joinpath("concurrency").mkdir(parents=True, exist_ok=True)
    (B.ARTIFACTS / "concurrency" / "summary.txt").write_text("\n".join(lines) + "\n")
    assert app.proc.poll() is None, f"the server died:\n{app.log_tail()}"
    assert peak_mb < MEMORY_LIMIT_MB, f"server peak memory {peak_mb:.0f} MiB"
