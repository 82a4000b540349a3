"""Attacks through what a visitor gives: zips, label CSVs, image headers, names (issue 9, items 3-5).

Every input is generated at test time and small (the largest, a 300,000-entry central directory, is 14 MB in
memory). Work bounds are asserted on operation counts (constructors never called, iterations, chunks parsed), not
on wall-clock time:

* zips: the entry limit is read from the (ZIP64) end record before ``zipfile`` parses anything, a lying end record
  is caught by a bounded header walk, 20,000 entries named ``a.jpg`` get unique names in linear work, and 4,096
  CSV entries of 1 MiB are counted, capped and mostly never inflated;
* label CSVs: size-capped, matched through an index (1M rows x 10k names iterate the names a constant number of
  times), same results as the former row-by-row scan;
* decoding: no GIF frame walk in ``probe``, PNG chunk and text floods refused before Pillow parses them, Pillow's
  process-wide pixel guard never changed while we open oversized headers;
* escaping: names shown as text in the app's Markdown and in plotly, CSV exports neutralise formulas, bidi and
  zero-width characters replaced in names; the CLI's JSON keeps names as raw JSON strings.
"""
from __future__ import annotations

import io
import json
import os
import posixpath
import random
import re
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import GifImagePlugin, Image, PngImagePlugin

import corpus as C
from core import datasets as D
from core import export, images
from core.datasets import label_csv as D_label_csv
from core.datasets import labels as D_labels
from core.datasets import names as D_names
from core.datasets import zipdir
from core.charts import agreement_heatmap, copies_bar
from core.charts.experiment_charts import accuracy_vs_time
from ui.text import md_escape

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
LINK_NAME = "[Re-login](https:&#47;&#47;evil.example).jpg"
HTML_NAME = '<a href="https:&#47;&#47;evil.example">x<&#47;a>.jpg'  # no "/": one file name, not folders
FORMULA_NAME = '=HYPERLINK("evil.example","Click").jpg'


# ------------------------------------------------------------------------------------------------ zip crafting
def _central_entry(name: bytes, offset: int = 0) -> bytes:
    """One central-directory header of an empty stored file (UTF-8 name flag set)."""
    return struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0x800, 0, 0, 0x21, 0, 0, 0,
                       len(name), 0, 0, 0, 0, 0, offset) + name


def _directory_only_zip(n: int, *, declared: int | None = None, zip64: bool = True) -> bytes:
    """A zip whose central directory holds ``n`` entries (all empty, all at offset 0, one local header) and whose
    end record declares ``declared`` (default ``n``). With ``zip64`` the count lives in a ZIP64 end record, as any
    archiver writes it past 65,535 entries."""
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0x800, 0, 0, 0x21, 0, 0, 0, 1, 0) + b"a"
    cd = _central_entry(b"a") * n
    declared = n if declared is None else declared
    cd_off, cd_size = len(local), len(cd)
    tail = b""
    if zip64:
        rec64_off = cd_off + cd_size
        tail += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, declared, declared, cd_size, cd_off)
        tail += struct.pack("<4sLQL", b"PK\x06\x07", 0, rec64_off, 1)
        tail += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        tail += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, declared, declared, cd_size, cd_off, 0)
    return local + cd + tail


@pytest.fixture(scope="module")
def zip_300k() -> bytes:
    return _directory_only_zip(300_000)


@pytest.fixture
def no_zipfile_parse(monkeypatch):
    """Fail the test if anything constructs a zipfile.ZipFile (i.e. parses the central directory)."""
    def refuse(*a, **k):
        raise AssertionError("zipfile.ZipFile was constructed: the directory was parsed before the limit check")

    monkeypatch.setattr(zipfile, "ZipFile", refuse)


def test_crafted_zip64_directory_is_what_zipfile_reads():
    # the crafting above is a real archive: zipfile agrees with the count (on a size zipfile parses quickly)
    data = _directory_only_zip(1_000)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert len(zf.infolist()) == 1_000
    assert zipdir.check_entry_count(io.BytesIO(data), 1_000) == 1_000
    d = zipdir.read_directory(io.BytesIO(data))
    assert d.declared_entries == 1_000 and d.size == 1_000 * 47


