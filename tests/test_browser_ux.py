"""Real-browser tests of issue 11 (a non-programmer's afternoon), each failing on the code before it:

1. a text file uploaded as the only "image": every page shows the empty state with the skipped file, no exception;
2. Upload -> Demo -> Upload restores the uploads (no silent demo set under "Upload images");
3. a bad folder path (local mode) shows the error and no results;
4. a reload keeps the view (method, threshold, query, page); re-uploading the same query file works;
5. at 390 px the sidebar starts collapsed (main content first) and thumbnail grids keep 3 or more per row.

The app runs as the README says (``bash scripts/run.sh``: local desktop mode). Screenshots go to
``test-artifacts/ux/``.
"""
from __future__ import annotations

import re

import pytest

import browser as B

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}
EXPLORE = ["Search", "Duplicates", "Compare methods", "Threshold explorer"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    B.require_browser()
    a = B.start_app(tmp_path_factory.mktemp("browser-ux"))
    yield a
    a.stop()


@pytest.fixture
def page(app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = B.launch(p)
        pg = browser.new_page(viewport=B.VIEWPORT)
        pg.set_default_timeout(60_000)
        try:
            yield pg
        finally:
            browser.close()


def _open(page, url: str) -> None:
    page.goto(url)
    page.locator('[data-testid="stSidebarNav"]').first.wait_for(timeout=B.RUN_TIMEOUT * 1000)
    B.wait_idle(page)
    B.assert_no_exception(page, url)


def _photos() -> list[dict]:
    from core import demo

    files = sorted((demo.demo_dataset_path() / "images").glob("*.jpg"))[:3]
    return [B.file_payload(f.name, f.read_bytes(), "image/jpeg") for f in files]


def test_text_file_upload_gives_the_empty_state_on_every_page(app, page):
    _open(page, app.url)
    B.choose_radio(page, "Upload images")
    B.upload(page, [B.file_payload("notes.txt", b"shopping list: milk, eggs\n", "text/plain")],
             expect=r"0\s*images")
    for title in EXPLORE:
        B.goto_page(page, title)
        text = B.main_text(page)
        assert "no usable image" in text, f"{title}:\n{text[:1500]}"
        assert "notes.txt" in text, f"{title}: the skipped file and its reason must show:\n{text[:1500]}"
        assert "astronaut" not in text and "coffee" not in text.lower().replace("coffee cup", ""), title
        B.screenshot(page, f"empty_{title.lower().replace(' ', '_')}", "ux")
    for title in ("Home", "Experiments", "Robustness lab"):
        B.goto_page(page, title)  # asserts no exception


def test_upload_demo_upload_restores_the_uploads(app, page):
    _open(page, app.url)
    B.goto_page(page, "Duplicates")
    B.choose_radio(page, "Upload images")
    B.upload(page, _photos(), expect=r"3\s*images")
    B.choose_radio(page, "Demo data")
    B.wait_text(page, r"38\s*images", '[data-testid="stSidebar"]')
    B.choose_radio(page, "Upload images")
    B.wait_text(page, r"from earlier in this session", '[data-testid="stSidebar"]')
    side = B.sidebar_text(page)
    assert re.search(r"\b3\s*images", side), side
    text = B.main_text(page)
    assert "Images\n3" in text or re.search(r"Images\s*3\b", text), text[:800]
    B.screenshot(page, "restored_uploads", "ux")
    page.get_by_role("button", name=re.compile("Forget them")).first.click()
    B.wait_idle(page)
    assert "No images yet" in B.main_text(page)


def test_bad_folder_path_shows_the_error_and_no_results(app, page):
    _open(page, app.url)
    B.goto_page(page, "Duplicates")
    B.choose_radio(page, "Folder path")
    box = page.locator('[data-testid="stSidebar"] input[aria-label="Folder on this computer"]').first
    box.fill("/no/such/folder/for/dupfinder")
    box.press("Enter")
    B.wait_text(page, r"No such folder", '[data-testid="stSidebar"]')
    B.wait_idle(page)
    text = B.main_text(page)
    assert "No such folder" in text and "Duplicate pairs" not in text, text[:1500]
    assert "astronaut" not in text
    B.screenshot(page, "bad_folder", "ux")


def test_reload_keeps_the_view_and_reupload_of_the_same_query_works(app, page):
    _open(page, app.url)
    B.goto_page(page, "Search")
    B.choose_select(page, "Method", "Perceptual hash (DCT)", scope='[data-testid="stSidebar"]')
    slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    B.wait_idle(page)
    _, _, thr, head = B.match_heading(page)
    assert "t=" in page.url and "m=phash" in page.url, page.url
    page.reload()
    page.locator('[data-testid="stMain"] h1').first.wait_for()
    B.wait_idle(page)
    B.assert_no_exception(page, "after reload")
    assert "/search" in page.url
    _, _, thr2, head2 = B.match_heading(page)
    assert thr2 == thr, (head, head2)
    assert "Perceptual hash" in B.main_text(page) and "m=phash" in page.url
    slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
    assert float(slider.input_value()) == thr

    # the same query file twice, with "Use as query" in between
    from core import demo

    q = demo.demo_query_path()
    payload = [B.file_payload(q.name, q.read_bytes(), "image/jpeg")]
    B.upload(page, payload, scope='[data-testid="stMain"]', label="Upload a query image",
             expect=re.escape(f"{q.name} — uploaded"))
    page.get_by_role("button", name="Use as query").first.click()
    B.wait_text(page, r"picked from the dataset")
    B.wait_idle(page)
    B.upload(page, payload, scope='[data-testid="stMain"]', label="Upload a query image",
             expect=re.escape(f"{q.name} — uploaded"))


def test_duplicates_builds_folded_content_only_when_opened(app, page):
    """Issue 11, item 5: a collapsed expander costs the browser nothing (no plotly, highlighter or data grid script);
    opening it shows its content."""
    _open(page, app.url + "/duplicates")
    main = page.locator('[data-testid="stMain"]')
    assert main.locator('[data-testid="stImage"] img').count() > 0
    for testid in ("stPlotlyChart", "stCode", "stDataFrame"):
        assert main.locator(f'[data-testid="{testid}"]').count() == 0, f"{testid} drawn while folded"
    main.locator('[data-testid="stExpander"] summary').filter(has_text="Copy as CLI command").first.click()
    main.locator('[data-testid="stCode"]').filter(has_text="python -m core duplicates").first.wait_for()
    B.wait_idle(page)
    main.locator('[data-testid="stExpander"] summary').filter(has_text="Copies per image").first.click()
    main.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=B.RUN_TIMEOUT * 1000)
    B.wait_idle(page)
    B.assert_no_exception(page, "Duplicates, folded content opened")


def test_phone_width_main_content_first_and_grids_of_three(app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = B.launch(p)
        page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        page.set_default_timeout(60_000)
        try:
            page.goto(app.url + "/duplicates")
            page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=B.RUN_TIMEOUT * 1000)
            B.wait_idle(page)
            B.assert_no_exception(page, "duplicates at 390 px")
            sb = page.locator('[data-testid="stSidebar"]').first
            expanded = sb.get_attribute("aria-expanded")
            box = sb.bounding_box()
            assert expanded == "false" or box is None or box["x"] + box["width"] <= 1, (expanded, box)
            h1 = page.locator('[data-testid="stMain"] h1').first.bounding_box()
            assert h1 and h1["x"] >= 0 and h1["x"] < 60, h1
            # thumbnails of the first group: at least 3 share the first row
            imgs = page.locator('[data-testid="stMain"] [data-testid="stImage"] img')
            tops = [round(imgs.nth(i).bounding_box()["y"]) for i in range(min(6, imgs.count()))]
            assert tops and tops.count(tops[0]) >= 3, tops
            B.screenshot(page, "phone_duplicates", "ux")
        finally:
            browser.close()


PAGES = {"home": "", "search": "/search", "duplicates": "/duplicates", "compare": "/compare",
         "threshold": "/threshold", "experiments": "/experiments", "robustness": "/robustness"}


@pytest.mark.parametrize("width", [1440, 390])
def test_screenshots_of_every_page(app, width):
    """Every page opened directly at desktop and phone width: no exception; screenshots for a person to look at."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = B.launch(p)
        mobile = width < 640
        page = browser.new_page(viewport={"width": width, "height": 2400},  # tall: Streamlit scrolls inside
                                is_mobile=mobile, has_touch=mobile)
        page.set_default_timeout(60_000)
        try:
            for name, path in PAGES.items():
                page.goto(app.url + path)
                page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=B.RUN_TIMEOUT * 1000)
                B.wait_idle(page, 300)
                B.assert_no_exception(page, f"{name} at {width} px")
                page.screenshot(path=str(_shot_dir() / f"{width}_{name}.png"), full_page=True)
        finally:
            browser.close()


def _shot_dir():
    d = B.ARTIFACTS / "ux" / "pages"
    d.mkdir(parents=True, exist_ok=True)
    return d
