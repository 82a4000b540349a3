"""Set A against set B (leakage), strict groups on a planted chain, the keeper rule, and clean/undo that never
lose or overwrite a byte."""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import datasets, keeper
from core.__main__ import main
from core.collection import clean as cclean
from core.collection.compare import cross_pairs
from core.collection.groups import build_groups
from core.encoding import Features
from core.methods import get
from tests.test_collection import jpeg, smooth

THR = 6  # ahash bits: re-encoded copies of smooth() pictures are <= 1 bit apart, distinct ones >= 17


def run(*args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def leakage(tmp_path):
    """train/ (A) and test/ (B): B holds two leaked copies of A images (resized + re-encoded), A holds a pair of
    duplicates of its own (never to be reported), B a pair of its own too."""
    a, b = tmp_path / "train", tmp_path / "test"
    (a / "cls").mkdir(parents=True)
    (b / "cls").mkdir(parents=True)
    for k in range(6):
        (a / "cls" / f"a{k}.jpg").write_bytes(jpeg(smooth(k)))
    (a / "a0-dup.jpg").write_bytes(jpeg(smooth(0), 70, 0.8))  # within-A duplicate
    for k in range(10, 14):
        (b / "cls" / f"b{k}.jpg").write_bytes(jpeg(smooth(k)))
    (b / "b10-dup.png").write_bytes(jpeg(smooth(10), 75, 0.9))  # within-B duplicate
    (b / "leak-a2.jpg").write_bytes(jpeg(smooth(2), 60, 0.6))
    (b / "cls" / "leak-a5.jpg").write_bytes(jpeg(smooth(5), 65, 0.75))
    (b / "readme.txt").write_text("x")
    return a, b


def test_compare_finds_exactly_the_planted_cross_pairs(leakage, capsys):
    a, b = leakage
    code, out, err = run("compare", a, b, "--method", "ahash", "--threshold", THR, "--json", capsys=capsys)
    assert code == 0, err
    j = json.loads(out)
    assert set(j) == {"method", "threshold", "a_images", "b_images", "pairs", "skipped"}
    assert (j["a_images"], j["b_images"]) == (7, 7)
    assert sorted((p["a"], p["b"]) for p in j["pairs"]) == [("cls/a2.jpg", "leak-a2.jpg"),
                                                            ("cls/a5.jpg", "cls/leak-a5.jpg")]
    assert all(0 <= p["score"] <= THR for p in j["pairs"])
    assert j["skipped"] == [{"set": "b", "file": "readme.txt", "reason": j["skipped"][0]["reason"]}]
    code, out, err = run("compare", a, b, "--method", "ahash", "--threshold", THR, capsys=capsys)
    assert code == 0 and "2 of B (28.6%) have a copy in A" in out
    code, out, err = run("compare", a, b / "nowhere", "--method", "ahash", capsys=capsys)
    assert code == 1


@pytest.mark.parametrize("threshold", [0, 3, 10, 20])
def test_cross_pairs_faiss_and_blocks_agree(threshold):
    rng = np.random.default_rng(threshold)
    m = get("ahash")
    A = rng.integers(0, 256, (300, 8), dtype=np.uint8)
    B = np.concatenate([A[:50] ^ (rng.random((50, 8)) < 0.02).astype(np.uint8),
                        rng.integers(0, 256, (200, 8), dtype=np.uint8)])
    fa = Features(m, m.resolve_params(), A, [f"a{k}" for k in range(300)], [""] * 300)
    fb = Features(m, m.resolve_params(), B, [f"b{k}" for k in range(250)], [""] * 250)
    fast = cross_pairs(fa, fb, threshold, use_faiss=True)
    slow = cross_pairs(fa, fb, threshold, use_faiss=False)
    for x, y in zip(fast, slow):
        np.testing.assert_array_equal(x, y)
    full = m.pairwise(A, B)
    assert len(slow[0]) == int((full <= threshold).sum()) > 0


# ---------------------------------------------------------------------------------------------------------------
# strict groups on a planted chain
# ---------------------------------------------------------------------------------------------------------------
def chain_images(size_of_first: int = 128) -> list[Image.Image]:
    """Four black-and-white 8x8 patterns whose ahash distances are exactly A-B 8, B-C 8, C-D 8, A-C 16, ...
    (each step flips 4 black and 4 white cells: the mean stays, so the hash bits are the pattern)."""
    rng = np.random.default_rng(1)
    base = np.zeros(64, bool)
    base[rng.permutation(64)[:32]] = True
    ones, zeros = np.flatnonzero(base), np.flatnonzero(~base)
    pats = [base]
    for k in range(3):
        p = pats[-1].copy()
        p[ones[4 * k:4 * k + 4]] = False
        p[zeros[4 * k:4 * k + 4]] = True
        pats.append(p)
    out = []
    for n, p in enumerate(pats):
        a = (p.reshape(8, 8) * 255).astype(np.uint8)
        size = size_of_first if n == 0 else 64
        out.append(Image.fromarray(np.stack([a] * 3, -1)).resize((size, size), Image.NEAREST))
    return out


def test_build_groups_strict_splits_a_chain():
    # A~B, B~C, C~D, nothing else; the keeper is always the lowest position
    i, j = np.array([0, 1, 2]), np.array([1, 2, 3])
    comps = build_groups(5, i, j, min, "components")
    assert [(g.members, g.keeper) for g in comps] == [([0, 1, 2, 3], 0)]
    strict = build_groups(5, i, j, min, "strict")
    assert [(g.members, g.keeper) for g in strict] == [([0, 1], 0), ([2, 3], 2)]
    # keeper in the middle: everyone is within the threshold of it
    assert [(g.members, g.keeper) for g in build_groups(3, i[:2], j[:2], lambda m: 1 if 1 in m else m[0],
                                                        "strict")] == [([0, 1, 2], 1)]
    # a leftover alone is no group
    assert [(g.members, g.keeper) for g in build_groups(3, i[:2], j[:2], min, "strict")] == [([0, 1], 0)]


@pytest.fixture
def chain(tmp_path):
    d = tmp_path / "chain"
    d.mkdir()
    for name, img in zip("abcd", chain_images()):
        img.save(d / f"{name}.png")
    return d


def test_duplicates_groups_strict_on_a_planted_chain(chain, capsys):
    base = ("duplicates", chain, "--method", "ahash", "--threshold", 10, "--json")
    code, out, err = run(*base, capsys=capsys)
    assert code == 0, err
    j = json.loads(out)
    assert [(g["members"], g["keep"]) for g in j["groups"]] == [(["a.png", "b.png", "c.png", "d.png"], "a.png")]
    code, out, err = run(*base, "--groups", "strict", capsys=capsys)
    j = json.loads(out)
    # a (the most pixels) keeps only b; c and d, 16 and 24 bits from a, form their own group (kept: the larger
    # file, duplicates' rule after pixels)
    cd = max(["c.png", "d.png"], key=lambda n: ((chain / n).stat().st_size, n == "c.png"))
    assert [(g["members"], g["keep"]) for g in j["groups"]] == [(["a.png", "b.png"], "a.png"),
                                                               (["c.png", "d.png"], cd)]
    assert j["copies"] == {"a.png": 1, "b.png": 1, "c.png": 1, "d.png": 1}
    assert len(j["pairs"]) == 3  # the pairs are the same in both modes
    code, out, err = run(*base, "--groups", "chains", capsys=capsys)
    assert code == 2 and "strict" in err


def test_clean_groups_strict_moves_only_copies_of_the_keeper(chain, tmp_path, capsys):
    moved = tmp_path / "moved"
    for n, name in enumerate("abcd"):  # c is older than d: the original rule keeps it (same pixels, no markers)
        os.utime(chain / f"{name}.png", (1.6e9 + 60 * n, 1.6e9 + 60 * n))
    code, out, err = run("clean", chain, "--method", "ahash", "--threshold", 10, "--move-to", moved,
                         "--groups", "strict", "--json", capsys=capsys)
    assert code == 0, err
    j = json.loads(out)
    assert [(g["keep"], g["move"]) for g in j["groups"]] == [("a.png", ["b.png"]), ("c.png", ["d.png"])]
    assert "oldest capture date" in j["groups"][1]["reason"]
    assert sorted(p.name for p in chain.iterdir()) == ["a.png", "c.png"]


# ---------------------------------------------------------------------------------------------------------------
# clean and undo
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def messy(tmp_path):
    """A folder with an original and copies of it in several forms, another pair, and singletons."""
    d = tmp_path / "photos"
    (d / "2019" / "trip").mkdir(parents=True)
    orig = jpeg(smooth(0))
    (d / "2019" / "IMG_20190704_124816.jpg").write_bytes(orig)
    (d / "2019" / "IMG_20190704_124816-2.jpg").write_bytes(orig)  # byte-identical copy with a marker
    (d / "2019" / "trip" / "IMG_20190704_124816_small.jpg").write_bytes(jpeg(smooth(0), 70, 0.5))
    (d / "beach.jpg").write_bytes(jpeg(smooth(1)))
    (d / "beach (1).jpg").write_bytes(jpeg(smooth(1), 80))
    for k in range(2, 5):
        (d / f"single{k}.jpg").write_bytes(jpeg(smooth(k)))
    (d / "notes.txt").write_text("kept as is")
    old = 1_500_000_000
    os.utime(d / "2019" / "IMG_20190704_124816-2.jpg", (old, old))  # the copy even looks older
    return d


def test_clean_then_undo_restores_a_byte_identical_tree(messy, tmp_path, capsys):
    before = tree_hashes(messy)
    moved = tmp_path / "moved"
    code, out, err = run("clean", messy, "--method", "ahash", "--threshold", THR, "--move-to", moved, "--json",
                         capsys=capsys)
    assert code == 0, err
    j = json.loads(out)
    plan = {g["keep"]: sorted(g["move"]) for g in j["groups"]}
    assert plan == {"2019/IMG_20190704_124816.jpg": ["2019/IMG_20190704_124816-2.jpg",
                                                     "2019/trip/IMG_20190704_124816_small.jpg"],
                    "beach.jpg": ["beach (1).jpg"]}
    # relative paths kept, nothing left behind twice, nothing deleted
    assert {p.relative_to(moved).as_posix() for p in moved.rglob("*.jpg")} == {
        "2019/IMG_20190704_124816-2.jpg", "2019/trip/IMG_20190704_124816_small.jpg", "beach (1).jpg"}
    after = tree_hashes(messy)
    assert set(after) == set(before) - set(sum(plan.values(), []))
    log = Path(j["log"])
    assert log.parent == moved and log.is_file()
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert lines[0]["format"] == "dupfinder-undo" and lines[0]["method"] == "ahash"
    for m in lines[1:]:
        assert set(m) >= {"source", "destination", "sha256", "size"}
        assert hashlib.sha256(Path(m["destination"]).read_bytes()).hexdigest() == m["sha256"]
        assert before[Path(m["source"]).relative_to(messy).as_posix()] == m["sha256"]

    code, out, err = run("undo", log, "--json", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["restored"] == 3
    assert tree_hashes(messy) == before
    assert not list(moved.rglob("*.jpg"))
    code, out, err = run("undo", log, capsys=capsys)
    assert code == 1 and "already undone" in err


def test_undo_refuses_when_a_place_is_occupied(messy, tmp_path, capsys):
    moved = tmp_path / "moved"
    code, out, err = run("clean", messy, "--method", "ahash", "--threshold", THR, "--move-to", moved, "--json",
                         capsys=capsys)
    log = json.loads(out)["log"]
    squatter = messy / "beach (1).jpg"
    squatter.write_bytes(b"a new file the user made")
    in_moved = tree_hashes(moved)
    in_messy = tree_hashes(messy)
    code, out, err = run("undo", log, capsys=capsys)
    assert code == 1 and str(squatter) in err and "occupied" in err
    assert tree_hashes(moved) == in_moved and tree_hashes(messy) == in_messy  # nothing moved
    # a moved file that changed is refused too
    squatter.unlink()
    (moved / "beach (1).jpg").write_bytes(b"edited")
    code, out, err = run("undo", log, capsys=capsys)
    assert code == 1 and "changed" in err and tree_hashes(messy) == {k: v for k, v in in_messy.items()
                                                                     if k != "beach (1).jpg"}


def test_clean_never_overwrites_in_the_move_to_folder(messy, tmp_path, capsys):
    before = tree_hashes(messy)
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "beach (1).jpg").write_bytes(b"already here")
    code, out, err = run("clean", messy, "--method", "ahash", "--threshold", THR, "--move-to", moved, "--json",
                         capsys=capsys)
    assert code == 0, err
    j = json.loads(out)
    assert (moved / "beach (1).jpg").read_bytes() == b"already here"
    renamed = [m for m in j["moved"] if m["renamed"]]
    assert [(m["name"], Path(m["destination"]).name) for m in renamed] == [("beach (1).jpg",
                                                                           "beach (1) (moved 1).jpg")]
    code, out, err = run("undo", j["log"], capsys=capsys)
    assert code == 0, err
    assert tree_hashes(messy) == before and (moved / "beach (1).jpg").read_bytes() == b"already here"


def test_move_file_refuses_an_existing_destination(tmp_path):
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"1")
    dst.write_bytes(b"2")
    with pytest.raises(FileExistsError):
        cclean.move_file(str(src), str(dst))
    assert src.read_bytes() == b"1" and dst.read_bytes() == b"2"


