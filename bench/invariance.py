"""Invariance and verification benchmark (issue 12): recall at precision >= 0.99 per edit family, cost multipliers,
precision@3 on multi-view sets with and without verification.

Run from the repository root::

    python bench/invariance.py                 # full run (~10-20 min on 2 busy cores)
    python bench/invariance.py --methods pdq,cnn-cosine --no-multiview     # a part of it

Writes its section of ``bench/RESULTS.md`` between ``<!-- invariance:start -->`` and ``<!-- invariance:end -->``
(appended if absent; the rest of the file is kept). Not run by CI; ``tests/test_invariance.py`` and
``tests/test_verification.py`` check correctness.

The invariance set (built in memory from the 14 photos of ``data/demo/sources``, long side 512 px, saved and
re-opened as PNG so every method sees the same pixels as a file would give):

* per photo, the original and its edits, by family and strength: ``rot90``, ``rot180``, ``rot270``, ``mirror``,
  ``flip`` (top-bottom), ``transpose``, each exact and re-compressed as JPEG (q 80); ``crop_centre`` at 80 % and
  60 % of the area; ``crop_corner`` at 70 % and 50 % (alternating corners); ``rotate`` by 5 and 10 degrees;
  ``stretch`` 1.2x and 1.4x horizontally;
* content-sharing negatives: every photo with the same logo (a 25 % crop of a photo that is not in the set)
  pasted in a corner, and every photo shrunk to 50 % of the area on the same tiled backdrop. Each of these is
  labelled with its own photo (it *is* that photo with an overlay), so the pairs between *different* photos that
  share the logo or the backdrop are negatives, and the hardest ones.

Positives of a family are the pairs (original, edit of that family); negatives are every pair of images of two
different photos (all of them, ~50,000). Recall at precision >= 0.99: the best recall over thresholds whose
precision over (that family's positives + all negatives) is >= 0.99. With verification the pairs are ranked by
(verified, method score): the candidates of :func:`core.two_stage.candidate_pairs` (within the threshold, or among
each image's 10 nearest within the candidate threshold) are checked; others count as not verified.
"""
from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from core import transforms as T  # noqa: E402
from core.encoding import Features  # noqa: E402
from core.invariance import invariant  # noqa: E402
from core.methods import REGISTRY, parse_methods  # noqa: E402
from core.two_stage import candidate_pairs  # noqa: E402
from core.verification import LocalFeatureStore  # noqa: E402

SIDE = 512
EXACT = {"rot90": Image.Transpose.ROTATE_90, "rot180": Image.Transpose.ROTATE_180,
         "rot270": Image.Transpose.ROTATE_270, "mirror": Image.Transpose.FLIP_LEFT_RIGHT,
         "flip": Image.Transpose.FLIP_TOP_BOTTOM, "transpose": Image.Transpose.TRANSPOSE}
LOGO_SOURCE = "text"  # the logo comes from this photo, which is left out of the set
BACKDROP_SOURCE = "gravel"  # the backdrop tile comes from this photo, left out of the set
#: Candidates per image of the verified rows: the product default (``DUPFINDER_VERIFY_NEIGHBOURS``) and one at
#: least the size of a photo's group here (23 images), as a collection of small groups gives.
NEIGHBOURS = (10, 25)
MARK_START, MARK_END = "<!-- invariance:start -->", "<!-- invariance:end -->"


def _roundtrip(img: Image.Image, fmt: str = "PNG", **kw) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _crop_area(img: Image.Image, share: float, corner: int | None) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * share ** 0.5), round(h * share ** 0.5)
    if corner is None:
        x0, y0 = (w - cw) // 2, (h - ch) // 2
    else:
        x0, y0 = (0 if corner in (0, 3) else w - cw), (0 if corner in (0, 1) else h - ch)
    return img.crop((x0, y0, x0 + cw, y0 + ch))


def _stretch(img: Image.Image, f: float) -> Image.Image:
    return img.resize((round(img.width * f), img.height), Image.Resampling.LANCZOS)


