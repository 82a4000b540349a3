"""Real-browser test of the pair inspector (issue 12): Search on the demo data, "Inspect" on the first result, the
inspector's drawn pair (an image that loaded) and its transform table appear. Screenshot in
``test-artifacts/browser-inspector/``."""
from __future__ import annotations

import pytest

import browser as B

pytestmark = [pytest.mark.browser, pytest.mark.slow]

INSPECTOR = ".st-key-pair_inspector_search"  # the inspector's container (st.container key -> CSS class)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    B.require_browser()
    a = B.start_app(tmp_path_factory.mktemp("browser-inspector-app"))
    yield a
    a.stop()


def test_search_inspect_first_result_shows_the_inspector(app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = B.launch(p)
        page = browser.new_page(viewport=B.VIEWPORT)
        page.set_default_timeout(60_000)
        try:
            page.goto(app.url)
            B.wait_idle(page)
            B.goto_page(page, "Search")
            assert page.locator(INSPECTOR).count() == 0  # closed until asked
            first = page.locator('[data-testid="stMain"] button').filter(has_text="Inspect").first
            B.retry(lambda: first.click(timeout=15_000), what="clicking Inspect on the first result")
            page.locator(INSPECTOR).wait_for(timeout=120_000)
            B.wait_idle(page)
            B.assert_no_exception(page, "Search + inspector")
            box = page.locator(INSPECTOR)
            assert "Pair inspector" in box.inner_text()
            img = box.locator("img").first
            img.wait_for(timeout=60_000)
            width = page.wait_for_function("(el) => el.complete && el.naturalWidth > 0 && el.naturalWidth",
                                           arg=img.element_handle(), timeout=60_000).json_value()
            assert int(width) > 100  # the drawn pair (two images side by side), not a broken icon
            text = box.inner_text()
            assert "score of the second image under each transform" in text, text[:2000]
            # the transform table is a canvas grid: its text is not in the DOM, its frame is
            assert box.locator('[data-testid="stDataFrame"]').count() == 1
            B.screenshot(page, "search_inspector", "browser-inspector")
        finally:
            browser.close()
