"""The ``index build|update|query``, ``compare``, ``clean`` and ``undo`` subcommands of ``python -m core``.

:func:`register` adds them to the CLI's parser. The CLI's errors and argument helpers are handed in (``h``) rather
than imported: under ``python -m core`` the CLI module runs as ``__main__``, and importing ``core.__main__`` here
would create second copies of its exception classes that its ``main`` would not catch.
"""
from __future__ import annotations

import json
import os
import zipfile

from ..encoding import Features, encode_dataset, encode_file
from ..keeper import RULES
from ..methods import METHODS, parse_methods
from . import clean as _clean
from . import store
from .build import build, local_engine, update
from .groups import MODES

# .compare and .query (pandas, core.search) are imported by the commands that use them: building the parser for
# any command must stay cheap


def _inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _threshold(a, m, params) -> float:
    return a.threshold if a.threshold is not None else m.threshold_spec(params).default


def _encode(h, m, params, ds, a, bar) -> Features:
    return encode_dataset(ds, m, params, cache=not a.no_cache, progress=bar)


def _skipped_sets(h, **sets) -> list[dict]:
    """Skipped entries of several sets, each tagged with its set ("a", "b", "query", ...)."""
    return [{"set": name, **s} for name, lists in sets.items() for s in h.skipped_json(*lists)]


# ---------------------------------------------------------------------------------------------------------------
# index
# ---------------------------------------------------------------------------------------------------------------
ENGINES = ("local", "ray")


class _Local:
    """The local engine as a context manager (nothing to start or stop)."""

    def __init__(self, engine):
        self.engine = engine

    def __enter__(self):
        return self.engine

    def __exit__(self, *exc):
        return False


def _engine(a, h, bar):
    """The engine chosen by ``--engine`` (checked before the dataset is scanned): a context manager giving an
    :data:`~core.collection.build.Engine`. Ray missing is a usage error (exit 2) naming the install command."""
    if a.engine != "ray":
        if a.ray_address:
            raise h.UsageError("--ray-address needs --engine ray")
        return _Local(local_engine(cache=not a.no_cache, progress=bar, workers=a.workers))
    from .ray_engine import RayEngine, RayUnavailable

    try:
        return RayEngine(address=a.ray_address, workers=a.workers, progress=bar)
    except RayUnavailable as e:
        raise h.UsageError(str(e)) from None


def _run_engine(h, fn):
    """Run ``fn()`` (a build or an update); a Ray worker that cannot read the dataset is a clear error."""
    from .ray_engine import WorkerReadError  # imports no Ray

    try:
        return fn()
    except WorkerReadError as e:
        raise h.NothingUsable(str(e)) from None


def cmd_index_build(a, h) -> int:
    try:
        methods = parse_methods(a.methods)
    except ValueError as e:
        raise h.UsageError(str(e)) from None
    if os.path.exists(os.path.join(a.out, store.MANIFEST)):
        raise h.UsageError(f"{a.out} already holds an index: update it with `python -m core index update {a.out}` "
                           "or choose a new --out folder")
    if os.path.isdir(a.dataset) and _inside(a.out, a.dataset):
        raise h.UsageError("--out must be outside the dataset folder (the index files would be scanned as part "
                           "of the dataset)")
    bar = h.ProgressBar(a.progress)
    engine = _engine(a, h, bar)
    ds = h.load(a.dataset, None, bar, not a.no_cache)
    if not ds.items:
        raise h.NothingUsable(f"no usable images in {a.dataset}")
    with engine as run:
        index, rep = _run_engine(h, lambda: build(ds, [(m, {}) for m in methods], a.out,
                                                  root=os.path.abspath(a.dataset), engine=run))
    skipped = h.skipped_json(ds.skipped) + [{"file": n, "reason": f"{ms.method}: {r}"}
                                            for ms in index.methods for n, _, r in ms.skipped]
    out = {"index": os.path.abspath(a.out), "root": index.root, "files": len(index.files),
           "methods": [{"method": ms.method, "params": ms.params, "rows": int(ms.data.shape[0]),
                        "encoded": rep.encoded[ms.dir]} for ms in index.methods],
           "skipped": skipped}
    if a.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"indexed {len(index.files)} images of {index.root} into {out['index']}")
        for e in out["methods"]:
            print(f"  {e['method']}: {e['rows']} rows")
        h.print_skipped(skipped)
    return 0