def build_set() -> tuple[list[Image.Image], list[str], list[str], list[str]]:
    """Images, names, groups (source photo), families ('original', an edit family, 'logo', 'backdrop')."""
    src_dir = ROOT / "data" / "demo" / "sources"
    photos = {}
    for p in sorted(src_dir.glob("*.jpg")):
        im = Image.open(p).convert("RGB")
        im.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
        photos[p.stem] = im
    logo_src = photos.pop(LOGO_SOURCE)
    logo = _crop_area(logo_src, 0.25, None).resize((SIDE // 4, SIDE * 3 // 16))
    tile = photos.pop(BACKDROP_SOURCE).resize((96, 96))
    imgs, names, groups, fams = [], [], [], []

    def add(img, group, fam, tag):
        imgs.append(_roundtrip(img))
        names.append(f"{group}/{fam}_{tag}")
        groups.append(group)
        fams.append(fam)

    for k, (name, im) in enumerate(photos.items()):
        add(im, name, "original", "0")
        for fam, t in EXACT.items():
            add(im.transpose(t), name, fam, "png")
            add(_roundtrip(im.transpose(t), "JPEG", quality=80), name, fam, "jpeg80")
        for share in (0.8, 0.6):
            add(_crop_area(im, share, None), name, "crop_centre", f"{share}")
        for j, share in enumerate((0.7, 0.5)):
            add(_crop_area(im, share, (k + j) % 4), name, "crop_corner", f"{share}")
        for deg in (5, 10):
            add(T.apply(im, "rotation", deg), name, "rotate", f"{deg}")
        for f in (1.2, 1.4):
            add(_stretch(im, f), name, "stretch", f"{f}")
        with_logo = im.copy()
        with_logo.paste(logo, (im.width - logo.width - 6, 6))
        add(with_logo, name, "logo", "corner")
        W, H = im.size
        bg = Image.new("RGB", (W, H))
        for y in range(0, H, tile.height):
            for x in range(0, W, tile.width):
                bg.paste(tile, (x, y))
        small = im.resize((round(W * 0.5 ** 0.5), round(H * 0.5 ** 0.5)), Image.Resampling.LANCZOS)
        bg.paste(small, ((W - small.width) // 2, (H - small.height) // 2))
        add(bg, name, "backdrop", "50")
    return imgs, names, groups, fams


FAMILIES = ["rot90", "rot180", "rot270", "mirror", "flip", "transpose", "crop_centre", "crop_corner", "rotate",
            "stretch", "logo", "backdrop"]


def recall_at_precision(pos_key: np.ndarray, neg_key: np.ndarray, p_min: float = 0.99) -> float:
    """Best recall over thresholds on a closeness key (larger = closer) with precision >= p_min."""
    if len(pos_key) == 0:
        return float("nan")
    keys = np.concatenate([pos_key, neg_key])
    lab = np.concatenate([np.ones(len(pos_key), bool), np.zeros(len(neg_key), bool)])
    order = np.argsort(-keys, kind="stable")
    k, l = keys[order], lab[order]
    tp, fp = np.cumsum(l), np.cumsum(~l)
    last = np.r_[k[1:] != k[:-1], True]  # a threshold takes every tie
    prec = tp / np.maximum(tp + fp, 1)
    ok = last & (prec >= p_min)
    return float(tp[ok].max() / len(pos_key)) if ok.any() else 0.0


def pair_sets(groups: list[str], fams: list[str]):
    n = len(groups)
    g = np.asarray(groups)
    orig = {groups[i]: i for i in range(n) if fams[i] == "original"}
    pos = {f: np.array([[orig[groups[i]], i] for i in range(n) if fams[i] == f]) for f in FAMILIES}
    iu, ju = np.triu_indices(n, 1)
    neg = np.stack([iu, ju], 1)[g[iu] != g[ju]]
    return pos, neg


def timed_encode(m, imgs, p):
    m.encode(imgs[:2], **p)  # warm-up (model load, lazy imports)
    t0 = time.perf_counter()
    F = m.encode(imgs, **p)
    return F, time.perf_counter() - t0


def timed_pairwise(m, F, p, repeats=1):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        S = m.pairwise(F, F, **p)
        best = min(best, time.perf_counter() - t0)
    return S, best


def run_invariance(methods, imgs, names, groups, fams, log, done=None) -> tuple[list[str], dict]:
    """Rows (method, mode, recall per family) and cost figures; ``done(rows, info)`` is called after each method
    (the report is rewritten then, so a long run keeps what it measured)."""
    pos, neg = pair_sets(groups, fams)
    store = LocalFeatureStore(lambda k: imgs[k])
    vcache: dict[tuple[int, int], bool] = {}
    rows, costs, figs = [], [], {}
    info = {"costs": costs, "figs": figs, "n_pos": {f: len(pos[f]) for f in FAMILIES}, "n_neg": len(neg),
            "extracted": 0}
    for base in methods:
        p = base.default_params()
        if base.name == "ssim":
            p = base.resolve_params({"size": 64})  # 8 variants of 128-px RGB SSIM rows do not pay on 2 cores
        thr = base.threshold_spec(p).default
        res = {}
        enc_t, cmp_t = {}, {}
        for mode in ("none", "dihedral"):
            m = invariant(base, mode)
            F, enc_t[mode] = timed_encode(m, imgs, p)
            S, cmp_t[mode] = timed_pairwise(m, F, p)
            close = m.closeness(S)
            res[mode] = {f: recall_at_precision(close[pos[f][:, 0], pos[f][:, 1]], close[neg[:, 0], neg[:, 1]])
                         for f in FAMILIES}
            if mode == "dihedral":
                feats = Features(method=m, params=p, data=F, names=[str(i) for i in range(len(imgs))],
                                 content_ids=[str(i) for i in range(len(imgs))])
                # verified pairs first (among the candidates), then the method's order
                rank = np.argsort(np.argsort(close, axis=None, kind="stable"), kind="stable").reshape(S.shape)
                t0 = time.perf_counter()
                n_new = 0
                for k_nn in NEIGHBOURS:
                    ci, cj, _ = candidate_pairs(feats, thr, k=k_nn)
                    for a, b in zip(ci.tolist(), cj.tolist()):
                        if (a, b) not in vcache:
                            vcache[(a, b)] = store.verify(a, b).verified
                            n_new += 1
                    ver = np.zeros_like(S, dtype=bool)
                    ok = np.array([vcache[(a, b)] for a, b in zip(ci.tolist(), cj.tolist())], dtype=bool)
                    ver[ci[ok], cj[ok]] = ver[cj[ok], ci[ok]] = True
                    key = ver * (S.size + 1.0) + rank
                    res[f"dihedral+verify k={k_nn}"] = {
                        f: recall_at_precision(key[pos[f][:, 0], pos[f][:, 1]], key[neg[:, 0], neg[:, 1]])
                        for f in FAMILIES}
                    if k_nn == NEIGHBOURS[0]:
                        n_cand = len(ci)
                t_ver = time.perf_counter() - t0
                figs[base.name] = {"candidates": n_cand, "new_checks": n_new, "verify_s": t_ver}
        for mode, r in res.items():
            rows.append((base.name, mode, r))
        costs.append((base.name, enc_t["none"], enc_t["dihedral"], cmp_t["none"], cmp_t["dihedral"],
                       figs[base.name]["candidates"]))
        log(f"{base.name}: " + ", ".join(f"{mode} rot90 {r['rot90']:.2f} crop_corner {r['crop_corner']:.2f}"
                                         for mode, r in res.items()))
        info["extracted"] = store.extracted
        if done:
            done(rows, info)
    return rows, info


def pdq_dihedral_check(imgs) -> tuple[float, float, int]:
    """pdqhash.compute_dihedral vs 8 x compute on exact transforms: time ratio and the worst bit error."""
    import pdqhash

    arrs = [np.ascontiguousarray(np.asarray(im)) for im in imgs[:40]]
    tf = [lambda a: a, lambda a: np.rot90(a, 1), lambda a: np.rot90(a, 2), lambda a: np.rot90(a, 3),
          lambda a: a[::-1], lambda a: a[:, ::-1], lambda a: np.rot90(a[::-1], 1), lambda a: np.rot90(a[:, ::-1], 1)]
    t0 = time.perf_counter()
    exact = [[pdqhash.compute(np.ascontiguousarray(f(a)))[0] for f in tf] for a in arrs]
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    one = [pdqhash.compute_dihedral(a)[0] for a in arrs]
    t_one = time.perf_counter() - t0
    errs = []
    for ex, dh in zip(exact, one):  # for each exact variant, the closest of the one-pass hashes
        for h in ex:
            errs.append(min(int(np.count_nonzero(h != d)) for d in dh))
    errs = np.asarray(errs)
    return t_exact, t_one, (int(errs.max()), float(np.median(errs)), float(np.mean(errs == 0)))


def precision_at_3(path: Path, labels: str, methods) -> list[tuple]:
    from core import datasets
    from core.encoding import encode_dataset
    from core.evaluation import precision_at_k
    from core.two_stage import dataset_store, verified_metrics

    ds = datasets.load(str(path), labels=labels)
    groups = {it.name: it.group for it in ds.items}
    store = dataset_store(ds.items)
    out = []
    for m in methods:
        p = m.default_params()
        f = encode_dataset(ds, m, p, cache=False)
        plain = precision_at_k(f, groups, k=3)
        v = verified_metrics(f, groups, m.threshold_spec(p).default, store)
        out.append((m.name, len(f), plain["queries"], plain["accuracy"], v["accuracy"]))
    return out


def shared_multiview_set(tmp: Path) -> Path:
    """The three shared labelled sets in one folder (groups prefixed by the set), with one GROUND_TRUTH.csv."""
    base = Path("/work/shared/data")
    out = tmp / "shared"
    (out / "images").mkdir(parents=True)
    rows = []
    for s in ("caltech101_random_resize", "imagededup_testdata", "pillow_photos"):
        with open(base / s / "GROUND_TRUTH.csv") as f:
            for r in csv.DictReader(f):
                dst = f"images/{s[:8]}__{Path(r['file']).name}"
                shutil.copyfile(base / s / r["file"], out / dst)
                rows.append((dst, f"{s}:{r['group']}"))
    with open(out / "GROUND_TRUTH.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "group"])
        w.writerows(rows)
    return out


def fmt(x: float) -> str:
    return "-" if x != x else f"{x:.2f}"


def report(rows, info, pdq, mv, method_names) -> list[str]:
    R = [MARK_START, "## Invariance and geometric verification (issue 12)", "",
         f"`python bench/invariance.py` on {time.strftime('%Y-%m-%d')} (2 shared cores). Invariance set: 12 photos of "
         f"`data/demo/sources` (long side {SIDE} px) and their edits, {sum(info['n_pos'].values())} "
         f"(original, edit) positives and {info['n_neg']:,} negative pairs (every pair of two different photos, "
         "among them the photos sharing a pasted logo or a tiled backdrop). Recall of each edit family at "
         "precision >= 0.99 (threshold chosen per family over that family's positives + all negatives); "
         "`dihedral+verify k=K`: candidates of the two-stage search (within the threshold, or among each "
         "image's K nearest within the candidate threshold) checked with SIFT + geometry, verified pairs ranked "
         "first; K = 10 is the default, K = 25 covers a photo's whole group (23 images) here. Positives per family: " + ", ".join(f"{f} {n}" for f, n in info["n_pos"].items()) + ".", ""]
    R.append("| method | mode | " + " | ".join(FAMILIES) + " |")
    R.append("|---|---|" + "---|" * len(FAMILIES))
    for name, mode, r in rows:
        R.append(f"| `{name}` | {mode} | " + " | ".join(fmt(r[f]) for f in FAMILIES) + " |")
    R += ["", "Cost of `dihedral` relative to `none` (same images, same run; encode = decode-free encoder time of "
          f"{len(method_names) and 'all'} images; compare = all pairs):", "",
          "| method | encode none (s) | encode x | compare none (s) | compare x | candidates verified |",
          "|---|---|---|---|---|---|"]
    for name, e0, e1, c0, c1, nc in info["costs"]:
        R.append(f"| `{name}` | {e0:.2f} | {e1 / e0:.1f} | {c0:.3f} | {c1 / max(c0, 1e-9):.1f} | {nc} |")
    vs = sum(v["verify_s"] for v in info["figs"].values())
    nchk = sum(v["new_checks"] for v in info["figs"].values())
    R += ["", f"Verification: {info['extracted']} feature extractions (images and their mirror images, once each), "
          f"{nchk} distinct pair checks in {vs:.0f} s ({1000 * vs / max(nchk, 1):.0f} ms per check incl. "
          "extraction).", ""]
    if pdq:
        t_exact, t_one, (worst, med, exact_share) = pdq
        R += [f"PDQ dihedral hashes (40 images of the set): `pdqhash.compute_dihedral` takes {t_one / t_exact:.2f}x "
              "the time of 8 `compute` calls on the exactly transformed pixels, but only "
              f"{exact_share:.0%} of its 8 hashes equal the hash of the transformed image (median {med:g} bits "
              f"away, worst {worst}; its box-filter sampling is not symmetric), so `core/invariance.py` hashes the "
              "exact transforms: a rotated copy then scores exactly as its original.", ""]
    if mv:
        R += ["Precision@3 (article protocol) before / after verification (first 10 candidates verified, verified "
              "ones first):", "", "| set | method | images | queries | precision@3 | with --verify |",
              "|---|---|---|---|---|---|"]
        for set_name, res in mv:
            for name, n, q, a0, a1 in res:
                R.append(f"| {set_name} | `{name}` | {n} | {q} | {a0:.3f} | {a1:.3f} |")
        R.append("")
    R.append(MARK_END)
    return R


def write(lines: list[str], path: Path) -> None:
    text = path.read_text() if path.exists() else ""
    block = "\n".join(lines)
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="all")
    ap.add_argument("--no-multiview", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    a = ap.parse_args()
    # most asked-for first, so a run cut short has them
    order = ["pdq", "cnn-cosine", "phash", "ahash", "dhash", "whash", "colorhash", "cosine", "cnn-euclidean",
             "euclidean", "ssim"]
    methods = parse_methods(a.methods) if a.methods != "all" else sorted(
        REGISTRY, key=lambda m: order.index(m.name) if m.name in order else len(order))
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    imgs, names, groups, fams = build_set()
    log(f"{len(imgs)} images")
    pdq = pdq_dihedral_check(imgs)
    mv = []
    if not a.no_multiview:  # first: it is quick, and a long invariance run then never loses it
        from core.demo import demo_multiview_path

        mv_methods = [m for m in methods if m.name in ("pdq", "phash", "cnn-cosine", "cnn-euclidean", "ahash")]
        mv.append(("demo multiview", precision_at_3(demo_multiview_path(), "csv", mv_methods)))
        log("demo multiview done")
        with tempfile.TemporaryDirectory() as tmp:
            mv.append(("shared sets merged", precision_at_3(shared_multiview_set(Path(tmp)), "csv", mv_methods)))
        log("shared sets done")

    def done(rows, info):
        write(report(rows, info, pdq, mv, [m.name for m in methods]), Path(a.out))
        log(f"wrote {a.out}")

    run_invariance(methods, imgs, names, groups, fams, log, done)


if __name__ == "__main__":
    main()
