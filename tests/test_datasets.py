"""core.datasets: every file accounted for, hostile zips contained, label conventions."""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import corpus as C  # noqa: E402

from core import datasets as D  # noqa: E402
from core import images  # noqa: E402
from core.datasets import DatasetError, Limits  # noqa: E402


def outcome(ds: D.Dataset) -> dict[str, tuple[str, str]]:
    got = {it.name: ("used", "") for it in ds.items}
    for s in ds.skipped:
        assert s.file not in got, f"{s.file} both used and skipped"
        got[s.file] = ("skipped", s.reason)
    return got


def check(ds: D.Dataset, expected: dict) -> None:
    assert ds.files_given == len(ds.items) + len(ds.skipped)
    got = outcome(ds)
    assert len(got) == len(ds.items) + len(ds.skipped)  # names unique across items + skipped
    assert set(got) == set(expected), (set(got) ^ set(expected))
    for name, exp in expected.items():
        status, reason = got[name]
        assert status == exp.status, (name, got[name])
        assert exp.reason.lower() in reason.lower(), (name, reason, exp.reason)
    names = [it.name for it in ds.items]
    assert names == sorted(names, key=D.natural_key)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    return d, C.build_corpus(d)


def test_folder_corpus(corpus_dir):
    d, expected = corpus_dir
    ds = D.load_folder(d)
    check(ds, expected)
    assert ds.name == d.name and ds.labels is None and not ds.has_labels
    for it in ds.items:
        data = it.read_bytes()
        assert it.content_id == hashlib.sha256(data).hexdigest() and it.size_bytes == len(data)
        assert it.data is None and os.path.isfile(it.path) and it.source == it.path
        assert images.open_image(it.source).size == (it.width, it.height)
    # same file name in two folders: two items, different content
    a, b = ds.by_name("dup_a/same.jpg"), ds.by_name("dup_b/same.jpg")
    assert a.content_id != b.content_id
    assert ds.by_name("odd/png_named.jpg").format == "PNG"
    assert ds.by_name("odd/exif_rot6.jpg").width == 60
    hidden = [s for s in ds.skipped if s.reason == D.HIDDEN_REASON]
    assert {s.file for s in hidden} >= {".DS_Store", "good/Thumbs.db", "__MACOSX/good/._a_photo.jpg"}


def test_zip_corpus_in_memory_and_from_path(tmp_path):
    z = C.build_corpus_zip()
    ds = D.load_zip(z)
    check(ds, C.corpus_zip_expected())
    assert all(it.data is not None and it.path is None for it in ds.items)
    assert images.open_image(ds.items[0].source).mode == "RGB"
    p = tmp_path / "corpus.zip"
    p.write_bytes(z)
    ds2 = D.load(p)
    assert ds2.name == "corpus" and outcome(ds2) == outcome(ds)
    assert [i.content_id for i in ds2.items] == [i.content_id for i in ds.items]


def test_uploads_disambiguate_names():
    files = [("a.jpg", C.jpeg_bytes(seed=1)), ("a.jpg", C.jpeg_bytes(seed=2)), ("a.jpg", C.PDF_BYTES),
             (".DS_Store", b"x"), ("../../x.png", C.png_bytes()), ("b.png", b"")]
    ds = D.load_files(files)
    got = outcome(ds)
    assert got["a.jpg"][0] == got["a (2).jpg"][0] == "used"
    assert got["a (3).jpg"] == ("skipped", "not an image (PDF document)")
    assert got[".DS_Store"] == ("skipped", D.HIDDEN_REASON)
    assert got["x.png"][0] == "used" and got["b.png"] == ("skipped", "empty file")
    assert ds.files_given == 6
    assert ds.by_name("a.jpg").data == files[0][1]


def test_progress_callback(corpus_dir):
    d, expected = corpus_dir
    calls = []
    ds = D.load_folder(d, progress=lambda done, total, msg: calls.append((done, total, msg)))
    assert len(calls) == ds.files_given and calls[-1][:2] == (ds.files_given, ds.files_given)
    assert [c[0] for c in calls] == list(range(1, ds.files_given + 1))


