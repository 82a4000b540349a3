"""Two-stage matching: the candidate threshold, the neighbour candidates (vs brute force), re-ranking."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.encoding import Features
from core.methods import METHODS, REGISTRY
from core.two_stage import candidate_pairs, candidate_threshold, neighbour_pairs, rerank
from core.verification import Verification


@pytest.mark.parametrize("m", [pytest.param(m, id=m.name) for m in REGISTRY])
def test_candidate_threshold_is_looser_and_in_range(m):
    spec = m.threshold_spec()
    loose = candidate_threshold(m)
    assert spec.min <= loose <= spec.max
    assert m.closeness(loose) < m.closeness(spec.default)  # looser than the method's own threshold


def test_candidate_threshold_values():
    assert candidate_threshold(METHODS["pdq"]) == pytest.approx(31 + 0.5 * (256 - 31))
    assert candidate_threshold(METHODS["cnn-cosine"]) == pytest.approx(0.35)


def _features(X, name="cnn-cosine"):
    m = METHODS[name]
    return Features(method=m, params=m.default_params(), data=X, names=[f"i{k}" for k in range(len(X))],
                    content_ids=[str(k) for k in range(len(X))])


def test_neighbour_pairs_match_brute_force():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 16)).astype(np.float32)
    f = _features(X)
    S = f.pairwise()
    k, thr = 3, 0.0
    want = set()
    for i in range(40):
        s = S[i].copy()
        s[i] = -np.inf
        for j in np.argsort(-s, kind="stable")[:k]:
            if s[j] >= thr:
                want.add((min(i, j), max(i, j)))
    i, j, sc = neighbour_pairs(f, k, thr)
    assert set(zip(i.tolist(), j.tolist())) == want
    np.testing.assert_allclose(sc, S[i, j])
    # candidate_pairs adds every pair within the threshold, once
    ci, cj, _ = candidate_pairs(f, 0.3, k=k, loose=thr)
    got = set(zip(ci.tolist(), cj.tolist()))
    assert want <= got and len(got) == len(ci)
    assert {(a, b) for a in range(40) for b in range(a + 1, 40) if S[a, b] >= 0.3} <= got


class FakeStore:
    def __init__(self, ok):
        self.ok = ok

    def verify(self, a, b):
        return Verification(inliers=50 if b in self.ok else 3, verified=b in self.ok)


def test_rerank_puts_verified_first_and_keeps_scores():
    df = pd.DataFrame({"rank": [1, 2, 3, 4], "name": ["a", "b", "c", "d"], "score": [0.9, 0.8, 0.7, 0.6],
                       "match": [True, True, False, False]})
    out = rerank(df, "q", FakeStore({"c", "a"}), top_k=3)
    assert list(out["name"]) == ["a", "c", "b"]
    assert list(out["rank"]) == [1, 2, 3] and list(out["first_rank"]) == [1, 3, 2]
    assert list(out["score"]) == [0.9, 0.7, 0.8]
    assert list(out["verified"]) == [True, True, False] and list(out["match"]) == [True, True, False]
    assert list(out["inliers"]) == [50, 50, 3]
