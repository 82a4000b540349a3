"""Shared helpers for the real-browser tests (Playwright driving Debian's chromium; never ``playwright install``).

* :func:`start_app` starts the dashboard exactly as the README says — ``bash scripts/run.sh`` plus headless server
  flags — on a free port and polls ``/_stcore/health``. The first start on a fresh clone may create ``.venv`` and
  pip-install: a file lock serialises that between pytest-xdist workers and the wait allows several minutes.
* :func:`require_browser` fails (never skips silently) when chromium or playwright is missing, unless
  ``DUPFINDER_SKIP_BROWSER=1``.
* The page helpers wait for Streamlit to finish a run (script state not running, no spinner/skeleton/progress,
  images loaded), click sidebar navigation links, pick selectbox options, upload files and take screenshots into
  ``test-artifacts/`` at the repository root.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 2400}  # tall: Streamlit scrolls inside the page, full_page would miss content
FIRST_START_TIMEOUT = float(os.environ.get("DUPFINDER_BROWSER_START_TIMEOUT", "600"))  # pip install on a fresh clone
RUN_TIMEOUT = 180  # s, one Streamlit run (the CNN's first use loads the model and encodes)


# ------------------------------------------------------------------------------------------------ prerequisites
def require_browser() -> None:
    """Fail with the fix when the browser tooling is missing; skip only when explicitly asked to."""
    if os.environ.get("DUPFINDER_SKIP_BROWSER", "").strip() in ("1", "true", "yes"):
        pytest.skip("DUPFINDER_SKIP_BROWSER=1: real-browser tests disabled on purpose")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM}: run bash scripts/test.sh (installs chromium), or set "
                    "DUPFINDER_SKIP_BROWSER=1 to skip the real-browser tests", pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("the playwright package is missing: run bash scripts/test.sh (installs requirements-dev.txt)",
                    pytrace=False)


# ------------------------------------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    url: str
    proc: subprocess.Popen
    log: Path
    start_seconds: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group (start_new_session)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@contextlib.contextmanager
def _install_lock():
    """Serialise ``scripts/run.sh`` start-ups of this checkout: the first one may create .venv and pip-install."""
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"dupfinder-run-sh-{key}.lock"
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def run_sh_command(port: int) -> list[str]:
    """The README's run command (local desktop mode) with headless test flags."""
    return ["bash", str(ROOT / "scripts" / "run.sh"), "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.fileWatcherType", "none"]


def start_app(tmp_dir: Path, env: dict | None = None, attempts: int = 3, command=run_sh_command) -> App:
    """Start the app on a free port; return once ``/_stcore/health`` says ok.

    ``command(port)`` gives the argv: by default the README's ``bash scripts/run.sh`` (local desktop mode). The mode
    is the command's alone: ``DUPFINDER_LOCAL`` / ``DUPFINDER_ALLOW_FOLDER`` of the test runner's environment are
    dropped (``env`` may set them on purpose)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k not in ("DUPFINDER_LOCAL", "DUPFINDER_ALLOW_FOLDER")}
    full_env = dict(base, **(env or {}))
    last = ""
    with _install_lock():
        for attempt in range(attempts):
            port = free_port()
            log = tmp_dir / f"streamlit-{port}.log"
            cmd = command(port)
            t0 = time.perf_counter()
            with open(log, "wb") as out:
                proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            app = App(f"http://127.0.0.1:{port}", proc, log, 0.0)
            deadline = t0 + FIRST_START_TIMEOUT
            while time.perf_counter() < deadline and proc.poll() is None:
                if _healthy(port):
                    app.start_seconds = time.perf_counter() - t0
                    return app
                time.sleep(0.25)
            last = app.log_tail()
            app.stop()
            if "already in use" not in last and "Address already" not in last:
                break  # not a port race: no point retrying
    raise RuntimeError(f"the app did not start with `{' '.join(cmd[:3])} ...` (attempts: {attempt + 1}); "
                       f"server log tail:\n{last}")


def proc_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (via /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def peak_rss_mb(pid: int) -> float:
    """Sum of VmHWM (peak resident set) over ``pid`` and its children, MiB."""
    total = 0
    for p in proc_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


# ------------------------------------------------------------------------------------------------ page helpers
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  const state = app.getAttribute('data-test-script-state');
  if (state === 'running' || state === 'initial' || state === 'rerunRequested') return false;
  if (document.querySelector('[data-testid="stStatusWidget"] button, [data-testid="stSpinner"], '
      + '[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], [data-testid="stProgress"]')) return false;
  const running = [...document.querySelectorAll('[data-testid="stStatusWidget"]')]
      .some(e => /Running/.test(e.innerText));
  if (running) return false;
  return [...document.images].every(i => i.complete);
}"""


