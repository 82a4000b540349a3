"""The command line's ``--invariance`` and ``--verify`` options: what they add to each command's run and output.

Kept out of :mod:`core.__main__` so the commands stay short: each command calls one function here when the option
is on. JSON additions (the method's ``score`` is never replaced):

* every command, when the option is given: ``"invariance"`` (``flips`` | ``dihedral``) and ``"verify": true``
  (absent = the defaults, so the plain JSON is unchanged);
* ``search`` / ``duplicates`` with a method that rates its features (PDQ): ``"low_quality"``, the images too weak
  to match on (PDQ quality < 50), listed with their quality and left out of the results (``[]`` when none); with ``--verify`` each result / pair gains ``"inliers"`` (int) and
  ``"verified"`` (bool), search results are re-ranked (verified first) and ``match`` is ``verified``; duplicate
  pairs are the candidates that verified or were within the threshold, groups are built from verified pairs;
* ``evaluate``: with ``--verify`` each method gains ``"verified"``: the same measures after verification;
* ``experiment speed``: columns ``verified_accuracy``, ``verified_map``, ``verified_pair_f1``;
  ``experiment robustness``: columns ``inliers`` and ``verified`` (the original against its transformed copy).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from .encoding import Features
from .quality import low_quality_mask, split_low_quality

# core.two_stage / core.verification (OpenCV) are imported inside the functions that need them: building the
# parser (every ``python -m core`` call) must not load OpenCV.

#: Key of the query image in a search's feature store (dataset items are keyed by their names, never a tuple).
QUERY_KEY = ("query",)


def add_flags(parser) -> None:
    """``--invariance`` and ``--verify`` on one sub-command."""
    from .invariance import MODES

    parser.add_argument("--invariance", choices=MODES, default="none",
                        help="compare over mirrors (flips) or the 8 rotations/mirrors (dihedral); default none")
    parser.add_argument("--verify", action="store_true",
                        help="confirm candidates with local features (SIFT + geometry); adds inliers/verified")


def options_json(a) -> dict:
    """``invariance`` / ``verify`` for the JSON, only when not the defaults."""
    out: dict = {}
    if getattr(a, "invariance", "none") != "none":
        out["invariance"] = a.invariance
    if getattr(a, "verify", False):
        out["verify"] = True
    return out


def _options(a, method, low: list[dict]) -> dict:
    from .quality import has_quality

    return options_json(a) | ({"low_quality": low} if has_quality(method) else {})


def search_results(q_row: np.ndarray, feats: Features, thr: float, a, ds, search, exclude: str | None = None
                   ) -> tuple[pd.DataFrame, dict]:
    """Run the search of ``python -m core search`` with the options; returns (results, extra JSON fields)."""
    feats, low = split_low_quality(feats)
    query_low = bool(low_quality_mask(feats.method, q_row[None])[0])
    extra = _options(a, feats.method, low)
    if query_low:
        extra["query_low_quality"] = True
    if a.verify:
        from .two_stage import dataset_store, rerank, search_pool

        df = search(q_row, feats, thr, top_k=search_pool(a.top_k), exclude=exclude)
        store = dataset_store(ds.items, extra={QUERY_KEY: a.query})
        df = rerank(df, QUERY_KEY, store, top_k=a.top_k)
    else:
        df = search(q_row, feats, thr, top_k=a.top_k, exclude=exclude)
    if query_low:  # a query too weak to match on is flagged, never matched
        df["match"] = False
    return df, extra


def result_json(r) -> dict:
    """One search result row as JSON (with ``inliers`` / ``verified`` when the frame has them)."""
    out = {"rank": int(r.rank), "name": r.name, "score": float(r.score), "match": bool(r.match)}
    if hasattr(r, "verified"):
        out["inliers"] = int(r.inliers)
        out["verified"] = bool(r.verified)
    return out


def duplicates_run(feats: Features, thr: float, a, ds, find_duplicates, info, progress):
    """Run ``python -m core duplicates`` with the options; returns (Duplicates, JSON pairs, extra fields).

    The JSON pairs are the verified run's (with ``inliers`` / ``verified``), or None without ``--verify``: then
    :func:`core.export.duplicates_dict` lists the pairs of the Duplicates.
    """
    feats, low = split_low_quality(feats)
    extra = _options(a, feats.method, low)
    if not a.verify:
        return find_duplicates(feats, thr, info=info, progress=progress), None, extra
    from .two_stage import dataset_store, verified_pairs

    vp = verified_pairs(feats, thr, dataset_store(ds.items), progress=progress)
    ok = vp[vp["verified"]]
    dup = find_duplicates(feats, thr, info=info, decided=(ok["i"].to_numpy(), ok["j"].to_numpy(),
                                                        ok["score"].to_numpy()))
    shown = vp[vp["verified"] | vp["within"]]
    pairs = [{"a": r.a, "b": r.b, "score": float(r.score), "inliers": int(r.inliers), "verified": bool(r.verified)}
             for r in shown.itertuples()]
    extra["checked_pairs"] = int(len(vp))
    return dup, pairs, extra


def evaluate_verified(res, ds) -> dict[str, dict]:
    """Per method name: the measures after verification (one feature store shared by every method)."""
    from .two_stage import dataset_store, verified_metrics

    groups = ds.groups_by_name()
    store = dataset_store(ds.items)
    out = {}
    for r in res.table.itertuples():
        f = res.features[r.method]
        out[r.method] = verified_metrics(f, groups, float(r.threshold), store)
    return out


def speed_with_verification(res, ds) -> pd.DataFrame:
    """``experiment speed`` table with the verified columns added."""
    v = evaluate_verified(res, ds)
    df = res.table.copy()
    df["verified_accuracy"] = [v[m]["accuracy"] for m in df["method"]]
    df["verified_map"] = [v[m]["map"] for m in df["method"]]
    df["verified_pair_f1"] = [v[m]["pair_f1"] for m in df["method"]]
    return df


def robustness_with_verification(df: pd.DataFrame, ds) -> pd.DataFrame:
    """``experiment robustness`` rows with ``inliers`` / ``verified``: each original against its transformed copy
    (the check does not depend on the method, so each (image, transform, strength) is verified once)."""
    from . import transforms as T
    from .experiments import sweep_images_from_dataset
    from .verification import VerifyConfig, extract, verify_with_mirror

    # the same originals, already shrunk to the sweep size, as the sweep itself (deterministic)
    imgs, names, _ = sweep_images_from_dataset(ds)
    originals = dict(zip(names, imgs))
    cfg = VerifyConfig()
    feats = {n: extract(im, cfg) for n, im in originals.items()}
    keys = df[["image", "transform", "strength"]].drop_duplicates()
    res = {}
    for k in keys.itertuples(index=False):
        copy = T.apply(originals[k.image], k.transform, k.strength)
        v = verify_with_mirror(feats[k.image], extract(copy, cfg),
                               lambda c=copy: extract(c.transpose(Image.Transpose.FLIP_LEFT_RIGHT), cfg), cfg)
        res[(k.image, k.transform, k.strength)] = (v.inliers, v.verified)
    out = df.copy()
    hits = [res[(i, t, s)] for i, t, s in zip(out["image"], out["transform"], out["strength"])]
    out["inliers"] = np.array([h[0] for h in hits], dtype=np.int64)
    out["verified"] = np.array([h[1] for h in hits], dtype=bool)
    return out


__all__ = ["QUERY_KEY", "add_flags", "duplicates_run", "evaluate_verified", "result_json",
           "robustness_with_verification", "search_results", "speed_with_verification"]