@pytest.mark.parametrize("make", [
    lambda: C.zip_bytes({f"d/{i}.jpg": b"x" for i in range(30)}),
    lambda: b"#!/bin/sh\nexit 0\n" * 50 + C.zip_bytes({f"{i}.png": b"x" for i in range(7)}),  # self-extractor
    lambda: _with_comment(C.zip_bytes({"a.jpg": b"x", "b.jpg": b"y"}), b"c" * 60_000),
], ids=["plain", "prepended", "comment"])
def test_entry_count_agrees_with_zipfile(make):
    data = make()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        n = len(zf.infolist())
    assert zipdir.check_entry_count(io.BytesIO(data), 10_000) == n
    with pytest.raises(zipdir.ZipEntryLimit):
        zipdir.check_entry_count(io.BytesIO(data), n - 1)


def _with_comment(data: bytes, comment: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.comment = comment
    return buf.getvalue()


def test_300k_entry_zip_refused_before_zipfile_parses(zip_300k, no_zipfile_parse, tmp_path):
    for source in (zip_300k, _write(tmp_path / "big.zip", zip_300k)):
        with pytest.raises(D.DatasetError) as e:
            D.load_zip(source)
        assert "300,000 entries exceed the 20,000-entry limit" in str(e.value)
        assert "DUPFINDER_MAX_ZIP_ENTRIES" in str(e.value)


def test_lying_end_record_stops_the_walk_at_the_limit(monkeypatch, no_zipfile_parse):
    # the end record says 10 entries; the directory holds 300,000: zipfile would parse all of them
    data = _directory_only_zip(300_000, declared=10, zip64=False)
    headers = []
    real_unpack = zipdir._CDH.unpack_from

    class CountingStruct:
        size = zipdir._CDH.size

        def unpack_from(self, buf, pos=0):
            headers.append(pos)
            return real_unpack(buf, pos)

    monkeypatch.setattr(zipdir, "_CDH", CountingStruct())
    with pytest.raises(D.DatasetError) as e:
        D.load_zip(data, limits=D.Limits(max_zip_entries=500))
    assert "more than 500 entries exceed the 500-entry limit" in str(e.value)
    assert len(headers) == 501  # limit + 1 headers read, not 300,000


def _extra_field_zip(n: int, extra_len: int) -> bytes:
    """``n`` entries whose central extra fields are ``extra_len`` bytes of empty 4-byte records."""
    extra = b"\x99\x99\x00\x00" * (extra_len // 4)
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0x800, 0, 0, 0x21, 0, 0, 0, 1, len(extra), 0,
                        0, 0, 0, 0) + b"a" + extra
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0x800, 0, 0, 0x21, 0, 0, 0, 1, 0) + b"a"
    cd = entry * n
    return local + cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(cd), len(local), 0)


def test_extra_field_flood_refused_before_zipfile_parses(no_zipfile_parse):
    # zipfile splits an extra field by re-slicing it: quadratic, ~0.1 s per 64 KiB field; 300 of them: ~30 s
    with pytest.raises(D.DatasetError, match="65,532-byte extra field.*possible zip bomb"):
        D.load_zip(_extra_field_zip(300, 65_532))
    # many fields just under the per-entry cap: the total parsing work is bounded too
    with pytest.raises(D.DatasetError, match="extra fields are too large to parse"):
        D.load_zip(_extra_field_zip(2_000, zipdir.MAX_EXTRA_FIELD_BYTES))


def test_ordinary_extra_fields_pass():
    data = _extra_field_zip(20_000, 100)  # 100 bytes each: more than real archives carry
    assert zipdir.check_entry_count(io.BytesIO(data), 20_000) == 20_000
    with zipfile.ZipFile(io.BytesIO(_extra_field_zip(5, 2_000))) as zf:  # and what zipfile reads, we count
        assert zipdir.check_entry_count(io.BytesIO(_extra_field_zip(5, 2_000)), 10) == len(zf.infolist())


