"""Issue 11, item 9: a query file that is also in the searched set is the query itself — left out of its own
ranking and match count (core, CLI); byte-identical *other* files stay (they are real duplicates)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core import datasets as D
from core.query import content_id, self_item
from tests.photos import jpeg_bytes, near_copy, photo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """a.jpg, its byte-identical twin a_copy.jpg, a near copy b.jpg and an unrelated c.jpg."""
    d = tmp_path_factory.mktemp("photos")
    cat = photo("cat")
    a = jpeg_bytes(cat)
    (d / "a.jpg").write_bytes(a)
    (d / "a_copy.jpg").write_bytes(a)
    (d / "b.jpg").write_bytes(jpeg_bytes(near_copy(cat), 80))
    (d / "c.jpg").write_bytes(jpeg_bytes(photo("coffee")))
    return d


def test_self_item_by_path_only_in_a_folder_set(photos, tmp_path):
    ds = D.load(str(photos))
    assert self_item(ds.items, path=photos / "a.jpg") == "a.jpg"
    assert self_item(ds.items, path=photos / "." / "a.jpg") == "a.jpg"  # resolved path
    outside = tmp_path / "a.jpg"  # the same name and bytes, elsewhere: a real duplicate, not the query
    outside.write_bytes((photos / "a.jpg").read_bytes())
    assert self_item(ds.items, name="a.jpg", cid=content_id(outside.read_bytes()), path=outside) is None


def test_self_item_by_name_and_bytes_for_uploads(photos):
    files = [(p.name, p.read_bytes()) for p in sorted(photos.glob("*.jpg"))]
    ds = D.load_files(files)
    a = (photos / "a.jpg").read_bytes()
    assert self_item(ds.items, name="a.jpg", cid=content_id(a)) == "a.jpg"
    assert self_item(ds.items, name="phone/a.jpg", cid=content_id(a)) == "a.jpg"  # base names compare
    assert self_item(ds.items, name="other.jpg", cid=content_id(a)) is None  # same bytes, other name: a duplicate
    assert self_item(ds.items, name="a.jpg", cid=content_id(b"different")) is None  # same name, other bytes


def _run(*args, cache_dir):
    env = dict(os.environ, DUPFINDER_CACHE_DIR=str(cache_dir))
    p = subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_cli_search_leaves_the_query_itself_out(photos, tmp_path):
    j = json.loads(_run("search", photos / "a.jpg", photos, "--method", "ahash", "--json", cache_dir=tmp_path))
    names = [r["name"] for r in j["results"]]
    assert j["query_in_set"] == "a.jpg"
    assert "a.jpg" not in names
    assert names[0] == "a_copy.jpg" and j["results"][0]["match"] is True  # the byte-identical twin stays
    assert len(names) == 3
    text = _run("search", photos / "a.jpg", photos, "--method", "ahash", cache_dir=tmp_path)
    assert "the query itself is in the set as a.jpg" in text
    assert "a.jpg\n" not in text.split("match  name", 1)[1].replace("a_copy.jpg", "")


def test_cli_search_zip_set_uses_name_and_bytes(photos, tmp_path):
    z = tmp_path / "set.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(photos.glob("*.jpg")):
            zf.write(p, f"set/{p.name}")
    j = json.loads(_run("search", photos / "a.jpg", z, "--method", "ahash", "--json", cache_dir=tmp_path))
    assert j["query_in_set"] is not None and j["query_in_set"].endswith("a.jpg")
    assert all(not r["name"].endswith("/a.jpg") and r["name"] != "a.jpg" for r in j["results"])


# ------------------------------------------------------------------------------------------------ the query's group
def _labelled_set() -> D.Dataset:
    items = [D.Item(name, "0" * 64, 1, 1, 1, "JPEG", group=g)
             for name, g in (("cat/1.jpg", "cat"), ("cat/2.jpg", "cat"), ("coffee/1.jpg", "coffee"), ("x.jpg", None))]
    return D.Dataset(name="set", items=items, skipped=[], files_given=len(items))


def test_query_group_of_a_pick_of_the_demo_query_and_of_an_upload():
    from core.demo import DEMO_QUERY_GROUP
    from core.query import query_group

    ds = _labelled_set()
    assert query_group(ds, name="cat/2.jpg") == "cat"
    assert query_group(ds, name="x.jpg") is None  # an unlabelled item
    assert query_group(ds, name="not/in/the/set.jpg") is None
    assert query_group(ds, demo=True) == DEMO_QUERY_GROUP  # the demo query is in none of the sets: its known group
    assert query_group(ds) is None  # an upload: not known
    unlabelled = D.Dataset(name="u", items=[D.Item("a.jpg", "0" * 64, 1, 1, 1, "JPEG")], skipped=[])
    assert query_group(unlabelled, name="a.jpg") is None and query_group(unlabelled, demo=True) is None


def test_same_picture_is_the_ground_truth_of_a_ranking():
    from core.query import same_picture

    ds = _labelled_set()
    assert same_picture(ds, "cat") == {"cat/1.jpg": True, "cat/2.jpg": True, "coffee/1.jpg": False, "x.jpg": False}
    assert same_picture(ds, None) == {}  # nothing known: nothing claimed
