"""Real-browser test of the main flow (issue 3 acceptance; issue 4: Experiments + Robustness lab screenshots).

The app is started with the README's run command (``bash scripts/run.sh`` + headless flags); Playwright drives
Debian's chromium through it as a new user would:

1. Home: a first ranked result (average hash on the demo data) appears without any upload — timed.
2. Search: sidebar source -> "Upload images", a .zip of 12 demo photos in 3 group folders + a junk .txt (listed as
   skipped), a query image in the page's own uploader, method "Average hash" then "CNN features + cosine"; the
   threshold slider is moved by keyboard and the number of matches changes; ranked matches show rank, score and
   match / no-match marks.
3. Every page is opened from the sidebar navigation and screenshotted (``test-artifacts/browser/``); on
   Experiments, Experiment 1 is run with two fast methods and a chart appears; on the Robustness lab, the strength
   slider is moved and the edited copy's caption follows.

Timings are printed (run pytest with ``-s`` to see them) and written to ``test-artifacts/browser/timings.txt``.
"""
from __future__ import annotations

import io
import re
import time
import zipfile

import pytest

import browser as B

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GROUPS = {"astronaut": range(0, 4), "camera": range(4, 8), "coffee": range(16, 20)}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    B.require_browser()
    a = B.start_app(tmp_path_factory.mktemp("browser-app"))
    yield a
    a.stop()


def _upload_zip() -> tuple[bytes, list[str]]:
    """12 demo photos in 3 group folders + one junk text file; returns (zip bytes, photo base names)."""
    from core import demo

    files = sorted((demo.demo_dataset_path() / "images").glob("*.jpg"))
    buf, names = io.BytesIO(), []
    with zipfile.ZipFile(buf, "w") as zf:
        for group, idx in GROUPS.items():
            for i in idx:
                f = files[i]
                assert group in f.name, f"demo set layout changed: {f.name} is not a {group}"
                zf.writestr(f"mine/{group}/{f.name}", f.read_bytes())
                names.append(f.name)
        zf.writestr("mine/notes.txt", b"shopping list: milk, eggs\n")
    return buf.getvalue(), names


def _timing(log: list[str], line: str) -> None:
    print(line, flush=True)
    log.append(line)


