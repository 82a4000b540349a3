"""Writing one marked section of ``bench/RESULTS.md`` (``<!-- name:start -->`` ... ``<!-- name:end -->``) and
leaving the rest of the file alone: each benchmark script owns its section."""
from __future__ import annotations

from pathlib import Path


def write_section(path: Path, lines: list[str], start: str, end: str) -> None:
    """Replace the text between ``start`` and ``end`` (markers included) with ``lines``; append it if absent."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = start + "\n" + "\n".join(lines) + "\n" + end
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
