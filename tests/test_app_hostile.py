"""The hostile-file corpus through the app (issue 6.1 / 6.2 / 6.4 acceptance), headless with AppTest.

* The corpus zip (``tests/corpus.py``: zero-byte, truncated, fake images, bomb, CMYK, 16-bit, animated, EXIF,
  HEIC, multi-page TIFF, odd names, hidden files, zip traversal / symlink / nested entries) is uploaded through
  the sidebar; every page runs without an exception, and the "used + skipped = given" line and the skipped table
  match :func:`corpus.corpus_zip_expected` exactly (file names and reasons).
* The same files uploaded one by one (not zipped, as a browser sends them: base names only).
* Nothing is written to a temporary folder while uploads are read and searched (``tempfile.tempdir`` redirected to
  an empty folder that must stay empty), and nothing in ``ui/``, ``pages/`` or ``app.py`` writes files.
* The on-disk feature cache holds features only: three columns (content hash, method key, value), values are
  small numeric ``.npy`` arrays, no file names, no image bytes; the folder-load stat memo (``file_stats``) never
  receives an uploaded file.
* Two sessions with different uploads never see each other's files.
"""
from __future__ import annotations

import io
import re
import sqlite3
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import corpus as C
import helpers as H

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 240
PAGES = ["pages/home.py", "pages/search.py", "pages/duplicates.py", "pages/compare.py", "pages/threshold.py",
         "pages/experiments.py", "pages/robustness.py"]
ACCOUNT_RE = re.compile(r"\*\*(\d+)\*\* images used \+ \*\*(\d+)\*\* skipped = \*\*(\d+)\*\* files given")


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for var in ("DUPFINDER_LOCAL", "DUPFINDER_ALLOW_FOLDER"):  # hosted mode
        monkeypatch.delenv(var, raising=False)


def _upload(files: list[tuple[str, bytes, str]], page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page).run()
    at.sidebar.radio(key="ds_source").set_value("Upload images").run()
    at.sidebar.file_uploader(key="ds_upload").set_value(files).run()
    assert not at.exception, at.exception
    return at


def _accounting(at) -> tuple[int, int, int, dict[str, str]]:
    """(used, skipped, given, {file: reason}) from the page's show_skipped expander and table (opened: its table is
    only built while it is open)."""
    at.session_state["skipped_open"] = True
    at.run()
    labels = [e.label for e in at.expander] + [c.value for c in at.caption]
    found = [ACCOUNT_RE.search(s) for s in labels]
    found = [m for m in found if m]
    assert found, f"no 'used + skipped = given' line on the page: {labels}"
    used, skipped, given = map(int, found[-1].groups())
    tables = [d.value for d in at.dataframe if list(getattr(d.value, "columns", [])) == ["file", "reason"]]
    rows = dict(zip(tables[-1]["file"], tables[-1]["reason"])) if tables else {}
    return used, skipped, given, rows


def _check_against(expected: dict, used: int, skipped: int, given: int, rows: dict[str, str]) -> None:
    exp_skip = {n: e.reason for n, e in expected.items() if e.status == C.SKIP}
    assert given == len(expected), f"{given} files given, the corpus has {len(expected)}"
    assert used + skipped == given
    assert skipped == len(exp_skip), f"skipped {skipped}, expected {len(exp_skip)}"
    assert set(rows) == set(exp_skip), (f"unexpectedly skipped: {sorted(set(rows) - set(exp_skip))}; "
                                        f"missing from the skipped list: {sorted(set(exp_skip) - set(rows))}")
    wrong = {n: (rows[n], r) for n, r in exp_skip.items() if r.lower() not in rows[n].lower()}
    assert not wrong, f"reasons (got, expected substring): {wrong}"


@pytest.mark.slow
def test_corpus_zip_every_page_and_skipped_list(tmp_path, monkeypatch):
    # no temporary files: every tempfile.* call of the app (and of the libraries it calls) lands here
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    data = C.build_corpus_zip()
    expected = C.corpus_zip_expected()
    at = _upload([("corpus.zip", data, "application/zip")], "pages/search.py")
    side = "\n".join(c.value for c in at.sidebar.caption)
    n_used = sum(e.status == C.USED for e in expected.values())
    n_skip = len(expected) - n_used
    assert f"**{n_used}** images · {n_skip} skipped" in side, side
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, f"{page}: {at.exception}"
        if page in ("pages/search.py", "pages/duplicates.py", "pages/threshold.py"):
            _check_against(expected, *_accounting(at))
    # the search page with a method that decodes every pixel (not only headers) also accounts for everything
    at.switch_page("pages/search.py").run()
    at.sidebar.selectbox(key="method").set_value("euclidean").run()
    assert not at.exception, at.exception
    _check_against(expected, *_accounting(at))
    leftovers = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
    assert not leftovers, f"the app wrote temporary files: {leftovers}"