def test_300k_entry_zip_refused_by_the_cli(zip_300k, tmp_path):
    path = _write(tmp_path / "big.zip", zip_300k)
    code, out, err = _cli("duplicates", path, "--method", "ahash", "--json")
    assert code == 1 and out == ""
    assert "300,000 entries exceed the 20,000-entry limit" in err


def test_20000_entries_named_a_jpg_get_unique_names_in_linear_work(monkeypatch):
    n = 20_000
    data = C.raw_zip([C.RawEntry(b"a.jpg", b"", deflate=False)] * n)
    probes = []

    class CountingNames(D_names.UniqueNames):
        def __contains__(self, name):
            probes.append(1)
            return super().__contains__(name)

    monkeypatch.setattr(D_names, "UniqueNames", CountingNames)
    ds = D.load_zip(data, limits=D.Limits(max_zip_entries=n, max_files=n))
    names = [s.file for s in ds.skipped]
    assert ds.files_given == n and len(ds.items) + len(ds.skipped) == n
    assert len(set(names)) == n and {"a.jpg", "a (2).jpg", f"a ({n}).jpg"} <= set(names)
    assert all(s.reason == "empty file" for s in ds.skipped)
    assert len(probes) <= 3 * n  # was n^2 / 2 = 200 M membership tests


def test_repeated_upload_names_are_unique_in_linear_work(monkeypatch):
    probes = []

    class CountingNames(D_names.UniqueNames):
        def __contains__(self, name):
            probes.append(1)
            return super().__contains__(name)

    monkeypatch.setattr(D_names, "UniqueNames", CountingNames)
    files = [("a.jpg", b"")] * 5_000 + [("a (3).jpg", b""), ("a.jpg", b"")]
    ds = D.load_files(files)
    names = [s.file for s in ds.skipped]
    assert len(set(names)) == len(files) and "a (3) (2).jpg" in names and "a (5001).jpg" in names
    assert len(probes) <= 3 * len(files)


# ------------------------------------------------------------------------------------------------ CSV entries
def _csv_flood(n: int = 4096, size: int = 1 << 20, ground_truth: bytes | None = None) -> bytes:
    """``n`` CSV entries of ``size`` bytes each, sharing one deflated stream (~1 KB each on disk)."""
    payload = (b"file,group\n" + b"x.jpg,g\n" * size)[:size]
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = co.compress(payload) + co.flush()
    crc = zlib.crc32(payload)
    entries = [C.RawEntry(f"csv/{i:04d}.csv".encode(), payload[:0], compressed=comp, crc=crc, declared_size=size)
               for i in range(n)]
    entries += [C.RawEntry(b"img/1.jpg", C.jpeg_bytes(seed=1)), C.RawEntry(b"img/2.jpg", C.jpeg_bytes(seed=2))]
    if ground_truth is not None:
        entries.append(C.RawEntry(b"GROUND_TRUTH.csv", ground_truth))
    return C.raw_zip(entries)


@pytest.fixture
def zip_opens(monkeypatch):
    """Names of the zip entries inflated (``ZipFile.open``)."""
    opened = []
    real_open = zipfile.ZipFile.open

    def counting_open(self, name, *a, **k):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    return opened


def test_4096_csv_entries_of_1_mib_declaring_4_gib_are_refused_unread(zip_opens):
    data = _csv_flood()
    assert len(data) < 8 << 20
    with pytest.raises(D.DatasetError, match="declares 4.0 GB uncompressed.*DUPFINDER_MAX_ZIP_UNCOMPRESSED"):
        D.load_zip(data)
    assert zip_opens == []