def test_clean_dry_run_and_refusals(messy, tmp_path, capsys):
    before = tree_hashes(messy)
    moved = tmp_path / "moved"
    code, out, err = run("clean", messy, "--method", "ahash", "--threshold", THR, "--move-to", moved, "--dry-run",
                         capsys=capsys)
    assert code == 0 and "would move" in out and tree_hashes(messy) == before and not moved.exists()
    z = tmp_path / "photos.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(messy / "beach.jpg", "beach.jpg")
    code, out, err = run("clean", z, "--method", "ahash", "--move-to", moved, capsys=capsys)
    assert code == 2 and "zip archive" in err
    code, out, err = run("clean", messy, "--method", "ahash", "--move-to", messy / "dups", capsys=capsys)
    assert code == 2 and "outside the dataset" in err
    code, out, err = run("clean", messy, "--method", "ahash", "--move-to", moved, "--keep", "best", capsys=capsys)
    assert code == 2
    assert tree_hashes(messy) == before


# ---------------------------------------------------------------------------------------------------------------
# the keeper rule
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, markers", [
    ("IMG_20200101_124816-2.jpg", ["-2"]), ("IMG_20200101_124816.jpg", []),
    ("IMAG0015_small-2.png", ["-2", "_small"]),
    ("IMAG0015_small.png", ["_small"]), ("IMAG0015.png", []), ("photo (1).jpg", [" (1)"]), ("photo(12).jpg", ["(12)"]),
    ("photo - Copy.jpg", [" - Copy"]), ("photo - Copy (2).jpg", [" (2)", " - Copy"]),
    ("Copy of photo.jpg", ["Copy of "]),
    ("Bild - Kopie.jpg", [" - Kopie"]), ("Kopie von Bild.jpg", ["Kopie von "]), ("image - copie.jpg", [" - copie"]),
    ("zdjęcie — kopia.jpg", [" — kopia"]), ("foto - copia.jpg", [" - copia"]), ("IMG_1234 2.jpg", [" 2"]),
    ("beach_2.jpg", ["_2"]), ("post-1024x768.jpg", ["-1024x768"]), ("IMG_1234-edited.jpg", ["-edited"]),
    ("dir/copy.jpg", []), ("2.jpg", []), ("copyright.jpg", []), ("DSC_0001.JPG", []), ("2019-05-04.jpg", []),
    ("IMG-20190101-WA0003.jpg", []), ("scan_001.png", []), ("Screenshot 2024-01-01 at 10.00.00.png", []),
])
def test_copy_markers(name, markers):
    assert keeper.copy_markers(name) == markers


