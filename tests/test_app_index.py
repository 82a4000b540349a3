"""AppTest of a 100,000-image saved index (issue 14, deliverable 5): features only, no image file at all.

One index per module, written with :func:`core.collection.store.write_index`: random 64-bit average hashes with
planted near-duplicate groups (every member within 1 bit of its group's code, so within 2 bits of each other), and a
small CNN-like float matrix stored as ``cnn-cosine`` (32 numbers per image, enough for the Dataset map's sampling).
The indexed folder it names holds no image: every thumbnail is the "missing on disk" placeholder, never a crash.
At 4 bits two random 64-bit codes match with probability ~4e-14, so the duplicate groups are exactly the planted
ones. The app opens it in local mode through the sidebar's "Saved index" source, and every page must render.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import layout as L
from core import sampling as SM
from core.collection import open as ixo
from core.collection.store import FileRow, Index, MethodStore, write_index
from core.methods import get

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
TIMEOUT = 300
N = 100_000
GROUPS = 300
THR = 4
AHASH = get("ahash")
KEY = AHASH.params_key(AHASH.default_params())
PAGES = ["pages/home.py", "pages/search.py", "pages/duplicates.py", "pages/compare.py", "pages/threshold.py",
         "pages/review.py", "pages/dataset_map.py", "pages/experiments.py", "pages/robustness.py"]


def make_index(out, n: int = N, groups: int = GROUPS, seed: int = 14, cnn_dim: int = 32, root=None):
    """Write a features-only index of ``n`` images to ``out``; returns the planted groups (lists of names)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    names = [f"p{k:06d}.jpg" for k in range(n)]
    pos = rng.permutation(n)
    planted, at = [], 0
    for g in range(groups):
        size = 2 + g % 4  # 2..5 members
        rows = sorted(int(r) for r in pos[at:at + size])
        at += size
        base = codes[rows[0]].copy()
        for k, r in enumerate(rows):
            c = base.copy()
            if k:  # members differ from the base by one distinct bit
                bit = (7 * g + k) % 64
                c[bit // 8] ^= np.uint8(1 << (bit % 8))
            codes[r] = c
        planted.append([names[r] for r in rows])
    sha = [hashlib.sha256(n_.encode()).hexdigest() for n_ in names]
    files = [FileRow(nm, 1000 + k, 1_700_000_000_000_000_000, sha[k], 640, 480, "JPEG") for k, nm in enumerate(names)]
    p = AHASH.default_params()
    methods = [MethodStore("ahash", p, AHASH.params_key(p), codes, names, sha, [])]
    if cnn_dim:  # CNN-like: clustered unit vectors (1,000 "scenes"), each planted group a tight cluster of its own
        cnn = get("cnn-cosine")
        cp = cnn.default_params()
        centres = rng.standard_normal((1000, cnn_dim), dtype=np.float32)
        X = np.empty((n, cnn_dim), np.float32)
        for s in range(0, n, 20_000):  # chunks: 100,000 x 1280 float32 is 512 MB, its float64 noise would be 1 GB
            e = min(n, s + 20_000)
            X[s:e] = centres[rng.integers(0, 1000, e - s)] + rng.standard_normal((e - s, cnn_dim), dtype=np.float32)
        for g in planted:
            rows = [int(nm[1:7]) for nm in g]
            X[rows] = X[rows[0]] + 0.05 * rng.standard_normal((len(rows), cnn_dim), dtype=np.float32)
        methods.append(MethodStore("cnn-cosine", cp, cnn.params_key(cp), X, names, sha, []))
    root = str(root or os.path.join(str(out), "..", "photos-not-here"))
    write_index(out, Index(root=os.path.abspath(root), files=files, skipped=[("notes.txt", "not an image")],
                           methods=methods))
    return planted


@pytest.fixture(scope="module")
def big_index(tmp_path_factory):
    out = tmp_path_factory.mktemp("index100k") / "index"
    t0 = time.perf_counter()
    planted = make_index(out)
    print(f"generated a {N:,}-row index in {time.perf_counter() - t0:.1f} s")
    return out, planted


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for var in ("DUPFINDER_ALLOW_FOLDER", "DUPFINDER_ALLOWED_ROOTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DUPFINDER_LOCAL", "1")
    # the caps the pages sample at, smaller so the test stays fast (the same code paths, fewer points)
    monkeypatch.setattr(SM, "MAP_POINTS", 400)
    monkeypatch.setattr(SM, "ALL_PAIRS_CAP", 1_500)
    monkeypatch.setattr(SM, "NN_QUERIES", 500)
    monkeypatch.setattr(L, "tsne_available", lambda: False)  # the map's layout is not under test: PCA, no sklearn


def _open(index_dir, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.sidebar.radio(key="ds_source").set_value("Saved index").run()
    at.sidebar.text_input(key="ds_index").input(str(index_dir)).run()
    assert not at.exception, at.exception
    at.session_state[f"thr::{KEY}"] = THR
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning]
                     + [i.value for i in at.info])


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _n_points(chart) -> int:
    spec = json.loads(chart.proto.spec)
    total = 0
    for tr in spec.get("data", []):
        x = tr.get("x")
        if isinstance(x, dict):  # base64 typed array
            import base64

            total += len(np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]))
        elif x is not None:
            total += len(x)
    return total