# ---- zip safety ---------------------------------------------------------------------------


@pytest.fixture
def no_disk_writes(monkeypatch, tmp_path):
    """Fail if anything tries to extract; run inside an empty cwd and check it stays empty."""
    def boom(*a, **k):
        raise AssertionError("zip extraction attempted")

    monkeypatch.setattr(zipfile.ZipFile, "extract", boom)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", boom)
    work = tmp_path / "cwd" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    yield tmp_path
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cwd", "deep"]


def test_zip_path_traversal_normalised(no_disk_writes):
    ds = D.load_zip(C.zip_traversal())
    assert [i.name for i in ds.items] == ["a/up.png", "abs.jpg", "evil.jpg", "ok.jpg", "win/dos.jpg"]
    for it in ds.items:
        assert not it.name.startswith("/") and ".." not in it.name.split("/")


def test_zip_symlink_nested_encrypted(no_disk_writes):
    ds = D.load_zip(C.zip_symlink())
    assert outcome(ds) == {"real.jpg": ("used", ""), "link.jpg": ("skipped", "symlink entry not followed")}
    ds = D.load_zip(C.zip_nested())
    got = outcome(ds)
    assert got["outer.jpg"][0] == "used"
    assert got["inner.zip"] == ("skipped", "nested archive not expanded")
    assert "nested archive not expanded" in got["disguised.jpg"][1]
    ds = D.load_zip(C.zip_encrypted())
    assert outcome(ds) == {"open.jpg": ("used", ""), "secret.jpg": ("skipped", "encrypted entry")}


def test_zip_bomb_refused(no_disk_writes):
    with pytest.raises(DatasetError) as ei:
        D.load_zip(C.zip_bomb())  # 1000 x 5 MiB of zeros declared
    assert "zip bomb" in ei.value.reason and "uncompressed" in ei.value.reason
    with pytest.raises(DatasetError, match="entries"):
        D.load_zip(C.zip_bytes({f"{i}.txt": b"" for i in range(30)}), limits=Limits(max_zip_entries=10))


def test_zip_ratio_and_lying_sizes(no_disk_writes):
    ds = D.load_zip(C.zip_ratio_bomb())
    got = outcome(ds)
    assert got["fine.jpg"][0] == "used" and "compression ratio" in got["bomb.png"][1]
    ds = D.load_zip(C.zip_lying_size())  # header says 100 B, inflates to 5 MiB: never trusted
    got = outcome(ds)
    assert got["fine.jpg"][0] == "used" and got["liar.png"][0] == "skipped"
    assert ds.files_given == 2


def test_zip_per_file_limit(no_disk_writes):
    z = C.zip_bytes({"a.jpg": C.jpeg_bytes(), "big.tif": C.encode(C.photo(400, 300), "TIFF")}, zipfile.ZIP_STORED)
    ds = D.load_zip(z, limits=Limits(max_file_bytes=50_000))
    got = outcome(ds)
    assert got["a.jpg"][0] == "used" and "too large" in got["big.tif"][1]


def test_zip_names(no_disk_writes):
    ds = D.load_zip(C.zip_names())
    names = [i.name for i in ds.items]
    assert "日本.jpg" in names and "ünï.jpg" in names and "cafΘ.jpg" in names  # cp437 fallback
    assert "dup.jpg" in names and "dup (2).jpg" in names
    assert any(len(n) == 250 for n in names)
    assert all(n.isprintable() for n in names)
    assert ds.files_given == 7