def C(name, w=4000, h=3000, size=1_000_000, fmt="JPEG", captured=1_600_000_000.0, src="EXIF"):
    return keeper.Candidate(name, w, h, size, fmt, captured, src)


def test_keeper_rule_steps_in_order():
    # byte-identical copies: the name without "-2" wins although the copy's file time is older
    pos, why = keeper.choose([C("IMG_124816-2.jpg", captured=1.0e9, src="file time"),
                              C("IMG_124816.jpg", captured=1.6e9, src="file time")])
    assert pos == 1 and "no copy marker" in why and "'-2'" in why
    # the bigger picture wins over a clean name
    pos, why = keeper.choose([C("photo.jpg", 1000, 750), C("photo (1).jpg")])
    assert pos == 1 and why.startswith("most pixels (4000x3000")
    # equal pixels and names: the oldest capture date
    pos, why = keeper.choose([C("b.jpg", captured=2e9), C("a.jpg", captured=1e9)])
    assert pos == 1 and "oldest capture date" in why
    # 10-bit HEIC and a JPEG of the same pixels and date: JPEG by format
    pos, why = keeper.choose([C("IMG_0001.HEIC", fmt="HEIF", size=3_000_000), C("IMG_0001.JPG", size=900_000)])
    assert pos == 1 and "JPEG over HEIF" in why
    # all equal: the first name, said so
    pos, why = keeper.choose([C("b.jpg"), C("a.jpg")])
    assert pos == 1 and "first by name" in why
    assert keeper.choose([C("only.jpg")]) == (0, "the only image")
    # the other rules put their own step first
    cands = [C("small.jpg", 100, 100, captured=1e9), C("big.jpg", captured=2e9)]
    assert keeper.choose(cands, "largest")[0] == 1
    assert keeper.choose(cands, "oldest")[0] == 0
    assert keeper.choose(cands, "newest")[0] == 1
    with pytest.raises(ValueError, match="original"):
        keeper.choose(cands, "best")
    assert "copy markers" in keeper.explain() and "readable format" in keeper.explain()


