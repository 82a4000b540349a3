"""core.borderline: the pairs closest to the threshold on each side and the labelled errors, checked against a
brute-force enumeration of every pair, for a distance and a similarity method; and the verdict threshold."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.borderline import review_pairs, verdict_threshold
from core.encoding import encode_dataset
from core import datasets as D
from core.methods import get
from tests.photos import jpeg_bytes, near_copy, photo


PHOTOS = ("cat","coffee")


@pytest.fixture(scope="module")
def dataset():
    files, groups = [], {}
    for g in PHOTOS:
        img = photo(g)
        for v in range(3):
            x = img
            for _ in range(v):
                x = near_copy(x)
            files.append((f"{g}{v}.jpg", jpeg_bytes(x, 90 - 10 * v)))
            groups[f"{g}{v}.jpg"] = g
    return D.load_files(files), groups


@pytest.mark.parametrize("method, threshold", [("ahash", 10), ("cosine", 0.97)])
@pytest.mark.parametrize("block_bytes", [64, 1 << 20])  # many blocks and one
def test_review_pairs_match_brute_force(dataset, method, threshold, block_bytes):
    ds, groups = dataset
    m = get(method)
    feats = encode_dataset(ds, m, m.default_params(), cache=False)
    g = [groups[n] for n in feats.names]
    out = review_pairs(feats, threshold, g, k=4, block_bytes=block_bytes)
    S = feats.pairwise()
    rows = []
    for i, j in itertools.combinations(range(len(feats)), 2):
        margin = S[i, j] - threshold if m.higher_is_closer else threshold - S[i, j]
        rows.append((feats.names[i], feats.names[j], float(S[i, j]), margin, g[i] == g[j]))
    inside = sorted((r for r in rows if r[3] >= 0), key=lambda r: r[3])[:4]
    outside = sorted((r for r in rows if r[3] < 0), key=lambda r: -r[3])[:4]
    fp = sorted((r for r in rows if r[3] >= 0 and not r[4]), key=lambda r: -r[3])[:4]
    fn = sorted((r for r in rows if r[3] < 0 and r[4]), key=lambda r: r[3])[:4]
    for name, want in (("inside", inside), ("outside", outside), ("false_positive", fp), ("false_negative", fn)):
        got = out[name]
        assert np.allclose(sorted(got["margin"]), sorted(r[3] for r in want)), name
        assert len(got) == len(want), name
    assert (out["inside"]["margin"] >= 0).all() and (out["outside"]["margin"] < 0).all()


def test_verdict_threshold_agrees_with_most_verdicts():
    # distances: the person says 2 and 5 are the same, 9 is different -> a threshold of 5 gets all three right
    assert verdict_threshold(np.array([2.0, 5.0, 9.0]), np.array([True, True, False]), False) == (5.0, 3)
    # similarities: 0.9 same, 0.8 different
    assert verdict_threshold(np.array([0.9, 0.8]), np.array([True, False]), True) == (0.9, 2)
    assert verdict_threshold(np.array([]), np.array([], dtype=bool), True) is None
