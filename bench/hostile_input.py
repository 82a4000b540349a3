"""Hostile-input benchmark (issue 9): how long each attack on the loaders costs now, against the former code path.

Each row is measured in one run, ours and the former path on the same bytes, so the ratio is the robust figure
(the machine is shared). The inputs are generated in memory:

* a zip whose ZIP64 end record declares 300,000 entries (a real 14 MB central directory): refusal by
  :func:`core.datasets.load_zip` vs ``zipfile.ZipFile`` parsing the directory (what happened before the count);
* the same directory behind an end record that lies (says 10): the bounded header walk;
* 100 entries with 64 KiB central extra fields of empty records (6.5 MB): refusal vs ``zipfile``'s quadratic
  splitting of the fields;
* 20,000 entries named ``a.jpg``: unique names with the per-name counter vs the former restart-from-2 search
  (the former is measured at 5,000 names: it is quadratic);
* a labels CSV of 1M rows against 10k names: the index vs the former scan of every name per row (the former is
  measured on the first 2,000 rows and scaled: it is linear in rows);
* a GIF of 50,000 frames: ``probe`` vs ``probe(count_frames=True)`` (the former always counted);
* a PNG with 100,000 metadata chunks: refusal vs Pillow parsing the chunks (``Image.open``).

    python bench/hostile_input.py      # ~1-2 min on 2 cores; writes the hostile-input section of bench/RESULTS.md
"""
from __future__ import annotations

import argparse
import io
import os
import posixpath
import struct
import sys
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import results_file  # noqa: E402 - bench/results_file.py

from PIL import Image  # noqa: E402

from core import datasets as D  # noqa: E402
from core.datasets import label_csv as D_label_csv  # noqa: E402
from core.datasets import labels as D_labels  # noqa: E402
from core.datasets import names as D_names  # noqa: E402
from core import images  # noqa: E402

START, END = "<!-- hostile-input:start -->", "<!-- hostile-input:end -->"


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _directory_zip(n: int, declared: int | None = None, zip64: bool = True) -> bytes:
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0x800, 0, 0, 0x21, 0, 0, 0, 1, 0) + b"a"
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0x800, 0, 0, 0x21, 0, 0, 0, 1, 0, 0, 0, 0,
                        0, 0) + b"a"
    cd = entry * n
    declared = n if declared is None else declared
    if zip64:
        tail = (struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, declared, declared, len(cd), len(local))
                + struct.pack("<4sLQL", b"PK\x06\x07", 0, len(local) + len(cd), 1)
                + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, declared, declared, len(cd), len(local), 0)
    return local + cd + tail


def _extra_field_zip(n: int, extra_len: int) -> bytes:
    extra = b"\x99\x99\x00\x00" * (extra_len // 4)
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0x800, 0, 0, 0x21, 0, 0, 0, 1, len(extra), 0,
                        0, 0, 0, 0) + b"a" + extra
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0x800, 0, 0, 0x21, 0, 0, 0, 1, 0) + b"a"
    cd = entry * n
    return local + cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(cd), len(local), 0)


def _refuse(data: bytes) -> None:
    try:
        D.load_zip(data)
    except D.DatasetError:
        return
    raise AssertionError("not refused")