def test_not_a_zip_and_missing(tmp_path):
    with pytest.raises(DatasetError, match="zip"):
        D.load_zip(b"not a zip at all")
    with pytest.raises(DatasetError):
        D.load(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a folder or a zip"):
        D.load(tmp_path / "f.txt")
    with pytest.raises(DatasetError, match="not a folder"):
        D.load_folder(tmp_path / "f.txt")


# ---- folders: names and limits -------------------------------------------------------------


def test_non_utf8_and_long_names(corpus_dir):
    d, expected = corpus_dir
    ds = D.load_folder(d)
    weird = [n for n in expected if "\ufffd" in n]
    if not weird:
        pytest.skip("file system refused a non-UTF-8 name")
    it = ds.by_name(weird[0])
    assert it.name.isprintable() and images.probe(it.path).format == "JPEG"
    assert any(len(os.path.basename(i.name)) == 250 for i in ds.items)


def test_folder_limits(tmp_path):
    (tmp_path / "0big.png").write_bytes(C.encode(C.photo(300, 300), "TIFF"))
    for i in range(1, 6):
        (tmp_path / f"{i}.png").write_bytes(C.png_bytes(seed=i))
    ds = D.load_folder(tmp_path, limits=Limits(max_files=4, max_file_bytes=20_000))
    got = outcome(ds)
    # the walk stops at the file limit: 4 files listed (name order), the last 2 never listed nor counted
    assert ds.files_given == 4 and len(ds.items) == 3 and set(got) == {"0big.png", "1.png", "2.png", "3.png"}
    assert "too large" in got["0big.png"][1]
    assert ds.incomplete and "more than 4 files" in ds.incomplete and "not listed" in ds.incomplete
    whole = D.load_folder(tmp_path, limits=Limits(max_files=6, max_file_bytes=20_000))
    assert whole.files_given == 6 and whole.incomplete is None


def test_limits_from_env(monkeypatch):
    monkeypatch.setenv("DUPFINDER_MAX_FILES", "12")
    monkeypatch.setenv("DUPFINDER_MAX_TOTAL_BYTES", "1.5G")
    monkeypatch.setenv("DUPFINDER_MAX_ZIP_RATIO", "50")
    lim = Limits()
    assert lim.max_files == 12 and lim.max_total_bytes == 3 << 29 and lim.max_zip_ratio == 50
    assert Limits(max_files=7).max_files == 7
    monkeypatch.setenv("DUPFINDER_MAX_FILES", "lots")
    with pytest.raises(ValueError, match="DUPFINDER_MAX_FILES"):
        Limits()


def test_symlinks_and_special_files_in_folder(tmp_path):
    (tmp_path / "a.jpg").write_bytes(C.jpeg_bytes())
    os.symlink(tmp_path / "a.jpg", tmp_path / "link.jpg")
    os.symlink(tmp_path / "missing.jpg", tmp_path / "broken.jpg")
    os.mkfifo(tmp_path / "fifo.jpg")
    ds = D.load_folder(tmp_path)  # must not hang on the FIFO
    got = outcome(ds)
    assert got["a.jpg"][0] == got["link.jpg"][0] == "used"
    assert got["broken.jpg"] == ("skipped", "broken symlink")
    assert "not a regular file" in got["fifo.jpg"][1]
    assert ds.by_name("a.jpg").content_id == ds.by_name("link.jpg").content_id


# ---- labels ------------------------------------------------------------------------------


def test_parse_labels():
    assert D.parse_labels(None) == ("none", None)
    assert D.parse_labels("none") == ("none", None)
    assert D.parse_labels(" Consecutive:4 ") == ("consecutive", 4)
    assert D.parse_labels("folders") == ("folders", None)
    assert D.parse_labels("csv") == ("csv", None)
    assert D.parse_labels("csv:gt/labels.csv") == ("csv", "gt/labels.csv")
    for bad in ("consecutive", "consecutive:0", "consecutive:x", "folders:x", "random", "k:4"):
        with pytest.raises(ValueError, match="consecutive:K"):
            D.parse_labels(bad)


@pytest.fixture
def sfbench(tmp_path):
    """10 files 0.jpg..9.jpg (not zero-padded: natural order matters) and a CSV."""
    for i in range(10):
        (tmp_path / f"{i}.jpg").write_bytes(C.jpeg_bytes(32, 24, seed=i))
    return tmp_path


def test_consecutive_labels(sfbench):
    ds = D.load_folder(sfbench, labels="consecutive:4")
    assert ds.labels == "consecutive:4" and ds.has_labels
    assert [i.name for i in ds.items] == [f"{i}.jpg" for i in range(10)]  # natural: 2 < 10
    assert ds.groups() == ["g000"] * 4 + ["g001"] * 4 + ["g002"] * 2
    assert any("multiple of 4" in n for n in ds.notes)


def test_folder_labels(tmp_path):
    for g in ("cats", "dogs/big"):
        (tmp_path / g).mkdir(parents=True)
        for i in range(2):
            (tmp_path / g / f"{i}.png").write_bytes(C.png_bytes(seed=i))
    (tmp_path / "root.png").write_bytes(C.png_bytes(seed=9))
    ds = D.load_folder(tmp_path, labels="folders")
    assert dict(zip(ds.names(), ds.groups())) == {
        "cats/0.png": "cats", "cats/1.png": "cats", "dogs/big/0.png": "dogs/big",
        "dogs/big/1.png": "dogs/big", "root.png": None}
    # a zip wrapping everything in one folder: the wrapper is not a group
    z = C.zip_bytes({"set/a/1.png": C.png_bytes(seed=1), "set/a/2.png": C.png_bytes(seed=2),
                     "set/3.png": C.png_bytes(seed=3)})
    dz = D.load_zip(z, labels="folders")
    assert dict(zip(dz.names(), dz.groups())) == {"set/3.png": None, "set/a/1.png": "a", "set/a/2.png": "a"}


def test_csv_labels(sfbench):
    (sfbench / "GROUND_TRUTH.csv").write_bytes(
        b"\xef\xbb\xbffile,group\n0.jpg,apple\n1.jpg,apple\nsub/2.jpg,pear\nghost.jpg,x\n")
    ds = D.load_folder(sfbench, labels="csv")
    assert ds.labels == "csv"
    assert ds.groups()[:4] == ["apple", "apple", "pear", None]  # 2.jpg matched by unique basename
    assert D.Skipped("GROUND_TRUTH.csv", D.LABELS_REASON) in ds.skipped
    assert ds.files_given == 11
    assert any("matched no image" in n for n in ds.notes)
    # relabel with uploaded CSV bytes, then back to none
    ds2 = D.apply_labels(ds, "csv", b"file;label\n9.jpg;z\n")
    assert ds2.groups()[-1] == "z" and ds2.groups()[0] is None and ds.groups()[0] == "apple"
    assert ds2.items[0].content_id == ds.items[0].content_id
    assert not D.apply_labels(ds2, "none").has_labels
    assert D.apply_labels(ds, "consecutive:5").groups() == ["g000"] * 5 + ["g001"] * 5


def test_csv_path_and_missing(sfbench, tmp_path_factory):
    other = tmp_path_factory.mktemp("gt") / "labels.csv"
    other.write_text("0.jpg,a\n1.jpg,a\n")  # no header
    ds = D.load_folder(sfbench, labels=f"csv:{other}")
    assert ds.groups()[:3] == ["a", "a", None]
    with pytest.raises(DatasetError, match="GROUND_TRUTH"):
        D.load_folder(sfbench, labels="csv")
    with pytest.raises(DatasetError, match="not found"):
        D.apply_labels(ds, "csv:nope.csv")


def test_csv_inside_zip():
    z = C.zip_bytes({"data/GROUND_TRUTH.csv": b"file,group\ndata/x/1.png,one\n2.png,two\n",
                     "data/x/1.png": C.png_bytes(seed=1), "data/2.png": C.png_bytes(seed=2)})
    ds = D.load_zip(z, labels="csv")
    assert dict(zip(ds.names(), ds.groups())) == {"data/2.png": "two", "data/x/1.png": "one"}
    assert D.Skipped("data/GROUND_TRUTH.csv", D.LABELS_REASON) in ds.skipped
    ds2 = D.apply_labels(D.load_zip(z), "csv")  # CSV bytes kept from the load
    assert ds2.groups() == ds.groups()


def test_by_name_and_item_api(sfbench):
    ds = D.load_folder(sfbench)
    it = ds.by_name("3.jpg")
    assert it.format == "JPEG" and (it.width, it.height) == (32, 24) and it.group is None
    with pytest.raises(KeyError):
        ds.by_name("nope.jpg")
    up = D.load_files([("x.jpg", it.read_bytes())]).items[0]
    assert up.content_id == it.content_id and up.source == up.data