def _individual_files() -> tuple[list[tuple[str, bytes, str]], dict]:
    """The folder corpus uploaded file by file, as a browser sends them (base names only)."""
    files, expected, taken = [], {}, set()
    for name, data, exp in C.corpus_files():
        base = name.rsplit("/", 1)[-1]
        shown = base
        k = 2
        while shown in taken:  # the loader's rule for a repeated name: "a (2).jpg"
            stem, dot, ext = base.rpartition(".")
            shown = f"{stem} ({k}).{ext}" if dot else f"{base} ({k})"
            k += 1
        taken.add(shown)
        if exp.status == C.SKIP and "hidden" in exp.reason and not base.startswith(".") and base not in (
                "Thumbs.db", "desktop.ini"):
            exp = C.Expect(C.USED)  # hidden only because of its folder (".hidden/photo.jpg"): a plain upload
        files.append((base, data, "application/octet-stream"))
        expected[shown] = exp
    return files, expected


@pytest.mark.slow
def test_corpus_individual_uploads(tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    files, expected = _individual_files()
    at = _upload(files, "pages/search.py")
    for page in ("pages/search.py", "pages/duplicates.py", "pages/threshold.py"):
        at.switch_page(page).run()
        assert not at.exception, f"{page}: {at.exception}"
        _check_against(expected, *_accounting(at))
    assert not list(tmp.rglob("*")), "the app wrote temporary files"


def test_ui_code_never_writes_files():
    """Uploads stay in memory: no file writes, temp files or zip extraction in the UI layer."""
    pat = re.compile(r"open\([^)]*['\"][wax]b?\+?['\"]|NamedTemporaryFile|mkstemp|mkdtemp|TemporaryDirectory|"
                     r"\.extractall\(|\.extract\(|write_bytes\(|write_text\(|shutil\.copy")
    offenders = []
    for path in [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "pages").glob("*.py")),
                 *sorted((ROOT / "core" / "datasets").glob("*.py"))]:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pat.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, "file writes in the upload path:\n" + "\n".join(offenders)


def _cache_file() -> Path:
    from core import cache

    return cache.cache_dir() / "features.sqlite"


@pytest.mark.slow
def test_feature_cache_holds_features_only(tmp_path, monkeypatch):
    # a private cache: under xdist the shared one also holds other tests' *folder* loads of the same corpus names
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path / "cache"))
    import streamlit as st

    st.cache_resource.clear()  # the in-memory feature store would serve an earlier test's encode: nothing written
    names = [n for n, _, _ in C.corpus_files()]
    at = _upload([("corpus.zip", C.build_corpus_zip(), "application/zip")], "pages/search.py")
    for method in ("ahash", "euclidean"):  # a hash (bits) and raw pixels (the method closest to storing pixels)
        at.sidebar.selectbox(key="method").set_value(method).run()
        assert not at.exception, at.exception
    path = _cache_file()
    assert path.exists(), f"no feature cache at {path}"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "features" in tables and set(tables) <= {"features", "file_stats"}, tables
        cols = [r[1] for r in db.execute("PRAGMA table_info(features)")]
        # last_used / nbytes: the size cap's LRU bookkeeping (integers, nothing a visitor sent)
        assert cols == ["content_id", "method_key", "value", "last_used", "nbytes"], cols
        assert db.execute("SELECT COUNT(*) FROM features WHERE typeof(last_used) != 'integer' "
                          "OR typeof(nbytes) != 'integer'").fetchone()[0] == 0
        rows = db.execute("SELECT content_id, method_key, value FROM features").fetchall()
        # file_stats memoises os.stat of *folder* loads (local paths); an upload must never appear in it
        paths = [bytes(r[0]) for r in db.execute("SELECT path FROM file_stats")] if "file_stats" in tables else []
    assert rows
    uploaded = [n.encode() for n in names if len(n) > 12]
    assert not [p for p in paths if any(p.endswith(u) for u in uploaded)], "uploaded file names in file_stats"
    leaked = [n.rsplit("/", 1)[-1].encode() for n in names if len(n.rsplit("/", 1)[-1]) > 6]
    for cid, key, blob in rows:
        assert re.fullmatch(r"[0-9a-f]{64}", cid), f"content_id is not a sha256: {cid!r}"
        assert not any(n.decode() in key for n in leaked), f"file name in the method key {key!r}"
        assert blob[:6] == b"\x93NUMPY", "value is not an .npy array"
        arr = np.load(io.BytesIO(blob), allow_pickle=False)
        assert arr.dtype.kind in "fiub" and arr.ndim <= 2, (arr.dtype, arr.shape)
        assert arr.nbytes <= 64 * 1024, f"{arr.nbytes} bytes of features for one image: more than a feature row"
        assert not any(n in blob for n in leaked), "a file name inside a cached value"
        for magic in (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"II*\x00"):
            assert magic not in blob[128:], "image file bytes inside a cached value"


