"""Bounded-time fuzzing of the image loader and the dataset/archive readers (issue 6.6).

    python bench/fuzz.py                      # 60 s per target, all targets
    python bench/fuzz.py --seconds 120 --targets probe,load_zip
    python bench/fuzz.py --report bench/FUZZ.md

Driver: hypothesis. Each target is a ``@given`` property over *mutated seeds*: a seed file (every case of the
hostile corpus in ``tests/corpus.py``, the hostile zips, and a few of the real demo photos, re-encoded as PNG,
WebP, GIF, TIFF and BMP too) plus a short list of byte-level mutations (bit flips, byte overwrites with
"interesting" values, 16/32-bit integer overwrites — sizes in headers —, inserts, deletes, truncation, chunk
duplication, splicing with another seed). Hypothesis shrinks a failing input to a small mutation list, so a
finding is reproducible from ``(seed name, mutations)``. The property is called again and again with fresh
random seeds until the time budget of the target is spent.

Properties (what "no finding" means):

* ``probe`` / ``open_image``: the result is an ``ImageInfo`` / an RGB ``PIL.Image`` with positive size, or
  :class:`core.images.ImageError` — never another exception type, never a hang (per-input alarm). Differential
  oracle for ``open_image``: when plain ``Image.open(data).load()`` fails, ``open_image`` must fail too (not
  return a blank picture).
* ``encode``: the app's query path, ``core.encoding.encode_file`` with a fast method (hashes, pixels, SSIM): a
  ``(1, d)`` feature row with finite values, or ``ImageError``.
* ``load_files``: never raises; ``files_given == len(items) + len(skipped) == number of files``; every item
  decodes with ``open_image`` or raises ``ImageError`` (the encoder turns that into a Skipped entry).
* ``load_zip``: a :class:`core.datasets.Dataset` or :class:`core.datasets.DatasetError`, nothing else;
  ``files_given == len(items) + len(skipped)`` and, when ``zipfile`` can list the archive, ``files_given`` equals
  its number of non-directory entries; no name contains ``..`` components or starts with ``/``.

Findings (deduplicated by exception type + innermost project/Pillow frame) are printed, the smallest input of
each is written to ``bench/work/fuzz-findings/`` (git-ignored), and the summary goes to ``--report``.
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import time
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from core import datasets as D  # noqa: E402
from core import images as I  # noqa: E402

PER_INPUT_TIMEOUT = 20  # s; a decoder stuck longer than this on one small input is a finding ("hang")
OPEN_MAX_PIXELS = 24_000_000  # open_image target: decoding mutated headers up to the default ~179 MP would spend
#                               the budget allocating memory; the bomb check itself is the same code path
FINDINGS_DIR = ROOT / "bench" / "work" / "fuzz-findings"


# ------------------------------------------------------------------------------------------------ seeds
def _image_seeds() -> dict[str, bytes]:
    import corpus as C

    seeds: dict[str, bytes] = {}
    for name, data, _ in C.corpus_files():
        if data:
            seeds[f"corpus:{name[:60]}"] = data
    seeds["corpus:bomb_png"] = C.bomb_png_bytes()
    seeds["corpus:exif_rot6"] = C.exif_rotated_jpeg_bytes()
    heic = C.heic_bytes()
    if heic:
        seeds["corpus:heic"] = heic
    # real photos: the demo sources, small (fuzzing speed) but real JPEG structure; plus other formats
    src = ROOT / "data" / "demo" / "sources"
    for p in sorted(src.glob("*.jpg"))[:4]:
        im = I.open_image(p.read_bytes(), target_size=96)
        im.thumbnail((96, 96))
        for fmt, kw in (("JPEG", {"quality": 85}), ("JPEG", {"quality": 85, "progressive": True}), ("PNG", {}),
                        ("WEBP", {"quality": 80}), ("GIF", {}), ("TIFF", {"compression": "tiff_lzw"}), ("BMP", {}),
                        ("ICO", {}), ("PPM", {}), ("TGA", {})):
            buf = io.BytesIO()
            try:
                im.save(buf, fmt, **kw)
            except Exception:
                continue
            seeds[f"demo:{p.stem}.{fmt.lower()}{'-prog' if kw.get('progressive') else ''}"] = buf.getvalue()
    return seeds


def _zip_seeds(images: dict[str, bytes]) -> dict[str, bytes]:
    import corpus as C

    seeds = {
        "zip:traversal": C.zip_traversal(), "zip:symlink": C.zip_symlink(), "zip:nested": C.zip_nested(),
        "zip:encrypted": C.zip_encrypted(), "zip:names": C.zip_names(), "zip:ratio_bomb": C.zip_ratio_bomb(),
        "zip:lying_size": C.zip_lying_size(), "zip:small_bomb": C.zip_bomb(entries=20, mb=1),
    }
    demo = [(k.split(":", 1)[1].replace(".", "_") + ".img", v) for k, v in images.items() if k.startswith("demo:")]
    seeds["zip:demo_deflate"] = C.zip_bytes(dict(demo[:6]))
    seeds["zip:demo_stored"] = C.zip_bytes(dict(demo[6:12]), compression=zipfile.ZIP_STORED)
    seeds["zip:labelled"] = C.zip_bytes({"set/a/1.jpg": images["corpus:good/a_photo.jpg"],
                                         "set/b/2.png": images["corpus:good/b_photo.png"],
                                         "set/GROUND_TRUTH.csv": b"file,group\na/1.jpg,x\nb/2.png,y\n"})
    # the whole corpus zip is ~0.5 MB: one seed, mutated like the others
    seeds["zip:corpus"] = C.build_corpus_zip()
    return seeds


# ------------------------------------------------------------------------------------------------ mutations
INTERESTING8 = [0, 1, 0x7F, 0x80, 0xFF]
INTERESTING32 = [0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 50_000, 65_500]

OPS = ("flip", "byte", "int16", "int32", "insert", "delete", "truncate", "dup", "splice")
mutation = st.tuples(st.sampled_from(OPS), st.integers(0, 1 << 30), st.integers(0, 1 << 30), st.binary(max_size=12))


def mutate(data: bytes, muts, pool: list[bytes]) -> bytes:
    """Apply a list of ``(op, a, b, blob)`` mutations. Deterministic (all randomness is in the arguments)."""
    b = bytearray(data)
    for op, a, c, blob in muts:
        n = len(b)
        if n == 0:
            b += blob or b"\x00"
            continue
        pos = a % n
        # bias half of the edits into the first 512 bytes: headers are where parsers make decisions
        if c & 1:
            pos = a % min(n, 512)
        if op == "flip":
            b[pos] ^= 1 << (c % 8)
        elif op == "byte":
            b[pos] = INTERESTING8[c % len(INTERESTING8)] if c % 3 else (c >> 3) & 0xFF
        elif op in ("int16", "int32"):
            width = 2 if op == "int16" else 4
            v = INTERESTING32[c % len(INTERESTING32)] & ((1 << (8 * width)) - 1)
            order = "big" if (c >> 4) & 1 else "little"
            b[pos:pos + width] = v.to_bytes(width, order)
        elif op == "insert":
            b[pos:pos] = blob * (1 + c % 4)
        elif op == "delete":
            del b[pos:pos + 1 + c % 64]
        elif op == "truncate":
            del b[max(1, pos):]
        elif op == "dup":
            chunk = b[pos:pos + 1 + c % 256]
            b[pos:pos] = chunk
        elif op == "splice":
            other = pool[c % len(pool)]
            if other:
                o = (c >> 5) % len(other)
                b[pos:] = other[o:o + (len(b) - pos)]
    return bytes(b)


# ------------------------------------------------------------------------------------------------ bookkeeping
@dataclass
class Finding:
    target: str
    signature: str
    exc: str
    seed: str
    mutations: list
    size: int
    path: str = ""
    count: int = 1


@dataclass
class Stats:
    target: str
    seconds: float = 0.0
    examples: int = 0
    outcomes: dict = field(default_factory=dict)
    findings: dict = field(default_factory=dict)


class Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise Hang(f"no result after {PER_INPUT_TIMEOUT} s")


class _Failure(Exception):
    """Raised inside the property so hypothesis shrinks; carries the original exception's description."""

    def __init__(self, sig: str, desc: str):
        super().__init__(sig)
        self.sig, self.desc = sig, desc


