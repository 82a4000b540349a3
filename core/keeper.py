"""Which copy of a duplicate group to keep, and why, in plain words.

:func:`choose` takes the group's :class:`Candidate` s and a rule and returns the keeper's position and a reason
string that names every step that decided (``"most pixels (4000x3000); no copy marker in its name (the others:
'-2')"``). Used by ``python -m core clean``, ``python -m core duplicates`` and the Review page (each through
:func:`core.collection.groups.keeper_groups` or :func:`chooser`).

Rules (:data:`RULES`); each is a chain of steps, applied in order, each keeping only the candidates that are best on
that step, until one is left:

``original`` (default) prefer the original over its copies:
    most pixels -> fewest copy markers in the name -> oldest capture date -> most widely readable format ->
    largest file -> first name
``largest``  most pixels -> largest file -> then as ``original``
``newest``   newest capture date -> then as ``original``
``oldest``   oldest capture date -> then as ``original``

Copy markers (:func:`copy_markers`) are what file managers, browsers and tools add to a copy's name: a trailing
number (``-2``, ``_2``, `` 2``, `` (1)``, ``(1)``), the word for "copy" in common languages (``copy``,
``Copy of``, ``- Copy``, ``Kopie``, ``copie``, ``kopia``, ``copia``, ``cópia``, ``kopio``, ``копия``, ``副本``,
``コピー``) and the names of derived versions (``_small``, ``_thumb``, ``-scaled``, ``-resized``, ``-edited``,
``-min``, ``-1024x768`` ...). A trailing number only counts with 1 or 2 digits and no leading zero, so camera
counters (``IMG_0015``, ``…-124816``) are not markers. Markers only break ties between images of the same pixel
count, so a series named ``scan_1``, ``scan_2`` costs nothing: both carry one marker and the next step decides.

Capture date: EXIF ``DateTimeOriginal`` (with ``OffsetTimeOriginal`` when present, else read as UTC), else the
file's modification time, compared to the second.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from . import images
from .datasets import natural_key

#: Keep rules offered by the CLI and the Review page.
RULES = ("original", "largest", "newest", "oldest")

#: Format -> readability rank (lower = opens in more places). JPEG and PNG open everywhere; GIF and BMP almost
#: everywhere; TIFF and WebP in most browsers and editors; HEIC/HEIF, AVIF and JPEG XL need recent systems.
FORMAT_RANK = {"JPEG": 0, "PNG": 0, "MPO": 0, "GIF": 1, "BMP": 1, "TIFF": 2, "WEBP": 2,
               "HEIF": 3, "HEIC": 3, "AVIF": 3, "JXL": 3}
_UNKNOWN_RANK = 4

# --- copy markers ---------------------------------------------------------------------------------------------
_COPY_WORDS = r"copy|kopie|copie|kopia|copia|cópia|kopio|копия|副本|コピー"
_DERIVED = r"small|smaller|thumb|thumbnail|thumbs|preview|resized|scaled|compressed|edited|lowres|min"
#: (label, regex on the stem) tried in order; every pattern that matches strips its match and counts once, so
#: "photo - Copy (2)" has two markers and "photo_small-2" has two.
_MARKERS: tuple[tuple[str, re.Pattern], ...] = (
    ("(N)", re.compile(r"\s?\(\d{1,3}\)$")),
    ("-N", re.compile(r"-[1-9]\d?$")),
    ("_N", re.compile(r"_[1-9]\d?$")),
    (" N", re.compile(r" [1-9]\d?$")),
    ("copy", re.compile(rf"(?:^|[\s_.\-–—]+)(?:{_COPY_WORDS})$", re.IGNORECASE)),
    ("copy of", re.compile(rf"^(?:{_COPY_WORDS})(?:\s+(?:of|von|de|di|da|van))?[\s_\-]+", re.IGNORECASE)),
    ("derived", re.compile(rf"[\s_.\-]+(?:{_DERIVED})$", re.IGNORECASE)),
    ("WxH", re.compile(r"[-_]\d{2,5}x\d{2,5}$")),
)


def copy_markers(name: str) -> list[str]:
    """The copy markers in a file name (its base name without extension), outermost first.

    >>> copy_markers("IMG_20200101_124816-2.jpg")
    ['-2']
    >>> copy_markers("photo - Copy (2).jpg")
    [' (2)', ' - Copy']
    >>> copy_markers("IMG_0015.jpg")
    []
    """
    stem = os.path.splitext(name.rsplit("/", 1)[-1])[0]
    found: list[str] = []
    changed = True
    while changed and stem:  # suffixes nest ("x_small-2", "x - Copy (2)"): strip until nothing more matches
        changed = False
        for _, pat in _MARKERS:
            m = pat.search(stem)
            if m and m.end() - m.start() < len(stem):  # never the whole name ("copy.jpg", "2.jpg")
                found.append(m.group(0))
                stem = stem[:m.start()] + stem[m.end():]
                changed = True
                break
    return found


def format_rank(fmt: str | None) -> int:
    """Readability rank of a Pillow format name (0 = JPEG/PNG ... 4 = unknown)."""
    return FORMAT_RANK.get((fmt or "").upper(), _UNKNOWN_RANK)


# --- capture date ---------------------------------------------------------------------------------------------
def exif_capture_time(source) -> float | None:
    """EXIF DateTimeOriginal of an image file (path or bytes) as epoch seconds, or None. Reads the header only,
    through :func:`core.images.read_exif` (our formats, PNG floods refused, the pixel limit checked)."""
    try:
        sub = images.read_exif(source, ifd=0x8769)  # the Exif IFD
    except images.ImageError:  # unreadable header or EXIF: no date
        return None
    text, offset = sub.get(0x9003), sub.get(0x9011)  # DateTimeOriginal, OffsetTimeOriginal
    if not isinstance(text, str):
        return None
    try:
        t = _dt.datetime.strptime(text.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz = _dt.timezone.utc
    if isinstance(offset, str) and re.fullmatch(r"[+-]\d\d:\d\d", offset.strip("\x00 ")):
        o = offset.strip("\x00 ")
        sign = 1 if o[0] == "+" else -1
        tz = _dt.timezone(sign * _dt.timedelta(hours=int(o[1:3]), minutes=int(o[4:6])))
    return t.replace(tzinfo=tz).timestamp()


# --- candidates -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """What the rules look at for one image.

    Attributes
    ----------
    name : str
        Relative name (copy markers are read from its base name).
    width, height : int
        Pixels after EXIF orientation.
    size_bytes : int
        File size.
    format : str
        Pillow format name.
    captured : float or None
        Capture time, epoch seconds (EXIF DateTimeOriginal, else file mtime); None if unknown.
    captured_from : str
        ``"EXIF"``, ``"file time"`` or ``""``.
    """

    name: str
    width: int
    height: int
    size_bytes: int
    format: str
    captured: float | None = None
    captured_from: str = ""

    @property
    def pixels(self) -> int:
        return int(self.width) * int(self.height)


def candidate(item, *, read_exif: bool = True) -> Candidate:
    """A :class:`Candidate` from a :class:`core.datasets.Item` (reads the EXIF header; mtime for files on disk)."""
    captured, src = None, ""
    if read_exif:
        captured = exif_capture_time(item.source)
        src = "EXIF" if captured is not None else ""
    if captured is None and item.path is not None:
        try:
            captured, src = os.stat(item.path).st_mtime, "file time"
        except OSError:
            pass
    return Candidate(item.name, int(item.width), int(item.height), int(item.size_bytes), item.format or "",
                     captured, src)


# --- rules ----------------------------------------------------------------------------------------------------
def _when(c: Candidate) -> str:
    if c.captured is None:
        return "unknown"
    t = _dt.datetime.fromtimestamp(c.captured, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"{t} ({c.captured_from})"


@dataclass(frozen=True)
class Step:
    """One rule step: ``key`` maps a candidate to a value where larger is better; ``says`` words the winner's
    advantage given (winner, losers)."""

    name: str
    explain: str
    key: Callable[[Candidate], object]
    says: Callable[[Candidate, list[Candidate]], str]


def _markers_says(w: Candidate, losers: list[Candidate]) -> str:
    theirs = sorted({m.strip() or m for c in losers for m in copy_markers(c.name)})
    mine = copy_markers(w.name)
    head = "no copy marker in its name" if not mine else f"fewer copy markers in its name ({', '.join(mine)})"
    return f"{head} (the others: {', '.join(repr(t) for t in theirs)})"


PIXELS = Step("pixels", "the most pixels (the largest picture is the least likely to be a reduced copy)",
              lambda c: c.pixels,
              lambda w, l: f"most pixels ({w.width}x{w.height}; the others at most "
                           f"{max(c.width * c.height for c in l):,} pixels)")
MARKERS = Step("markers", "a name without copy markers such as '-2', ' (1)', 'copy', 'Kopie' or '_small'",
               lambda c: -len(copy_markers(c.name)), _markers_says)
OLDEST = Step("oldest", "the oldest capture date (EXIF DateTimeOriginal, else the file's modification time): "
                        "copies are made after the original",
              lambda c: -round(c.captured) if c.captured is not None else float("-inf"),
              lambda w, l: f"oldest capture date ({_when(w)})")
NEWEST = Step("newest", "the newest capture date (EXIF DateTimeOriginal, else the file's modification time)",
              lambda c: round(c.captured) if c.captured is not None else float("-inf"),
              lambda w, l: f"newest capture date ({_when(w)})")
FORMAT = Step("format", "the most widely readable format (JPEG/PNG open everywhere; GIF/BMP almost everywhere; "
                        "TIFF/WebP in most places; HEIC/AVIF need recent systems)",
              lambda c: -format_rank(c.format),
              lambda w, l: f"more widely readable format ({w.format} over "
                           f"{', '.join(sorted({c.format or '?' for c in l}))})")
BYTES = Step("bytes", "the largest file (the least compressed)", lambda c: c.size_bytes,
             lambda w, l: f"largest file ({w.size_bytes:,} bytes)")

_CHAINS: dict[str, tuple[Step, ...]] = {
    "original": (PIXELS, MARKERS, OLDEST, FORMAT, BYTES),
    "largest": (PIXELS, BYTES, MARKERS, OLDEST, FORMAT),
    "newest": (NEWEST, PIXELS, MARKERS, FORMAT, BYTES),
    "oldest": (OLDEST, PIXELS, MARKERS, FORMAT, BYTES),
}


def steps(rule: str = "original") -> tuple[Step, ...]:
    """The steps of ``rule`` in order (for explaining the rule); ValueError for an unknown rule."""
    if rule not in _CHAINS:
        raise ValueError(f"unknown keep rule {rule!r}; valid: {', '.join(RULES)}")
    return _CHAINS[rule]


def explain(rule: str = "original") -> str:
    """The rule in one plain sentence."""
    parts = [s.explain for s in steps(rule)]
    return "Keep the copy with " + "; then, among equals, ".join(parts) + "; then the first name."


def chooser(dataset, rule: str = "original"):
    """``names -> keeper name`` for :func:`core.search.find_duplicates` (``choose_keeper=``): :func:`choose` over
    ``dataset``'s items, each image's candidate (EXIF header, file time) read once."""
    steps(rule)  # ValueError for an unknown rule, before any work
    seen: dict[str, Candidate] = {}

    def pick(names: list[str]) -> str:
        cands = []
        for n in names:
            if n not in seen:
                seen[n] = candidate(dataset.by_name(n))
            cands.append(seen[n])
        return names[choose(cands, rule)[0]]

    return pick


def choose(candidates: Sequence[Candidate], rule: str = "original") -> tuple[int, str]:
    """The keeper of a group and why.

    Parameters
    ----------
    candidates : sequence of Candidate, length >= 1
    rule : one of :data:`RULES`

    Returns
    -------
    (int, str)
        Position of the keeper in ``candidates`` and the reason: the steps that decided, in plain words.
    """
    chain = steps(rule)
    if not candidates:
        raise ValueError("choose() needs at least one candidate")
    alive = list(range(len(candidates)))
    reasons: list[str] = []
    for step in chain:
        if len(alive) == 1:
            break
        keys = {i: step.key(candidates[i]) for i in alive}
        best = max(keys.values())
        winners = [i for i in alive if keys[i] == best]
        if len(winners) < len(alive):
            losers = [candidates[i] for i in alive if keys[i] != best]
            # worded for the winners (when several remain, the first speaks for all: they tie on this step)
            reasons.append(step.says(candidates[winners[0]], losers))
            alive = winners
    keeper = min(alive, key=lambda i: natural_key(candidates[i].name))
    if len(alive) > 1:
        reasons.append("first by name (otherwise alike)")
    if not reasons:
        reasons.append("the only image")
    return keeper, "; ".join(reasons)
