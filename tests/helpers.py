"""Helpers shared by the AppTest modules: open the app on a page, and read a page's text as a visitor sees it.

Fixtures shared by several modules live in ``tests/conftest.py`` (``hosted_mode``, ``offline_cnn``).
"""
from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")

_MD_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def open_app(page: str | None = None, *, timeout: float = 120) -> AppTest:
    """A fresh AppTest session of ``app.py``, run once (and switched to ``page``), with no exception."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def shown(markdown: str) -> str:
    """Markdown text as displayed: visitor text (file names ...) is backslash-escaped on the page
    (ui.text.md_escape)."""
    return _MD_ESCAPED.sub(r"\1", markdown)


def texts(at, *, warnings: bool = False) -> str:
    """The page's Markdown and captions (and warnings), one per line, as written (still escaped)."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    if warnings:
        parts += [w.value for w in at.warning]
    return "\n".join(parts)
