"""The CLI forms, their JSON shapes and exit codes (run as a real subprocess: ``python -m core ...``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import numpy as np
from PIL import Image

from core.methods import METHODS
from tests.photos import jpeg_bytes, near_copy, photo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """cat/ and coffee/ folders with an original and two near copies each, a distractor, a junk file, a zip."""
    d = tmp_path_factory.mktemp("ds")
    cat, coffee = photo("cat"), photo("coffee")
    for name, img in (("cat", cat), ("coffee", coffee)):
        (d / name).mkdir()
        (d / name / "0.jpg").write_bytes(jpeg_bytes(img))
        (d / name / "1.jpg").write_bytes(jpeg_bytes(near_copy(img), 80))
        (d / name / "2.png").write_bytes(jpeg_bytes(near_copy(near_copy(img)), 75))  # JPEG bytes, .png name
    (d / "distractor.jpg").write_bytes(jpeg_bytes(distractor()))
    (d / "notes.txt").write_text("not an image")
    z = tmp_path_factory.mktemp("zip") / "set.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(d.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(d).as_posix())
    query = tmp_path_factory.mktemp("q") / "query.jpg"
    query.write_bytes(jpeg_bytes(near_copy(cat), 60))
    return {"dir": d, "zip": z, "query": query}


def distractor() -> Image.Image:
    """An unrelated synthetic picture: coloured stripes and a disc."""
    y, x = np.mgrid[0:240, 0:320]
    arr = np.stack([(x * 3) % 256, (y * 5) % 256, ((x + y) // 20 % 2) * 255], axis=-1).astype(np.uint8)
    arr[(x - 160) ** 2 + (y - 120) ** 2 < 60 ** 2] = (20, 200, 40)
    return Image.fromarray(arr)


def run(*args, cache_dir=None):
    env = dict(os.environ, DUPFINDER_CACHE_DIR=str(cache_dir) if cache_dir else os.environ.get(
        "DUPFINDER_CACHE_DIR", "/tmp/dupfinder-test-cache"))
    p = subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=300)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("which", ["dir", "zip"])
def test_search_json(dataset, which, tmp_path):
    code, out, err = run("search", dataset["query"], dataset[which], "--method", "ahash", "--top-k", "3", "--json",
                         cache_dir=tmp_path)
    assert code == 0, err
    j = json.loads(out)
    assert set(j) == {"query", "method", "threshold", "query_in_set", "results", "skipped"}
    assert j["query_in_set"] is None  # the query file is not in the set
    assert j["method"] == "ahash" and j["threshold"] == METHODS["ahash"].threshold_spec().default
    assert [r["rank"] for r in j["results"]] == [1, 2, 3]
    assert all(set(r) == {"rank", "name", "score", "match"} for r in j["results"])
    assert j["results"][0]["name"].startswith("cat/") and j["results"][0]["match"] is True
    assert {"file": "notes.txt", "reason": j["skipped"][0]["reason"]} in j["skipped"]


def test_duplicates_json(dataset, tmp_path):
    code, out, err = run("duplicates", dataset["dir"], "--method", "cnn-cosine", "--json", cache_dir=tmp_path)
    assert code == 0, err
    j = json.loads(out)
    assert set(j) == {"method", "threshold", "images", "pairs", "total_pairs", "truncated", "groups", "copies",
                      "skipped"}
    assert j["truncated"] is False and j["total_pairs"] == len(j["pairs"])
    assert j["images"] == 7
    groups = sorted(sorted(g["members"]) for g in j["groups"])
    assert ["cat/0.jpg", "cat/1.jpg", "cat/2.png"] in groups
    assert ["coffee/0.jpg", "coffee/1.jpg", "coffee/2.png"] in groups
    for g in j["groups"]:
        assert g["keep"] in g["members"]
    assert j["copies"]["cat/0.jpg"] == 2 and j["copies"]["distractor.jpg"] == 0
    assert all(set(p) == {"a", "b", "score"} for p in j["pairs"])
    assert [s["file"] for s in j["skipped"]] == ["notes.txt"]


def test_duplicates_text_and_cache(dataset, tmp_path):
    code, out, _ = run("duplicates", dataset["zip"], "--method", "phash", cache_dir=tmp_path)
    assert code == 0 and "group" in out and "notes.txt" in out
    assert (tmp_path / "features.sqlite").exists()


def test_evaluate_json(dataset, tmp_path):
    code, out, err = run("evaluate", dataset["dir"], "--labels", "folders", "--methods", "ahash,cosine", "--json",
                         cache_dir=tmp_path)
    assert code == 0, err
    j = json.loads(out)
    assert j["protocol"] == "precision@3" and j["queries"] == 2 and j["images"] == 7
    rows = {r["method"]: r for r in j["methods"]}
    assert set(rows) == {"ahash", "cosine"}
    for r in rows.values():
        for k in ("method", "accuracy", "correct", "total", "map", "seconds_per_pair",
                  "seconds_per_pair_with_encoding", "encode_seconds"):
            assert k in r
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["map"] <= 1 and r["total"] == 6
    assert rows["ahash"]["accuracy"] == pytest.approx(4 / 6)  # 2 mates each; 3rd slot must miss


@pytest.mark.parametrize("args, code, needle", [
    (("search", "q.jpg", ".", "--method", "nope"), 2, "valid: euclidean"),
    (("duplicates", ".", "--method", "bogus"), 2, "ahash"),
    (("evaluate", ".", "--labels", "weird:3"), 2, "consecutive"),
    (("evaluate", ".", "--labels", "folders", "--methods", "x,y"), 2, "valid"),
    (("frobnicate",), 2, "invalid choice"),
])
def test_bad_usage_exits_2(args, code, needle):
    c, out, err = run(*args)
    assert c == code
    assert needle in err


def test_nothing_usable_exits_1(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("hi")
    c, _, err = run("duplicates", empty, "--method", "ahash")
    assert c == 1 and "no usable images" in err
    c, _, err = run("duplicates", tmp_path / "missing", "--method", "ahash")
    assert c == 1
    c, _, err = run("search", empty / "a.txt", empty, "--method", "ahash")
    assert c == 1