def _read(h, path, **kw) -> store.Index:
    try:
        return store.read_index(path, **kw)
    except store.IndexFormatError as e:
        raise h.NothingUsable(str(e)) from None


def cmd_index_update(a, h) -> int:
    try:
        manifest = store.read_manifest(a.index)
    except store.IndexFormatError as e:
        raise h.NothingUsable(str(e)) from None
    bar = h.ProgressBar(a.progress)
    engine = _engine(a, h, bar)
    ds = h.load(manifest["root"], None, bar, not a.no_cache)
    try:
        with engine as run:
            _, rep = _run_engine(h, lambda: update(a.index, ds, engine=run))
    except store.IndexFormatError as e:
        raise h.NothingUsable(str(e)) from None
    except ValueError as e:  # a method this version of the code does not have
        raise h.NothingUsable(f"cannot update {a.index}: {e}") from None
    if a.json:
        print(json.dumps(rep.counts(), indent=2))
    else:
        c = rep.counts()
        print(", ".join(f"{k} {v}" for k, v in c.items()) + f"; encoded {sum(rep.encoded.values())} image(s)")
        h.print_skipped(h.skipped_json(ds.skipped))
    return 0


def _query_features(h, a, m, params, bar) -> tuple[Features, list[dict]]:
    """The query's rows: one image file, or every image of a folder or zip."""
    q = a.query
    if os.path.isfile(q) and not zipfile.is_zipfile(q):
        try:
            row = encode_file(m, q, params)
        except FileNotFoundError:
            raise h.NothingUsable(f"no such query file: {q}") from None
        except Exception as e:  # core.images.ImageError: the reason is its message
            raise h.NothingUsable(f"query {q}: {getattr(e, 'reason', e)}") from None
        return Features(method=m, params=m.resolve_params(params), data=row, names=[os.path.basename(q)],
                        content_ids=[""]), []
    ds = h.load(q, None, bar, not a.no_cache)
    feats = _encode(h, m, params, ds, a, bar)
    return feats, h.skipped_json(ds.skipped, feats.skipped)


def cmd_index_query(a, h) -> int:
    from .compare import best_matches
    from .query import NotInIndex, features as index_features, method_store

    m = h.method(a.method)
    params = h.params(m, a.param)
    index = _read(h, a.index)
    try:
        ms = method_store(index, m, params or None)
    except NotInIndex as e:
        raise h.UsageError(str(e)) from None
    params = m.resolve_params(ms.params)
    thr = _threshold(a, m, params)
    bar = h.ProgressBar(a.progress)
    queries, skipped = _query_features(h, a, m, params, bar)
    if len(queries) == 0:
        raise h.NothingUsable(f"no usable images in {a.query}")
    target = index_features(index, m, params)
    df = best_matches(queries, target, thr, a.top_k, bar)
    matches = [{"query": r.query, "name": r.name, "score": float(r.score)} for r in df.itertuples()]
    if a.json:
        print(json.dumps({"method": m.name, "threshold": thr, "matches": matches, "skipped": skipped}, indent=2))
    else:
        print(f"{m.label}, threshold {thr}: {len(queries)} query image(s) against {len(target)} indexed images, "
              f"{len(matches)} match(es)")
        for r in matches:
            print(f"  {r['query']}  ->  {r['name']}  ({r['score']:.4f})")
        h.print_skipped(skipped)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# compare, clean, undo
