"""The saved index: build, incremental update (only changed contents are encoded), query = brute-force search,
the on-disk format readable without the code, and the ``index`` CLI forms."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import datasets
from core.__main__ import main
from core.collection import build as cbuild
from core.collection import query as cquery
from core.collection import store
from core.encoding import encode_dataset
from core.methods import get
from core.search import search

ROOT = Path(__file__).resolve().parents[1]
THR = 6  # ahash bits: re-encoded copies of these images are <= 1 bit apart, distinct ones >= 17


def smooth(seed: int, w: int = 160, h: int = 120) -> Image.Image:
    """A smooth random picture (a 5x5 colour grid, bicubic): distinct seeds are far apart for the hashes."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)


def jpeg(img: Image.Image, quality: int = 90, scale: float = 1.0) -> bytes:
    if scale != 1.0:
        img = img.resize((int(img.width * scale), int(img.height * scale)), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def spy_engine(calls: list):
    """The local engine (no cache), recording which images each call was asked to encode."""
    base = cbuild.local_engine(cache=False, workers=0)

    def run(items, method, params):
        calls.append((method.name, sorted(it.name for it in items)))
        return base(items, method, params)

    return run


def specs(*names):
    return [(get(n), {}) for n in names]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "photos"
    (d / "sub").mkdir(parents=True)
    for k in range(5):
        (d / f"p{k}.jpg").write_bytes(jpeg(smooth(k)))
    (d / "sub" / "p0-copy.jpg").write_bytes(jpeg(smooth(0), 60, 0.7))  # a near duplicate of p0
    (d / "notes.txt").write_text("not an image")
    (d / "broken.jpg").write_bytes(jpeg(smooth(9))[:300])  # truncated: skipped by the loader with a reason
    return d


def load(path) -> datasets.Dataset:
    with datasets.no_stat_memo():
        return datasets.load(path)


def test_build_writes_a_self_describing_format(folder, tmp_path):
    out = tmp_path / "idx"
    calls: list = []
    ds = load(folder)
    cbuild.build(ds, specs("ahash", "phash"), out, root=str(folder), engine=spy_engine(calls))
    assert calls == [("ahash", sorted(ds.names())), ("phash", sorted(ds.names()))]
    # read back with json/csv/numpy only, as the package docstring documents
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == "dupfinder-index" and m["version"] == 1 and m["root"] == str(folder)
    assert m["files"] == 6 and m["skipped"] == 2 and m["created"] and m["updated"]
    assert [e["method"] for e in m["methods"]] == ["ahash", "phash"]
    files = list(csv.DictReader(open(out / "files.csv", encoding="utf-8")))
    assert [f["name"] for f in files] == ds.names()
    for f, it in zip(files, ds.items):
        st = os.stat(folder / f["name"])
        assert (int(f["size"]), int(f["mtime_ns"]), f["sha256"]) == (st.st_size, st.st_mtime_ns, it.content_id)
    skipped = {r["name"]: r["reason"] for r in csv.DictReader(open(out / "skipped.csv", encoding="utf-8"))}
    assert set(skipped) == {"notes.txt", "broken.jpg"} and all(skipped.values())
    for e in m["methods"]:
        X = np.load(out / "features" / e["dir"] / "features.npy")
        rows = list(csv.DictReader(open(out / "features" / e["dir"] / "files.csv", encoding="utf-8")))
        direct = encode_dataset(ds, get(e["method"]), cache=False)
        assert X.shape == (e["rows"], e["dim"]) and str(X.dtype) == e["dtype"]
        assert [r["name"] for r in rows] == direct.names
        np.testing.assert_array_equal(X, direct.data)


def test_update_encodes_only_new_contents(folder, tmp_path):
    out = tmp_path / "idx"
    cbuild.build(load(folder), specs("ahash", "phash"), out, root=str(folder), engine=spy_engine([]))
    (folder / "p5.jpg").write_bytes(jpeg(smooth(5)))  # added
    (folder / "p1.jpg").write_bytes(jpeg(smooth(11)))  # changed: other content under the same name
    (folder / "p2.jpg").unlink()  # removed
    st = os.stat(folder / "p3.jpg")  # touched: new mtime, same bytes -> unchanged
    os.utime(folder / "p3.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    shutil.copy(folder / "p4.jpg", folder / "sub" / "p4 (1).jpg")  # added, but its content already has a row
    calls: list = []
    ds = load(folder)
    index, rep = cbuild.update(out, ds, engine=spy_engine(calls))
    assert rep.counts() == {"added": 2, "changed": 1, "removed": 1, "unchanged": 4}
    assert calls == [("ahash", ["p1.jpg", "p5.jpg"]), ("phash", ["p1.jpg", "p5.jpg"])]
    assert json.loads((out / "manifest.json").read_text())["last_update"]["encoded"] == 4
    # the updated index equals a fresh build of the same folder (rows, order, file table)
    fresh_dir = tmp_path / "fresh"
    fresh, _ = cbuild.build(ds, specs("ahash", "phash"), fresh_dir, root=str(folder), engine=spy_engine([]))
    again = store.read_index(out)
    assert again.files == fresh.files
    assert [r.mtime_ns for r in again.files if r.name == "p3.jpg"] == [os.stat(folder / "p3.jpg").st_mtime_ns]
    for a, b in zip(again.methods, fresh.methods):
        assert (a.names, a.sha256) == (b.names, b.sha256)
        np.testing.assert_array_equal(a.data, b.data)
    # nothing changed: nothing encoded
    calls.clear()
    _, rep = cbuild.update(out, load(folder), engine=spy_engine(calls))
    assert calls == [] and rep.counts() == {"added": 0, "changed": 0, "removed": 0, "unchanged": 7}


def test_update_reencodes_a_method_whose_encoder_changed(folder, tmp_path):
    out = tmp_path / "idx"
    cbuild.build(load(folder), specs("ahash"), out, root=str(folder), engine=spy_engine([]))
    m = json.loads((out / "manifest.json").read_text())
    m["methods"][0]["params_key"] = m["methods"][0]["params_key"].replace('"v": "', '"v": "old-')
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(cquery.NotInIndex, match="another encoder version"):
        cquery.features(store.read_index(out), get("ahash"))
    calls: list = []
    cbuild.update(out, load(folder), engine=spy_engine(calls))
    assert calls == [("ahash", sorted(load(folder).names()))]
    assert len(cquery.features(store.read_index(out), get("ahash"))) == 6


@pytest.mark.parametrize("method", ["ahash", "phash"])
def test_query_equals_brute_force_search(folder, tmp_path, method):
    out = tmp_path / "idx"
    ds = load(folder)
    cbuild.build(ds, specs(method), out, root=str(folder), engine=spy_engine([]))
    qdir = tmp_path / "queries"
    qdir.mkdir()
    for k in (0, 3, 7):  # two near copies of indexed images, one stranger
        (qdir / f"q{k}.jpg").write_bytes(jpeg(smooth(k), 70, 0.8))
    m = get(method)
    queries = encode_dataset(load(qdir), m, cache=False)
    thr = m.threshold_spec().default
    for top_k in (1, 10):
        got = cquery.query(store.read_index(out), queries, thr, top_k)
        brute = encode_dataset(ds, m, cache=False)
        want = []
        for name, row in zip(queries.names, queries.data):
            df = search(row, brute, thr, top_k=top_k)
            want += [(name, r.name, r.score) for r in df[df["match"]].itertuples()]
        assert list(got.itertuples(index=False, name=None)) == want
        assert {q for q, _, _ in want} == {"q0.jpg", "q3.jpg"}


def run(*args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_index_cli_forms(folder, tmp_path, capsys):
    out = tmp_path / "idx"
    code, o, e = run("index", "build", folder, "--methods", "ahash,dhash", "--out", out, "--json", "--no-cache",
                     capsys=capsys)
    assert code == 0, e
    j = json.loads(o)
    assert [x["method"] for x in j["methods"]] == ["ahash", "dhash"] and j["files"] == 6
    assert {s["file"] for s in j["skipped"]} == {"notes.txt", "broken.jpg"}
    code, o, e = run("index", "build", folder, "--methods", "ahash", "--out", out, capsys=capsys)
    assert code == 2 and "already holds an index" in e
    code, o, e = run("index", "build", folder, "--methods", "ahash", "--out", folder / "idx", capsys=capsys)
    assert code == 2 and "outside the dataset" in e
    code, o, e = run("index", "build", folder, "--methods", "nope", "--out", tmp_path / "x", capsys=capsys)
    assert code == 2 and "ahash" in e

    (folder / "p5.jpg").write_bytes(jpeg(smooth(5)))
    (folder / "p0.jpg").unlink()
    code, o, e = run("index", "update", out, "--json", "--no-cache", capsys=capsys)
    assert code == 0, e
    assert json.loads(o) == {"added": 1, "changed": 0, "removed": 1, "unchanged": 5}

    q = tmp_path / "q.jpg"
    q.write_bytes(jpeg(smooth(3), 70, 0.8))
    code, o, e = run("index", "query", out, q, "--method", "ahash", "--threshold", THR, "--json", capsys=capsys)
    assert code == 0, e
    j = json.loads(o)
    assert set(j) == {"method", "threshold", "matches", "skipped"} and j["threshold"] == THR
    assert [(m["query"], m["name"]) for m in j["matches"]] == [("q.jpg", "p3.jpg")]
    # a folder or a zip as the query: names relative to the query set; its junk listed as skipped
    code, o, e = run("index", "query", out, folder, "--method", "dhash", "--top-k", "1", "--json", capsys=capsys)
    j = json.loads(o)
    assert code == 0 and all(m["query"] == m["name"] for m in j["matches"]) and len(j["matches"]) == 6
    assert {s["file"] for s in j["skipped"]} == {"notes.txt", "broken.jpg"}
    code, o, e = run("index", "query", out, q, "--method", "phash", capsys=capsys)
    assert code == 2 and "built with: ahash, dhash" in e
    code, o, e = run("index", "query", out, tmp_path / "missing.jpg", "--method", "ahash", capsys=capsys)
    assert code == 1
    code, o, e = run("index", "update", tmp_path, capsys=capsys)
    assert code == 1 and "not an index folder" in e


def test_index_query_as_a_real_subprocess(folder, tmp_path):
    """``python -m core`` runs the CLI as ``__main__``: the subcommands' errors must still map to exit codes."""
    out = tmp_path / "idx"
    env = dict(os.environ)

    def run_sub(*args):
        p = subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                           cwd=ROOT, env=env, timeout=300)
        return p.returncode, p.stdout, p.stderr

    code, _, err = run_sub("index", "build", folder, "--methods", "ahash", "--out", out)
    assert code == 0, err
    code, _, err = run_sub("index", "query", out, folder / "p1.jpg", "--method", "cnn-cosine")
    assert code == 2 and "no features for cnn-cosine" in err
    code, _, err = run_sub("index", "update", tmp_path / "nowhere")
    assert code == 1 and "not an index folder" in err


def test_readme_collection_commands_parse():
    """Every ``python -m core index|compare|clean|undo|duplicates`` line of the README parses with today's CLI."""
    import shlex

    from core.__main__ import build_parser

    lines = [ln.split("#")[0].strip() for ln in (ROOT / "README.md").read_text().splitlines()]
    cmds = [shlex.split(ln)[3:] for ln in lines
            if ln.startswith("python -m core ") and ln.split()[3] in {"index", "compare", "clean", "undo"}]
    assert {c[0] for c in cmds} == {"index", "compare", "clean", "undo"}
    assert any("--groups" in c and c[0] == "duplicates" for c in [shlex.split(ln)[3:] for ln in lines
                                                                   if ln.startswith("python -m core duplicates")])
    for c in cmds:
        build_parser().parse_args(c)


def test_an_opened_index_offers_the_folder_s_upper_case_ground_truth_csv(folder, tmp_path):
    """GROUND_TRUTH.csv as people write it (upper case) reaches the app's "auto" labels of an opened index."""
    from core.collection import open as ixo

    (folder / "GROUND_TRUTH.csv").write_text("file,group\np0.jpg,a\nsub/p0-copy.jpg,a\n")
    out = tmp_path / "index"
    assert main(["index", "build", str(folder), "--methods", "ahash", "--out", str(out)]) == 0
    ds = ixo.open_index(str(out))
    assert list(ds.label_files) == ["GROUND_TRUTH.csv"]
    assert datasets.suggest_labels(ds) == "csv"