def wait_idle(page, timeout: float = RUN_TIMEOUT, settle: int = 300) -> None:
    """Wait until Streamlit has finished its run: script not running, no spinner/progress, images loaded.

    Checked twice ``settle`` ms apart, because a widget change starts a rerun a moment after the event."""
    page.wait_for_timeout(settle)
    try:
        page.wait_for_function(IDLE_JS, timeout=timeout * 1000)
        page.wait_for_timeout(settle)
        page.wait_for_function(IDLE_JS, timeout=timeout * 1000)
    except Exception as e:
        raise AssertionError(f"Streamlit did not finish running within {timeout:.0f} s on {page.url}: {e}") from None


def assert_no_exception(page, where: str = "") -> None:
    exc = page.locator('[data-testid="stException"]')
    if exc.count():
        raise AssertionError(f"Streamlit exception on {where or page.url}:\n{exc.first.inner_text()[:3000]}")


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def sidebar_text(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def retry(fn, attempts: int = 4, delay: float = 1.0, what: str = ""):
    """Call ``fn`` until it does not raise (Streamlit re-renders elements under the test's feet)."""
    err = None
    for _ in range(attempts):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - reported below with context
            err = e
            time.sleep(delay)
    raise AssertionError(f"{what or 'step'} failed after {attempts} attempts: {err}") from err


PAGE_HEADINGS = {"Home": "Duplicate Image Finder"}  # the h1 of each page; default: the nav title itself
H1_JS = """([title, heading]) => {
  const active = document.querySelector('[data-testid="stSidebarNav"] a[aria-current="page"]');
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  return !!active && active.innerText.trim().endsWith(title) && !!h1 && h1.innerText.includes(heading);
}"""


def goto_page(page, title: str, timeout: float = RUN_TIMEOUT) -> None:
    """Click the sidebar navigation link called ``title``; wait until that page's h1 is shown and the run is over.

    Under load a click can land while the previous run is finishing and be lost: the link is clicked again (up to
    3 times) if the page's heading has not appeared within 45 s."""
    heading = PAGE_HEADINGS.get(title, title)
    err = None
    for _ in range(3):
        link = page.locator('[data-testid="stSidebarNav"] a').filter(
            has_text=re.compile(rf"{re.escape(title)}\s*$"))
        retry(lambda: link.first.click(timeout=15_000), what=f"clicking the sidebar link {title!r}")
        try:
            page.wait_for_function(H1_JS, arg=[title, heading], timeout=45_000)
            break
        except Exception as e:  # noqa: BLE001 - retried, then reported
            err = e
    else:
        raise AssertionError(f"page {title!r} never showed its heading {heading!r}: {err}")
    wait_idle(page, timeout)
    assert_no_exception(page, title)


def choose_radio(page, option: str, scope: str = '[data-testid="stSidebar"]') -> None:
    retry(lambda: page.locator(f'{scope} [data-testid="stRadioOption"]').filter(has_text=option).first.click(
        timeout=15_000), what=f"choosing radio option {option!r}")
    wait_idle(page)


def choose_select(page, label: str, option: str, scope: str = "body", timeout: float = RUN_TIMEOUT) -> None:
    """Pick ``option`` in the Streamlit selectbox whose aria-label is ``label``."""
    def pick():
        page.locator(f'{scope} input[aria-label="{label}"]').first.click(timeout=15_000)
        page.get_by_role("option", name=option, exact=True).first.click(timeout=15_000)
    retry(pick, what=f"choosing {option!r} in {label!r}")
    wait_idle(page, timeout)


def file_payload(name: str, data: bytes, mime: str = "application/octet-stream") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


WAIT_TEXT_JS = """([sel, pattern]) => {
  const el = document.querySelector(sel);
  return !!el && new RegExp(pattern).test(el.innerText);
}"""


def wait_text(page, pattern: str, scope: str = '[data-testid="stMain"]', timeout: float = RUN_TIMEOUT) -> None:
    """Wait until the innerText of ``scope`` matches the JS regular expression ``pattern``."""
    try:
        page.wait_for_function(WAIT_TEXT_JS, arg=[scope, pattern], timeout=timeout * 1000)
    except Exception as e:
        text = page.locator(scope).first.inner_text()[:1500] if page.locator(scope).count() else "(no element)"
        raise AssertionError(f"/{pattern}/ never appeared in {scope} within {timeout:.0f} s ({e}); it shows:\n"
                             f"{text}") from None


def upload(page, files: list[dict], scope: str = '[data-testid="stSidebar"]', label: str | None = None,
           timeout: float = RUN_TIMEOUT, expect: str | None = None, expect_scope: str | None = None) -> None:
    """``set_input_files`` on the file input of the uploader in ``scope`` (optionally the one with ``label``).

    The upload itself is an HTTP request that finishes *before* Streamlit reruns, so "not running" right after
    ``set_input_files`` can be the state before the upload landed: pass ``expect`` (a JS regex the page shows once
    the upload is processed, searched in ``expect_scope``, default ``scope``) to wait for the real outcome."""
    def go():
        box = page.locator(f'{scope} [data-testid="stFileUploader"]')
        if label:
            box = box.filter(has_text=label)
        box.first.locator('input[type="file"]').set_input_files(files, timeout=15_000)
    retry(go, what=f"uploading {[f['name'] for f in files][:3]}...")
    if expect:
        wait_text(page, expect, expect_scope or scope, timeout)
    wait_idle(page, timeout)
    assert_no_exception(page, "after upload")


def screenshot(page, name: str, sub: str = "browser") -> Path:
    out = ARTIFACTS / sub
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    return path


MATCH_RE = re.compile(r"(\d+) of the top (\d+) match at threshold ([-\d.e]+)")


def match_heading(page, timeout: float = RUN_TIMEOUT) -> tuple[int, int, float, str]:
    """(matches in the top k, k, threshold, heading text) from the Search page's results heading."""
    h = page.locator('[data-testid="stMain"] h4').filter(has_text="of the top").first
    text = h.inner_text(timeout=timeout * 1000)
    m = MATCH_RE.search(text)
    assert m, f"unexpected results heading {text!r}"
    return int(m.group(1)), int(m.group(2)), float(m.group(3)), text


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# ------------------------------------------------------------------------------------------------ async variants
async def wait_idle_async(page, timeout: float = RUN_TIMEOUT, settle: int = 300) -> None:
    """:func:`wait_idle` for Playwright's async API (concurrent sessions)."""
    await page.wait_for_timeout(settle)
    try:
        await page.wait_for_function(IDLE_JS, timeout=timeout * 1000)
        await page.wait_for_timeout(settle)
        await page.wait_for_function(IDLE_JS, timeout=timeout * 1000)
    except Exception as e:
        raise AssertionError(f"Streamlit did not finish running within {timeout:.0f} s on {page.url}: {e}") from None


async def assert_no_exception_async(page, where: str = "") -> None:
    exc = page.locator('[data-testid="stException"]')
    if await exc.count():
        raise AssertionError(f"Streamlit exception on {where or page.url}:\n{(await exc.first.inner_text())[:3000]}")


async def retry_async(fn, attempts: int = 4, delay: float = 1.0, what: str = ""):
    import asyncio

    err = None
    for _ in range(attempts):
        try:
            return await fn()
        except Exception as e:  # noqa: BLE001 - reported below with context
            err = e
            await asyncio.sleep(delay)
    raise AssertionError(f"{what or 'step'} failed after {attempts} attempts: {err}") from err


async def wait_text_async(page, pattern: str, scope: str = '[data-testid="stMain"]',
                          timeout: float = RUN_TIMEOUT) -> None:
    try:
        await page.wait_for_function(WAIT_TEXT_JS, arg=[scope, pattern], timeout=timeout * 1000)
    except Exception as e:
        text = await page.locator(scope).first.inner_text() if await page.locator(scope).count() else ""
        raise AssertionError(f"/{pattern}/ never appeared in {scope} within {timeout:.0f} s ({e}); it shows:\n"
                             f"{text[:1500]}") from None


async def goto_page_async(page, title: str, timeout: float = RUN_TIMEOUT) -> None:
    """:func:`goto_page` for the async API."""
    heading = PAGE_HEADINGS.get(title, title)

    async def click():
        await page.locator('[data-testid="stSidebarNav"] a').filter(
            has_text=re.compile(rf"{re.escape(title)}\s*$")).first.click(timeout=15_000)
    err = None
    for _ in range(3):
        await retry_async(click, what=f"clicking the sidebar link {title!r}")
        try:
            await page.wait_for_function(H1_JS, arg=[title, heading], timeout=45_000)
            break
        except Exception as e:  # noqa: BLE001 - retried, then reported
            err = e
    else:
        raise AssertionError(f"page {title!r} never showed its heading {heading!r}: {err}")
    await wait_idle_async(page, timeout)
    await assert_no_exception_async(page, title)