def _parse_with_zipfile(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert len(zf.infolist()) > 0


def _former_unique(name: str, taken: set) -> str:  # the code before the per-name counter
    if name not in taken:
        taken.add(name)
        return name
    d, base = posixpath.split(name)
    stem, ext = posixpath.splitext(base)
    i = 2
    while True:
        cand = posixpath.join(d, f"{stem} ({i}){ext}")
        if cand not in taken:
            taken.add(cand)
            return cand
        i += 1


def _unique_names(n: int, former: bool) -> None:
    taken = set() if former else D_names.UniqueNames()
    for _ in range(n):
        (_former_unique if former else D_names.unique)("a.jpg", taken)


def _former_csv_scan(names: list[str], rows: list[tuple[str, str]]) -> None:
    exact = set(names)
    for f, _ in rows:
        if f not in exact:
            [n for n in names if n.endswith("/" + f)]


def _gif(n: int) -> bytes:
    head = b"GIF89a" + struct.pack("<2H3B", 1, 1, 0x80, 0, 0) + b"\xff\x00\x00\x00\x00\x00"
    frame = b"\x21\xf9\x04\x00\x01\x00\x00\x00," + struct.pack("<4HB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * n + b";"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_flood(n: int) -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    return (b"\x89PNG\r\n\x1a\n" + ihdr + _chunk(b"tEXt", b"k\x00v") * n + _chunk(b"IDAT", zlib.compress(b"\x00\x80"))
            + _chunk(b"IEND", b""))


def _pillow_parse(data: bytes) -> None:
    try:
        Image.open(io.BytesIO(data)).close()
    except Exception:  # Pillow may refuse at the end (text memory): the parsing cost is what is measured
        pass


def run() -> list[str]:
    rows = []
    z = _directory_zip(300_000)
    ours, former = _timed(lambda: _refuse(z)), _timed(lambda: _parse_with_zipfile(z), 1)
    rows.append(("zip declaring 300,000 entries (ZIP64), 14 MB directory", "refused from the end record",
                 ours, "zipfile parses the directory", former))
    lying = _directory_zip(300_000, declared=10, zip64=False)
    ours = _timed(lambda: _refuse(lying))
    rows.append(("same directory, end record says 10", "header walk stops at 20,001", ours,
                 "zipfile parses the directory", former))
    extra = _extra_field_zip(100, 65_532)
    ours, former = _timed(lambda: _refuse(extra)), _timed(lambda: _parse_with_zipfile(extra), 1)
    rows.append(("100 entries with 64 KiB extra fields (6.5 MB)", "refused by the header walk", ours,
                 "zipfile splits the fields", former))
    ours = _timed(lambda: _unique_names(5_000, False))
    former = _timed(lambda: _unique_names(5_000, True), 1)
    ours20 = _timed(lambda: _unique_names(20_000, False))
    rows.append(("5,000 names `a.jpg`", "per-name counter", ours, "restart at (2)", former))
    rows.append(("20,000 names `a.jpg`", "per-name counter", ours20, "restart at (2), x16 of the 5,000 row",
                 16 * former))
    names = [f"set{i % 7}/img{i:05d}.jpg" for i in range(10_000)]
    csv_rows = [(f"img{i % 12_000:05d}.jpg", f"g{i % 101}") for i in range(1_000_000)]
    data = ("file,group\n" + "\n".join(f"{f},{g}" for f, g in csv_rows)).encode()
    ours = _timed(lambda: D_labels.csv_groups(names, data), 1)
    sample = 2_000
    former = _timed(lambda: _former_csv_scan(names, csv_rows[:sample]), 1) * (len(csv_rows) / sample)
    parse = _timed(lambda: D_label_csv.read_rows(data), 1)
    rows.append(("labels CSV, 1M rows x 10k names (14 MB)", f"index (parsing alone {parse:.1f} s)", ours,
                 "scan per row, 2,000 rows x 500", former))
    gif = _gif(50_000)
    ours = _timed(lambda: images.probe(gif, verify=True))
    former = _timed(lambda: images.probe(gif, verify=True, count_frames=True), 1)
    rows.append(("GIF of 50,000 frames (0.9 MB)", "probe, frames not walked", ours, "probe counting frames",
                 former))
    png = _png_flood(100_000)
    ours = _timed(lambda: _refuse_png(png))
    former = _timed(lambda: _pillow_parse(png), 1)
    rows.append(("PNG with 100,000 tEXt chunks (1.5 MB)", "refused by the chunk walk", ours,
                 "Pillow parses the chunks", former))
    out = ["## Hostile input: cost of each attack (issue 9)", "",
           f"`python bench/hostile_input.py` on {time.strftime('%Y-%m-%d %H:%M %Z')}, 1-minute load average "
           f"{os.getloadavg()[0]:.1f} (2 cores). Best of 3 for ours, one run of the former path; the former "
           "path on the same bytes in the same run.", "",
           "| input | ours | ms | former path | s | former / ours |", "|---|---|---:|---|---:|---:|"]
    for what, how, t, fhow, ft in rows:
        out.append(f"| {what} | {how} | {1e3 * t:,.2f} | {fhow} | {ft:,.2f} | {ft / t:,.0f}x |")
    return out


def _refuse_png(data: bytes) -> None:
    try:
        images.probe(data)
    except images.ImageError:
        return
    raise AssertionError("not refused")


def write_section(path: Path, lines: list[str]) -> None:
    results_file.write_section(path, lines, START, END)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    a = ap.parse_args(argv)
    lines = run()
    print("\n".join(lines))
    write_section(Path(a.out), lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
