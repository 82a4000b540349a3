"""core.export: groups CSV / JSON (same shape as the CLI's ``duplicates --json``) and the de-duplicated .zip."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from core import datasets, export
from core.encoding import encode_dataset
from core.methods import get
from core.search import find_duplicates, item_info

from photos import jpeg_bytes, near_copy, photo

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """cat x3 (original, near copy, JPEG q40), coffee x2, one unreadable file."""
    d = tmp_path_factory.mktemp("exp")
    cat, coffee = photo("cat"), photo("coffee")
    (d / "sub").mkdir()
    (d / "a_cat.jpg").write_bytes(jpeg_bytes(cat, 95))
    (d / "b_cat_copy.jpg").write_bytes(jpeg_bytes(near_copy(cat)))
    (d / "sub" / "c_cat_q40.jpg").write_bytes(jpeg_bytes(cat, 40))
    (d / "d_coffee.jpg").write_bytes(jpeg_bytes(coffee, 95))
    (d / "e_coffee_copy.jpg").write_bytes(jpeg_bytes(near_copy(coffee)))
    (d / "f_broken.jpg").write_bytes(b"not an image at all")
    return d


@pytest.fixture(scope="module")
def result(folder):
    ds = datasets.load(folder)
    m = get("ahash")
    feats = encode_dataset(ds, m, cache=False)
    dup = find_duplicates(feats, 10, info=item_info(ds.items))
    return ds, feats, dup


def test_fixture_has_two_groups(result):
    _, _, dup = result
    assert dup.n_groups == 2
    assert sorted(len(g["members"]) for g in dup.group_members()) == [2, 3]


def test_groups_csv(result):
    _, _, dup = result
    df = pd.read_csv(io.BytesIO(export.groups_csv(dup)))
    assert list(df.columns) == ["group_id", "name", "size", "pixels", "bytes", "keep"]
    assert len(df) == 5
    assert df.groupby("group_id")["keep"].sum().tolist() == [1, 1]  # exactly one keeper per group
    assert set(df["name"]) == set(dup.groups["name"])


def test_groups_csv_empty(result):
    _, feats, _ = result
    none = find_duplicates(feats, -1)  # nothing within a negative distance
    text = export.groups_csv(none).decode()
    assert text.strip() == "group_id,name,size,pixels,bytes,keep"


def test_json_matches_cli(folder, result):
    ds, feats, dup = result
    skipped = list(ds.skipped) + list(feats.skipped)
    ours = json.loads(export.duplicates_json(dup, "ahash", 10, skipped))
    cli = subprocess.run([sys.executable, "-m", "core", "duplicates", str(folder), "--method", "ahash",
                          "--threshold", "10", "--json", "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    theirs = json.loads(cli.stdout)
    assert set(ours) == set(theirs)
    for key in ("method", "images", "index", "pairs", "total_pairs", "truncated", "groups", "copies", "skipped"):
        assert ours[key] == theirs[key], key
    assert float(ours["threshold"]) == float(theirs["threshold"])
    assert {"file": "f_broken.jpg", "reason": ours["skipped"][0]["reason"]} in ours["skipped"]


def test_json_is_strict_json(result):
    _, _, dup = result
    text = export.duplicates_json(dup, "ahash", 10, [{"file": "x", "reason": "y"}])
    assert "NaN" not in text
    doc = json.loads(text)
    assert doc["skipped"] == [{"file": "x", "reason": "y"}]
    assert isinstance(doc["threshold"], int)


def test_dedup_zip(result):
    ds, _, dup = result
    data = export.dedup_zip(dup, ds.items)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert sorted(names) == sorted(dup.keep_set())
        assert len(names) == 2  # one per group, no singletons here
        for n in names:  # original bytes, unchanged
            assert zf.read(n) == ds.by_name(n).read_bytes()
    kept = set(dup.groups.loc[dup.groups["keep"], "name"])
    assert set(names) == kept


def test_dedup_zip_keeps_singletons(result):
    ds, feats, _ = result
    none = find_duplicates(feats, -1)
    with zipfile.ZipFile(io.BytesIO(export.dedup_zip(none, ds.items))) as zf:
        assert sorted(zf.namelist()) == sorted(feats.names)


@pytest.mark.parametrize("raw,safe", [("../../etc/passwd", "etc/passwd"), ("/abs/x.jpg", "abs/x.jpg"),
                                      ("C:\\win\\y.png", "win/y.png"), ("a/./b/../c.jpg", "a/b/c.jpg"),
                                      ("..", "unnamed"), ("ok/name.jpg", "ok/name.jpg")])
def test_safe_member_name(raw, safe):
    assert export.safe_member_name(raw) == safe


def test_dedup_zip_never_escapes():
    """Hostile names (from a zip upload) are sanitised; two names that collide are both kept."""
    from core.search import Duplicates

    class It:
        def __init__(self, name, data):
            self.name, self._d = name, data

        def read_bytes(self):
            return self._d

    items = [It("../evil.jpg", b"1"), It("evil.jpg", b"2"), It("/etc/x.jpg", b"3")]
    dup = Duplicates(pairs=pd.DataFrame(columns=["a", "b", "score"]),
                     groups=pd.DataFrame(columns=["group_id", "name", "size", "pixels", "bytes", "keep"]),
                     copies=pd.DataFrame({"name": [i.name for i in items], "copies": [0, 0, 0]}), threshold=0,
                     n_images=3)
    with zipfile.ZipFile(io.BytesIO(export.dedup_zip(dup, items))) as zf:
        names = zf.namelist()
        assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)
        assert len(names) == 3
        assert sorted(zf.read(n) for n in names) == [b"1", b"2", b"3"]


def test_review_zip_and_dedup_zip_are_one_builder(tmp_path):
    """The Review page's cleaned set (core.collection.review.kept_zip) is built by export.items_zip, like dedup_zip:
    same member names for colliding names, original bytes."""
    from core.collection import review as R
    from core.collection.clean import PlannedGroup

    class It:
        def __init__(self, name, data):
            self.name, self._d = name, data

        def read_bytes(self):
            return self._d

    items = [It("../a.jpg", b"1"), It("a.jpg", b"2"), It("b.jpg", b"3")]

    class Set:
        def __init__(self, items):
            self.items = items

        def by_name(self, n):
            return next(it for it in self.items if it.name == n)

    with zipfile.ZipFile(io.BytesIO(R.kept_zip(Set(items), [PlannedGroup("a.jpg", "", ["b.jpg"])]))) as zf:
        assert zf.namelist() == ["a.jpg", "a~2.jpg"]
        assert [zf.read(n) for n in zf.namelist()] == [b"1", b"2"]
    assert export.items_zip(items[:2]) == R.kept_zip(Set(items[:2]), [])


def test_duplicates_dict_takes_the_cli_fields(result):
    _, feats, dup = result
    mine = [{"a": "x", "b": "y", "score": 1.0, "inliers": 40, "verified": True}]
    d = export.duplicates_dict(dup, "ahash", 10, [], images=99, pairs=mine, extra={"verify": True})
    assert d["images"] == 99 and d["pairs"] == mine and d["verify"] is True
    assert list(d)[-1] == "verify" and list(d)[:3] == ["method", "threshold", "images"]
    plain = export.duplicates_dict(dup, "ahash", 10)
    assert plain["images"] == len(feats) and len(plain["pairs"]) == len(dup.pairs)