def exif_jpeg(img: Image.Image, when: str | None) -> bytes:
    exif = Image.Exif()
    if when:
        exif.get_ifd(0x8769)[0x9003] = when
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def test_keeper_reads_exif_capture_date_before_file_time(tmp_path):
    img = smooth(0)
    (tmp_path / "late.jpg").write_bytes(exif_jpeg(img, "2021:06:01 10:00:00"))
    (tmp_path / "early.jpg").write_bytes(exif_jpeg(img, "2003:06:01 10:00:00"))
    (tmp_path / "none.jpg").write_bytes(exif_jpeg(img, None))
    os.utime(tmp_path / "late.jpg", (1e9, 1e9))  # an old file time does not beat an EXIF date
    ds = datasets.load(tmp_path)
    cands = [keeper.candidate(ds.by_name(n)) for n in ("late.jpg", "early.jpg", "none.jpg")]
    assert [c.captured_from for c in cands] == ["EXIF", "EXIF", "file time"]
    assert cands[1].captured == pytest.approx(1054461600.0)
    pos, why = keeper.choose(cands)
    assert pos == 1 and "2003-06-01 10:00:00 (EXIF)" in why


def test_keeper_reads_exif_only_through_the_safe_decoder():
    """core.keeper opens headers with core.images.read_exif: our formats only, the pixel limit checked."""
    from core import images

    data = exif_jpeg(smooth(0), "2003:06:01 10:00:00")
    assert keeper.exif_capture_time(data) == pytest.approx(1054461600.0)
    assert images.read_exif(data, ifd=0x8769)[0x9003] == "2003:06:01 10:00:00"
    with pytest.raises(images.ImageError, match="too large"):
        images.read_exif(data, max_pixels=100)
    # EPS (Pillow would open it; it runs Ghostscript to decode) and non-images: never opened, no date
    assert keeper.exif_capture_time(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n") is None
    assert keeper.exif_capture_time(b"not an image") is None


def test_keeper_prefers_jpeg_over_a_real_10_bit_heic(tmp_path):
    from tests.corpus import heic_bytes

    if heic_bytes() is None:
        pytest.skip("pillow-heif cannot write HEIC here (the rule itself is tested on metadata above)")
    import pillow_heif

    img = smooth(3, 64, 48)
    ten_bit = (np.asarray(img).astype(np.uint16) * 4) << 6  # 10-bit values in 16-bit samples
    buf = io.BytesIO()
    pillow_heif.from_bytes(mode="RGB;16", size=img.size, data=ten_bit.tobytes()).save(buf, quality=90)
    assert pillow_heif.open_heif(io.BytesIO(buf.getvalue()), convert_hdr_to_8bit=False).info["bit_depth"] == 10
    (tmp_path / "IMG_0001.HEIC").write_bytes(buf.getvalue())
    (tmp_path / "IMG_0001.JPG").write_bytes(jpeg(img))
    for p in tmp_path.iterdir():
        os.utime(p, (1.6e9, 1.6e9))
    ds = datasets.load(tmp_path)
    cands = [keeper.candidate(it) for it in ds.items]
    assert sorted(c.format for c in cands) == ["HEIF", "JPEG"]
    pos, why = keeper.choose(cands)
    assert cands[pos].format == "JPEG" and "JPEG over HEIF" in why


def test_clean_and_undo_across_file_systems(messy, tmp_path, capsys, monkeypatch):
    """Where a hard link is impossible (another file system) the move is a verified exclusive copy: same bytes,
    same mtime, and still never an overwrite."""
    import errno

    def no_link(*a, **k):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(cclean.os, "link", no_link)
    before = tree_hashes(messy)
    mtimes = {p.relative_to(messy).as_posix(): p.stat().st_mtime_ns for p in messy.rglob("*") if p.is_file()}
    moved = tmp_path / "moved"
    code, out, err = run("clean", messy, "--method", "ahash", "--threshold", THR, "--move-to", moved, "--json",
                         capsys=capsys)
    assert code == 0, err
    j = json.loads(out)
    assert len(j["moved"]) == 3 and not j["not_moved"]
    code, out, err = run("undo", j["log"], capsys=capsys)
    assert code == 0, err
    assert tree_hashes(messy) == before
    assert {p.relative_to(messy).as_posix(): p.stat().st_mtime_ns for p in messy.rglob("*") if p.is_file()} == mtimes


def test_clean_keeps_the_copies_when_the_keeper_is_gone(messy, tmp_path):
    from core.search import pair_indices
    from core.encoding import encode_dataset

    ds = datasets.load(messy)
    feats = encode_dataset(ds, get("ahash"), cache=False)
    i, j, _ = pair_indices(feats, THR)
    groups = cclean.plan(ds, feats.names, i, j)
    assert {g.keep for g in groups} == {"2019/IMG_20190704_124816.jpg", "beach.jpg"}
    (messy / "beach.jpg").unlink()  # the user removed the keeper after the scan
    out = cclean.apply(ds, groups, str(tmp_path / "moved"), {})
    assert {m.name for m in out.moved} == {"2019/IMG_20190704_124816-2.jpg",
                                           "2019/trip/IMG_20190704_124816_small.jpg"}
    assert out.not_moved == [("beach (1).jpg", "not moved: its keeper beach.jpg was removed or became unreadable "
                                                "since the scan")]
    assert (messy / "beach (1).jpg").is_file()


@pytest.mark.parametrize("name", ["cnn-cosine", "cnn-euclidean", "cosine"])
def test_cross_pairs_tiles_equal_one_full_matrix(name, monkeypatch):
    """Float features are cut into tiles of A and of B; the pairs are those of the full score matrix."""
    from core.collection import compare as ccompare

    m = get(name)
    rng = np.random.default_rng(0)
    dt = np.float32 if name.startswith("cnn") else np.uint8
    A = (rng.random((70, 48)) * (6 if dt is np.float32 else 255)).astype(dt)
    B = np.concatenate([A[:20], (rng.random((90, 48)) * (6 if dt is np.float32 else 255)).astype(dt)])
    fa = Features(m, m.resolve_params(), A, [f"a{k}" for k in range(70)], [""] * 70)
    fb = Features(m, m.resolve_params(), B, [f"b{k}" for k in range(110)], [""] * 110)
    full = m.pairwise(A, B)
    thr = float(np.quantile(full, 0.9 if m.higher_is_closer else 0.1))
    monkeypatch.setattr(ccompare, "BLOCK_BYTES", 16 * 48 * 7)  # tiles of 7 columns of B
    i, j, s = cross_pairs(fa, fb, thr)
    want = np.argwhere(np.asarray(m.is_match(full, thr)))
    assert sorted(zip(i.tolist(), j.tolist())) == sorted(map(tuple, want.tolist()))
    np.testing.assert_allclose(s, full[i, j], rtol=0, atol=1e-6)  # pairwise_euclidean: < 1e-6 (its docstring)


def test_duplicates_keep_the_original_not_the_bigger_copy(tmp_path, capsys):
    """`duplicates` (and the Duplicates page, through the same find_duplicates argument) suggest the original:
    a re-saved copy named `-2` with a bigger file loses to the original at equal pixels (issue 13)."""
    d = tmp_path / "photos"
    d.mkdir()
    img = smooth(41)
    (d / "IMG_124816.jpg").write_bytes(jpeg(img, quality=80))
    (d / "IMG_124816-2.jpg").write_bytes(jpeg(img, quality=98))  # same pixels, larger file: the old rule kept it
    (d / "other.jpg").write_bytes(jpeg(smooth(42)))
    for groups in ("components", "strict"):
        assert main(["duplicates", str(d), "--method", "ahash", "--no-cache", "--json", "--groups", groups]) == 0
        out = json.loads(capsys.readouterr().out)
        assert [g["keep"] for g in out["groups"]] == ["IMG_124816.jpg"], (groups, out["groups"])


def test_overlaps_is_the_one_rule_for_the_move_to_folder(tmp_path):
    """The CLI's --move-to and the Review page refuse the same destinations: the dataset, a folder in it, one
    holding it (also through a symbolic link); a sibling whose name merely starts the same is fine."""
    from core.collection.clean import overlaps

    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (tmp_path / "data2").mkdir()
    (tmp_path / "link").symlink_to(data)
    assert overlaps(str(data), str(data)) and overlaps(str(data / "sub"), str(data))
    assert overlaps(str(tmp_path), str(data)) and overlaps(str(tmp_path / "link" / "new"), str(data))
    assert not overlaps(str(tmp_path / "data2"), str(data)) and not overlaps(str(tmp_path / "elsewhere"), str(data))
