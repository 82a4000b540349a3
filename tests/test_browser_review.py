"""Real-browser test of the Review page's review and apply (issue 13), in local mode (``bash scripts/run.sh``).

On a generated temp folder (an original with two copies, a pair, singletons, a planted chain), Playwright drives
chromium: sidebar "Folder path" -> Review; the chained group is flagged; one group is marked "not a duplicate";
"Move N file(s)" moves exactly the other copies into a chosen folder (checked on disk); "Undo" puts them back and
every file of the dataset hashes as before. Screenshots go to ``test-artifacts/browser-review/``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import browser as B
from tests.test_collection import jpeg, smooth
from tests.test_compare_clean import chain_images

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    B.require_browser()
    a = B.start_app(tmp_path_factory.mktemp("browser-review-app"))
    yield a
    a.stop()


def _photos(d: Path) -> Path:
    (d / "2019").mkdir(parents=True)
    orig = jpeg(smooth(0))
    (d / "2019" / "IMG_0815.jpg").write_bytes(orig)
    (d / "2019" / "IMG_0815-2.jpg").write_bytes(orig)
    (d / "2019" / "IMG_0815_small.jpg").write_bytes(jpeg(smooth(0), 70, 0.5))
    (d / "beach.jpg").write_bytes(jpeg(smooth(1)))
    (d / "beach (1).jpg").write_bytes(jpeg(smooth(1), 80))
    for k in range(2, 4):
        (d / f"single{k}.jpg").write_bytes(jpeg(smooth(k)))
    (d / "chain").mkdir()
    for name, img in zip("abc", chain_images()):
        img.save(d / "chain" / f"{name}.png")
    os.utime(d / "2019" / "IMG_0815-2.jpg", (1_500_000_000, 1_500_000_000))
    return d


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_review_and_apply_then_undo_in_a_real_browser(app, tmp_path):
    from playwright.sync_api import sync_playwright

    folder = _photos(tmp_path / "photos")
    moved = tmp_path / "moved"
    before = tree_hashes(folder)
    with sync_playwright() as p:
        browser = B.launch(p)
        page = browser.new_page(viewport=B.VIEWPORT)
        page.set_default_timeout(60_000)
        try:
            page.goto(app.url)
            B.wait_idle(page)
            B.choose_radio(page, "Folder path")
            box = page.locator('[data-testid="stSidebar"] input[aria-label="Folder on this computer"]')
            B.retry(lambda: box.fill(str(folder), timeout=15_000), what="typing the folder")
            box.press("Enter")
            B.wait_text(page, r"\b10\b.*images", scope='[data-testid="stSidebar"]')
            B.wait_idle(page)
            B.goto_page(page, "Review")
            text = B.main_text(page)
            assert "Suggested by the rule" in text and "Chained group" in text, text[:2000]
            assert _metric(page, "Chained groups") == "1"
            assert _metric(page, "Files to move") == "5"
            B.screenshot(page, "review", "browser-review")

            # the beach pair is "not a duplicate": its copy stays
            group = page.locator('[data-testid="stVerticalBlock"]').filter(
                has_text="Not a duplicate").filter(has_text="beach (1).jpg").last
            B.retry(lambda: group.locator('[data-testid="stCheckbox"]').first.click(timeout=15_000),
                    what="marking not a duplicate")
            B.wait_idle(page)
            B.wait_text(page, "not a duplicate: nothing moves")
            assert _metric(page, "Files to move") == "4"

            target = page.locator('input[aria-label^="Move the copies to"]')
            B.retry(lambda: target.fill(str(moved), timeout=15_000), what="typing the move-to folder")
            target.press("Enter")
            B.wait_idle(page)
            B.retry(lambda: page.get_by_role("button", name="Move 4 file(s) to that folder").click(timeout=15_000),
                    what="clicking Move")
            B.wait_text(page, r"Moved 4 file\(s\)")
            B.wait_idle(page)
            B.assert_no_exception(page, "after apply")
            B.screenshot(page, "applied", "browser-review")
            gone = {"2019/IMG_0815-2.jpg", "2019/IMG_0815_small.jpg", "chain/b.png", "chain/c.png"}
            assert set(tree_hashes(folder)) == set(before) - gone
            assert {p.relative_to(moved).as_posix() for p in moved.rglob("*")
                    if p.is_file() and not p.name.endswith(".jsonl")} == gone
            assert "python -m core undo" in B.main_text(page)

            B.retry(lambda: page.get_by_role("button", name="Undo").click(timeout=15_000), what="clicking Undo")
            B.wait_text(page, r"Undone: 4 file\(s\)")
            B.wait_idle(page)
            B.assert_no_exception(page, "after undo")
            assert tree_hashes(folder) == before
            B.screenshot(page, "undone", "browser-review")
        finally:
            browser.close()
