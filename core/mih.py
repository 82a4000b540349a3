"""Exact all-pairs Hamming search for millions of 64-bit hashes: multi-index hashing (MIH) self-join.

Split the ``B``-bit codes into ``m`` disjoint chunks. If two codes differ in at most ``r`` bits, the differing bits
fall into ``m`` chunks, so at least one chunk differs in at most ``t = floor(r / m)`` bits (pigeonhole). The join
therefore enumerates, for every chunk, every bucket pair ``(u, u XOR f)`` with ``popcount(f) <= t`` and verifies the
full Hamming distance of each candidate pair: **no pair within ``r`` is missed** (exact, same result as brute
force), and with chunks of about ``log2(n)`` bits each bucket holds a handful of codes, so the work is
``m * C(b, <=t) * n * max(1, n / 2^b)`` verifications instead of ``n^2 / 2``.

A pair found in several chunks is kept only at the first chunk where it is within ``t`` (no set, no sort to
dedupe). Everything is vectorised per (chunk, pattern); candidate expansion is sliced so temporaries stay bounded.

Source: Norouzi, Punjani, Fleet, "Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012
(https://www.cs.toronto.edu/~norouzi/research/papers/multi_index_hashing.pdf). Measured figures (10M hashes) are in
``bench/RESULTS.md``; uniform hashes are the best case, a collection with many near-identical hashes (e.g. blank
images) fills some buckets and costs more, never exactness.
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Callable

import numpy as np

#: Candidate pairs expanded at once (temporaries of a few MB: they stay in cache and are reused, not re-mapped).
SLICE_PAIRS = 1 << 20
#: Largest code length handled (codes are read as one uint64 word).
MAX_BITS = 64
#: Largest chunk: each chunk has a dense table of 2^bits bucket offsets (2^24 x 8 bytes = 128 MB).
MAX_CHUNK_BITS = 24


def _empty():
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)


def as_words(X: np.ndarray) -> np.ndarray:
    """Packed codes (n, nbytes <= 8) uint8 -> (n,) uint64 (zero-padded; padding adds no distance)."""
    X = np.ascontiguousarray(X, dtype=np.uint8)
    n, nbytes = X.shape
    if nbytes > 8:
        raise ValueError(f"multi-index hashing here handles codes of up to 64 bits, got {8 * nbytes}")
    if nbytes < 8:
        X = np.concatenate([X, np.zeros((n, 8 - nbytes), np.uint8)], axis=1)
    return X.view(np.uint64).reshape(n)


def chunk_layout(nbits: int, m: int) -> list[tuple[int, int]]:
    """``m`` disjoint (offset, bits) chunks covering ``nbits`` as evenly as possible."""
    base, extra = divmod(nbits, m)
    out, off = [], 0
    for c in range(m):
        b = base + (1 if c < extra else 0)
        out.append((off, b))
        off += b
    return out


def patterns(bits: int, t: int) -> np.ndarray:
    """Every ``bits``-bit mask with at most ``t`` ones (0 first), int64."""
    out = [0]
    for k in range(1, min(t, bits) + 1):
        for c in combinations(range(bits), k):
            out.append(sum(1 << i for i in c))
    return np.asarray(out, dtype=np.int64)


def estimated_cost(n: int, nbits: int, r: int, m: int) -> float:
    """Candidate verifications + bucket probes of an ``m``-chunk join (the model used to pick ``m``)."""
    t = r // m
    cost = 0.0
    for _, b in chunk_layout(nbits, m):
        n_pat = sum(math.comb(b, k) for k in range(0, min(t, b) + 1))
        buckets = min(n, 2 ** b)
        cost += n_pat * (buckets + n * n / (2.0 * 2 ** b))
    return cost


def valid_chunks(nbits: int) -> range:
    """Chunk counts whose chunks fit :data:`MAX_CHUNK_BITS` (at most 8 chunks)."""
    return range(max(1, -(-nbits // MAX_CHUNK_BITS)), max(1, min(8, nbits)) + 1)


def best_chunks(n: int, nbits: int, r: int) -> tuple[int, float]:
    """The number of chunks with the lowest :func:`estimated_cost`, and that cost."""
    best = min(valid_chunks(nbits), key=lambda m: estimated_cost(n, nbits, r, m))
    return best, estimated_cost(n, nbits, r, best)


def _expand(pu: np.ndarray, pv: np.ndarray, offs: np.ndarray, same: bool):
    """Element positions (p, q) of every pair of bucket pairs (pu[k], pv[k]); p < q inside one bucket.

    int32 positions when they fit (half the memory traffic of the candidate arrays, which dominate the join)."""
    it = np.int32 if offs[-1] < 2 ** 31 else np.int64
    ou, ov = offs[pu].astype(it), offs[pv].astype(it)
    su = offs[pu + 1].astype(it) - ou
    sv = offs[pv + 1].astype(it) - ov
    tot = su * sv
    total = int(tot.sum(dtype=np.int64))
    k = np.repeat(np.arange(len(pu), dtype=it), tot)
    within = np.arange(total, dtype=it)
    within -= np.repeat(np.cumsum(tot, dtype=it) - tot, tot)
    a, b = np.divmod(within, sv[k])
    p = ou[k] + a
    q = ov[k] + b
    if same:
        keep = p < q
        p, q = p[keep], q[keep]
    return p, q


def _slices(sizes: np.ndarray, limit: int):
    """Consecutive index ranges of ``sizes`` whose sums stay near ``limit``."""
    if len(sizes) == 0:
        return
    cs = np.cumsum(sizes)
    start = 0
    while start < len(sizes):
        base = cs[start - 1] if start else 0
        end = int(np.searchsorted(cs, base + limit, side="right"))
        end = max(end, start + 1)
        yield start, min(end, len(sizes))
        start = end


def mih_pairs(X: np.ndarray, threshold: float, progress: Callable | None = None, m: int | None = None):
    """All pairs ``i < j`` of packed codes within ``threshold`` bits, exactly, by multi-index hashing.

    Parameters
    ----------
    X : ndarray, shape (n, nbytes), uint8, nbytes <= 8
        Packed hash bits (one row per image).
    threshold : float
        Hamming radius in bits (pairs with distance <= threshold).
    m : int, optional
        Number of chunks (default: the cheapest by :func:`best_chunks`).

    Returns
    -------
    (i, j, bits) : int64, int64, float64 arrays sorted by i then j (the order of :func:`core.kernels.hamming_pairs`).
    """
    n, nbytes = X.shape
    r = math.floor(threshold)
    if n < 2 or r < 0:
        return _empty()
    nbits = 8 * nbytes
    W = as_words(X)
    m = m or best_chunks(n, nbits, r)[0]
    if m not in valid_chunks(nbits):
        raise ValueError(f"{m} chunks of a {nbits}-bit code: choose {min(valid_chunks(nbits))}.."
                         f"{max(valid_chunks(nbits))} (chunks of at most {MAX_CHUNK_BITS} bits)")
    t = r // m
    layout = chunk_layout(nbits, m)
    I, J, S = [], [], []
    steps = sum(len(patterns(b, t)) for _, b in layout)
    done = 0
    for c, (off, b) in enumerate(layout):
        mask = np.uint64((1 << b) - 1)
        keys = ((W >> np.uint64(off)) & mask).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        sw = W[order]
        counts = np.bincount(keys, minlength=1 << b)
        del keys
        offs = np.zeros((1 << b) + 1, np.int64)
        np.cumsum(counts, out=offs[1:])
        nonempty = np.flatnonzero(counts)
        for f in patterns(b, t):
            if f == 0:
                pu = nonempty[counts[nonempty] >= 2]
                pv = pu
            else:
                top = 1 << (int(f).bit_length() - 1)
                pu = nonempty[(nonempty & top) == 0]  # u < u^f: each bucket pair once
                pv = pu ^ f
                ok = counts[pv] > 0
                pu, pv = pu[ok], pv[ok]
            sizes = counts[pu] * counts[pv]
            for a, e in _slices(sizes, SLICE_PAIRS):
                p, q = _expand(pu[a:e], pv[a:e], offs, f == 0)
                x = sw[p] ^ sw[q]
                d = np.bitwise_count(x)
                hit = d <= r
                if not hit.any():
                    continue
                x, d, p, q = x[hit], d[hit], p[hit], q[hit]
                first = np.ones(len(x), bool)  # keep a pair only at the first chunk where it is within t
                for off2, b2 in layout[:c]:
                    first &= np.bitwise_count((x >> np.uint64(off2)) & np.uint64((1 << b2) - 1)) > t
                gi, gj = order[p[first]], order[q[first]]
                I.append(np.minimum(gi, gj))
                J.append(np.maximum(gi, gj))
                S.append(d[first])
            done += 1
            if progress:
                progress(done, steps, "comparing all pairs (multi-index hashing)")
    if not I:
        return _empty()
    i = np.concatenate(I).astype(np.int64)
    j = np.concatenate(J).astype(np.int64)
    s = np.concatenate(S).astype(np.float64)
    o = np.lexsort((j, i))
    return i[o], j[o], s[o]
