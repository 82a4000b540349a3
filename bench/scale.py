"""Search at scale: 1M synthetic CNN-like vectors through the IVF index, 10M 64-bit hashes through exact multi-index
hashing, with planted near-duplicates; ANN choice (IVF vs HNSW) measured on the same kind of data.

Run from the repository root (each section is its own process, so peak RSS is that section's)::

    python bench/scale.py float --n 1000000 --d 1280     # ~5.2 GB of float32 features
    python bench/scale.py hash --n 10000000 --radius 8
    python bench/scale.py compare --n 100000 --d 1280    # faiss IVF-Flat / IVF-SQ8 / HNSW-Flat / HNSW-SQ8 vs ours
    python bench/scale.py crossover --d 1280             # exact vs IVF all-pairs time at a few sizes
    python bench/scale.py --quick                        # CI-scale smoke run of every section (~1-2 min)

Each run prints one JSON line per section (``--json-out FILE`` appends it there too); ``bench/RESULTS.md`` ("Search at
scale") holds the figures, with the machine and its load average.

Synthetic data (CNN-like: a photo collection is bursts of similar pictures inside broad themes):
``n / 2000`` themes ~ N(0, I); ``n / 20`` scenes = theme + 0.7 N(0, I); each vector = scene + N(0, I), then
L2-normalised (float32). Cosine between members of one scene ~0.6, one theme ~0.4, unrelated ~0. Planted
near-duplicates: 1 % of the vectors get 1-3 copies ``x + e`` (|e| uniform in [0.1, 0.4], re-normalised: cosine
0.93-0.995); the duplicate threshold is cosine 0.9. Hashes: uniform random 64-bit codes; 1 % get 1-3 copies with
1..radius random bits flipped.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import ann, mih  # noqa: E402
from core.encoding import Features  # noqa: E402
from core.methods import get  # noqa: E402

CHUNK = 65_536


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def cpu_s() -> float:
    """CPU seconds of this process, all threads (user + system): on a shared, overloaded machine this is the
    figure that says what a phase costs, wall time says how long it waited."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def machine() -> dict:
    model = platform.processor() or "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 2 ** 20
    return {"cpu": model, "cpus": os.cpu_count(), "mem_gb": mem, "load_start": round(os.getloadavg()[0], 2)}


