"""Names of a dataset's files as the app and the CLI show them: printable, relative, unique.

* :func:`printable` replaces characters that garble a terminal, a table or a page (controls, bidi overrides,
  zero-width characters, line separators) by U+FFFD;
* :func:`normalise` turns a zip entry or upload name into a relative posix path that cannot climb out (``..``,
  drive letters and leading ``/`` dropped);
* :func:`unique` makes a repeated name unique as ``a (2).jpg``, ``a (3).jpg`` ..., in linear time with a
  :class:`UniqueNames`.

Names are shown raw only where the medium is safe (JSON, ``st.dataframe``); Markdown and plotly escape them
(``ui/text.py``, ``core/charts/safe.py``).
"""
from __future__ import annotations

import posixpath
import re
import unicodedata

__all__ = ["UniqueNames", "normalise", "printable", "unique"]

#: Unicode categories replaced in names: controls (Cc), format characters (Cf: bidi overrides such as U+202E that
#: make ``gpj.exe`` read as ``exe.jpg``, zero-width characters that make two names look alike), lone surrogates
#: (Cs) and line/paragraph separators (Zl, Zp), which break a line in a terminal or a table like a newline.
UNPRINTABLE = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def printable(name: str) -> str:
    """Replace control, format (bidi, zero-width) and separator characters by U+FFFD (see ``UNPRINTABLE``)."""
    if name.isprintable():  # C-speed fast path: no Cc/Cf/Cs/Zl/Zp (nor Zs/Co/Cn, which are kept) in the name
        return name
    return "".join("\ufffd" if unicodedata.category(c) in UNPRINTABLE else c for c in name)


def normalise(name: str) -> str:
    """Relative posix form: backslashes to '/', drive and leading '/' stripped, no '.'/'..'."""
    if ("\\" not in name and "//" not in name and "/." not in name and not name.startswith(("/", "."))
            and not name.endswith("/") and name[1:2] != ":"):
        return printable(name)  # already normal (the common case; a 1M-row labels CSV normalises every row)
    name = name.replace("\\", "/")
    name = re.sub(r"^[A-Za-z]:", "", name)
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    return printable("/".join(parts))


class UniqueNames(set):
    """Names already given in one dataset, plus, per repeated name, the next ``(k)`` suffix to try.

    The counter makes :func:`unique` linear in the number of files: without it, the k-th ``a.jpg`` would test
    ``a (2).jpg`` ... ``a (k).jpg`` again (20,000 entries named ``a.jpg``: 200 M probes, minutes).
    """

    def __init__(self):
        super().__init__()
        self.next_suffix: dict[str, int] = {}


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``stem (2).ext``, ``stem (3).ext`` ... if already taken; records it.

    With a :class:`UniqueNames` the search for a free suffix resumes where the previous one for ``name`` stopped.
    """
    if name not in taken:
        taken.add(name)
        return name
    d, base = posixpath.split(name)
    stem, ext = posixpath.splitext(base)
    counters = getattr(taken, "next_suffix", None)
    i = counters.get(name, 2) if counters is not None else 2
    while True:
        cand = posixpath.join(d, f"{stem} ({i}){ext}")
        i += 1
        if cand not in taken:
            taken.add(cand)
            if counters is not None:
                counters[name] = i
            return cand
