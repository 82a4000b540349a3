"""Names from users (file names, folder names) written into Streamlit Markdown, shown as the text they are.

Minimal stand-in for ``ui/text.py``'s ``md_escape`` (another branch): every character that Markdown or Streamlit's
Markdown extensions give a meaning to is backslash-escaped, and HTML is never enabled for these strings.
"""
from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$^=&\"'])")


def md_escape(text: object) -> str:
    """``text`` with Markdown syntax characters escaped and line breaks turned into spaces."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    return _SPECIAL.sub(r"\\\1", s)


__all__ = ["md_escape"]
