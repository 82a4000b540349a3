"""The progress callback every experiment runner takes, and how one method's share of a multi-method run is
reported."""

from __future__ import annotations

from typing import Callable

#: ``progress(done, total, message)``
Progress = Callable[[int, int, str], None]


def sub_progress(progress: Progress | None, k: int, n_methods: int, label: str) -> Progress | None:
    if progress is None:
        return None

    def cb(done: int, total: int, message: str) -> None:
        frac = (k + (done / total if total else 1.0)) / n_methods
        progress(int(round(frac * 1000)), 1000, f"{label}: {message}")

    return cb
