"""Demo datasets, generated deterministically from the photos committed in ``data/demo/sources/``.

Only the 14 source JPEGs (~0.9 MB, CC0 / public domain, see ``data/demo/SOURCES.md``) are committed. On
first use the sets below are generated (about 1-2 s for all four) into a cache folder and reused afterwards::

    $DUPFINDER_CACHE_DIR/demo/v<DEMO_VERSION>-<digest of sources + generating code>/     (default cache dir: ~/.cache/dupfinder)
        duplicates/   8 groups x 4 + 6 distractors = 38 images   -> demo_dataset_path()
        consecutive/  the same 8 groups x 4 = 32 images only      -> demo_consecutive_path()
        multiview/    8 scenes x 4 "re-shots" = 32 images         -> demo_multiview_path()
        query/coffee_reshot.jpg                                   -> demo_query_path()

Every set folder has the layout of the project's other labelled sets: ``images/*.jpg``,
``GROUND_TRUTH.csv`` (``file,group``; ``file`` relative to the set folder, e.g. ``images/00_astronaut.jpg``),
and ``DETAILS.csv`` (``file,group,source,role,transform,strength,width,height,bytes,md5``); nothing
else, so a dataset loader lists only the two CSVs as skipped. ``data/demo/README.md`` describes the sets.

Why three sets instead of one: the article's accuracy protocol (``consecutive:4``: sort file names, every 4
files are one group, the first of each group is the query) cannot hold singleton distractors, while the
duplicates / threshold pages need true negatives. So

* ``duplicates`` is the all-purpose set (search, duplicate groups, threshold explorer, experiments through
  ``GROUND_TRUTH.csv``): group members are named ``NN_<source>[_<variant>].jpg``, distractors
  ``distractor_<name>.jpg`` (each its own singleton group), which sort after the groups;
* ``consecutive`` holds the group files only (byte-identical to those in ``duplicates``) so
  ``consecutive:4`` and ``GROUND_TRUTH.csv`` agree;
* ``multiview`` mimics the article's SFBench: four stronger "re-shots" per scene (3-D turn/tilt, rotation,
  scale and crop combined), none of them the untouched original, consecutive naming.

Generated files depend only on the committed sources, this module and Pillow's JPEG encoder: two runs on
one machine give byte-identical files (a different libjpeg build may change bytes, not content). Building
is idempotent and safe under concurrency: each set is written to a temporary folder next to its final place
and renamed in one step; a process that loses the race discards its copy.

Transforms come from :mod:`core.transforms` only, so ``DETAILS.csv`` (``transform`` and ``strength``,
``;``-separated for chains, applied left to right) reproduces every file with
:func:`core.transforms.apply`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from core import transforms as T

__all__ = [
    "DEMO_VERSION", "DEMO_K", "DEMO_QUERY_GROUP", "GROUP_SOURCES", "DISTRACTOR_SOURCES",
    "sources_path", "cache_dir", "demo_root", "demo_dataset_path", "demo_consecutive_path",
    "demo_multiview_path", "demo_query_path", "ensure_demo",
]

DEMO_VERSION = "1"  # the folder name also carries a digest of the sources, this module and core/transforms.py
DEMO_K = 4  # group size of every labelled demo set
SAVE_QUALITY = 92  # JPEG quality of every generated file

GROUP_SOURCES = ("astronaut", "camera", "chelsea", "clock", "coffee", "hubble_deep_field", "retina", "rocket")
DISTRACTOR_SOURCES = ("brick", "cell", "grass", "gravel", "horse", "text")

# Near-duplicate set: 3 variants per source (+ the original). Each of the 7 edits appears 3-4 times.
NEAR_DUPLICATES: dict[str, list[tuple[str, float]]] = {
    "astronaut": [("scale", 0.5), ("jpeg", 25), ("crop", 0.15)],
    "camera": [("rotation", 4), ("brightness", 1.3), ("hflip", 1)],
    "chelsea": [("perspective", 0.2), ("scale", 0.4), ("jpeg", 35)],
    "clock": [("crop", 0.12), ("rotation", -6), ("brightness", 0.75)],
    "coffee": [("hflip", 1), ("perspective", -0.25), ("scale", 0.65)],
    "hubble_deep_field": [("jpeg", 20), ("crop", 0.2), ("rotation", 3)],
    "retina": [("brightness", 1.4), ("hflip", 1), ("perspective", 0.3)],
    "rocket": [("scale", 0.3), ("jpeg", 45), ("crop", 0.1)],
}
_VARIANT_WORD = {"scale": "resized", "jpeg": "jpeg", "crop": "cropped", "rotation": "rotated",
                 "hflip": "mirrored", "perspective": "tilted"}

# Query for the README / browser test: a re-shot coffee cup that is in none of the sets.
DEMO_QUERY_GROUP = "coffee"
_QUERY_RECIPE: list[tuple[str, float]] = [("perspective", 0.15), ("rotation", -7), ("crop", 0.18),
                                          ("scale", 0.75), ("jpeg", 70)]

Step = tuple[str, float]
Progress = Callable[[int, int, str], None]


# ------------------------------------------------------------------------------------------------ paths
def sources_path() -> Path:
    """Folder of the committed source photos (``data/demo/sources``)."""
    return Path(__file__).resolve().parent.parent / "data" / "demo" / "sources"


def cache_dir() -> Path:
    """Root of the project's cache: ``$DUPFINDER_CACHE_DIR``, else ``$XDG_CACHE_HOME/dupfinder``,
    else ``~/.cache/dupfinder``."""
    from core import config

    return config.cache_root()


def _sources_digest() -> str:
    # Sources + the code that renders them: editing a recipe or a transform can never serve a stale set.
    h = hashlib.sha256(DEMO_VERSION.encode())
    for code in (Path(__file__), Path(T.__file__)):
        h.update(code.read_bytes())
    for name in GROUP_SOURCES + DISTRACTOR_SOURCES:
        p = sources_path() / f"{name}.jpg"
        h.update(name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:10]


def demo_root() -> Path:
    """Versioned cache folder of the generated demo sets (created on demand by the functions below)."""
    return cache_dir() / "demo" / f"v{DEMO_VERSION}-{_sources_digest()}"


# ------------------------------------------------------------------------------------------- generation
@dataclass
class _Item:
    file: str  # relative to the set folder
    group: str
    source: str
    role: str  # original | near-duplicate | distractor | shot | query
    steps: list[Step]
    data: bytes = b""
    size: tuple[int, int] = (0, 0)


def _load_source(name: str) -> Image.Image:
    with Image.open(sources_path() / f"{name}.jpg") as im:
        im.load()
        return im


def _render(item: _Item) -> None:
    """Fill ``item.data``: the source file's own bytes for originals, else transform chain + JPEG q92."""
    path = sources_path() / f"{item.source}.jpg"
    if not item.steps:
        item.data = path.read_bytes()
        with Image.open(io.BytesIO(item.data)) as im:
            item.size = im.size
        return
    src = _load_source(item.source)
    img = src.convert("RGB")
    for name, strength in item.steps:
        img = T.apply(img, name, strength)
    if src.mode == "L":  # grey sources stay grey files (the transforms used here keep R = G = B)
        img = img.convert("L")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=SAVE_QUALITY)
    item.data, item.size = buf.getvalue(), img.size