# ------------------------------------------------------------------------------------------------------------ data
def cnn_like(n: int, d: int, seed: int = 0, out: np.ndarray | None = None) -> np.ndarray:
    """(n, d) float32 unit rows: themes -> scenes -> vectors (see module docstring). Built in chunks, into ``out``
    when given (so planting copies never holds two copies of the data)."""
    rng = np.random.default_rng(seed)
    n1, n2 = max(1, n // 2000), max(1, n // 20)
    themes = rng.standard_normal((n1, d), dtype=np.float32)
    scenes = themes[rng.integers(0, n1, n2)]
    del themes
    scenes += 0.7 * rng.standard_normal((n2, d), dtype=np.float32)
    X = np.empty((n, d), np.float32) if out is None else out
    for s in range(0, n, CHUNK):
        e = min(n, s + CHUNK)
        x = scenes[rng.integers(0, n2, e - s)]
        x += rng.standard_normal((e - s, d), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        X[s:e] = x
    return X


def plant_float(n: int, d: int, frac: float = 0.01, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cnn_like` rows followed by 1-3 noisy copies of ``frac`` of them.

    Returns (X (n + copies, d) float32, planted pairs (k, 2) with i < j).
    """
    rng = np.random.default_rng(seed)
    src = rng.choice(n, size=int(frac * n), replace=False)
    src = np.repeat(src, rng.integers(1, 4, len(src)))
    out = np.empty((n + len(src), d), np.float32)
    X = cnn_like(n, d, out=out[:n])
    for s in range(0, len(src), CHUNK):
        rows = src[s:s + CHUNK]
        e = rng.standard_normal((len(rows), d), dtype=np.float32)
        e *= (rng.uniform(0.1, 0.4, len(rows)) / np.linalg.norm(e, axis=1))[:, None].astype(np.float32)
        c = X[rows] + e
        c /= np.linalg.norm(c, axis=1, keepdims=True)
        out[n + s:n + s + len(rows)] = c
    copies = n + np.arange(len(src))
    # copies of one source are near-duplicates of each other too
    pairs = [np.stack([src, copies], 1)]
    order = np.argsort(src, kind="stable")
    ss, cc = src[order], copies[order]
    same = ss[1:] == ss[:-1]
    pairs.append(np.stack([cc[:-1][same], cc[1:][same]], 1))
    two = np.flatnonzero(ss[2:] == ss[:-2])
    pairs.append(np.stack([cc[two], cc[two + 2]], 1))
    return out, np.concatenate(pairs)


def hashes(n: int, radius: int, frac: float = 0.01, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n + copies, 8) uint8 codes and planted pairs: 1-3 copies of ``frac`` of the codes, 1..radius bits flipped."""
    rng = np.random.default_rng(seed)
    W = rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    src = rng.choice(n, size=int(frac * n), replace=False)
    src = np.repeat(src, rng.integers(1, 4, len(src)))
    flips = rng.integers(1, radius + 1, len(src))
    masks = np.zeros(len(src), np.uint64)
    for s in range(0, len(src), CHUNK):
        pos = np.argsort(rng.random((min(CHUNK, len(src) - s), 64)), axis=1)  # random bit order per copy
        take = np.arange(64)[None, :] < flips[s:s + CHUNK, None]
        bits = np.where(take, np.uint64(1) << pos.astype(np.uint64), np.uint64(0))
        masks[s:s + CHUNK] = np.bitwise_or.reduce(bits, axis=1)
    W = np.concatenate([W, W[src] ^ masks])
    pairs = np.stack([src, n + np.arange(len(src))], 1)
    return W.view(np.uint8).reshape(-1, 8), pairs


def note(out: dict) -> None:
    """Partial results on stderr after each phase (long runs are polled; a run cut short still leaves figures)."""
    print(json.dumps(out, default=str), file=sys.stderr, flush=True)


def pair_set(i, j) -> set:
    return set(zip(np.asarray(i).tolist(), np.asarray(j).tolist()))


# ------------------------------------------------------------------------------------------------------------ runs
def run_float(n: int, d: int, threshold: float, sample: int, recall: float) -> dict:
    out = {"section": "float", "n_base": n, "d": d, "threshold_cosine": threshold, **machine()}
    t = time.perf_counter()
    X, planted = plant_float(n, d)
    out.update(rows=len(X), planted_pairs=len(planted), generate_s=round(time.perf_counter() - t, 1),
               features_mb=round(X.nbytes / 2 ** 20), rss_after_data_mb=round(rss_mb()))
    note(out)
    F = Features(method=get("cnn-cosine"), params={}, data=X, names=[], content_ids=[])
    t, c = time.perf_counter(), cpu_s()
    idx = ann.build_ivf(X, "cosine", target_recall=recall)
    out.update(build_s=round(time.perf_counter() - t, 1), build_cpu_s=round(cpu_s() - c, 1), ivf=idx.describe(),
               recall_curve=idx.recall_curve,
               index_mb=round((idx.centroids.nbytes + idx.members.nbytes + idx.offsets.nbytes) / 2 ** 20, 1),
               rss_after_build_mb=round(rss_mb()))
    note(out)
    t, c = time.perf_counter(), cpu_s()
    i, j, s = ann.ivf_pairs(idx, F, threshold)
    out.update(all_pairs_s=round(time.perf_counter() - t, 1), all_pairs_cpu_s=round(cpu_s() - c, 1),
               pairs_found=len(i), peak_rss_mb=round(peak_rss_mb()))
    note(out)
    found = pair_set(i, j)
    # a planted pair is a true duplicate at this threshold when its exact score passes it (two copies of one source
    # can be further apart than the threshold)
    planted = planted[np.lexsort((planted[:, 1], planted[:, 0]))]
    true = planted[ann.rescore_pairs(F, planted[:, 0], planted[:, 1]) >= threshold]
    out.update(planted_within_threshold=len(true),
               planted_recall=round(sum(tuple(p) in found for p in true.tolist()) / max(1, len(true)), 5))
    # exact all-pairs on a sample of rows: time (extrapolated to n rows, upper triangle) and pair recall
    rng = np.random.default_rng(7)
    rows = np.sort(rng.choice(len(X), size=min(sample, len(X)), replace=False))
    t, c = time.perf_counter(), cpu_s()
    ex_i, ex_j = [], []
    for b in range(0, len(X), CHUNK):  # all sample rows against one block of columns at a time
        S = F.pairwise(X[rows], X[b:b + CHUNK])
        rr, cc = np.nonzero(S >= threshold)
        gi, gj = rows[rr], cc + b
        keep = gi != gj
        ex_i.append(np.minimum(gi[keep], gj[keep]))
        ex_j.append(np.maximum(gi[keep], gj[keep]))
    t_ex, c_ex = time.perf_counter() - t, cpu_s() - c
    exact = pair_set(np.concatenate(ex_i), np.concatenate(ex_j))
    rs = set(rows.tolist())
    got = {p for p in found if p[0] in rs or p[1] in rs}
    out.update(exact_sample_rows=len(rows), exact_sample_s=round(t_ex, 1),
               exact_all_pairs_s_extrapolated=round(t_ex * len(X) / len(rows) / 2),
               exact_all_pairs_cpu_s_extrapolated=round(c_ex * len(X) / len(rows) / 2),
               sample_exact_pairs=len(exact), sample_pair_recall=round(len(got & exact) / max(1, len(exact)), 5),
               sample_extra_pairs=len(got - exact), peak_rss_mb=round(peak_rss_mb()),
               load_end=round(os.getloadavg()[0], 2))
    return out


def run_hash(n: int, radius: int, sample: int) -> dict:
    import faiss

    out = {"section": "hash", "n_base": n, "radius": radius, **machine()}
    t = time.perf_counter()
    X, planted = hashes(n, radius)
    out.update(rows=len(X), planted_pairs=len(planted), generate_s=round(time.perf_counter() - t, 1),
               codes_mb=round(X.nbytes / 2 ** 20), rss_after_data_mb=round(rss_mb()))
    note(out)
    m, cost = mih.best_chunks(len(X), 64, radius)
    t, c = time.perf_counter(), cpu_s()
    i, j, s = mih.mih_pairs(X, radius, m=m)
    out.update(chunks=m, flips_per_chunk=radius // m, all_pairs_s=round(time.perf_counter() - t, 1),
               all_pairs_cpu_s=round(cpu_s() - c, 1), modelled_ops=cost,
               pairs_found=len(i), peak_rss_mb_mih=round(peak_rss_mb()))
    note(out)
    found = pair_set(i, j)
    out["planted_recall"] = round(sum(tuple(p) in found for p in planted.tolist()) / max(1, len(planted)), 5)
    # brute force (faiss IndexBinaryFlat range search) for a sample of query rows: exactness and extrapolated time
    rng = np.random.default_rng(7)
    rows = np.sort(rng.choice(len(X), size=min(sample, len(X)), replace=False))
    t = time.perf_counter()
    flat = faiss.IndexBinaryFlat(64)
    flat.add(X)
    t_add = time.perf_counter() - t
    t, c = time.perf_counter(), cpu_s()
    lims, D, L = flat.range_search(X[rows], radius + 1)
    t_q, c_q = time.perf_counter() - t, cpu_s() - c
    qi = np.repeat(rows, np.diff(lims.astype(np.int64)))
    L = L.astype(np.int64)
    keep = L != qi
    brute = pair_set(np.minimum(qi[keep], L[keep]), np.maximum(qi[keep], L[keep]))
    rs = set(rows.tolist())
    got = {p for p in found if p[0] in rs or p[1] in rs}
    out.update(flat_add_s=round(t_add, 2), flat_sample_rows=len(rows), flat_sample_s=round(t_q, 1),
               flat_all_pairs_s_extrapolated=round(t_q * len(X) / len(rows)),
               flat_all_pairs_cpu_s_extrapolated=round(c_q * len(X) / len(rows)),
               sample_brute_pairs=len(brute), exact_on_sample=(got == brute), peak_rss_mb=round(peak_rss_mb()),
               load_end=round(os.getloadavg()[0], 2))
    return out


def run_compare(n: int, d: int, queries: int = 1000) -> dict:
    """faiss IVF-Flat, IVF-SQ8, HNSW-Flat, HNSW-SQ8 (M=32, efConstruction=40) and ours on the same data: build
    time, index bytes, query time and recall@10 vs exact, per search-time setting."""
    import faiss

    out = {"section": "compare", "n": n, "d": d, "queries": queries, **machine(), "indexes": {}}
    X = cnn_like(n, d)
    rng = np.random.default_rng(1)
    q = np.sort(rng.choice(n, queries, replace=False))
    truth = ann.exact_topk(X, q, 10, "cosine")
    Q = X[q]

    def recall(I):
        return float(np.mean([len(np.intersect1d(I[a][I[a] != q[a]][:10], truth[a])) / 10 for a in range(len(q))]))

    nlist = ann.default_nlist(n)
    for name in ("ivf-flat", "ivf-sq8", "hnsw-flat", "hnsw-sq8"):
        t = time.perf_counter()
        if name.startswith("hnsw"):
            ix = (faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT) if name == "hnsw-flat" else
                  faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT))
            ix.hnsw.efConstruction = 40
            if name == "hnsw-sq8":
                ix.train(X[:50_000])
            knobs, attr = (16, 32, 64, 128, 256), "efSearch"
        else:
            quant = faiss.IndexFlatIP(d)
            ix = (faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT) if name == "ivf-flat" else
                  faiss.IndexIVFScalarQuantizer(quant, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                faiss.METRIC_INNER_PRODUCT))
            ix.train(X[rng.choice(n, min(n, 39 * nlist), replace=False)])
            knobs, attr = (1, 2, 4, 8, 16, 32), "nprobe"
        ix.add(X)
        build = time.perf_counter() - t
        res = {}
        for v in knobs:
            (ix.hnsw if attr == "efSearch" else ix).__setattr__(attr, v)
            t = time.perf_counter()
            _, I = ix.search(Q, 11)
            res[v] = {"recall_at_10": round(recall(I), 4),
                      "ms_per_query": round((time.perf_counter() - t) / len(q) * 1e3, 3)}
        out["indexes"][name] = {"build_s": round(build, 1),
                                "index_mb": round(faiss.serialize_index(ix).nbytes / 2 ** 20),
                                attr: res}
        del ix
    t = time.perf_counter()
    idx = ann.build_ivf(X, "cosine", target_recall=0.99)
    build = time.perf_counter() - t
    F = Features(method=get("cnn-cosine"), params={}, data=X, names=[], content_ids=[])
    t = time.perf_counter()
    I, _ = ann.ivf_topk(idx, F, Q, 11)
    out["indexes"]["ours (IVF lists over the features, re-scored)"] = {
        "build_s": round(build, 1), "index_mb": round((idx.centroids.nbytes + idx.members.nbytes) / 2 ** 20, 1),
        "nprobe": {idx.nprobe: {"recall_at_10": round(recall(I), 4),
                                "ms_per_query": round((time.perf_counter() - t) / len(q) * 1e3, 3)}},
        "recall_curve_at_build": idx.recall_curve}
    out.update(peak_rss_mb=round(peak_rss_mb()), load_end=round(os.getloadavg()[0], 2))
    return out


def run_crossover(d: int, sizes, threshold: float) -> dict:
    """Exact block all-pairs vs IVF (build + all-pairs) at a few sizes: where ``DUPFINDER_ANN_MIN`` comes from."""
    from core.search import pair_indices

    os.environ["DUPFINDER_ANN_MIN"] = str(1 << 40)  # the exact path, whatever the default
    out = {"section": "crossover", "d": d, **machine(), "sizes": {}}
    for n in sizes:
        X, _ = plant_float(n, d)
        F = Features(method=get("cnn-cosine"), params={}, data=X, names=[str(k) for k in range(len(X))],
                     content_ids=[])
        t, c = time.perf_counter(), cpu_s()
        ex = pair_indices(F, threshold)
        t_ex, c_ex = time.perf_counter() - t, cpu_s() - c
        t, c = time.perf_counter(), cpu_s()
        idx = ann.build_ivf(X, "cosine", target_recall=0.99)
        t_b, c_b = time.perf_counter() - t, cpu_s() - c
        t, c = time.perf_counter(), cpu_s()
        ap = ann.ivf_pairs(idx, F, threshold)
        t_p, c_p = time.perf_counter() - t, cpu_s() - c
        rec = len(pair_set(ap[0], ap[1]) & pair_set(ex[0], ex[1])) / max(1, len(ex[0]))
        out["sizes"][len(X)] = {"exact_s": round(t_ex, 2), "ivf_build_s": round(t_b, 2), "ivf_pairs_s": round(t_p, 2),
                                "ivf_total_s": round(t_b + t_p, 2), "pair_recall": round(rec, 5),
                                "nprobe": idx.nprobe, "nlist": idx.nlist, "exact_cpu_s": round(c_ex, 1),
                                "ivf_build_cpu_s": round(c_b, 1), "ivf_pairs_cpu_s": round(c_p, 1),
                                "ivf_total_cpu_s": round(c_b + c_p, 1)}
        note(out)
    out["load_end"] = round(os.getloadavg()[0], 2)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("section", nargs="?", choices=["float", "hash", "compare", "crossover"])
    p.add_argument("--quick", action="store_true", help="small sizes, every section (smoke run)")
    p.add_argument("--n", type=int)
    p.add_argument("--d", type=int, default=1280)
    p.add_argument("--radius", type=int, default=8)
    p.add_argument("--threshold", type=float, default=0.9, help="cosine threshold of the float section")
    p.add_argument("--sample", type=int, default=500, help="rows checked against exact/brute force")
    p.add_argument("--recall", type=float, default=0.99, help="target recall@10 of the IVF index")
    p.add_argument("--sizes", default="10000,25000,50000,100000", help="crossover: comma list of sizes")
    p.add_argument("--json-out", help="append each section's JSON line to this file")
    a = p.parse_args(argv)
    if a.quick:
        jobs = [lambda: run_float(20_000, 128, a.threshold, 200, a.recall),
                lambda: run_hash(200_000, a.radius, 2_000),
                lambda: run_compare(10_000, 64, 200),
                lambda: run_crossover(64, (5_000, 10_000), a.threshold)]
    elif a.section == "float":
        jobs = [lambda: run_float(a.n or 1_000_000, a.d, a.threshold, a.sample, a.recall)]
    elif a.section == "hash":
        jobs = [lambda: run_hash(a.n or 10_000_000, a.radius, max(a.sample, 10_000))]
    elif a.section == "compare":
        jobs = [lambda: run_compare(a.n or 100_000, a.d)]
    elif a.section == "crossover":
        jobs = [lambda: run_crossover(a.d, [int(x) for x in a.sizes.split(",")], a.threshold)]
    else:
        p.error("give a section or --quick")
    for job in jobs:
        res = job()
        line = json.dumps(res, default=str)
        print(line, flush=True)
        if a.json_out:
            with open(a.json_out, "a") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