def test_main_flow_in_a_real_browser(app):
    from playwright.sync_api import sync_playwright

    from core import demo

    times: list[str] = [f"server start (bash scripts/run.sh, until /_stcore/health): {app.start_seconds:.1f} s"]
    zdata, photo_names = _upload_zip()
    qpath = demo.demo_query_path()
    for old in (B.ARTIFACTS / "browser").glob("*.png"):  # screenshots of an earlier run
        old.unlink()
    with sync_playwright() as p:
        browser = B.launch(p)
        page = browser.new_page(viewport=B.VIEWPORT)
        page.set_default_timeout(60_000)
        try:
            # ---------------------------------------------------------------- 1. Home: first result, no upload
            t0 = time.perf_counter()
            page.goto(app.url)
            page.locator('[data-testid="stMain"]').get_by_text(re.compile(r"^#1\b")).first.wait_for(
                timeout=B.RUN_TIMEOUT * 1000)
            first = time.perf_counter() - t0
            _timing(times, f"home: first ranked result (average hash, demo data) {first:.2f} s after page.goto")
            B.wait_idle(page)
            B.assert_no_exception(page, "Home")
            text = B.main_text(page)
            assert "#1" in text and "bits" in text and "match" in text, text[:2000]
            B.screenshot(page, "01_home")

            # ---------------------------------------------------------------- 2. Search with uploads
            B.goto_page(page, "Search")
            B.choose_radio(page, "Upload images")
            B.upload(page, [B.file_payload("my_photos.zip", zdata, "application/zip")], expect=r"12\s*images")
            side = B.sidebar_text(page)
            assert re.search(r"12\s*images\s*·\s*1 skipped", side), f"sidebar after zip upload:\n{side}"
            assert "3 labelled groups" in side, side  # auto labels: the zip's folders
            B.upload(page, [B.file_payload(qpath.name, qpath.read_bytes(), "image/jpeg")],
                     scope='[data-testid="stMain"]', label="Upload a query image",
                     expect=re.escape(f"{qpath.name} — uploaded"))
            text = B.main_text(page)
            assert f"{qpath.name} — uploaded" in text, text[:2000]
            assert "12 images used + 1 skipped = 13 files given" in text.replace("*", ""), text[-1500:]

            # method: Average hash (explicitly), results shown
            B.choose_select(page, "Method", "Average hash", scope='[data-testid="stSidebar"]')
            n0, k, thr0, head0 = B.match_heading(page)
            assert k == 10 and "bits" in B.main_text(page), head0
            text = B.main_text(page)
            assert "#1" in text and "#10" in text, text[:3000]
            shown = [n for n in photo_names if n in text]
            assert len(shown) >= 10, f"expected the uploaded photos in the gallery, saw {shown}"
            assert "notes.txt" not in text.split("Results as a table")[0]

            # slider: End (every pair matches), Home (strictest), one step right — time each redraw
            slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
            counts = {}
            for key in ("End", "Home", "ArrowRight"):
                before = B.match_heading(page)[3]
                slider.focus()
                t0 = time.perf_counter()
                page.keyboard.press(key)
                page.wait_for_function(
                    "(b) => { const h = [...document.querySelectorAll('[data-testid=\"stMain\"] h4')]"
                    ".find(e => e.innerText.includes('of the top')); return h && h.innerText !== b; }",
                    arg=before, timeout=60_000)
                dt = time.perf_counter() - t0
                B.wait_idle(page)
                n, _, thr, head = B.match_heading(page)
                counts[key] = (n, thr)
                _timing(times, f"search slider {key}: heading redrawn in {dt:.2f} s -> {head!r}")
            assert counts["End"][0] == 10, f"at the loosest threshold all of the top 10 match: {counts}"
            assert counts["Home"][0] < counts["End"][0], f"the number of matches must change: {counts}"
            assert counts["ArrowRight"][1] > counts["Home"][1], counts
            badges = B.main_text(page)
            assert "no match" in badges and re.search(r"(?<!no )match", badges), "match / no-match marks missing"
            B.screenshot(page, "02_search_ahash")

            # CNN + cosine: cold model load + encoding of 12 photos and the query
            t0 = time.perf_counter()
            B.choose_select(page, "Method", "CNN features + cosine", scope='[data-testid="stSidebar"]',
                            timeout=300)
            n_cnn, k, thr_cnn, head = B.match_heading(page)
            _timing(times, f"search: first ranked result with CNN features + cosine (cold) "
                           f"{time.perf_counter() - t0:.2f} s -> {head!r}")
            text = B.main_text(page)
            assert "cosine similarity" in text
            assert n_cnn >= 1, f"CNN + cosine should match the re-shot coffee cup: {head}"
            gallery = text.split("Results as a table")[0]
            order = sorted((n for n in photo_names if n[:26] in gallery), key=lambda n: gallery.find(n[:26]))
            assert len(order) >= 10 and all("coffee" in n for n in order[:4]), (
                f"the four coffee photos should rank first with the CNN: {order[:5]}")
            B.screenshot(page, "03_search_cnn_cosine")
            B.choose_select(page, "Method", "Average hash", scope='[data-testid="stSidebar"]')

            # ---------------------------------------------------------------- 3. the other pages
            for i, title in enumerate(["Threshold explorer", "Duplicates", "Compare methods"], start=4):
                t0 = time.perf_counter()
                B.goto_page(page, title, timeout=300)
                _timing(times, f"{title}: rendered in {time.perf_counter() - t0:.2f} s")
                text = B.main_text(page)
                assert title.split()[0] in text, f"{title} page did not render its title:\n{text[:1500]}"
                if title == "Threshold explorer":  # the slider moves above left ahash at 1 bit: back to 12, shared
                    assert "Suggested (best F1)" in text, "the folder labels of the zip should give a best-F1"
                    page.get_by_role("button", name=re.compile(r"Back to the default")).first.click()
                    B.wait_idle(page)
                    val = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
                    assert val.input_value() == "12", val.input_value()
                B.screenshot(page, f"{i:02d}_{title.lower().replace(' ', '_')}")

            # Experiments: Experiment 1 with two fast methods on the uploaded, folder-labelled set
            B.goto_page(page, "Experiments", timeout=300)
            B.screenshot(page, "07_experiments_before_run")
            tab = page.locator('[data-testid="stTabs"] [role="tabpanel"]').first
            ms = tab.locator('[data-testid="stMultiSelect"]').first
            for label in ("Euclidean distance (pixels)", "SSIM (structural similarity)", "CNN features + Euclidean",
                          "CNN features + cosine"):
                rm = ms.locator(f'button[aria-label="Remove {label}"]')
                if rm.count():
                    B.retry(lambda: rm.first.click(timeout=10_000), what=f"removing {label} from Experiment 1")
                    B.wait_idle(page)
            chosen = ms.inner_text()
            assert "Average hash" in chosen and "Cosine" in chosen and "CNN" not in chosen, chosen
            t0 = time.perf_counter()
            tab.get_by_role("button", name=re.compile(r"^\W*(play_arrow)?\W*Run$")).first.click()
            tab.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=120_000)
            B.wait_idle(page)
            B.assert_no_exception(page, "Experiments")
            _timing(times, f"experiments: Experiment 1 (ahash + cosine, 12 images) chart after "
                           f"{time.perf_counter() - t0:.2f} s")
            assert tab.locator('[data-testid="stPlotlyChart"]').count() >= 1
            B.screenshot(page, "08_experiments_after_run")

            # Robustness lab: move the strength slider; the copy's caption shows the new strength
            t0 = time.perf_counter()
            B.goto_page(page, "Robustness lab", timeout=300)
            _timing(times, f"robustness lab: rendered in {time.perf_counter() - t0:.2f} s")
            B.screenshot(page, "09_robustness_before")
            slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
            before = slider.input_value()
            cap_before = _copy_caption(page)
            slider.focus()
            for _ in range(3):
                page.keyboard.press("ArrowRight")
            B.wait_idle(page, 300)
            after = slider.input_value()
            assert after != before, f"strength slider did not move ({before} -> {after})"
            cap_after = _copy_caption(page)
            assert cap_after != cap_before, f"the edited copy did not follow the slider: {cap_before!r}"
            B.assert_no_exception(page, "Robustness lab")
            assert re.search(r"\d+ of \d+ methods", B.main_text(page)), "robustness verdict line missing"
            B.screenshot(page, "10_robustness_after_slider")
        except Exception:
            B.screenshot(page, "FAILED_last_state")
            raise
        finally:
            browser.close()
            (B.ARTIFACTS / "browser").mkdir(parents=True, exist_ok=True)
            (B.ARTIFACTS / "browser" / "timings.txt").write_text("\n".join(times) + "\n")


def _copy_caption(page) -> str:
    """Caption of the edited copy in the Robustness lab (the second image caption: '<edit> <strength> <unit> ...')."""
    caps = page.locator('[data-testid="stMain"] [data-testid="stImageCaption"]')
    return caps.nth(1).inner_text(timeout=30_000) if caps.count() > 1 else B.main_text(page)[:400]
