"""Search at scale: the IVF ANN path (recall on planted near-duplicates, the method's own scores), the exact
multi-index hashing join, the size policy between exact and scale back-ends, and the ``index`` JSON field."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core import ann, config, kernels, mih, scale, search
from core.encoding import Features
from core.methods import REGISTRY, get

pytestmark = pytest.mark.skipif(not kernels.faiss_available(), reason="faiss not installed")

#: every registered method that has an ANN path (enumerated from the registry, not named)
ANN_METHODS = [m.name for m in REGISTRY if ann.metric_for(m) is not None]


def clustered(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Bursts of similar vectors (scenes) inside themes, L2-normalised float32 (as bench/scale.py, smaller)."""
    rng = np.random.default_rng(seed)
    themes = rng.standard_normal((max(1, n // 2000), d), dtype=np.float32)
    scenes = themes[rng.integers(0, len(themes), max(1, n // 20))] + 0.7 * rng.standard_normal(
        (max(1, n // 20), d), dtype=np.float32)
    X = scenes[rng.integers(0, len(scenes), n)] + rng.standard_normal((n, d), dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def planted(n: int, d: int, seed: int = 0, scale_to: float = 1.0):
    """``clustered`` rows + one noisy copy of 1 % of them (cosine ~0.95-0.99); returns (X, pairs (k, 2))."""
    rng = np.random.default_rng(seed + 1)
    X = clustered(n, d, seed)
    src = rng.choice(n, n // 100, replace=False)
    e = rng.standard_normal((len(src), d), dtype=np.float32)
    e *= (rng.uniform(0.1, 0.3, len(src)) / np.linalg.norm(e, axis=1))[:, None].astype(np.float32)
    C = X[src] + e
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    X = np.concatenate([X, C]) * np.float32(scale_to)
    return X.astype(np.float32), np.stack([src, n + np.arange(len(src))], 1)


def feats(name: str, X: np.ndarray) -> Features:
    return Features(method=get(name), params={}, data=X, names=[f"r{i}" for i in range(len(X))],
                    content_ids=[str(i) for i in range(len(X))])


def pairs_set(i, j) -> set:
    return set(zip(np.asarray(i).tolist(), np.asarray(j).tolist()))


@pytest.fixture(scope="module")
def big():
    """12,000 x 64-d clustered vectors + 120 planted near-duplicates, and an IVF index tuned to recall 0.99."""
    X, pl = planted(12_000, 64)
    idx = ann.build_ivf(X, "cosine", target_recall=0.99, recall_queries=300)
    return X, pl, idx


def test_ivf_recall_on_planted_near_duplicates(big, monkeypatch):
    X, pl, idx = big
    assert idx.recall_at_10 >= 0.99 and idx.nprobe < idx.nlist  # measured, and not by degenerating to brute force
    F = feats("cnn-cosine", X)
    scale.attach(F, idx)
    got = ann.ivf_pairs(idx, F, 0.9)
    monkeypatch.setenv("DUPFINDER_ANN_MIN", str(10 ** 9))
    exact = search.pair_indices(feats("cnn-cosine", X), 0.9)  # brute force over all pairs
    g, e = pairs_set(got[0], got[1]), pairs_set(exact[0], exact[1])
    assert len(e) >= len(pl)  # the planted pairs are within the threshold
    assert not g - e  # nothing outside the threshold
    assert len(g & e) / len(e) >= 0.99
    assert sum(tuple(p) in g for p in pl.tolist()) / len(pl) >= 0.99
    # recall@10 on queries the build never saw
    rng = np.random.default_rng(99)
    q = np.sort(rng.choice(len(X), 200, replace=False))
    assert ann.measure_recall(idx, X, q, [idx.nprobe])[idx.nprobe] >= 0.98


@pytest.mark.parametrize("name", ANN_METHODS)
def test_ann_scores_are_the_methods_own_scores(name, monkeypatch):
    # raw (un-normalised) vectors of CNN-like scale so the Euclidean variant's distances are not on the unit sphere
    X, pl = planted(4_000, 32, seed=3, scale_to=12.0)
    F = feats(name, X)
    m = F.method
    idx = ann.build_ivf(X, ann.metric_for(m), target_recall=0.99, recall_queries=200)
    thr = 0.9 if m.higher_is_closer else float(np.quantile(F.pairwise(X[pl[:, 0]], X[pl[:, 1]]).diagonal(), 0.9))
    i, j, s = ann.ivf_pairs(idx, F, thr)
    assert len(i) > 0 and np.all(i < j)
    ref = np.array([F.pairwise(X[a:a + 1], X[b:b + 1])[0, 0] for a, b in zip(i, j)])
    np.testing.assert_allclose(s, ref, rtol=0, atol=1e-12)
    assert np.all(m.is_match(s, thr))
    # top-k through the index: scores are pairwise scores, ranked as the method ranks them, planted source first
    ids, sc = ann.ivf_topk(idx, F, X[pl[:20, 1]], 5)
    for a in range(20):
        np.testing.assert_allclose(sc[a], F.pairwise(X[pl[a, 1]:pl[a, 1] + 1], X[ids[a]])[0], rtol=0, atol=1e-12)
        assert np.array_equal(m.order(sc[a]), np.arange(5))
        assert ids[a, 0] == pl[a, 1] and ids[a, 1] == pl[a, 0]  # itself, then its planted source


@pytest.mark.parametrize("n,nbytes,r,m", [(3_000, 8, 10, None), (3_000, 8, 3, 3), (3_000, 8, 8, 3),
                                          (2_000, 5, 6, None), (1_500, 1, 2, None), (2_000, 8, 0, 4)])
def test_multi_index_hashing_is_exact(n, nbytes, r, m):
    rng = np.random.default_rng(n + r)
    X = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    k = n // 20  # near-duplicates at 0..r+1 bits, so pairs sit on both sides of the radius
    bits = np.unpackbits(X[:k], axis=1)
    flips = rng.integers(0, min(r + 2, 8 * nbytes) + 1, k)
    for a in range(k):
        bits[a, rng.choice(8 * nbytes, flips[a], replace=False)] ^= 1
    X = np.concatenate([X, np.packbits(bits, axis=1)])
    X[7] = X[8]
    got = mih.mih_pairs(X, r, m=m)
    ref = kernels.hamming_pairs_numpy(X, r)
    for g, e in zip(got, ref):
        assert np.array_equal(g, e)
    assert len(ref[0]) >= k // 5


def test_multi_index_hashing_rejects_long_codes():
    with pytest.raises(ValueError, match="64 bits"):
        mih.mih_pairs(np.zeros((10, 32), np.uint8), 4)


def test_policy_switches_at_the_threshold_setting(monkeypatch):
    X, _ = planted(2_000, 16, seed=5)
    monkeypatch.setenv("DUPFINDER_ANN_MIN", str(len(X) + 1))
    F = feats("cnn-cosine", X)
    assert not scale.ann_applies(F)
    d = search.find_duplicates(F, 0.9)
    assert d.index == {"kind": "exact", "recall_at_10": 1.0}
    monkeypatch.setenv("DUPFINDER_ANN_MIN", str(len(X)))
    F2 = feats("cnn-cosine", X)
    assert scale.ann_applies(F2)
    d2 = search.find_duplicates(F2, 0.9)
    assert d2.index["kind"] == "faiss-ivf" and d2.index["recall_at_10"] >= config.scale_settings().ann_recall
    assert d2.index["nprobe"] >= 1 and d2.index["nlist"] >= 1
    assert scale.cached_ivf(F2) is not None  # built once, kept with the features
    exact = {(r.a, r.b): r.score for r in d.pairs.itertuples()}
    assert len(d2.pairs) >= 0.99 * len(d.pairs)
    for r in d2.pairs.itertuples():  # every ANN pair is an exact pair, with the exact score
        assert abs(exact[(r.a, r.b)] - r.score) <= 1e-12
    # a single query uses the IVF only once it is built, and says so
    assert search.search(X[0], F, 0.9, top_k=3) is not None and scale.search_info(F)["kind"] == "exact"
    assert scale.search_info(F2)["kind"] == "faiss-ivf"
    # hashes: exact brute force below DUPFINDER_MIH_MIN, exact multi-index hashing from it, the same pairs
    rng = np.random.default_rng(5)
    H = rng.integers(0, 256, (3_000, 8), dtype=np.uint8)
    H[1] = H[0]
    H[1, 0] ^= np.uint8(5)  # 2 bits apart
    hf = Features(method=get("ahash"), params={}, data=H, names=[f"h{i}" for i in range(len(H))], content_ids=[])
    monkeypatch.setenv("DUPFINDER_MIH_MIN", str(len(H) + 1))
    a = search.find_duplicates(hf, 6)
    assert a.index["kind"] == "faiss-binary-flat" and a.index["exact"]
    monkeypatch.setenv("DUPFINDER_MIH_MIN", str(len(H)))
    b = search.find_duplicates(hf, 6)
    assert b.index["kind"] == "multi-index-hashing" and b.index["recall_at_10"] == 1.0
    assert a.pairs.equals(b.pairs) and len(a.pairs) >= 1


def test_settings_are_validated(monkeypatch):
    monkeypatch.setenv("DUPFINDER_ANN_RECALL", "1.5")
    with pytest.raises(ValueError, match="DUPFINDER_ANN_RECALL"):
        config.scale_settings()
    monkeypatch.setenv("DUPFINDER_ANN_RECALL", "0.95")
    monkeypatch.setenv("DUPFINDER_ANN_MIN", "1M")
    s = config.scale_settings()
    assert s.ann_recall == 0.95 and s.ann_min == 1 << 20


def test_saved_ivf_round_trip_and_nearest(big, tmp_path):
    X, pl, idx = big
    idx.save(tmp_path / "ivf")
    back = ann.IvfIndex.load(tmp_path / "ivf")
    assert back.describe() == idx.describe()
    F = feats("cnn-cosine", X)
    q = X[pl[:50, 1]]
    ids, sc, info = scale.nearest(F, q, 3, index=back)
    assert info == idx.describe() and info["kind"] == "faiss-ivf"
    ex_ids, ex_sc, ex_info = scale.exact_nearest(F, q, 3) + ({"kind": "exact"},)
    assert np.array_equal(ids[:, :2], ex_ids[:, :2])  # each copy, then its planted source
    np.testing.assert_allclose(sc[:, :2], ex_sc[:, :2], rtol=0, atol=1e-12)
    # search() of one query now goes through the attached index and ranks like exact search
    r = search.search(X[pl[0, 1]], F, 0.9, top_k=3, exclude=F.names[pl[0, 1]])
    assert r["name"].iloc[0] == F.names[pl[0, 0]] and scale.search_info(F)["kind"] == "faiss-ivf"
    (tmp_path / "ivf" / "ivf.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a dupfinder IVF index"):
        ann.IvfIndex.load(tmp_path / "ivf")


def test_duplicates_json_says_which_index_answered(tmp_path):
    from PIL import Image

    from core.__main__ import main

    rng = np.random.default_rng(0)
    for k in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
    Image.open(tmp_path / "0.png").save(tmp_path / "0copy.png")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["duplicates", str(tmp_path), "--method", "ahash", "--json", "--no-cache"]) == 0
    out = json.loads(buf.getvalue())
    assert out["index"] == {"kind": "exact", "recall_at_10": 1.0}
    assert {"members": ["0.png", "0copy.png"], "keep": "0.png"} in out["groups"]


def test_ivf_pairs_blocks_do_not_change_the_answer(big):
    # tiny blocks force sub-blocks of rows and of candidates inside every list: same pairs, same scores
    X, _, idx = big
    F = feats("cnn-cosine", X[:idx.n])
    a = ann.ivf_pairs(idx, F, 0.9)
    b = ann.ivf_pairs(idx, F, 0.9, block_bytes=64 * 1024)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    assert len(a[0]) > 0
