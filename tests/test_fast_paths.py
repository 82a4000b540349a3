"""The fast paths give exactly what the reference paths give: parallel vs sequential encoding, the Hamming
all-pairs kernel vs brute force, the float32 top-k vs the full sort, and the feature cache (what is re-encoded).

Correctness only; speed is measured by ``bench/run.py``, never here.
"""
from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import datasets, encoding, kernels, search
from core.datasets import folder, stat_memo
from core.encoding import Features, encode_dataset
from core.methods import get
from core.methods.hashing import hamming_pairwise

SOURCES = os.path.join(os.path.dirname(__file__), "..", "data", "demo", "sources")


def _folder(tmp_path, n: int = 24) -> str:
    """n small JPEGs cut from the demo photos (distinct crops + a few byte-identical and near copies)."""
    root = tmp_path / "imgs"
    root.mkdir()
    photos = [Image.open(os.path.join(SOURCES, f)).convert("RGB") for f in sorted(os.listdir(SOURCES))[:6]]
    rng = np.random.default_rng(0)
    for k in range(n):
        im = photos[k % len(photos)]
        w, h = im.size
        x, y = int(rng.integers(0, w // 3)), int(rng.integers(0, h // 3))
        crop = im.crop((x, y, x + w // 2, y + h // 2)).resize((160, 120))
        crop.save(root / f"{k:03d}.jpg", quality=85)
    (root / "dup.jpg").write_bytes((root / "000.jpg").read_bytes())  # same content id: encoded once
    (root / "broken.jpg").write_bytes((root / "001.jpg").read_bytes()[:300])  # fails to decode
    (root / "not_an_image.jpg").write_bytes(b"hello")
    return str(root)


def _load(path):
    return datasets.load(path)


@pytest.mark.parametrize("name", ["ahash", "phash", "colorhash", "ssim"])
def test_parallel_encoder_equals_sequential(tmp_path, name):
    ds = _load(_folder(tmp_path))
    m = get(name)
    seq = encode_dataset(ds, m, cache=False, workers=0)
    par = encode_dataset(ds, m, cache=False, workers=2)
    assert par.names == seq.names and par.content_ids == seq.content_ids
    assert par.skipped == seq.skipped
    assert par.data.dtype == seq.data.dtype and np.array_equal(par.data, seq.data)
    assert par.n_encoded == seq.n_encoded


def test_pool_failure_falls_back_to_sequential(tmp_path, monkeypatch):
    ds = _load(_folder(tmp_path, 8))
    m = get("dhash")
    seq = encode_dataset(ds, m, cache=False, workers=0)

    def broken(_workers):
        raise OSError("no processes today")

    monkeypatch.setattr(encoding, "_get_pool", broken)
    par = encode_dataset(ds, m, cache=False, workers=2)
    assert par.names == seq.names and np.array_equal(par.data, seq.data)


def _hash_features(X: np.ndarray) -> Features:
    n = len(X)
    return Features(method=get("ahash"), params={"hash_size": 8}, data=X, names=[f"f{i}" for i in range(n)],
                    content_ids=[str(i) for i in range(n)])


def _brute_pairs(X: np.ndarray, thr: float):
    D = hamming_pairwise(X, X)
    i, j = np.nonzero(np.triu(D <= thr, k=1))
    return i.astype(np.int64), j.astype(np.int64), D[i, j]


@pytest.mark.parametrize("thr", [0, 3, 10, 10.5, 17])
def test_hamming_all_pairs_equal_brute_force(thr):
    rng = np.random.default_rng(1)
    n = 1500
    X = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    # plant near-duplicates at exactly thr bits and thr+1 bits (ties at the threshold) and exact copies
    bits = np.unpackbits(X, axis=1)
    for k, flips in enumerate([0, int(thr), int(thr) + 1, 2, 5]):
        a, b = 10 * k, 10 * k + 1
        bits[b] = bits[a]
        bits[b, :flips] ^= 1
    X = np.packbits(bits, axis=1)
    ref = _brute_pairs(X, thr)
    got = search.pair_indices(_hash_features(X), thr)
    for r, g in zip(ref, got):
        assert np.array_equal(r, g)
    assert got[2].dtype == np.float64
    for r, g in zip(ref, kernels.hamming_pairs_numpy(X, thr)):
        assert np.array_equal(r, g)
    if kernels.faiss_available():
        for r, g in zip(ref, kernels.hamming_pairs_faiss(X, thr, query_chunk=400)):
            assert np.array_equal(r, g)


def test_hamming_all_pairs_long_hashes_and_find_duplicates():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, (600, 32), dtype=np.uint8)  # 256-bit hashes (hash_size 16)
    X[1] = X[0]
    X[2] = X[0] ^ np.eye(32, dtype=np.uint8)[3]
    F = _hash_features(X)
    ref = _brute_pairs(X, 40)
    got = search.pair_indices(F, 40)
    for r, g in zip(ref, got):
        assert np.array_equal(r, g)
    old = search.PAIRS_FAST_MIN
    try:
        dup_fast = search.find_duplicates(F, 40)
        search.PAIRS_FAST_MIN = 10 ** 9
        dup_ref = search.find_duplicates(F, 40)
    finally:
        search.PAIRS_FAST_MIN = old
    pd.testing.assert_frame_equal(dup_fast.pairs, dup_ref.pairs)
    pd.testing.assert_frame_equal(dup_fast.groups, dup_ref.groups)


def _cnn_features(name, X):
    return Features(method=get(name), params={}, data=X, names=[f"n{i}" for i in range(len(X))],
                    content_ids=[str(i) for i in range(len(X))])


def test_fast_kernels_are_declared_by_the_method_record_not_found_by_identity():
    """A record without ``topk_bounds`` gets no top-k kernel even with the same ``pairwise``; a new record that
    declares one gets it; the registry's records declare theirs."""
    X = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    plain = get("cnn-cosine").with_(name="no-kernel", topk_bounds=None)
    F = Features(method=plain, params={}, data=X, names=[f"n{i}" for i in range(50)],
                 content_ids=[str(i) for i in range(50)])
    assert kernels.topk_candidates(F, X[0], 3, None) is None
    own = get("cosine").with_(name="declared", topk_bounds=kernels.bounds_cosine)
    F = Features(method=own, params={}, data=X, names=F.names, content_ids=F.content_ids)
    assert kernels.topk_candidates(F, X[0], 3, None) is not None
    assert get("cnn-euclidean").topk_bounds is kernels.bounds_euclidean and get("cnn-cosine").encode_in_parent
    assert all(get(n).pairs_kernel is kernels.iter_hamming_pairs for n in ("ahash", "phash", "dhash", "whash"))
    assert get("euclidean").topk_bounds is None and not get("ssim").encode_in_parent


def _both(F, q, k, excl, monkeypatch):
    assert kernels.topk_candidates(F, q, k, None) is not None  # the fast path really runs
    fast = search.search(q, F, 0.5, top_k=k, exclude=excl)
    monkeypatch.setattr(search, "TOPK_FAST_MIN", 10 ** 9)
    full = search.search(q, F, 0.5, top_k=k, exclude=excl)
    monkeypatch.setattr(search, "TOPK_FAST_MIN", 5_000)
    return fast, full


@pytest.mark.parametrize("name", ["cnn-cosine", "cnn-euclidean"])
@pytest.mark.parametrize("k", [1, 10, 50])
def test_topk_fast_path_equals_full_sort(name, k, monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6000, 1280)).astype(np.float32)
    X[20] = 0  # zero row
    F = _cnn_features(name, X)
    for q, excl in [(X[3] + 0.05 * rng.standard_normal(1280).astype(np.float32), None), (X[3], "n3"),
                    (rng.standard_normal(1280).astype(np.float32), "n7")]:
        fast, full = _both(F, q, k, excl, monkeypatch)
        assert list(fast["name"]) == list(full["name"])
        assert list(fast["rank"]) == list(full["rank"]) and list(fast["match"]) == list(full["match"])
        # float64 BLAS may round the same dot product differently for a different matrix shape (1 ulp)
        np.testing.assert_allclose(fast["score"], full["score"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["cnn-cosine", "cnn-euclidean"])
def test_topk_fast_path_with_exact_duplicates(name, monkeypatch):
    """Identical rows score equal only up to the method's own float64 rounding (Euclidean: sqrt of a ~1e-13
    cancellation, ~3e-7), in the full sort too; so the order *inside* such a tie may differ, nothing else."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6000, 1280)).astype(np.float32)
    X[[5, 9, 400]] = X[3]
    X[11] = 2 * X[3]
    F = _cnn_features(name, X)
    fast, full = _both(F, X[3], 10, "n3", monkeypatch)
    np.testing.assert_allclose(fast["score"], full["score"], rtol=0, atol=1e-6)
    assert set(fast["name"]) == set(full["name"])
    assert {"n5", "n9", "n400"} <= set(fast["name"][:4])


class _CountingMethod:
    """Wraps a method's encode to count encoded images (the Method record itself is frozen)."""

    def __init__(self, method):
        self.calls = 0
        inner = method.encode

        def encode(images, **params):
            self.calls += len(images)
            return inner(images, **params)

        self.method = method.with_(encode=encode)


def test_cache_reencodes_only_changed_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path / "cache"))
    folder = _folder(tmp_path, 10)
    counter = _CountingMethod(get("ahash"))
    m = counter.method
    first = encode_dataset(_load(folder), m, workers=0)
    assert counter.calls == first.n_encoded == 11 - 1  # 10 crops + 1 duplicate file (same content), 2 broken
    counter.calls = 0
    second = encode_dataset(_load(folder), m, workers=0)
    assert counter.calls == 0 and second.n_encoded == 0 and second.n_cached == 10
    assert np.array_equal(first.data, second.data) and first.names == second.names
    # change one file, add one file
    img = Image.open(os.path.join(folder, "004.jpg")).convert("RGB")
    img.rotate(90).save(os.path.join(folder, "004.jpg"), quality=85)
    buf = io.BytesIO()
    img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(buf, "JPEG", quality=80)
    (tmp_path / "imgs" / "new.jpg").write_bytes(buf.getvalue())
    counter.calls = 0
    third = encode_dataset(_load(folder), m, workers=0)
    assert counter.calls == 2 and third.n_encoded == 2
    assert len(third) == len(second) + 1


# ---------------------------------------------------------------------------------------------------------------
# stat memo: a second load of an unchanged folder reads no file contents
# ---------------------------------------------------------------------------------------------------------------
def _age(folder: str, monkeypatch) -> None:
    """Files written this second are deliberately not memoised (racy-clean rule, on mtime and ctime, and ctime cannot
    be backdated): let these tests' fresh files count as old."""
    monkeypatch.setattr(stat_memo, "RACY_NS", 0)


class _ReadCounter:
    def __init__(self, monkeypatch):
        self.paths: list[str] = []
        real = folder.read_file

        def read(path, limit):
            self.paths.append(os.path.basename(path))
            return real(path, limit)

        monkeypatch.setattr(folder, "read_file", read)


def _summary(ds):
    return ([(it.name, it.content_id, it.size_bytes, it.width, it.height, it.format, it.group, it.path)
             for it in ds.items], ds.skipped, ds.files_given)


def test_stat_memo_second_load_reads_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path / "cache"))
    folder = _folder(tmp_path, 8)
    (tmp_path / "imgs" / "archive.jpg").write_bytes(b"PK\x03\x04" + b"\0" * 40)  # a memoised skip reason
    _age(folder, monkeypatch)
    reads = _ReadCounter(monkeypatch)
    first = datasets.load_folder(folder)
    assert len(reads.paths) == 12 and first.files_given == len(first.items) + len(first.skipped) == 12
    reads.paths.clear()
    second = datasets.load_folder(folder)
    assert reads.paths == []
    assert _summary(second) == _summary(first)
    # features come from the same content ids, so encoding after a memoised load equals a fresh one
    m = get("dhash")
    assert np.array_equal(encode_dataset(second, m, cache=False, workers=0).data,
                          encode_dataset(first, m, cache=False, workers=0).data)


