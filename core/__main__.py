"""Command-line interface: ``python -m core search|duplicates|evaluate|experiment|methods|warmup|index|compare|clean|undo``.

Exit codes: 0 success (also when some files were skipped), 1 nothing usable was given, 2 bad usage (the message
names the valid choices). Progress bars go to stderr; results (text or ``--json``) to stdout.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from types import SimpleNamespace

from . import datasets, images
from .encoding import encode_dataset, encode_file
from .methods import METHODS, get, parse_methods


class UsageError(Exception):
    pass


class NothingUsable(Exception):
    pass


class ProgressBar:
    """A minimal terminal progress bar on stderr (only when stderr is a terminal, or ``--progress`` forces it)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.enabled or total <= 0:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = min(1.0, done / total)
        bar = "#" * int(30 * frac)
        eta = ""
        if 0 < done < total:
            eta = f" ~{(now - self.t0) / done * (total - done):.0f}s left"
        sys.stderr.write(f"\r[{bar:<30}] {done}/{total} {message[:40]:<40}{eta}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _params(method, pairs: list[str] | None) -> dict:
    out = {}
    known = {p.name: p for p in method.params}
    for kv in pairs or []:
        if "=" not in kv:
            raise UsageError(f"--param expects NAME=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        if k not in known:
            raise UsageError(f"method {method.name} has no parameter {k!r}; valid: {', '.join(known) or 'none'}")
        try:
            out[k] = known[k].parse(v)
            method.resolve_params(out)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return out


def _method(name: str):
    try:
        return get(name)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _load(path: str, labels: str | None, bar, use_cache: bool = True) -> datasets.Dataset:
    try:
        if labels:
            datasets.parse_labels(labels)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        if use_cache:
            ds = datasets.load(path, labels=labels, progress=bar)
        else:  # --no-cache: nor the stat memo (every file read, hashed and checked again)
            with datasets.no_stat_memo():
                ds = datasets.load(path, labels=labels, progress=bar)
    except FileNotFoundError:
        raise NothingUsable(f"no such file or folder: {path}") from None
    except datasets.DatasetError as e:
        raise NothingUsable(f"{path}: {e}") from None
    if ds.incomplete:
        print(f"warning: {path}: {ds.incomplete}", file=sys.stderr)
    return ds


def _methods_and_dataset(a) -> tuple[list, datasets.Dataset, ProgressBar]:
    """``--methods`` and the labelled DATASET of ``evaluate`` / ``experiment`` (usage errors before any loading)."""
    from .invariance import wrap_all

    try:
        methods = wrap_all(parse_methods(a.methods), a.invariance)
    except ValueError as e:
        raise UsageError(str(e)) from None
    bar = ProgressBar(a.progress)
    ds = _load(a.dataset, a.labels, bar, not a.no_cache)
    if not ds.items:
        raise NothingUsable(f"no usable images in {a.dataset}")
    return methods, ds, bar


def _skipped_json(*lists) -> list[dict]:
    return [{"file": s.file, "reason": s.reason} for lst in lists for s in lst]


def _num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _print_skipped(skipped: list[dict]) -> None:
    if skipped:
        print(f"\nskipped {len(skipped)} file(s):")
        for s in skipped:
            print(f"  {s['file']}: {s['reason']}")


def _helpers() -> SimpleNamespace:
    """What the subcommand modules (core/collection/cli.py) use from this CLI, handed to them rather than imported
    (under ``python -m core`` this module is ``__main__``: a second import would make new exception classes)."""
    return SimpleNamespace(UsageError=UsageError, NothingUsable=NothingUsable, ProgressBar=ProgressBar,
                           method=_method, params=_params, load=_load, skipped_json=_skipped_json,
                           print_skipped=_print_skipped)


def _query_itself(query: str, items) -> str | None:
    """The dataset item that is the query file itself (same resolved path; in a zip: same name and bytes)."""
    from .query import content_id, self_item

    try:
        with open(query, "rb") as f:
            cid = content_id(f.read())
    except OSError:
        cid = None
    return self_item(items, name=os.path.basename(query), cid=cid, path=query)


def cmd_search(a) -> int:
    from .scale import search_info
    from . import cli_two_stage as two
    from .invariance import invariant
    from .search import search

    m = invariant(_method(a.method), a.invariance)
    params = _params(m, a.param)
    thr = a.threshold if a.threshold is not None else m.threshold_spec(params).default
    bar = ProgressBar(a.progress)
    ds = _load(a.dataset, None, bar, not a.no_cache)
    try:
        q = encode_file(m, a.query, params)
    except images.ImageError as e:
        raise NothingUsable(f"query {a.query}: {e.reason}") from None
    except FileNotFoundError:
        raise NothingUsable(f"no such query file: {a.query}") from None
    feats = encode_dataset(ds, m, params, cache=not a.no_cache, progress=bar)
    if len(feats) == 0:
        raise NothingUsable(f"no usable images in {a.dataset}")
    itself = _query_itself(a.query, ds.items)
    df, extra = two.search_results(q[0], feats, thr, a, ds, search, exclude=itself)
    skipped = _skipped_json(ds.skipped, feats.skipped)
    if a.json:
        print(json.dumps({"query": a.query, "method": m.name, "threshold": thr, "query_in_set": itself,
                          "index": search_info(feats),
                          "results": [two.result_json(r) for r in df.itertuples()],
                          "skipped": skipped} | extra, indent=2))
    else:
        print(f"{m.label}: {m.unit}, {'higher' if m.higher_is_closer else 'lower'} is closer; threshold {thr}")
        if itself is not None:
            print(f"the query itself is in the set as {itself}: left out of the ranking and the match count")
        print(f"{'rank':>4}  {'score':>10}  match  name")
        for r in df.itertuples():
            checked = f"  {r.inliers} inliers" if a.verify else ""
            print(f"{r.rank:>4}  {r.score:>10.4f}  {'yes' if r.match else ' no'}    {r.name}{checked}")
        for lq in extra.get("low_quality", []):
            print(f"  low quality (not matched): {lq['name']} ({lq['quality']:g})")
        _print_skipped(skipped)
    return 0


def cmd_duplicates(a) -> int:
    from . import cli_two_stage as two
    from .collection.groups import duplicates_regrouped
    from .scale import index_line
    from .invariance import invariant
    from . import export, keeper
    from .search import find_duplicates, item_info

    m = invariant(_method(a.method), a.invariance)
    params = _params(m, a.param)
    thr = a.threshold if a.threshold is not None else m.threshold_spec(params).default
    bar = ProgressBar(a.progress)
    ds = _load(a.dataset, None, bar, not a.no_cache)
    feats = encode_dataset(ds, m, params, cache=not a.no_cache, progress=bar)
    if len(feats) == 0:
        raise NothingUsable(f"no usable images in {a.dataset}")
    # each group keeps its original (core.keeper's default rule), in components and strict groups alike
    pick = keeper.chooser(ds)
    dup, pairs, extra = two.duplicates_run(feats, thr, a, ds, functools.partial(find_duplicates, choose_keeper=pick),
                                           item_info(ds.items), bar)
    if dup.truncated:  # stderr: the JSON on stdout stays machine-readable
        print(f"note: {dup.message} (the cap is DUPFINDER_MAX_PAIRS)", file=sys.stderr)
    dup = duplicates_regrouped(dup, feats.names, a.groups, choose_keeper=pick)
    skipped = _skipped_json(ds.skipped, feats.skipped)
    groups = dup.group_members()
    if a.json:  # one shape with the app's download (core.export)
        print(export.duplicates_json(dup, m.name, thr, skipped, images=len(feats), pairs=pairs, extra=extra))
    else:
        print(f"{m.label}, threshold {thr}: {len(feats)} images, {dup.total_pairs} duplicate pairs, "
              f"{len(groups)} groups; {index_line(dup.index)}")
        for g in groups:
            print(f"group {g['group_id']} (keep {g['keep']}):")
            for name in g["members"]:
                print(f"   {'*' if name == g['keep'] else ' '} {name}")
        _print_skipped(skipped)
    return 0


def cmd_evaluate(a) -> int:
    from . import cli_two_stage as two
    from .experiments import speed_accuracy

    methods, ds, bar = _methods_and_dataset(a)
    if not ds.has_labels:
        raise NothingUsable(f"no ground-truth labels found with --labels {a.labels}")
    # evaluation times encoding for real, so it never reads features from the cache
    res = speed_accuracy(ds, methods, cache=False, progress=bar)
    df = res.table
    out = {"protocol": "precision@3", "images": res.images, "queries": res.queries,
           "methods": [{"method": r.method, "accuracy": _num(r.accuracy), "correct": int(r.correct),
                        "total": int(r.total), "map": _num(r.map), "seconds_per_pair": _num(r.seconds_per_pair),
                        "seconds_per_pair_with_encoding": _num(r.seconds_per_pair_with_encoding),
                        "encode_seconds": _num(r.encode_seconds), "images_per_second": _num(r.images_per_second),
                        "pair_f1": _num(r.pair_f1), "threshold": _num(r.threshold)}
                       for r in df.itertuples()],
           "skipped": _skipped_json(ds.skipped, res.skipped)} | two.options_json(a)
    if a.verify:
        checked = two.evaluate_verified(res, ds)
        for row in out["methods"]:
            row["verified"] = {k: _num(v) for k, v in checked[row["method"]].items()}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"precision@3 (article protocol) on {res.images} images, {res.queries} queries; "
              f"times per pair amortised / with encoding")
        print(f"{'method':<14} {'acc@3':>7} {'mAP':>7} {'F1':>6} {'s/pair':>10} {'s/pair+enc':>11} {'img/s':>8}")
        for r in df.itertuples():
            print(f"{r.method:<14} {r.accuracy:>7.2%} {r.map:>7.3f} {r.pair_f1:>6.3f} {r.seconds_per_pair:>10.2e} "
                  f"{r.seconds_per_pair_with_encoding:>11.2e} {r.images_per_second:>8.1f}")
        if a.verify:
            print("after verification (local features):")
            for row in out["methods"]:
                v = row["verified"]
                print(f"{row['method']:<14} {v['accuracy']:>7.2%} {v['map']:>7.3f} {v['pair_f1']:>6.3f}")
        _print_skipped(out["skipped"])
    return 0


def cmd_experiment(a) -> int:
    from . import cli_two_stage as two
    from . import experiments, export

    if a.verify and a.kind == "scipy-numpy":
        raise UsageError("--verify applies to the speed and robustness experiments")
    methods, ds, bar = _methods_and_dataset(a)
    try:
        if a.verify and a.kind == "speed":
            if not ds.has_labels:
                raise ValueError("the speed experiment needs ground-truth labels (--labels ...)")
            df = two.speed_with_verification(experiments.speed_accuracy(ds, methods, progress=bar), ds)
        else:
            df = experiments.run_cli_experiment(a.kind, ds, methods, cache=not a.no_cache, progress=bar)
            if a.verify:
                df = two.robustness_with_verification(df, ds)
    except ValueError as e:  # e.g. an experiment that needs labels on an unlabelled dataset
        raise NothingUsable(str(e)) from None
    export.csv_safe(df).to_csv(a.out, index=False)  # names that start like a formula stay text in a spreadsheet
    print(f"wrote {len(df)} rows to {a.out}")
    _print_skipped(_skipped_json(ds.skipped))
    return 0


def cmd_methods(a) -> int:
    if a.markdown:
        from .methods import methods_table
        print(methods_table())
        return 0
    for m in METHODS.values():
        spec = m.threshold_spec()
        print(f"{m.name:<14} {m.label:<32} {m.unit:<28} {'higher' if m.higher_is_closer else 'lower':<6} "
              f"default threshold {spec.default}")
    return 0


def cmd_warmup(a) -> int:
    from .warmup import warm_up

    out = warm_up(load_model=a.load_model)
    print(json.dumps(out, indent=2) if a.json else
          f"ONNX model: {out['onnx'] or 'not available'}\ndemo sets: {out['demo'] or 'not available'}\n"
          f"{out['seconds']:.1f} s" + "".join(f"\nwarning: {e}" for e in out["errors"]))
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # exit 2 with the usage, as argparse does, but via our UsageError path
        raise UsageError(f"{message}\n{self.format_usage().strip()}")


def build_parser() -> argparse.ArgumentParser:
    from .cli_two_stage import add_flags as add_two_stage_flags

    p = _Parser(prog="python -m core", description="Find duplicate and near-duplicate images.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    names = ", ".join(METHODS)

    def common(sp):
        sp.add_argument("--json", action="store_true", help="print machine-readable JSON")
        sp.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
        sp.add_argument("--progress", action="store_true", default=sys.stderr.isatty(),
                        help="show a progress bar on stderr (default: when stderr is a terminal)")

    s = sub.add_parser("search", help="rank a dataset against one query image")
    s.add_argument("query")
    s.add_argument("dataset", help="folder or .zip")
    s.add_argument("--method", required=True, help=f"one of: {names}")
    s.add_argument("--threshold", type=float)
    s.add_argument("--top-k", type=int, default=10)
    s.add_argument("--param", action="append", metavar="NAME=VALUE", help="method parameter (repeatable)")
    common(s)
    add_two_stage_flags(s)
    s.set_defaults(fn=cmd_search)

    d = sub.add_parser("duplicates", help="all duplicate groups of a dataset")
    d.add_argument("dataset")
    d.add_argument("--method", required=True, help=f"one of: {names}")
    d.add_argument("--threshold", type=float)
    d.add_argument("--param", action="append", metavar="NAME=VALUE")
    d.add_argument("--groups", choices=["components", "strict"], default="components",
                   help="components: chains form one group; strict: only images within the threshold of the keeper")
    common(d)
    add_two_stage_flags(d)
    d.set_defaults(fn=cmd_duplicates)

    e = sub.add_parser("evaluate", help="the article's precision@3 protocol, mAP and pair F1")
    e.add_argument("dataset")
    e.add_argument("--labels", required=True, help="consecutive:K | folders | csv:PATH")
    e.add_argument("--methods", default="article", help=f"all | article | comma list of: {names}")
    common(e)
    add_two_stage_flags(e)
    e.set_defaults(fn=cmd_evaluate)

    x = sub.add_parser("experiment", help="run an experiment and write a tidy CSV")
    x.add_argument("kind", choices=["speed", "robustness", "scipy-numpy"])
    x.add_argument("dataset")
    x.add_argument("--labels", default=None)
    x.add_argument("--methods", default="article")
    x.add_argument("--out", required=True)
    common(x)
    add_two_stage_flags(x)
    x.set_defaults(fn=cmd_experiment)

    w = sub.add_parser("warmup", help="one-off set-up: export the CNN to ONNX, build the demo sets (run at install)")
    w.add_argument("--load-model", action="store_true", help="also load the model once (checks it runs)")
    w.add_argument("--json", action="store_true", help="print machine-readable JSON")
    w.set_defaults(fn=cmd_warmup)

    m = sub.add_parser("methods", help="list the registered methods")
    m.add_argument("--markdown", action="store_true", help="print the README's methods table")
    m.set_defaults(fn=cmd_methods, json=False)

    from .collection.cli import register  # index build|update|query, compare, clean, undo
    register(sub, common, _helpers())
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    try:
        a = p.parse_args(argv)
        return a.fn(a)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NothingUsable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