# ---------------------------------------------------------------------------------------------------------------
def cmd_compare(a, h) -> int:
    from .compare import compare

    m = h.method(a.method)
    params = m.resolve_params(h.params(m, a.param))
    thr = _threshold(a, m, params)
    bar = h.ProgressBar(a.progress)
    da = h.load(a.a, None, bar, not a.no_cache)
    db = h.load(a.b, None, bar, not a.no_cache)
    fa, fb = _encode(h, m, params, da, a, bar), _encode(h, m, params, db, a, bar)
    if len(fa) == 0 or len(fb) == 0:
        raise h.NothingUsable(f"no usable images in {a.a if len(fa) == 0 else a.b}")
    df = compare(fa, fb, thr, bar)
    skipped = _skipped_sets(h, a=[da.skipped, fa.skipped], b=[db.skipped, fb.skipped])
    pairs = [{"a": r.a, "b": r.b, "score": float(r.score)} for r in df.itertuples()]
    if a.json:
        print(json.dumps({"method": m.name, "threshold": thr, "a_images": len(fa), "b_images": len(fb),
                          "pairs": pairs, "skipped": skipped}, indent=2))
    else:
        in_b = len({p["b"] for p in pairs})
        print(f"{m.label}, threshold {thr}: {len(fa)} images in A, {len(fb)} in B, {len(pairs)} cross pair(s); "
              f"{in_b} of B ({in_b / len(fb):.1%}) have a copy in A")
        for p in pairs:
            print(f"  {p['a']}  ~  {p['b']}  ({p['score']:.4f})")
        h.print_skipped([{"file": f"{s['set'].upper()}: {s['file']}", "reason": s["reason"]} for s in skipped])
    return 0


def cmd_clean(a, h) -> int:
    from ..search import pair_indices

    m = h.method(a.method)
    params = m.resolve_params(h.params(m, a.param))
    thr = _threshold(a, m, params)
    if not os.path.isdir(a.dataset):
        if os.path.isfile(a.dataset) and zipfile.is_zipfile(a.dataset):
            raise h.UsageError(f"clean moves files inside a folder and {a.dataset} is a zip archive: extract it and "
                               "clean the folder (the zip itself is never changed)")
        if not os.path.exists(a.dataset):
            raise h.NothingUsable(f"no such folder: {a.dataset}")
        raise h.UsageError(f"clean works on a folder; {a.dataset} is not one")
    if _clean.overlaps(a.move_to, a.dataset):
        raise h.UsageError("--move-to must be a folder outside the dataset (and not one that contains it)")
    bar = h.ProgressBar(a.progress)
    ds = h.load(a.dataset, None, bar, not a.no_cache)
    feats = _encode(h, m, params, ds, a, bar)
    if len(feats) == 0:
        raise h.NothingUsable(f"no usable images in {a.dataset}")
    i, j, _ = pair_indices(feats, thr, bar)
    groups = _clean.plan(ds, feats.names, i, j, rule=a.keep, mode=a.groups)
    if a.dry_run:
        outcome = _clean.Outcome(groups)
    else:
        outcome = _clean.apply(ds, groups, a.move_to, {"method": m.name, "params": params, "threshold": thr,
                                                       "keep": a.keep, "groups": a.groups})
    skipped = h.skipped_json(ds.skipped, feats.skipped)
    if a.json:
        print(json.dumps({"method": m.name, "threshold": thr, "keep": a.keep, "grouping": a.groups,
                          "dry_run": bool(a.dry_run),
                          "groups": [{"keep": g.keep, "reason": g.reason, "move": g.move} for g in groups],
                          "moved": [{"name": x.name, "destination": x.destination, "renamed": x.renamed}
                                    for x in outcome.moved],
                          "not_moved": [{"file": n, "reason": r} for n, r in outcome.not_moved],
                          "log": outcome.log, "skipped": skipped}, indent=2, default=str))
    else:
        verb = "would move" if a.dry_run else "move"
        for g in groups:
            print(f"keep {g.keep}: {g.reason}")
            for name in g.move:
                print(f"   {verb} {name}")
        for x in outcome.moved:
            if x.renamed:
                print(f"note: {x.name} was moved to {x.destination} (the name was taken)")
        for n, r in outcome.not_moved:
            print(f"not moved: {n}: {r}")
        n_move = sum(len(g.move) for g in groups)
        if a.dry_run:
            print(f"dry run: {len(groups)} group(s), {n_move} file(s) would move to {a.move_to}")
        else:
            print(f"moved {len(outcome.moved)} of {n_move} file(s) to {os.path.abspath(a.move_to)}")
            if outcome.log:
                print(f"undo with: python -m core undo {outcome.log}")
        h.print_skipped(skipped)
    return 0