def test_4096_csv_entries_just_under_the_archive_limit_are_capped_and_mostly_never_inflated(zip_opens):
    # 1 MiB - 4 KiB each: 4 GiB - 16 MiB declared, under the archive-wide limit, so the CSV rules must hold
    data = _csv_flood(size=(1 << 20) - 4096, ground_truth=b"file,group\nimg/1.jpg,cats\nimg/2.jpg,cats\n")
    opened = zip_opens
    ds = D.load_zip(data, labels="csv")
    cap = D.Limits().max_csv_bytes
    csvs = [s for s in ds.skipped if s.file.endswith(".csv")]
    assert ds.files_given == 4096 + 3 and len(ds.items) == 2 and len(ds.items) + len(ds.skipped) == ds.files_given
    kept = sum(len(v) for k, v in ds.label_files.items() if not k.lower().endswith("ground_truth.csv"))
    assert kept <= cap
    assert len(opened) <= cap // (1 << 20) + 3  # the CSVs kept, the images, the labels; the rest never inflated
    not_read = [s for s in csvs if "not read" in s.reason]
    assert len(not_read) >= 4096 - cap // (1 << 20) and all("DUPFINDER_MAX_CSV_BYTES" in s.reason for s in not_read)
    # a flood of other CSVs does not push the labels file out
    assert ds.groups() == ["cats", "cats"]


def test_csv_entries_count_toward_the_file_limit_and_have_their_own_cap():
    big = b"file,group\n" + b"a.jpg,g\n" * 40_000  # ~320 KB
    data = C.zip_bytes([("big.csv", big)] + [(f"s{i}.csv", b"file,group\n") for i in range(9)]
                       + [("p.jpg", C.jpeg_bytes())])
    ds = D.load_zip(data, limits=D.Limits(max_files=5, max_csv_bytes=100_000))
    reasons = {s.file: s.reason for s in ds.skipped}
    assert "CSV file too large" in reasons["big.csv"] and "DUPFINDER_MAX_CSV_BYTES" in reasons["big.csv"]
    assert sum("5-file limit" in r for r in reasons.values()) >= 5
    assert ds.files_given == 11 and len(ds.items) + len(ds.skipped) == 11


# ------------------------------------------------------------------------------------------------ label CSVs
class _CountingNames(list):
    """A list that counts full iterations (a scan of the names per CSV row would count once per row)."""

    iterations = 0

    def __iter__(self):
        type(self).iterations += 1
        return super().__iter__()


def test_label_csv_1m_rows_against_10k_names_iterates_names_a_constant_number_of_times():
    names = _CountingNames(f"set{i % 7}/img{i:05d}.jpg" for i in range(10_000))
    rows = [f"img{i % 12_000:05d}.jpg,g{i % 101}" for i in range(1_000_000)]  # basename rows, 1/6 match nothing
    data = ("file,group\n" + "\n".join(rows)).encode()
    assert len(data) <= D.Limits().max_csv_bytes
    _CountingNames.iterations = 0
    mapping, notes = D_labels.csv_groups(names, data)
    assert _CountingNames.iterations <= 5
    last = max(range(10, 1_000_000, 12_000))  # the last row naming img00010.jpg wins
    assert len(mapping) == 10_000 and mapping["set3/img00010.jpg"] == f"g{last % 101}"
    assert any("matched no image" in n for n in notes)


def _reference_csv_groups(names, data):
    """The former row-by-row matching (exact path, else unique path suffix, else unique basename), as the oracle."""
    rows = D_label_csv.read_rows(data)
    exact = set(names)
    by_base = {}
    for n in names:
        by_base.setdefault(posixpath.basename(n), []).append(n)
    out = {}
    for f, g in rows:
        if f in exact:
            out[f] = g
            continue
        suffix = [n for n in names if n.endswith("/" + f)]
        if len(suffix) == 1:
            out[suffix[0]] = g
            continue
        cands = by_base.get(posixpath.basename(f), [])
        if len(cands) == 1:
            out[cands[0]] = g
    return out