def test_stat_memo_rereads_a_touched_or_changed_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path / "cache"))
    folder = _folder(tmp_path, 6)
    _age(folder, monkeypatch)
    reads = _ReadCounter(monkeypatch)
    first = datasets.load_folder(folder)
    # touch one file (same bytes, new mtime), rewrite another (new content), break a third
    os.utime(os.path.join(folder, "002.jpg"))
    Image.open(os.path.join(folder, "003.jpg")).convert("RGB").rotate(90).save(os.path.join(folder, "003.jpg"))
    (tmp_path / "imgs" / "004.jpg").write_bytes(b"not a jpeg any more")
    reads.paths.clear()
    second = datasets.load_folder(folder)
    assert sorted(reads.paths) == ["002.jpg", "003.jpg", "004.jpg"]
    with datasets.no_stat_memo():  # the reference: every file read again
        fresh = datasets.load_folder(folder)
    assert _summary(second) == _summary(fresh)
    assert second.by_name("002.jpg").content_id == first.by_name("002.jpg").content_id
    assert second.by_name("003.jpg").content_id != first.by_name("003.jpg").content_id
    assert "004.jpg" in {s.file for s in second.skipped} and "004.jpg" not in {s.file for s in first.skipped}


def test_stat_memo_off_without_cache_and_never_for_zips_or_uploads(tmp_path, monkeypatch):
    from core.cache import FeatureCache

    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(cache_dir))
    folder = _folder(tmp_path, 4)
    _age(folder, monkeypatch)
    datasets.load_files([(fn, open(os.path.join(folder, fn), "rb").read()) for fn in sorted(os.listdir(folder))])
    buf = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(buf, "w") as zf:
        for fn in sorted(os.listdir(folder)):
            zf.write(os.path.join(folder, fn), fn)
    datasets.load_zip(buf.getvalue())
    assert not cache_dir.exists() or FeatureCache(cache_dir / "features.sqlite").count_stats() == 0
    with datasets.no_stat_memo():
        datasets.load_folder(folder)
    assert not cache_dir.exists() or FeatureCache(cache_dir / "features.sqlite").count_stats() == 0
    monkeypatch.setenv("DUPFINDER_NO_CACHE", "1")
    reads = _ReadCounter(monkeypatch)
    datasets.load_folder(folder)
    datasets.load_folder(folder)
    assert len(reads.paths) == 2 * 7
    monkeypatch.delenv("DUPFINDER_NO_CACHE")
    datasets.load_folder(folder)
    assert FeatureCache(cache_dir / "features.sqlite").count_stats() == 7


def test_stat_memo_skips_files_modified_just_now(tmp_path, monkeypatch):
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path / "cache"))
    folder = _folder(tmp_path, 3)
    reads = _ReadCounter(monkeypatch)
    datasets.load_folder(folder)
    datasets.load_folder(folder)
    assert len(reads.paths) == 2 * 6  # written < 2 s ago: a same-size rewrite could keep the mtime, so read again