def _zip_of(prefix: str, seeds: range) -> tuple[bytes, list[str]]:
    buf, names = io.BytesIO(), []
    with zipfile.ZipFile(buf, "w") as zf:
        for s in seeds:
            n = f"{prefix}_{s:02d}.jpg"
            zf.writestr(n, C.jpeg_bytes(160, 120, seed=s))
            names.append(n)
    return buf.getvalue(), names


def _names_on_page(at) -> str:
    """The page's Markdown texts as displayed: names are shown backslash-escaped (ui.text.md_escape)."""
    text = "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                     + [str(getattr(b, "label", "")) for b in at.button])
    return H.shown(text)


def test_two_sessions_do_not_see_each_other():
    # the same pictures in both uploads (seeds 3..5 shared): content-keyed caches must still not cross sessions
    za, na = _zip_of("alice", range(0, 6))
    zb, nb = _zip_of("bob", range(3, 9))
    a = _upload([("alice.zip", za, "application/zip")], "pages/search.py")
    b = _upload([("bob.zip", zb, "application/zip")], "pages/search.py")
    for at, mine, theirs in ((a, "alice", "bob"), (b, "bob", "alice"), (a, "alice", "bob")):
        at.run()
        assert not at.exception, at.exception
        text = _names_on_page(at)
        assert f"{mine}_" in text and f"{theirs}_" not in text, f"{mine}'s page shows {theirs}'s files"
        assert at.session_state["_dataset"].names() == (na if mine == "alice" else nb)
    for page in ("pages/duplicates.py", "pages/compare.py"):
        for at, theirs in ((a, "bob"), (b, "alice")):
            at.switch_page(page).run()
            assert not at.exception, at.exception
            assert f"{theirs}_" not in _names_on_page(at) + "\n".join(
                str(d.value.to_dict()) for d in at.dataframe), f"{page} leaks {theirs}'s files"


HOSTILE_ZIPS = {  # builder, expected: "refused" (the whole archive, with a message) or "loaded"
    "traversal": (C.zip_traversal, "loaded"),
    "symlink": (C.zip_symlink, "loaded"),
    "nested": (C.zip_nested, "loaded"),
    "encrypted": (C.zip_encrypted, "loaded"),
    "names": (C.zip_names, "loaded"),
    "ratio_bomb": (C.zip_ratio_bomb, "loaded"),
    "lying_size": (C.zip_lying_size, "loaded"),
    "bomb_5GiB_declared": (C.zip_bomb, "refused"),
    "not_a_zip": (lambda: b"PK\x03\x04" + b"\x00" * 100, "refused"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ZIPS))
def test_hostile_zip_through_the_sidebar(name):
    build, outcome = HOSTILE_ZIPS[name]
    data = build()
    at = _upload([(f"{name}.zip", data, "application/zip")], "pages/search.py")
    errors = [e.value for e in at.sidebar.error] + [e.value for e in at.error]
    if outcome == "refused":
        assert any("Upload refused" in e for e in errors), f"no refusal message: {errors}"
        return
    from core import datasets as D

    ds = D.load_zip(data)
    used, skipped, given, rows = _accounting(at)
    assert (used, skipped, given) == (len(ds.items), len(ds.skipped), ds.files_given)
    assert used + skipped == given
    assert set(rows) == {s.file for s in ds.skipped}
    for n in [*rows, *at.session_state["_dataset"].names()]:
        assert not n.startswith("/") and ".." not in n.split("/"), f"unsafe name shown: {n!r}"
