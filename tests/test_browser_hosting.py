"""Real-browser tests of the two ways to start the app (issue 9 acceptance).

1. **Hosted** — a plain ``python -m streamlit run app.py`` with ``DUPFINDER_LOCAL`` unset, opened as
   ``http://localhost:PORT`` (so the browser sends ``Host: localhost``, what the old gate trusted): the sidebar
   offers no "Folder path" source and no text input at all (no weights path), even with the CNN method chosen.
2. **Local desktop** — the README's ``bash scripts/run.sh`` with no address flag: the "Folder path" source is there
   and loads a folder, and the server listens on 127.0.0.1 only (checked in ``/proc/net/tcp*`` and, when the machine
   has a non-loopback address, by a refused connection to it).
"""
from __future__ import annotations

import contextlib
import re
import socket
from pathlib import Path

import pytest

import browser as B

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIDEBAR = '[data-testid="stSidebar"]'


def hosted_command(port: int) -> list[str]:
    """The hosted way: streamlit run, no mode variable (start_app drops DUPFINDER_LOCAL from the environment)."""
    return [str(B.ROOT / ".venv" / "bin" / "python"), "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]


def run_sh_plain(port: int) -> list[str]:
    """The README's command as a user types it, plus a port and headless: no --server.address."""
    return ["bash", str(B.ROOT / "scripts" / "run.sh"), "--server.port", str(port), "--server.headless", "true",
            "--server.fileWatcherType", "none"]


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN state on ``port`` (IPv4 and IPv6), from /proc/net/tcp*."""
    out = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                addr, hexport = fields[1].split(":")
                if fields[3] == "0A" and int(hexport, 16) == port:
                    raw = bytes.fromhex(addr)
                    if width == 8:
                        out.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                    else:  # four little-endian 32-bit words
                        words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                        out.add(socket.inet_ntop(socket.AF_INET6, words))
    return out


def non_loopback_ipv4() -> str | None:
    """This machine's outward IPv4 address (a UDP 'connect' sends nothing), or None."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))
        ip = s.getsockname()[0]
        return None if ip.startswith("127.") or ip == "0.0.0.0" else ip
    return None


def _sidebar_state(page) -> tuple[list[str], int, str]:
    options = [t.strip() for t in page.locator(f'{SIDEBAR} [data-testid="stRadio"]').first.locator(
        '[data-testid="stRadioOption"]').all_inner_texts()]  # the first radio: the source (then the intents)
    return options, page.locator(f'{SIDEBAR} [data-testid="stTextInput"]').count(), B.sidebar_text(page)


def test_hosted_app_offers_no_server_path_even_on_localhost(tmp_path):
    from playwright.sync_api import sync_playwright

    from core.methods import METHODS

    B.require_browser()
    app = B.start_app(tmp_path, command=hosted_command)
    try:
        port = int(app.url.rsplit(":", 1)[1])
        with sync_playwright() as p:
            browser = B.launch(p)
            page = browser.new_page(viewport=B.VIEWPORT)
            page.set_default_timeout(60_000)
            try:
                page.goto(f"http://localhost:{port}/")  # Host: localhost — what the old gate trusted
                B.wait_idle(page)
                B.assert_no_exception(page, "Home (hosted)")
                options, n_text, side = _sidebar_state(page)
                assert options == ["Demo data", "Upload images"], options
                assert "Folder" not in side and n_text == 0, side
                # the CNN's free-text weights path: not offered (Experiments encodes nothing until asked)
                B.goto_page(page, "Experiments")
                B.choose_select(page, "Method", METHODS["cnn-cosine"].label, scope=SIDEBAR)
                options, n_text, side = _sidebar_state(page)
                assert n_text == 0 and "weights" not in side.lower(), side
                assert page.locator('input[placeholder="/path/to/photos"]').count() == 0
                B.screenshot(page, "hosted_sidebar", sub="browser-hosting")
            finally:
                browser.close()
    finally:
        app.stop()


def test_run_sh_is_local_mode_on_loopback_only(tmp_path):
    from playwright.sync_api import sync_playwright

    from core import demo

    B.require_browser()
    app = B.start_app(tmp_path, command=run_sh_plain)
    try:
        port = int(app.url.rsplit(":", 1)[1])
        listening = listening_addresses(port)
        assert listening == {"127.0.0.1"}, f"scripts/run.sh must listen on 127.0.0.1 only, listens on {listening}"
        outward = non_loopback_ipv4()
        if outward:
            with pytest.raises(OSError), socket.create_connection((outward, port), timeout=5):
                pass
        folder = demo.demo_dataset_path() / "images"
        with sync_playwright() as p:
            browser = B.launch(p)
            page = browser.new_page(viewport=B.VIEWPORT)
            page.set_default_timeout(60_000)
            try:
                page.goto(f"http://localhost:{port}/")
                B.wait_idle(page)
                options, _, _ = _sidebar_state(page)
                assert options == ["Demo data", "Upload images", "Folder path", "Saved index"], options
                B.choose_radio(page, "Folder path")
                box = page.locator(f'{SIDEBAR} input[placeholder="/path/to/photos"]')
                box.fill(str(folder))
                box.press("Enter")
                n_images = len([f for f in folder.iterdir() if f.suffix.lower() == ".jpg"])
                B.wait_text(page, rf"\b{n_images}\s*images", scope=SIDEBAR)
                B.wait_idle(page)
                B.assert_no_exception(page, "Home (folder)")
                assert re.search(rf"{n_images}\s*images", B.sidebar_text(page))
                B.screenshot(page, "local_folder", sub="browser-hosting")
            finally:
                browser.close()
    finally:
        app.stop()
