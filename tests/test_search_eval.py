"""Search invariants, duplicate groups, and the article's evaluation protocol on hand-checked examples."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.encoding import Features
from core.evaluation import (article_queries, average_precision, group_codes, labelled_pair_scores,
                             mean_average_precision, pair_prf, precision_at_k, suggest_threshold, threshold_sweep)
from core.methods import METHODS
from core.search import find_duplicates, nearest_neighbours, search


def feats(rows, method="euclidean", names=None):
    """Features with hand-made rows. Euclidean on uint8 rows: distance = |a - b| / 255."""
    data = np.asarray(rows, dtype=np.uint8)
    m = METHODS[method]
    names = names or [f"{i:02d}.jpg" for i in range(len(data))]
    return Features(method=m, params=m.default_params(), data=data, names=names, content_ids=names)


@pytest.fixture
def random_feats():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(30, 48))
    noisy = np.clip(base + rng.integers(-3, 4, size=base.shape), 0, 255)  # near copies
    return feats(np.vstack([base, noisy]))


@pytest.mark.parametrize("name", ["euclidean", "cosine", "ahash"])
def test_search_invariants(name):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, size=(40, 64)).astype(np.uint8)
    m = METHODS[name]
    f = Features(method=m, params=m.default_params(), data=data, names=[f"{i}" for i in range(40)],
                 content_ids=[f"{i}" for i in range(40)])
    scores = m.pairwise(data[:1], data)[0]
    thr = float(np.median(scores))
    df = search(data[0], f, thr, exclude="0")
    assert list(df.columns) == ["rank", "name", "score", "match"]
    assert "0" not in set(df["name"]), "no self-match when the query is in the dataset"
    assert list(df["rank"]) == list(range(1, 40))
    s = df["score"].to_numpy()
    assert np.all(np.diff(s) <= 0) if m.higher_is_closer else np.all(np.diff(s) >= 0), "sorted closest first"
    matched = df.loc[df["match"], "score"]
    assert (matched >= thr).all() if m.higher_is_closer else (matched <= thr).all(), "threshold never exceeded"
    assert df["match"].sum() == int(np.sum(m.is_match(np.delete(scores, 0), thr)))
    top = search(data[0], f, thr, top_k=5, exclude="0")
    assert len(top) == 5 and top["name"].tolist() == df["name"].head(5).tolist()


def test_duplicate_pairs_blockwise_equals_brute_force(random_feats, monkeypatch):
    import core.search as cs
    thr = 6.0 / 255 * np.sqrt(48)
    full = random_feats.pairwise()
    iu = np.triu_indices(len(random_feats), 1)
    expected = {(random_feats.names[i], random_feats.names[j]) for i, j in zip(*iu) if full[i, j] <= thr}
    monkeypatch.setattr(cs, "BLOCK_BYTES", 8 * 60 * 3)  # force many tiny blocks
    got = find_duplicates(random_feats, thr).pairs
    assert set(zip(got["a"], got["b"])) == expected
    assert (got["score"] <= thr).all()
    assert len(expected) >= 30


def test_groups_copies_and_keep():
    # three images 0,1,2 chained (0~1, 1~2), 3 alone, 4~5
    rows = [[0], [10], [20], [200], [100], [104]]
    f = feats(rows)
    thr = 12 / 255
    info = {"00.jpg": (100, 5), "01.jpg": (400, 1), "02.jpg": (400, 9), "03.jpg": (1, 1), "04.jpg": (50, 50),
            "05.jpg": (50, 60)}
    d = find_duplicates(f, thr, info=info)
    groups = d.group_members()
    assert [sorted(g["members"]) for g in groups] == [["00.jpg", "01.jpg", "02.jpg"], ["04.jpg", "05.jpg"]]
    assert groups[0]["keep"] == "02.jpg", "most pixels, then largest file"
    assert groups[1]["keep"] == "05.jpg"
    copies = dict(zip(d.copies["name"], d.copies["copies"]))
    assert copies == {"00.jpg": 2, "01.jpg": 2, "02.jpg": 2, "03.jpg": 0, "04.jpg": 1, "05.jpg": 1}
    assert sorted(d.keep_set()) == ["02.jpg", "03.jpg", "05.jpg"]
    assert len(d.pairs) == 3  # 0-1, 1-2, 4-5 (0-2 is 20 > 12)


def test_nearest_neighbours():
    f = feats([[0], [10], [200]])
    nn = nearest_neighbours(f)
    assert list(nn["nearest"]) == ["01.jpg", "00.jpg", "01.jpg"]
    assert nn["score"].tolist() == pytest.approx([10 / 255, 10 / 255, 190 / 255])


def test_article_protocol_hand_checked():
    """Two groups of 4 (sorted names: a0..a3, b0..b3). Queries: a0 and b0.

    a0's three closest are a1 (1), b0 (3), a2 (4) -> 2 correct; b0's are b1 (1), b2 (2), a0 (3)... -> let the
    rows decide: b0=13, b1=14, b2=15, b3=40; a0=10, a1=11, a2=14.5~, a3=30.
    """
    names = ["a0.jpg", "a1.jpg", "a2.jpg", "a3.jpg", "b0.jpg", "b1.jpg", "b2.jpg", "b3.jpg"]
    rows = [[100], [101], [105], [130], [103], [104], [106], [140]]
    groups = {n: n[0] for n in names}
    f = feats(rows, names=names)
    # a0=100: distances a1 1, b0 3, b1 4, a2 5, b2 6 -> top3 a1, b0, b1 -> 1 correct
    # b0=103: b1 1, a2 2, a1 2 (tie -> dataset order: a1 first), b2 3 -> top3 b1, a1, a2 -> 1 correct
    res = precision_at_k(f, groups, k=3)
    assert res["queries"] == 2 and res["total"] == 6
    assert res["correct"] == 2
    assert res["accuracy"] == pytest.approx(2 / 6)
    assert res["per_query"]["retrieved"].tolist() == [["a1.jpg", "b0.jpg", "b1.jpg"], ["b1.jpg", "a1.jpg", "a2.jpg"]]


def test_article_queries_first_of_each_group_by_name():
    names = ["z.jpg", "b.jpg", "a.jpg", "c.jpg", "single.jpg"]
    codes = group_codes(["g1", "g2", "g1", "g2", None])
    q = article_queries(names, codes)
    assert [names[i] for i in q] == ["a.jpg", "b.jpg"]


def test_average_precision_and_map():
    assert average_precision(np.array([1, 0, 1, 0], bool)) == pytest.approx((1 / 1 + 2 / 3) / 2)
    names = ["a0", "a1", "b0", "b1"]
    f = feats([[0], [1], [100], [101]], names=names)
    assert mean_average_precision(f, {n: n[0] for n in names}) == pytest.approx(1.0)
    # a0=0, a1=100, b0=1, b1=101: mates ranked 2nd (a0, b1) or 3rd (a1, b0) -> mAP = (1/2+1/3+1/3+1/2)/4
    f2 = feats([[0], [100], [1], [101]], names=names)
    assert mean_average_precision(f2, {n: n[0] for n in names}) == pytest.approx(5 / 12)


def test_pair_prf_and_sweep_agree(random_feats):
    names = random_feats.names
    groups = {n: f"g{i % 30}" for i, n in enumerate(names)}
    grid = np.linspace(0, 3, 31)
    sweep = threshold_sweep(random_feats, groups, grid=grid)
    assert list(sweep.columns) == ["threshold", "precision", "recall", "f1", "tp", "fp", "fn"]
    for t in grid[::5]:
        prf = pair_prf(random_feats, groups, t)
        row = sweep.loc[np.isclose(sweep["threshold"], t)].iloc[0]
        assert (row.tp, row.fp, row.fn) == (prf["tp"], prf["fp"], prf["fn"])
    best = suggest_threshold(sweep)
    assert sweep.loc[np.isclose(sweep["threshold"], best), "f1"].iloc[0] == pytest.approx(sweep["f1"].max())
    assert sweep["f1"].max() == pytest.approx(1.0)


def test_sweep_similarity_direction():
    names = ["a0", "a1", "b0"]
    m = METHODS["cosine"]
    data = np.array([[255, 0], [250, 10], [0, 255]], dtype=np.uint8)
    f = Features(method=m, params=m.default_params(), data=data, names=names, content_ids=names)
    sweep = threshold_sweep(f, {"a0": "a", "a1": "a", "b0": "b"}, grid=np.array([0.0, 0.5, 0.99]))
    assert sweep["tp"].tolist() == [1, 1, 1]
    assert sweep["fp"].tolist() == [2, 0, 0]


def test_labelled_pair_scores_counts(random_feats):
    groups = {n: f"g{i % 30}" for i, n in enumerate(random_feats.names)}
    df = labelled_pair_scores(random_feats, groups)
    assert df["duplicate"].sum() == 30
    assert len(df) == 60 * 59 // 2
