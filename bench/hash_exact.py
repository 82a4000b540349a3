"""What bounds the hashes at 640x480, and whether a cheaper path keeps imagehash's bits (issue 15, target 2).

Run from the repository root::

    python bench/hash_exact.py FOLDER [--n 120] [--reps 5]

CPU ms per image (``time.process_time``, one process, best of ``--reps``) of each step of an aHash / dHash / pHash
of a 640x480 JPEG as the app makes it (``images.open_image(path, target_size=128)``: a 320x240 draft, then
imagehash's ``convert('L')`` + LANCZOS ``resize``), and of candidate shortcuts before the resize, each with the
share of hashes that stay bit-identical to the reference on the same files. A shortcut is only usable at 100 %.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LANCZOS = Image.Resampling.LANCZOS


def cpu_ms(fn, n: int, reps: int) -> float:
    ts = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return 1000 * min(ts) / n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args(argv)
    from core import images
    from core.methods import hash_kernels as K

    paths = []
    for p in sorted(Path(a.folder).glob("*.jpg")):
        with Image.open(p) as im:
            if im.size == (640, 480):
                paths.append(str(p))
        if len(paths) >= a.n:
            break
    n = len(paths)
    imgs = [images.open_image(p, target_size=128) for p in paths]
    greys = [im.convert("L") for im in imgs]

    def raw_decode():
        for p in paths:
            with Image.open(p) as im:
                im.draft("RGB", (128, 128))
                im.load()

    rows = [("raw decode (open + draft to 320x240 + load)", cpu_ms(raw_decode, n, a.reps)),
            ("open_image (the app's decoder: + EXIF, mode, copy)",
             cpu_ms(lambda: [images.open_image(p, target_size=128) for p in paths], n, a.reps)),
            ("convert('L') of the 320x240 RGB", cpu_ms(lambda: [im.convert("L") for im in imgs], n, a.reps)),
            ("LANCZOS resize 320x240 L -> 8x8 (aHash)", cpu_ms(lambda: [g.resize((8, 8), LANCZOS) for g in greys],
                                                              n, a.reps)),
            ("LANCZOS resize 320x240 L -> 9x8 (dHash)", cpu_ms(lambda: [g.resize((9, 8), LANCZOS) for g in greys],
                                                              n, a.reps)),
            ("LANCZOS resize 320x240 L -> 32x32 (pHash)", cpu_ms(lambda: [g.resize((32, 32), LANCZOS)
                                                                         for g in greys], n, a.reps)),
            ("aHash kernel after the Pillow calls (numpy, batch)",
             cpu_ms(lambda: K.average_hash(imgs), n, a.reps) - cpu_ms(lambda: K.grey_resized(imgs, 8, 8), n, a.reps))]

    ref = {"ahash": K.average_hash(imgs), "dhash": K.dhash(imgs), "phash": K.phash(imgs)}

    def agree(variant) -> dict:
        alt = [variant(im) for im in imgs]
        out = {}
        for name, fn in (("ahash", K.average_hash), ("dhash", K.dhash), ("phash", K.phash)):
            out[name] = float(np.mean(np.all(fn(alt) == ref[name], axis=1)))
        return out

    def drafted64(p):
        with Image.open(p) as im:
            im.draft("RGB", (64, 64))
            return im.convert("RGB")

    small = [drafted64(p) for p in paths]
    alts = [("Image.reduce(2) before the resize", lambda im: im.reduce(2),
             lambda: [im.reduce(2) for im in imgs]),
            ("reduce(4)", lambda im: im.reduce(4), lambda: [im.reduce(4) for im in imgs]),
            ("resize(..., reducing_gap=2) (Pillow's own reduce-then-resample)", None, None),
            ("JPEG draft to 160x120 instead of 320x240", None, None)]
    res = []
    for label, fn, cost in alts[:2]:
        res.append((label, cpu_ms(cost, n, a.reps), agree(fn)))
    # reducing_gap: same convert, resize with a gap (not expressible as an image transform before the kernels)
    gap = {}
    for name, (w, h) in (("ahash", (8, 8)), ("dhash", (9, 8)), ("phash", (32, 32))):
        px = np.stack([np.asarray(g.resize((w, h), LANCZOS, reducing_gap=2.0)) for g in greys])
        px0 = np.stack([np.asarray(g.resize((w, h), LANCZOS)) for g in greys])
        gap[name] = float(np.mean(np.all(px.reshape(n, -1) == px0.reshape(n, -1), axis=1)))
    res.append((alts[2][0] + " (thumbnail pixels identical)",
                cpu_ms(lambda: [g.resize((8, 8), LANCZOS, reducing_gap=2.0) for g in greys], n, a.reps), gap))
    d64 = {}
    for name, fn in (("ahash", K.average_hash), ("dhash", K.dhash), ("phash", K.phash)):
        d64[name] = float(np.mean(np.all(fn(small) == ref[name], axis=1)))

    def dec64():
        for p in paths:
            drafted64(p)
    res.append((alts[3][0], cpu_ms(dec64, n, a.reps), d64))

    print(f"{n} files of 640x480, CPU ms per image, best of {a.reps}\n")
    print("| step | CPU ms |\n|---|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.3f} |")
    print("\n| shortcut | CPU ms of the shortcut | aHash identical | dHash identical | pHash identical |")
    print("|---|---:|---:|---:|---:|")
    for label, ms, ag in res:
        print(f"| {label} | {ms:.3f} | {ag['ahash']:.1%} | {ag['dhash']:.1%} | {ag['phash']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