@pytest.mark.parametrize("seed", range(5))
def test_label_matching_by_index_gives_the_former_results(seed):
    rnd = random.Random(seed)
    parts = ["a", "b", "c", "a b", "é"]
    names = sorted({"/".join(rnd.choice(parts) for _ in range(rnd.randint(0, 3)) if True) + f"/{rnd.randint(0, 9)}.jpg"
                    for _ in range(80)})
    names = [n.lstrip("/") for n in names]
    rows = []
    for _ in range(120):
        n = rnd.choice(names + ["zz/1.jpg", "9.jpg"])
        comps = n.split("/")
        rows.append(("/".join(comps[rnd.randint(0, len(comps) - 1):]), f"g{rnd.randint(0, 5)}"))
    data = ("file,group\n" + "\n".join(f"{f},{g}" for f, g in rows)).encode()
    got, _ = D_labels.csv_groups(names, data)
    assert got == _reference_csv_groups(names, data)


def test_label_csv_over_the_cap_is_refused_with_a_clear_message(monkeypatch):
    ds = D.load_files([("a.jpg", C.jpeg_bytes())])
    monkeypatch.setenv("DUPFINDER_MAX_CSV_BYTES", "1K")
    with pytest.raises(D.DatasetError) as e:
        D.apply_labels(ds, "csv", csv_bytes=b"file,group\n" + b"a.jpg,g\n" * 500)
    assert "labels CSV too large" in str(e.value) and "DUPFINDER_MAX_CSV_BYTES" in str(e.value)


# ------------------------------------------------------------------------------------------------ decoding
def _gif_with_frames(n: int) -> bytes:
    """An n-frame 1x1 GIF, written by hand (one image descriptor + 1 LZW block per frame)."""
    head = b"GIF89a" + struct.pack("<2H3B", 1, 1, 0x80, 0, 0) + b"\xff\x00\x00\x00\x00\x00"
    frame = b"\x21\xf9\x04\x00\x01\x00\x00\x00" + b"," + struct.pack("<4HB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * n + b";"


def test_gif_with_many_frames_is_probed_without_walking_them(monkeypatch):
    data = _gif_with_frames(50_000)
    assert Image.open(io.BytesIO(_gif_with_frames(7))).n_frames == 7  # the crafting is a real animated GIF
    seeks = []
    real_seek = GifImagePlugin.GifImageFile._seek

    def counting_seek(self, frame, *a, **k):
        seeks.append(frame)
        return real_seek(self, frame, *a, **k)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "_seek", counting_seek)
    info = images.probe(data, verify=True)
    assert (info.format, info.width, info.height, info.frames) == ("GIF", 1, 1, None)
    ds = D.load_files([("anim.gif", data)])
    assert [it.name for it in ds.items] == ["anim.gif"]
    assert max(seeks) == 0  # only frame 0 was ever parsed
    seeks.clear()
    assert images.probe(_gif_with_frames(30), count_frames=True).frames == 30