def _word(step: Step) -> str:
    name, s = step
    if name == "brightness":
        return "brighter" if s > 1 else "darker"
    return _VARIANT_WORD.get(name, name)


def _group_items() -> list[_Item]:
    items = []
    for g, src in enumerate(GROUP_SOURCES):
        members = [[]] + [[step] for step in NEAR_DUPLICATES[src]]
        for j, steps in enumerate(members):
            idx = g * DEMO_K + j
            suffix = "" if not steps else "_" + _word(steps[0])
            items.append(_Item(f"images/{idx:02d}_{src}{suffix}.jpg", src, src,
                               "original" if not steps else "near-duplicate", steps))
    return items


def _distractor_items() -> list[_Item]:
    return [_Item(f"images/distractor_{d}.jpg", f"distractor_{d}", d, "distractor", []) for d in DISTRACTOR_SOURCES]


def _u(*key: object) -> float:
    """Deterministic uniform number in [0, 1) from a key (stable across NumPy/Python versions)."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _lerp(lo: float, hi: float, *key: object) -> float:
    return round(lo + (hi - lo) * _u(*key), 2)


def _multiview_steps(src: str, shot: int) -> list[Step]:
    """Four re-shots of a scene: stronger, combined viewpoint changes (like SFBench's phone photos)."""
    sign = 1 if _u(src, "sign") < 0.5 else -1
    side = lambda k: 1 if _u(src, shot, k) < 0.5 else -1  # noqa: E731 - which corner a re-framing keeps
    if shot == 0:  # roughly frontal, framed differently, slightly different exposure
        return [("shift", side("f") * _lerp(0.12, 0.2, src, 0, "f")), ("scale", _lerp(0.8, 0.95, src, 0, "s")),
                ("brightness", _lerp(0.88, 1.12, src, 0, "b"))]
    if shot == 1:  # walked to one side
        return [("perspective", sign * _lerp(0.3, 0.45, src, 1, "p")), ("crop", _lerp(0.12, 0.2, src, 1, "c")),
                ("shift", side("f") * _lerp(0.08, 0.15, src, 1, "f"))]
    if shot == 2:  # other side, camera held crooked, further away
        return [("perspective", -sign * _lerp(0.25, 0.4, src, 2, "p")),
                ("rotation", sign * _lerp(6, 12, src, 2, "r")), ("crop", _lerp(0.15, 0.22, src, 2, "c")),
                ("shift", side("f") * _lerp(0.05, 0.12, src, 2, "f")), ("scale", _lerp(0.6, 0.8, src, 2, "s"))]
    # shot 3: from below and closer (3-D projection on both axes), darker
    return [("tilt", _lerp(0.25, 0.4, src, 3, "t")), ("perspective", sign * _lerp(0.1, 0.2, src, 3, "p")),
            ("rotation", -sign * _lerp(2, 6, src, 3, "r")), ("crop", _lerp(0.25, 0.35, src, 3, "c")),
            ("shift", side("f") * _lerp(0.1, 0.2, src, 3, "f")), ("gamma", _lerp(1.1, 1.4, src, 3, "g"))]


def _multiview_items() -> list[_Item]:
    items = []
    for g, src in enumerate(GROUP_SOURCES):
        for shot in range(DEMO_K):
            idx = g * DEMO_K + shot
            items.append(_Item(f"images/{idx:02d}_{src}_shot{shot + 1}.jpg", src, src, "shot",
                               _multiview_steps(src, shot)))
    return items


def _write_set(folder: Path, items: list[_Item], kind: str) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for it in items:
        _render(it)
        (folder / it.file).write_bytes(it.data)
    if kind != "query":
        with open(folder / "GROUND_TRUTH.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["file", "group"])
            w.writerows((it.file, it.group) for it in items)
    # DETAILS.csv is written last: its presence marks a complete set folder.
    with open(folder / "DETAILS.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "group", "source", "role", "transform", "strength", "width", "height", "bytes", "md5"])
        for it in items:
            w.writerow([it.file, it.group, f"sources/{it.source}.jpg", it.role,
                        ";".join(n for n, _ in it.steps) or "none",
                        ";".join(f"{s:g}" for _, s in it.steps) or "",
                        it.size[0], it.size[1], len(it.data), hashlib.md5(it.data).hexdigest()])


_BUILDERS: dict[str, Callable[[], list[_Item]]] = {
    "duplicates": lambda: _group_items() + _distractor_items(),
    "consecutive": _group_items,
    "multiview": _multiview_items,
    "query": lambda: [_Item(f"images/{DEMO_QUERY_GROUP}_reshot.jpg", DEMO_QUERY_GROUP, DEMO_QUERY_GROUP,
                            "query", list(_QUERY_RECIPE))],
}
_MARKER = "DETAILS.csv"  # written last by _write_set


def _complete(folder: Path) -> bool:
    """A set folder is usable if DETAILS.csv exists and every file it lists is present."""
    try:
        with open(folder / _MARKER, newline="", encoding="utf-8") as f:
            files = [row["file"] for row in csv.DictReader(f)]
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return False
    return bool(files) and all((folder / name).is_file() for name in files)


def _ensure(kind: str) -> Path:
    """Return the folder of demo set ``kind``, generating it atomically if missing."""
    root = demo_root()
    final = root / kind
    if _complete(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{kind}.tmp-", dir=root))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the final folder should read like any other
        _write_set(tmp, _BUILDERS[kind](), kind)
        try:
            os.rename(tmp, final)  # atomic; fails if `final` exists (another process won, or a stale copy)
        except OSError:
            if not _complete(final):  # stale/incomplete folder (e.g. edited by hand): swap it out
                stale = root / f".{kind}.stale-{uuid.uuid4().hex}"
                try:
                    os.rename(final, stale)
                except OSError:
                    pass  # someone else moved it meanwhile
                try:
                    os.rename(tmp, final)
                except OSError:
                    pass  # someone else installed theirs meanwhile; theirs is identical
                shutil.rmtree(stale, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # no-op after a successful rename
    if not _complete(final):
        raise RuntimeError(f"could not build demo set {kind!r} in {root}")
    return final


def demo_dataset_path() -> Path:
    """All-purpose labelled demo set (``images/``, ``GROUND_TRUTH.csv``): 8 groups of 4 + 6 distractors."""
    return _ensure("duplicates")


def demo_consecutive_path() -> Path:
    """The 8 near-duplicate groups only (32 files), named for the article's ``consecutive:4`` protocol."""
    return _ensure("consecutive")


def demo_multiview_path() -> Path:
    """SFBench-like multi-view set: 8 scenes x 4 re-shots (32 files), ``consecutive:4`` naming."""
    return _ensure("multiview")


def demo_query_path() -> Path:
    """A query image file (re-shot coffee cup, true group :data:`DEMO_QUERY_GROUP`) not in any demo set."""
    return _ensure("query") / "images" / f"{DEMO_QUERY_GROUP}_reshot.jpg"


def ensure_demo(progress: Progress | None = None) -> dict[str, Path]:
    """Generate (if needed) every demo set; returns ``{kind: path}``. ``progress(done, total, message)``."""
    kinds = list(_BUILDERS)
    out: dict[str, Path] = {}
    for i, kind in enumerate(kinds):
        if progress:
            progress(i, len(kinds), f"demo set {kind}")
        out[kind] = demo_query_path() if kind == "query" else _ensure(kind)
    if progress:
        progress(len(kinds), len(kinds), "demo sets ready")
    return out
