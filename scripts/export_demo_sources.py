"""One-off: export the demo source photos from scikit-image's bundled data into ``data/demo/sources/``.

This script documents how the committed files were made; the product never runs it and never imports
scikit-image (``core/demo.py`` only reads the exported JPEGs). Re-run it with::

    python scripts/export_demo_sources.py

Only images whose scikit-image docstring states CC0 or public domain are exported (licence text quoted in
``data/demo/SOURCES.md``, which this script also writes). Images described only as "no known copyright
restrictions" (coins, immunohistochemistry) or without a stated licence (moon, page, logo, colorwheel,
stereo_motorcycle) are left out on purpose.

Every image is saved as JPEG quality 92 (Pillow defaults otherwise: 4:2:0 chroma subsampling, no EXIF),
at most 640 px on the long side (Lanczos), in its own mode (RGB, or L for grey-level photos).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

import skimage
import skimage.data as skd

OUT = Path(__file__).resolve().parent.parent / "data" / "demo"
LONG_SIDE = 640
QUALITY = 92

# (file stem, skimage.data function, role, what it shows, origin, licence as stated by scikit-image)
SOURCES = [
    ("astronaut", "astronaut", "group", "Astronaut Eileen Collins, colour portrait",
     "NASA Great Images database (https://flic.kr/p/r9qvLn)",
     "Public domain (\"No known copyright restrictions, released into the public domain\")"),
    ("camera", "camera", "group", "Photographer with a camera on a tripod, grey-level",
     "Lav Varshney (replacement 'camera' image, scikit-image >= 0.18)", "CC0 (by the photographer)"),
    ("chelsea", "chelsea", "group", "Chelsea the cat, colour",
     "Stefan van der Walt", "CC0 (by the photographer)"),
    ("clock", "clock", "group", "Wall clock with horizontal motion blur, grey-level",
     "Stefan van der Walt", "Public domain (released by the photographer)"),
    ("coffee", "coffee", "group", "Coffee cup on a wooden table, colour",
     "Rachel Michetti, courtesy of Pikolo Espresso Bar", "CC0 (by the photographer)"),
    ("hubble_deep_field", "hubble_deep_field", "group", "Hubble eXtreme Deep Field, colour",
     "NASA / HubbleSite (http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/)",
     "Public domain (NASA imagery, \"may be freely used in the public domain\")"),
    ("retina", "retina", "group", "Fundus photograph of a normal left eye, colour",
     "Mikael Häggström, Wikimedia Commons (File:Fundus_photograph_of_normal_left_eye.jpg)",
     "CC0 1.0 Universal Public Domain Dedication"),
    ("rocket", "rocket", "group", "Falcon 9 launch carrying DSCOVR, colour",
     "SpaceX Photos on Flickr (https://www.flickr.com/photos/spacexphotos/16511594820/)",
     "Public domain (released by SpaceX)"),
    # distractors: unrelated pictures, each its own singleton group in the demo set
    ("brick", "brick", "distractor", "Brick wall texture, grey-level",
     "CC0Textures, Bricks25 (perspective-corrected, rotated and cropped by scikit-image)", "CC0"),
    ("cell", "cell", "distractor", "Quantitative phase image of a cell in saline, grey-level",
     "Paul Müller et al., Optics Express 26(8) 2018, via qpformat", "CC0 (dedicated to the public domain)"),
    ("grass", "grass", "distractor", "Grass texture, grey-level",
     "linolafett on DeviantArt (Grass-01), cropped and converted by scikit-image", "CC0"),
    ("gravel", "gravel", "distractor", "Gravel texture, grey-level",
     "CC0Textures, Gravel04 (rescaled, cropped, converted by scikit-image)", "CC0"),
    ("horse", "horse", "distractor", "Black-and-white horse silhouette (clip art)",
     "Andreas Preuss (marauder) on openclipart (http://openclipart.org/detail/158377/horse-by-marauder)",
     "CC0 (given by the owner)"),
    ("text", "text", "distractor", "Grey-level text image used for corner detection",
     "Wikipedia (https://en.wikipedia.org/wiki/File:Corner.png)",
     "Public domain (\"No known copyright restrictions, released into the public domain\")"),
]


def to_pil(arr: np.ndarray) -> Image.Image:
    """skimage array (uint8 RGB/grey, or bool) -> PIL image in RGB or L."""
    if arr.dtype == bool:
        arr = np.where(arr, 255, 0).astype(np.uint8)  # horse: True = background -> black silhouette on white
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    return Image.fromarray(arr.astype(np.uint8), "RGB" if arr.ndim == 3 else "L")


def main() -> None:
    src_dir = OUT / "sources"
    src_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for stem, func, role, what, origin, licence in SOURCES:
        img = to_pil(getattr(skd, func)())
        orig_size = img.size
        scale = LONG_SIDE / max(img.size)
        if scale < 1:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        path = src_dir / f"{stem}.jpg"
        img.save(path, "JPEG", quality=QUALITY)
        data = path.read_bytes()
        rows.append((stem, func, role, what, origin, licence, orig_size, img.size, img.mode, len(data),
                     hashlib.md5(data).hexdigest()))
        print(f"{path.name:24s} {img.mode} {img.size} {len(data) / 1024:6.1f} KiB")

    lines = [
        "# Demo sources",
        "",
        "Photos exported from scikit-image's bundled sample data (scikit-image "
        f"{skimage.__version__}) by `scripts/export_demo_sources.py`: JPEG quality {QUALITY}, at most "
        f"{LONG_SIDE} px on the long side, grey-level images kept grey (mode L). Licences are as stated in "
        "each image's docstring in `skimage.data` (the bundled `README.txt` carries none). Only CC0 and "
        "public-domain images are shipped.",
        "",
        "`core/demo.py` builds the demo datasets from these files at run time (see `data/demo/README.md`). "
        "Role `group`: a source of a near-duplicate group; role `distractor`: an unrelated picture that "
        "is its own singleton group.",
        "",
        "| file | role | content | origin | licence | skimage function | original size | exported size | bytes | md5 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for stem, func, role, what, origin, licence, osz, sz, mode, nbytes, md5 in rows:
        lines.append(f"| sources/{stem}.jpg | {role} | {what} | {origin} | {licence} | `skimage.data.{func}()` | "
                     f"{osz[0]}x{osz[1]} | {sz[0]}x{sz[1]} {mode} | {nbytes} | `{md5}` |")
    lines += [
        "",
        "Left out on purpose: `coins` and `immunohistochemistry` (\"no known copyright restrictions\", not an "
        "explicit dedication), `moon`, `page`, `logo`, `colorwheel`, `stereo_motorcycle` (no licence stated), "
        "`microaneurysms` (CC0 but only 102x102 px), and images that scikit-image downloads on demand.",
        "",
    ]
    (OUT / "SOURCES.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