def _png(*chunks: bytes) -> bytes:
    ihdr = C.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = C.png_chunk(b"IDAT", zlib.compress(b"\x00\x80"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + idat + C.png_chunk(b"IEND", b"")


@pytest.fixture
def pillow_png_chunks(monkeypatch):
    """Counts the chunks Pillow's PNG parser handles."""
    calls = []
    real = PngImagePlugin.PngStream.call

    def counting(self, cid, pos, length):
        calls.append(cid)
        return real(self, cid, pos, length)

    monkeypatch.setattr(PngImagePlugin.PngStream, "call", counting)
    return calls


def test_png_metadata_chunk_flood_refused_before_pillow_parses_it(pillow_png_chunks):
    data = _png(*[C.png_chunk(b"tEXt", b"k\x00v")] * 100_000)
    with pytest.raises(images.ImageError) as e:
        images.probe(data, verify=True)
    assert "metadata chunks" in e.value.reason and "chunk flood" in e.value.reason
    assert pillow_png_chunks == []
    ds = D.load_files([("flood.png", data), ("ok.png", C.png_bytes())])
    assert [it.name for it in ds.items] == ["ok.png"] and "chunk flood" in ds.skipped[0].reason


def test_png_empty_data_chunk_flood_refused(pillow_png_chunks):
    flood = C.png_chunk(b"IDAT", b"") * 200_000  # 2.4 MB of empty image-data chunks
    data = _png(flood)
    with pytest.raises(images.ImageError) as e:
        images.open_image(data)
    assert "image-data chunks" in e.value.reason and pillow_png_chunks == []


def test_png_text_memory_bounded():
    big_text = C.png_chunk(b"tEXt", b"comment\x00" + b"x" * (1 << 20))
    with pytest.raises(images.ImageError) as e:
        images.probe(_png(*[big_text] * 10))  # 10 MiB of text: over the 8 MiB bound
    assert "text metadata" in e.value.reason


def test_png_with_many_ordinary_data_chunks_still_decodes():
    raw = zlib.compress(b"".join(b"\x00" + bytes(range(64)) * 3 for _ in range(64)))
    idats = [C.png_chunk(b"IDAT", raw[i:i + 16]) for i in range(0, len(raw), 16)]
    ihdr = C.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(idats) + C.png_chunk(b"IEND", b"")
    assert len(idats) > 10
    assert images.open_image(data).size == (64, 64)


def test_pixel_guard_is_never_toggled_while_oversized_headers_are_opened():
    limit = Image.MAX_IMAGE_PIXELS
    bomb = C.bomb_png_bytes()  # declares 50,000 x 50,000: above Pillow's own limit
    seen = set()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.add(Image.MAX_IMAGE_PIXELS)

    def open_many():
        for _ in range(200):
            assert images.probe(bomb, max_pixels=None).width == 50_000
            with pytest.raises(images.ImageError, match="image too large"):
                images.probe(bomb)

    watcher = threading.Thread(target=watch)
    workers = [threading.Thread(target=open_many) for _ in range(2)]
    watcher.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    watcher.join()
    assert seen == {limit}
    with pytest.raises(Image.DecompressionBombError):  # Pillow's own guard still holds for everyone else
        Image.open(io.BytesIO(bomb))


# ------------------------------------------------------------------------------------------------ names
def test_bidi_and_zero_width_characters_are_replaced_in_names():
    files = [("photo\u202egpj.exe", C.jpeg_bytes(seed=1)), ("a\u200bb.jpg", C.jpeg_bytes(seed=2)),
             ("line\u2028break.jpg", C.jpeg_bytes(seed=3))]
    ds = D.load_zip(C.zip_bytes(files), name="set\u202e")
    assert sorted(ds.names()) == ["a\ufffdb.jpg", "line\ufffdbreak.jpg", "photo\ufffdgpj.exe"]
    assert ds.name == "set\ufffd"
    assert D.load_files(files).names() == sorted(ds.names(), key=D.natural_key)


def test_cli_json_keeps_names_as_raw_json_strings(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    pic = C.jpeg_bytes(seed=4)
    for name in (LINK_NAME, FORMULA_NAME, "copy.jpg", "rtl\u202egpj.jpg"):
        (folder / name).write_bytes(pic)
    code, out, err = _cli("duplicates", folder, "--method", "ahash", "--json", "--no-cache")
    assert code == 0, err
    doc = json.loads(out)
    members = set(doc["groups"][0]["members"])
    assert {LINK_NAME, FORMULA_NAME, "copy.jpg", "rtl\ufffdgpj.jpg"} == members  # JSON is safe: no escaping


def test_cli_experiment_csv_neutralises_formula_names(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / FORMULA_NAME).write_bytes(C.jpeg_bytes(seed=5))
    out = tmp_path / "sweep.csv"
    code, _, err = _cli("experiment", "robustness", folder, "--methods", "ahash", "--out", out, "--no-cache")
    assert code == 0, err
    df = pd.read_csv(out)
    col = next(c for c in df.columns if df[c].astype(str).str.contains("HYPERLINK").any())
    assert set(df[col]) == {"'" + FORMULA_NAME}
    assert pd.api.types.is_numeric_dtype(df["strength"])  # numbers stay numbers


def test_cli_accounts_for_every_hostile_file_with_a_reason(tmp_path, monkeypatch):
    folder = tmp_path / "mixed"
    folder.mkdir()
    files = {
        "flood.png": _png(*[C.png_chunk(b"tEXt", b"k\x00v")] * 5_000),
        "idat-flood.png": _png(C.png_chunk(b"IDAT", b"") * 20_000),
        "anim.gif": _gif_with_frames(20_000),
        "big.csv": b"file,group\n" + b"a.jpg,g\n" * 2_000,
        "notes.csv": b"file,group\n",
        "rtl\u202egpj.jpg": C.jpeg_bytes(seed=10),
        "plain.jpg": C.jpeg_bytes(seed=11),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    monkeypatch.setenv("DUPFINDER_MAX_CSV_BYTES", "4K")
    code, out, err = _cli("duplicates", folder, "--method", "ahash", "--json", "--no-cache")
    assert code == 0, err
    doc = json.loads(out)
    reasons = {s["file"]: s["reason"] for s in doc["skipped"]}
    assert doc["images"] + len(doc["skipped"]) == len(files)  # used + skipped = given
    assert "metadata chunks" in reasons["flood.png"] and "image-data chunks" in reasons["idat-flood.png"]
    assert "CSV file too large" in reasons["big.csv"] and "not an image (CSV file)" == reasons["notes.csv"]
    assert "rtl\ufffdgpj.jpg" in doc["copies"] and "anim.gif" in doc["copies"]


# ------------------------------------------------------------------------------------------------ CSV exports
def test_groups_csv_neutralises_formulas_in_text_not_numbers():
    df = pd.DataFrame({"group_id": [1, 1, 2, 2, 3], "name": [FORMULA_NAME, "+1.jpg", "-2.jpg", "@x.jpg", "\tq.jpg"],
                       "bytes": [-5, 10, 20, 30, 40], "score": [-0.5, 0.1, 0.2, 0.3, 0.4]})
    out = pd.read_csv(io.BytesIO(export.frame_csv(df)), keep_default_na=False)
    assert list(out["name"]) == ["'" + FORMULA_NAME, "'+1.jpg", "'-2.jpg", "'@x.jpg", "'\tq.jpg"]
    assert list(out["bytes"]) == [-5, 10, 20, 30, 40] and list(out["score"]) == [-0.5, 0.1, 0.2, 0.3, 0.4]

    from core.search import find_duplicates, item_info
    from core.encoding import encode_dataset
    from core.methods import get

    ds = D.load_files([(FORMULA_NAME, C.jpeg_bytes(seed=6)), ("=b.jpg", C.jpeg_bytes(seed=6)),
                       ("c.jpg", C.jpeg_bytes(seed=7))])
    m = get("ahash")
    dup = find_duplicates(encode_dataset(ds, m, cache=False), m.threshold_spec().default, info=item_info(ds.items))
    groups = pd.read_csv(io.BytesIO(export.groups_csv(dup)), keep_default_na=False)
    assert {"'" + FORMULA_NAME, "'=b.jpg"} <= set(groups["name"])
    assert pd.api.types.is_integer_dtype(groups["group_id"]) and pd.api.types.is_integer_dtype(groups["bytes"])


# ------------------------------------------------------------------------------------------------ plotly
def test_chart_builders_escape_names_in_labels_and_hover_text():
    copies = pd.DataFrame({"name": [HTML_NAME, "b.jpg", "%{x}.jpg"], "copies": [2, 1, 1]})
    fig = copies_bar(copies)
    bar = fig.data[0]
    # tick labels are cut in the middle (issue 11), the hover text keeps the whole name: both escaped
    assert '&lt;a href="https:&amp;#47;&amp;#47;evil.example"&gt;x&lt;&amp;#47;a&gt;.jpg' in list(bar.customdata)
    assert any(str(v).startswith("&lt;a href=") for v in bar.y)
    assert all("<a" not in str(v) for v in list(bar.y) + list(bar.customdata))
    assert "%&#123;x&#125;.jpg" in list(bar.customdata)  # cannot inject a template variable
    heat = agreement_heatmap(pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["<b>m</b>", "n"], columns=["<b>m</b>", "n"]))
    assert list(heat.data[0].x) == ["&lt;b&gt;m&lt;/b&gt;", "n"]
    table = pd.DataFrame({"method": ["ahash"], "accuracy": [0.5], "seconds_per_pair_with_encoding": [0.01]})
    acc = accuracy_vs_time(table, ours_label=f"ours ({HTML_NAME})")
    spec = acc.to_json()
    assert "<a href" not in spec and "&lt;a href" in spec


# ------------------------------------------------------------------------------------------------ the app
def _hostile_zip() -> bytes:
    cat = C.jpeg_bytes(seed=8)
    files = [(LINK_NAME, cat), (HTML_NAME, cat), (FORMULA_NAME, cat), ("plain.jpg", C.jpeg_bytes(seed=9)),
             ("GROUND_TRUTH.csv", ("file,group\n" + "\n".join(f'"{n}",[g](https://evil.example)'
                                                                for n in (LINK_NAME, HTML_NAME, FORMULA_NAME))
                                   + "\nplain.jpg,other\n").encode())]
    return C.zip_bytes(files)


def _markdown_texts(at) -> list[str]:
    """Every Markdown source Streamlit will render: markdown/caption bodies, their tooltips, buttons, errors."""
    out = []
    for el in list(at.markdown) + list(at.caption) + list(at.button) + list(at.error) + list(at.warning):
        out.append(str(getattr(el, "value", "")))
        out += [str(getattr(el.proto, f, "")) for f in ("help", "label", "body") if hasattr(el.proto, f)]
    return out


@pytest.mark.slow
def test_app_shows_hostile_names_as_text_in_markdown_and_plotly():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.sidebar.radio(key="ds_source").set_value("Upload images").run()
    at.sidebar.file_uploader(key="ds_upload").set_value([("[x](https:&#47;&#47;evil.example).zip", _hostile_zip(),
                                                          "application/zip")]).run()
    assert not at.exception, at.exception
    at.session_state["dup_copies_open"] = True  # the copies chart is built only while its expander is open
    for page in ("pages/search.py", "pages/duplicates.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        texts = _markdown_texts(at)
        joined = "\n".join(texts)
        assert "](https" not in joined.replace("\\]\\(https", "")  # no link syntax survives unescaped
        assert not re.search(r"(?<!\\)<a", joined)  # no HTML either (escaped: "\<a")
        assert md_escape("[x](https:&#47;&#47;evil.example)") in joined  # the dataset name, as text
        if page == "pages/duplicates.py":
            assert md_escape("[g](https://evil.example)") in joined  # a CSV group label, as text
            assert md_escape(HTML_NAME[:20]) in joined
            specs = [el.proto.spec for el in at.get("plotly_chart")]
            assert specs and not any("<a href" in s for s in specs)
            assert any("&lt;a href" in s for s in specs)
        else:
            assert md_escape(LINK_NAME[:20]) in joined  # gallery captions / tooltips carry the names, escaped


def test_app_refuses_an_oversized_labels_csv_upload(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DUPFINDER_MAX_CSV_BYTES", "2K")
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.sidebar.radio(key="ds_source").set_value("Upload images").run()
    at.sidebar.file_uploader(key="ds_upload").set_value([("a.jpg", C.jpeg_bytes(seed=1), "image/jpeg"),
                                                         ("b.jpg", C.jpeg_bytes(seed=2), "image/jpeg")]).run()
    at.sidebar.selectbox(key="ds_labels").set_value("csv").run()
    at.sidebar.file_uploader(key="ds_csv").set_value([("labels.csv", b"file,group\n" + b"a.jpg,g\n" * 1000,
                                                       "text/csv")]).run()
    assert not at.exception, at.exception
    assert any("Labels CSV refused" in e.value and "DUPFINDER_MAX_CSV_BYTES" in e.value for e in at.sidebar.error)


# ------------------------------------------------------------------------------------------------ helpers
def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _cli(*args) -> tuple[int, str, str]:
    env = dict(os.environ, DUPFINDER_CACHE_DIR=os.environ.get("DUPFINDER_CACHE_DIR", "/tmp/dupfinder-test-cache"))
    p = subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=300)
    return p.returncode, p.stdout, p.stderr