def cmd_undo(a, h) -> int:
    try:
        moves = _clean.undo(a.log)
    except FileNotFoundError:
        raise h.NothingUsable(f"no such undo log: {a.log}") from None
    except (ValueError, _clean.UndoRefused) as e:
        raise h.NothingUsable(str(e)) from None
    if a.json:
        print(json.dumps({"log": os.path.abspath(a.log), "restored": len(moves),
                          "files": [m["source"] for m in moves]}, indent=2))
    else:
        print(f"moved {len(moves)} file(s) back")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------------------------------------
def _engine_args(p) -> None:
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: this machine's process pool (default); ray: a Ray cluster (pip install -r "
                        "requirements-scale.txt); the index is the same either way")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="join this Ray cluster (auto, HOST:6379 or ray://HOST:10001) instead of starting a local one; "
                        "the dataset folder must be readable at the same path on every node")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (local engine, local Ray cluster) or most Ray tasks at once (joined "
                        "cluster); default: every CPU")


def register(sub, common, h) -> None:
    """Add the subcommands to ``sub`` (the CLI's subparsers); ``common`` adds --json/--no-cache/--progress."""
    names = ", ".join(METHODS)

    def cmd(fn):
        return lambda a: fn(a, h)

    idx = sub.add_parser("index", help="build, update and query a saved index of a dataset")
    isub = idx.add_subparsers(dest="index_cmd", required=True, parser_class=type(idx))
    b = isub.add_parser("build", help="encode a dataset once and save the features")
    b.add_argument("dataset", help="folder or .zip")
    b.add_argument("--methods", required=True, help=f"all | article | comma list of: {names}")
    b.add_argument("--out", required=True, help="index folder to create")
    _engine_args(b)
    common(b)
    b.set_defaults(fn=cmd(cmd_index_build))
    u = isub.add_parser("update", help="re-scan the indexed dataset; encode only added or changed files")
    u.add_argument("index")
    _engine_args(u)
    common(u)
    u.set_defaults(fn=cmd(cmd_index_update))
    q = isub.add_parser("query", help="match an image, a folder or a zip against an index")
    q.add_argument("index")
    q.add_argument("query", help="image, folder or .zip")
    q.add_argument("--method", required=True, help=f"one of the methods the index was built with ({names})")
    q.add_argument("--threshold", type=float)
    q.add_argument("--top-k", type=int, default=10, help="matches per query image (default 10)")
    q.add_argument("--param", action="append", metavar="NAME=VALUE", help="choose among stored parameter sets")
    common(q)
    q.set_defaults(fn=cmd(cmd_index_query))

    c = sub.add_parser("compare", help="cross pairs of set A against set B (never pairs inside one set)")
    c.add_argument("a", help="set A: folder or .zip")
    c.add_argument("b", help="set B: folder or .zip")
    c.add_argument("--method", required=True, help=f"one of: {names}")
    c.add_argument("--threshold", type=float)
    c.add_argument("--param", action="append", metavar="NAME=VALUE")
    common(c)
    c.set_defaults(fn=cmd(cmd_compare))

    k = sub.add_parser("clean", help="move every copy but its group's keeper into another folder (with undo log)")
    k.add_argument("dataset", help="folder (zips are refused: nothing inside them is moved)")
    k.add_argument("--method", required=True, help=f"one of: {names}")
    k.add_argument("--threshold", type=float)
    k.add_argument("--param", action="append", metavar="NAME=VALUE")
    k.add_argument("--move-to", required=True, help="folder receiving the copies (relative paths kept)")
    k.add_argument("--keep", choices=RULES, default="original",
                   help="which copy stays (default original: most pixels, no copy marker, oldest, readable format)")
    k.add_argument("--groups", choices=MODES, default="components",
                   help="components: chains form one group; strict: only images within the threshold of the keeper")
    k.add_argument("--dry-run", action="store_true", help="print the plan, move nothing")
    common(k)
    k.set_defaults(fn=cmd(cmd_clean))

    un = sub.add_parser("undo", help="put back every file a clean moved (byte-identical, hash-checked)")
    un.add_argument("log", help="the undo log written into the --move-to folder")
    un.add_argument("--json", action="store_true", help="print machine-readable JSON")
    un.set_defaults(fn=cmd(cmd_undo))
