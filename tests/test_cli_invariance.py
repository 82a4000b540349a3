"""The CLI's --invariance / --verify forms, --method pdq, and the JSON fields they add (real subprocesses)."""
from __future__ import annotations

import csv
import json

import pytest
from PIL import Image

from tests.photos import jpeg_bytes, near_copy, photo
from tests.test_cli import distractor, run

T = Image.Transpose


def png(img) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def rotset(tmp_path_factory):
    """cat and coffee originals, a rotated (90) and a mirrored copy of each, a half-area crop of the cat, a flat
    grey image (PDQ quality < 50), a distractor; labels by folder; a query = the cat rotated by 270."""
    d = tmp_path_factory.mktemp("rot")
    cat, coffee = photo("cat"), photo("coffee")
    for name, img in (("cat", cat), ("coffee", coffee)):
        (d / name).mkdir()
        (d / name / "0.jpg").write_bytes(jpeg_bytes(img, 92))
        (d / name / "1_rot90.png").write_bytes(png(img.transpose(T.ROTATE_90)))
        (d / name / "2_mirror.jpg").write_bytes(jpeg_bytes(img.transpose(T.FLIP_LEFT_RIGHT), 90))
    w, h = cat.size
    (d / "cat" / "3_crop.jpg").write_bytes(jpeg_bytes(cat.crop((0, 0, round(w * 0.71), round(h * 0.71))), 92))
    (d / "flat.png").write_bytes(png(Image.new("RGB", (160, 120), (120, 120, 120))))
    (d / "distractor.jpg").write_bytes(jpeg_bytes(distractor()))
    q = tmp_path_factory.mktemp("q") / "query.png"
    q.write_bytes(png(near_copy(cat).transpose(T.ROTATE_270)))
    return {"dir": d, "query": q}


def jrun(*args, tmp):
    code, out, err = run(*args, "--json", cache_dir=tmp)
    assert code == 0, err
    return json.loads(out)


def test_search_pdq_dihedral_finds_rotations(rotset, tmp_path):
    plain = jrun("search", rotset["query"], rotset["dir"], "--method", "pdq", "--top-k", "4", tmp=tmp_path)
    dih = jrun("search", rotset["query"], rotset["dir"], "--method", "pdq", "--invariance", "dihedral",
               "--top-k", "4", tmp=tmp_path)
    assert dih["invariance"] == "dihedral" and "invariance" not in plain
    matched = {r["name"] for r in dih["results"] if r["match"]}
    assert {"cat/0.jpg", "cat/1_rot90.png", "cat/2_mirror.jpg"} <= matched
    assert not any(r["match"] for r in plain["results"])  # a 270-degree rotation is far for plain PDQ
    # the flat image is flagged, never ranked
    assert plain["low_quality"] == dih["low_quality"] and [x["name"] for x in dih["low_quality"]] == ["flat.png"]
    assert dih["low_quality"][0]["quality"] < 50
    assert all(r["name"] != "flat.png" for r in dih["results"])


def test_search_verify_adds_fields_and_keeps_scores(rotset, tmp_path):
    args = ("search", rotset["query"], rotset["dir"], "--method", "ahash", "--invariance", "dihedral",
            "--top-k", "5")
    plain = jrun(*args, tmp=tmp_path)
    ver = jrun(*args, "--verify", tmp=tmp_path)
    assert ver["verify"] is True
    for r in ver["results"]:
        assert set(r) == {"rank", "name", "score", "match", "inliers", "verified"}
        assert isinstance(r["inliers"], int) and isinstance(r["verified"], bool) and r["match"] == r["verified"]
    # the score stays the method's own
    plain_scores = {r["name"]: r["score"] for r in plain["results"]}
    assert all(r["score"] == plain_scores[r["name"]] for r in ver["results"] if r["name"] in plain_scores)
    # verified rows come first; the cat's copies verify, the coffee and the distractor do not
    flags = [r["verified"] for r in ver["results"]]
    assert flags == sorted(flags, reverse=True)
    verified = {r["name"] for r in ver["results"] if r["verified"]}
    assert {"cat/0.jpg", "cat/1_rot90.png"} <= verified
    assert not verified & {"coffee/0.jpg", "distractor.jpg", "coffee/1_rot90.png"}


def test_duplicates_verify_pairs_and_groups(rotset, tmp_path):
    j = jrun("duplicates", rotset["dir"], "--method", "pdq", "--invariance", "dihedral", "--verify", tmp=tmp_path)
    assert j["verify"] is True and j["invariance"] == "dihedral"
    assert j["pairs"] and all(set(p) == {"a", "b", "score", "inliers", "verified"} for p in j["pairs"])
    groups = sorted(sorted(g["members"]) for g in j["groups"])
    # the crop is too far for PDQ, but it is a candidate at the looser threshold and verifies
    assert ["cat/0.jpg", "cat/1_rot90.png", "cat/2_mirror.jpg", "cat/3_crop.jpg"] in groups
    assert ["coffee/0.jpg", "coffee/1_rot90.png", "coffee/2_mirror.jpg"] in groups
    assert j["images"] == 9 and [x["name"] for x in j["low_quality"]] == ["flat.png"]  # encoded, then flagged
    assert all("flat.png" not in (p["a"], p["b"]) for p in j["pairs"])
    plain = jrun("duplicates", rotset["dir"], "--method", "pdq", tmp=tmp_path)
    assert all(set(p) == {"a", "b", "score"} for p in plain["pairs"])


def test_evaluate_invariance_and_verify(rotset, tmp_path):
    j = jrun("evaluate", rotset["dir"], "--labels", "folders", "--methods", "pdq,ahash", "--invariance", "flips",
             "--verify", tmp=tmp_path)
    assert j["invariance"] == "flips" and j["verify"] is True
    for r in j["methods"]:
        v = r["verified"]
        assert {"accuracy", "map", "pair_precision", "pair_recall", "pair_f1"} <= set(v)
        assert 0 <= v["accuracy"] <= 1 and v["pair_f1"] > 0
    rows = {r["method"]: r for r in j["methods"]}
    # verification can only help here: the cat's crop is found by its geometry
    assert rows["pdq"]["verified"]["pair_f1"] > rows["pdq"]["pair_f1"]


def test_experiment_speed_and_robustness_verify(rotset, tmp_path):
    out = tmp_path / "speed.csv"
    code, _, err = run("experiment", "speed", rotset["dir"], "--labels", "folders", "--methods", "ahash",
                       "--invariance", "dihedral", "--verify", "--out", out, cache_dir=tmp_path)
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert rows and {"verified_accuracy", "verified_map", "verified_pair_f1"} <= set(rows[0])
    out = tmp_path / "rob.csv"
    code, _, err = run("experiment", "robustness", rotset["dir"], "--labels", "folders", "--methods", "pdq",
                       "--verify", "--out", out, cache_dir=tmp_path)
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert rows and {"inliers", "verified"} <= set(rows[0])
    hflip = [r for r in rows if r["transform"] == "hflip" and float(r["strength"]) > 0]
    assert hflip and all(r["verified"] == "True" for r in hflip)


@pytest.mark.parametrize("args, needle", [
    (("search", "q.jpg", ".", "--method", "pdq", "--invariance", "sideways"), "dihedral"),
    (("duplicates", ".", "--method", "ahash", "--invariance", "rot"), "flips"),
    (("experiment", "scipy-numpy", ".", "--verify", "--out", "x.csv"), "--verify applies"),
])
def test_bad_invariance_usage_exits_2(args, needle):
    code, _, err = run(*args)
    assert code == 2 and needle in err