# ------------------------------------------------------------------------------------------- core
def test_open_index_reads_no_image_and_flags_missing_or_changed_files(big_index, tmp_path):
    out, planted = big_index
    ds = ixo.open_index(out)
    assert len(ds.items) == N and ds.files_given == N + 1 and ds.items[0].data is None
    assert ixo.held_methods(ds) == ["ahash", "cnn-cosine"]
    f = ixo.features(ds, AHASH, None)
    assert f.data.shape == (N, 8) and isinstance(f.data, np.memmap)  # memory-mapped, not read
    assert ixo.features(ds, AHASH, None) is f  # one Features per open index and method
    assert ixo.live_source(ds, ds.items[0]) == (None, ixo.MISSING)
    with pytest.raises(ixo.NotInIndex):
        ixo.features(ds, get("phash"), None)
    # a file of the indexed folder that is there, and one replaced since the index was built
    small = tmp_path / "idx"
    root = tmp_path / "photos"
    root.mkdir()
    make_index(small, n=300, groups=3, cnn_dim=0, root=root)
    ds2 = ixo.open_index(small)
    it0, it1 = ds2.items[0], ds2.items[1]
    (root / it0.name).write_bytes(b"x" * it0.size_bytes)
    os.utime(root / it0.name, ns=(1_700_000_000_000_000_000,) * 2)
    (root / it1.name).write_bytes(b"y" * 3)
    assert ixo.live_source(ds2, it0)[1] is None
    assert ixo.live_source(ds2, it1) == (None, ixo.CHANGED)
    # outside the allowed roots: refused before anything is read
    from core.datasets import DatasetError

    with pytest.raises(DatasetError):
        ixo.open_index(small, roots=[str(tmp_path / "elsewhere")])


def test_hosted_mode_offers_no_saved_index(monkeypatch):
    monkeypatch.delenv("DUPFINDER_LOCAL", raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert "Saved index" not in at.sidebar.radio(key="ds_source").options


# ------------------------------------------------------------------------------------------- app
def test_duplicates_page_finds_the_planted_groups_one_page_at_a_time(big_index):
    out, planted = big_index
    at = _open(out, "pages/duplicates.py")
    assert _metric(at, "Images") == str(N)
    assert _metric(at, "Groups") == str(GROUPS)
    assert _metric(at, "Duplicate pairs") == str(sum(len(g) * (len(g) - 1) // 2 for g in planted))
    heads = [m.value for m in at.markdown if m.value.startswith("**Group ")]
    assert 0 < len(heads) <= 12  # the first page only
    assert len(at.get("image")) <= 300
    assert any(n.label.startswith("Page (of 25") for n in at.number_input)
    text = _texts(at)
    assert "the chart shows the 40" in text  # counts on all, the chart on the top 40
    first = min(planted, key=lambda g: g[0])  # groups are numbered by their first member in dataset order
    assert heads[0].startswith(f"**Group 1** · {len(first)} images")
    # page 2 shows other groups
    at.number_input(key="dup_page").set_value(2).run()
    assert not at.exception, at.exception
    heads2 = [m.value for m in at.markdown if m.value.startswith("**Group ")]
    assert heads2 and heads2[0].startswith("**Group 13**")


def test_search_ranks_a_planted_member_s_group_first(big_index):
    out, planted = big_index
    group = planted[5]
    at = _open(out)
    at.session_state["query"] = {"kind": "dataset", "name": group[0], "data": None}
    at.switch_page("pages/search.py").run()
    assert not at.exception, at.exception
    want = len(group) - 1
    assert any(m.value.startswith(f"#### {want} of the top 10 match") for m in at.markdown), _texts(at)
    df = next(d.value for d in at.dataframe if "file" in d.value.columns and "score" in d.value.columns)
    assert set(df["file"].head(want)) == set(group[1:])
    assert len(at.get("image")) <= 200  # query + results + one page of the picker
    assert "read from the saved index" in _texts(at)


def test_every_page_renders_on_a_100k_index(big_index):
    """One session through every page (as a user would click): no exception, at most a few hundred thumbnails,
    plots within the sampling caps, and the notes that say what was sampled."""
    out, _ = big_index
    at = _open(out)
    assert len(at.sidebar.selectbox(key="method").options) == 2  # the index's two methods, the others explained
    assert "Not in this index" in "\n".join(c.value for c in at.sidebar.caption)
    at.session_state["lab::methods"] = ["ahash"]  # the robustness lab's own photo: no CNN load needed here
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert len(at.get("image")) <= 300, page
        text = _texts(at)
        for chart in at.get("plotly_chart"):
            assert _n_points(chart) <= max(SM.MAP_POINTS, SM.NN_QUERIES, SM.ALL_PAIRS_CAP) + 1, page
        if page == "pages/threshold.py":
            assert f"A random sample of {SM.NN_QUERIES:,} of the {N:,} images" in text
            assert f"random sample of {SM.ALL_PAIRS_CAP:,} of the {N:,} images" in text  # the borderline review
        if page == "pages/dataset_map.py":
            assert f"A random sample of {SM.MAP_POINTS:,} of the {N:,} images" in text
        if page == "pages/review.py":
            assert _metric(at, "Groups") == str(GROUPS)
            assert len([m for m in at.markdown if m.value.startswith("**Group ")]) <= 10
        if page == "pages/compare.py":
            assert len(at.multiselect(key="cmp_methods").options) == 2  # the two methods the index holds
        if page == "pages/experiments.py":
            assert "saved index is not offered here" in text