def _signature(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if ("core" + os.sep) in f.filename or "PIL" in f.filename or "zipfile" in f.filename
              or "pillow_heif" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} @ {where}"


def _guard(fn):
    """Run ``fn`` under the per-input alarm; unexpected exceptions become :class:`_Failure`."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(PER_INPUT_TIMEOUT)
    try:
        return fn()
    except (_Failure, AssertionError):
        raise
    except Hang as e:
        raise _Failure("Hang", str(e)) from None
    except (I.ImageError, D.DatasetError):
        raise
    except Exception as e:  # the finding: any other exception type
        raise _Failure(_signature(e), "".join(traceback.format_exception(e))[-3000:]) from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------------------------------------ properties
def check_probe(data: bytes) -> str:
    try:
        info = _guard(lambda: I.probe(data, verify=True))
    except I.ImageError as e:
        assert isinstance(e.reason, str) and e.reason, "ImageError without a reason"
        return "ImageError"
    assert info.width > 0 and info.height > 0, f"non-positive size {info}"
    try:
        _guard(lambda: I.probe(data))
    except I.ImageError:
        pass
    return "ok"


def check_open(data: bytes, target_size: int | None) -> str:
    try:
        im = _guard(lambda: I.open_image(data, target_size=target_size, max_pixels=OPEN_MAX_PIXELS))
    except I.ImageError as e:
        assert isinstance(e.reason, str) and e.reason, "ImageError without a reason"
        return "ImageError"
    assert isinstance(im, Image.Image) and im.mode == "RGB", f"mode {getattr(im, 'mode', None)}"
    assert im.width > 0 and im.height > 0
    # differential oracle: a file plain Pillow cannot decode must not come out as a (blank) picture
    if not _pillow_decodes(data):
        raise _Failure("SilentDecode", "open_image returned an image for a file Pillow's own load() rejects "
                                       f"({_pillow_error(data)})")
    return "ok"


def _pillow_error(data: bytes) -> str | None:
    """Why plain ``Image.open(data).load()`` (first frame, no bomb limit, no truncated-image tolerance) fails."""
    import warnings

    from PIL import ImageFile

    if ImageFile.LOAD_TRUNCATED_IMAGES:
        return None
    saved = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(io.BytesIO(data)) as im:
                im.load()
        return None
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        return f"{type(e).__name__}: {e}"
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _pillow_decodes(data: bytes) -> bool:
    return _pillow_error(data) is None


FAST_METHODS = ("ahash", "phash", "dhash", "whash", "colorhash", "euclidean", "cosine", "ssim")


def check_encode(data: bytes, method: str) -> str:
    """The query path of the app: decode + encode one file with a (fast) method."""
    import numpy as np

    from core.encoding import encode_file
    from core.methods import METHODS

    m = METHODS[method]
    try:
        row = _guard(lambda: encode_file(m, data))
    except I.ImageError as e:
        assert e.reason, "ImageError without a reason"
        return "ImageError"
    row = np.asarray(row)
    assert row.ndim == 2 and row.shape[0] == 1, f"{method}: feature shape {row.shape}"
    if row.dtype.kind == "f":
        assert np.isfinite(row).all(), f"{method}: non-finite features"
    return "ok"


def check_load_files(files: list[tuple[str, bytes]]) -> str:
    ds = _guard(lambda: D.load_files(files))  # DatasetError is not expected here (no archive-level refusal)
    assert ds.files_given == len(ds.items) + len(ds.skipped) == len(files), (
        f"accounting: given {ds.files_given}, items {len(ds.items)}, skipped {len(ds.skipped)}, files {len(files)}")
    assert len({it.name for it in ds.items} | {s.file for s in ds.skipped}) == len(files), "names not unique"
    for it in ds.items:  # what the encoder does next: decode or a Skipped entry, nothing else
        try:
            _guard(lambda: I.open_image(it.source, target_size=64, max_pixels=OPEN_MAX_PIXELS))
        except I.ImageError:
            pass
    return f"{len(ds.items)} used"


def check_load_zip(data: bytes) -> str:
    try:
        ds = _guard(lambda: D.load_zip(data))
    except D.DatasetError as e:
        assert str(e), "DatasetError without a message"
        return "DatasetError"
    assert ds.files_given == len(ds.items) + len(ds.skipped), (
        f"accounting: given {ds.files_given}, items {len(ds.items)}, skipped {len(ds.skipped)}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            n = sum(1 for i in zf.infolist() if not i.is_dir())
    except Exception:
        n = None
    if n is not None:
        assert ds.files_given == n, f"files_given {ds.files_given} != {n} zip entries"
    for name in [it.name for it in ds.items] + [s.file for s in ds.skipped]:
        assert not name.startswith("/") and ".." not in name.split("/"), f"unsafe name {name!r}"
    return "Dataset"


# ------------------------------------------------------------------------------------------------ driver
def run_target(target: str, seconds: float, seeds: dict[str, bytes], batch: int = 50) -> Stats:
    names = sorted(seeds)
    pool = [seeds[n] for n in names]
    stats = Stats(target)
    current: dict = {}

    def record(outcome: str) -> None:
        stats.examples += 1
        stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1

    cfg = settings(max_examples=batch, deadline=None, database=None, derandomize=False, print_blob=False,
                   suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                   phases=[Phase.generate, Phase.shrink])

    if target in ("probe", "open_image"):
        @cfg
        @given(st.sampled_from(names), st.lists(mutation, max_size=6),
               st.sampled_from([None, 1, 8, 32, 64, 224, 1000]))
        def prop(seed, muts, target_size):
            data = mutate(seeds[seed], muts, pool)
            current.update(seed=seed, muts=muts, data=data)
            record(check_probe(data) if target == "probe" else check_open(data, target_size))
    elif target == "encode":
        @cfg
        @given(st.sampled_from(names), st.lists(mutation, max_size=4), st.sampled_from(FAST_METHODS))
        def prop(seed, muts, method):
            data = mutate(seeds[seed], muts, pool)
            current.update(seed=f"{seed} ({method})", muts=muts, data=data)
            record(check_encode(data, method))
    elif target == "load_files":
        @cfg
        @given(st.lists(st.tuples(st.sampled_from(names), st.lists(mutation, max_size=4),
                                  st.sampled_from(["a.jpg", "b.png", "../x.jpg", "/abs/y.jpg", ".hidden.jpg",
                                                   "dir/z.webp", "a.jpg", "GROUND_TRUTH.csv", "n\udcff.jpg",
                                                   "C:\\w\\v.jpg", "", "q.zip", "é" * 300 + ".jpg"])),
                        min_size=1, max_size=5))
        def prop(entries):
            files = [(fname, mutate(seeds[s], m, pool)) for s, m, fname in entries]
            current.update(seed=",".join(s for s, _, _ in entries), muts=[m for _, m, _ in entries],
                           data=files[0][1])
            record(check_load_files(files))
    elif target == "load_zip":
        @cfg
        @given(st.sampled_from(names), st.lists(mutation, max_size=6))
        def prop(seed, muts):
            data = mutate(seeds[seed], muts, pool)
            current.update(seed=seed, muts=muts, data=data)
            record(check_load_zip(data))
    else:
        raise SystemExit(f"unknown target {target}")

    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        try:
            prop()
        except Exception as e:  # hypothesis re-raises the (shrunk) failure
            sig = e.sig if isinstance(e, _Failure) else f"{type(e).__name__}: {str(e)[:160]}"
            desc = e.desc if isinstance(e, _Failure) else "".join(traceback.format_exception(e))[-3000:]
            f = stats.findings.get(sig)
            if f is None:
                FINDINGS_DIR.mkdir(parents=True, exist_ok=True)
                path = FINDINGS_DIR / f"{target}-{len(stats.findings):02d}.bin"
                path.write_bytes(current.get("data", b""))
                f = stats.findings[sig] = Finding(target, sig, desc, current.get("seed", "?"),
                                                  current.get("muts", []), len(current.get("data", b"")),
                                                  str(path.relative_to(ROOT)))
                print(f"\n[{target}] FINDING {sig}\n  seed {f.seed} mutations {f.mutations}\n{desc}", flush=True)
            else:
                f.count += 1
    stats.seconds = time.monotonic() - t0
    return stats


def write_report(path: Path, all_stats: list[Stats], seeds_img: int, seeds_zip: int, args) -> None:
    lines = ["# Fuzzing summary", "",
             f"Generated by `python bench/fuzz.py --seconds {args.seconds:g}` (hypothesis-driven byte mutations of "
             f"{seeds_img} image seeds and {seeds_zip} zip seeds; see the module docstring for the properties).", "",
             "| target | seconds | examples | outcomes | findings |", "|---|---|---|---|---|"]
    for s in all_stats:
        outs = ", ".join(f"{k}: {v}" for k, v in sorted(s.outcomes.items(), key=lambda kv: -kv[1])[:4])
        lines.append(f"| `{s.target}` | {s.seconds:.0f} | {s.examples:,} | {outs} | {len(s.findings)} |")
    lines += ["", f"Total: {sum(s.seconds for s in all_stats):.0f} s, {sum(s.examples for s in all_stats):,} examples.",
              ""]
    found = [f for s in all_stats for f in s.findings.values()]
    if found:
        lines += ["## Findings of this run", ""]
        for f in found:
            lines += [f"- **{f.target}**: `{f.signature}` ({f.count}x; seed `{f.seed}`, input `{f.path}`, "
                      f"{f.size} bytes)", "", "```", f.exc.strip()[-1500:], "```", ""]
    else:
        lines += ["No findings in this run.", ""]
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="time budget per target (default 60)")
    ap.add_argument("--targets", default="probe,open_image,encode,load_files,load_zip")
    ap.add_argument("--verbose", action="store_true", help="keep the C decoders' stderr warnings")
    ap.add_argument("--report", help="write a markdown summary here (e.g. bench/FUZZ.md)")
    args = ap.parse_args(argv)
    img = _image_seeds()
    zips = _zip_seeds(img)
    print(f"{len(img)} image seeds, {len(zips)} zip seeds", flush=True)
    all_stats = []
    if not args.verbose:  # libtiff/libjpeg print warnings straight to fd 2 for every mutated input: noise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    for t in args.targets.split(","):
        seeds = zips if t == "load_zip" else img
        s = run_target(t, args.seconds, seeds)
        all_stats.append(s)
        print(f"{t}: {s.examples:,} examples in {s.seconds:.0f} s, outcomes {s.outcomes}, "
              f"{len(s.findings)} finding(s)", flush=True)
    if args.report:
        write_report(Path(args.report), all_stats, len(img), len(zips), args)
    return 1 if any(s.findings for s in all_stats) else 0


if __name__ == "__main__":
    sys.exit(main())
