"""Demo data: committed sources and the sets core.demo generates from them."""
from __future__ import annotations

import csv
import hashlib
import io
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from core import demo
from core import transforms as T

REPO = Path(__file__).resolve().parent.parent
DEMO_DATA = REPO / "data" / "demo"
NEAR_DUP_EDITS = {"scale", "jpeg", "crop", "rotation", "brightness", "hflip", "perspective"}


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def _csv(p: Path) -> list[dict]:
    with open(p, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _files(folder: Path) -> list[str]:
    return sorted(f"images/{p.name}" for p in (folder / "images").iterdir())


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def built(built_cache) -> dict[str, Path]:
    """All sets built once (timed) for the read-only checks."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DUPFINDER_CACHE_DIR", str(built_cache))
    try:
        t0 = time.process_time()  # CPU time: not flaky when other processes load the machine
        paths = demo.ensure_demo()
        assert time.process_time() - t0 < 5
        yield paths
    finally:
        mp.undo()


# ------------------------------------------------------------------------------------ committed data
def test_committed_sources_small_and_documented():
    total = sum(p.stat().st_size for p in DEMO_DATA.rglob("*") if p.is_file())
    assert total < 3 * 1024 * 1024
    listed = (DEMO_DATA / "SOURCES.md").read_text(encoding="utf-8")
    for name in demo.GROUP_SOURCES + demo.DISTRACTOR_SOURCES:
        p = demo.sources_path() / f"{name}.jpg"
        assert p.is_file()
        assert f"sources/{name}.jpg" in listed and _md5(p) in listed
        with Image.open(p) as im:
            assert im.format == "JPEG" and max(im.size) <= 640 and im.mode in ("RGB", "L")
    assert "CC0" in listed and "ublic domain" in listed


def test_cache_dir_env(cache):
    assert demo.cache_dir() == cache
    assert demo.demo_root().parent == cache / "demo"


# --------------------------------------------------------------------------------------- the sets
def _check_labels(folder: Path) -> tuple[list[dict], list[dict]]:
    gt = _csv(folder / "GROUND_TRUTH.csv")
    details = _csv(folder / "DETAILS.csv")
    assert [r["file"] for r in gt] == [r["file"] for r in details]
    assert sorted(r["file"] for r in gt) == _files(folder)  # every file labelled, every label a file
    for g, d in zip(gt, details):
        p = folder / g["file"]
        assert g["group"] == d["group"]
        assert _md5(p) == d["md5"] and int(d["bytes"]) == p.stat().st_size
        with Image.open(p) as im:
            im.load()
            assert im.size == (int(d["width"]), int(d["height"]))
    return gt, details


def _check_consecutive(gt: list[dict], k: int = demo.DEMO_K) -> None:
    by_file = {r["file"]: r["group"] for r in gt}
    names = sorted(by_file)
    assert len(names) % k == 0
    chunks = [names[i:i + k] for i in range(0, len(names), k)]
    groups = [{by_file[n] for n in c} for c in chunks]
    assert all(len(g) == 1 for g in groups), "every k consecutive sorted files share one group"
    assert len({next(iter(g)) for g in groups}) == len(chunks), "and chunks are distinct groups"


def test_duplicates_set(built):
    folder = built["duplicates"]
    assert folder == demo.demo_dataset_path()
    gt, details = _check_labels(folder)
    sizes = Counter(r["group"] for r in gt)
    assert len(gt) == 8 * 4 + 6
    assert sorted(sizes.values()) == [1] * 6 + [4] * 8
    assert {g for g, n in sizes.items() if n == 4} == set(demo.GROUP_SOURCES)
    roles = Counter(r["role"] for r in details)
    assert roles == {"original": 8, "near-duplicate": 24, "distractor": 6}
    # originals and distractors are the committed source files, byte for byte
    for r in details:
        if r["role"] in ("original", "distractor"):
            assert (folder / r["file"]).read_bytes() == (DEMO_DATA / r["source"]).read_bytes()
    edits = Counter(r["transform"] for r in details if r["role"] == "near-duplicate")
    assert set(edits) == NEAR_DUP_EDITS and min(edits.values()) >= 3


def test_consecutive_set(built):
    folder = built["consecutive"]
    gt, details = _check_labels(folder)
    assert len(gt) == 32
    _check_consecutive(gt)
    names = sorted(r["file"] for r in gt)
    role = {r["file"]: r["role"] for r in details}
    assert [role[n] for n in names[:: demo.DEMO_K]] == ["original"] * 8  # first of each group = the query
    # the same files as the groups of the duplicates set, byte-identical
    dup = built["duplicates"]
    for n in names:
        assert (folder / n).read_bytes() == (dup / n).read_bytes()


def test_multiview_set(built):
    folder = built["multiview"]
    gt, details = _check_labels(folder)
    assert len(gt) == 32
    _check_consecutive(gt)
    sources = {_md5(p) for p in demo.sources_path().glob("*.jpg")}
    for r in details:
        assert _md5(folder / r["file"]) not in sources
        assert len(r["transform"].split(";")) >= 2  # every shot combines several changes
    used = {n for r in details for n in r["transform"].split(";")}
    assert {"perspective", "tilt", "rotation", "scale", "crop"} <= used


def test_query_image(built):
    q = demo.demo_query_path()
    assert q == built["query"] and q.is_file()
    with Image.open(q) as im:
        assert im.format == "JPEG"
    others = {_md5(p) for s in ("duplicates", "multiview") for p in (built[s] / "images").iterdir()}
    assert _md5(q) not in others
    assert demo.DEMO_QUERY_GROUP in {r["group"] for r in _csv(built["duplicates"] / "GROUND_TRUTH.csv")}


def test_details_reproduce_files(built):
    """DETAILS.csv is a recipe: core.transforms.apply + JPEG q92 rebuilds the file byte for byte."""
    folder = built["multiview"]
    r = _csv(folder / "DETAILS.csv")[2]
    with Image.open(DEMO_DATA / r["source"]) as src:
        src.load()
    img = src.convert("RGB")
    for name, s in zip(r["transform"].split(";"), r["strength"].split(";")):
        img = T.apply(img, name, float(s))
    if src.mode == "L":
        img = img.convert("L")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=demo.SAVE_QUALITY)
    assert hashlib.md5(buf.getvalue()).hexdigest() == r["md5"]


# ------------------------------------------------------------------------- determinism, idempotence
def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _md5(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_across_runs(built, cache):
    first_root = built["duplicates"].parent
    demo.ensure_demo()  # a second, independent build in another cache dir
    assert demo.demo_root() != first_root and demo.demo_root().name == first_root.name
    a, b = _digests(first_root), _digests(demo.demo_root())
    assert a == b and len(a) == 38 + 32 + 32 + 1 + 3 * 2 + 1


def test_idempotent_and_no_leftovers(built, built_cache, monkeypatch):
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(built_cache))
    stamp = {p: p.stat().st_mtime_ns for k in ("duplicates", "multiview") for p in built[k].rglob("*")}
    calls = []
    again = demo.ensure_demo(progress=lambda d, t, m: calls.append((d, t)))
    assert again == built and calls[-1][0] == calls[-1][1] == 4
    assert stamp == {p: p.stat().st_mtime_ns for k in ("duplicates", "multiview") for p in built[k].rglob("*")}
    assert sorted(p.name for p in demo.demo_root().iterdir()) == ["consecutive", "duplicates", "multiview", "query"]
    assert sorted(p.name for p in built["duplicates"].iterdir()) == ["DETAILS.csv", "GROUND_TRUTH.csv", "images"]


def test_concurrent_builds_agree(cache):
    results, errors = [], []

    def work():
        try:
            results.append(demo.demo_dataset_path())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert [p.name for p in demo.demo_root().iterdir()] == ["duplicates"]  # temp folders cleaned up
    _check_labels(results[0])


def test_incomplete_folder_is_rebuilt(cache):
    broken = demo.demo_root() / "consecutive"
    (broken / "images").mkdir(parents=True)
    (broken / "images" / "junk.jpg").write_bytes(b"not a jpeg")
    folder = demo.demo_consecutive_path()
    assert folder == broken
    assert "images/junk.jpg" not in _files(folder) and len(_files(folder)) == 32
    (folder / "images" / "05_camera_rotated.jpg").unlink()  # a file deleted by hand -> rebuilt too
    assert len(_files(demo.demo_consecutive_path())) == 32
