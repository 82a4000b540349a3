"""AppTest of the collection pages (issue 13): the Review page (keeper and reason, change keeper, not a duplicate,
chained groups, hosted downloads vs local moves with undo), the Dataset map and the Two-sets mode.

Average hash everywhere except the map (CNN features). Local mode (``DUPFINDER_LOCAL=1``) reads a generated temp
folder: an original with copies, a pair, singletons and a planted chain (A~B, B~C, A!~C).
"""
from __future__ import annotations

import re

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import datasets as D
from core import demo
from core import keeper as K
from core.collection import review as R
from core.collection.compare import compare
from core.encoding import encode_dataset
from core.methods import get
from core.search import pair_indices
from tests.test_collection import jpeg, smooth
from tests.test_compare_clean import chain_images
from ui.text import md_escape

from helpers import open_app, texts

TIMEOUT = 300
AHASH = get("ahash")
KEY = AHASH.params_key(AHASH.default_params())
THR = 10  # ahash bits: chain steps are 8 bits, its ends 16; re-encoded copies of smooth() <= 1, distinct >= 17

pytestmark = pytest.mark.usefixtures("hosted_mode")  # tests/conftest.py


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path):
    """An original + a byte-identical copy with a marker + a reduced copy; a pair; singletons; a planted chain."""
    d = tmp_path / "photos"
    (d / "2019").mkdir(parents=True)
    orig = jpeg(smooth(0))
    (d / "2019" / "IMG_0815.jpg").write_bytes(orig)
    (d / "2019" / "IMG_0815-2.jpg").write_bytes(orig)
    (d / "2019" / "IMG_0815_small.jpg").write_bytes(jpeg(smooth(0), 70, 0.5))
    (d / "beach.jpg").write_bytes(jpeg(smooth(1)))
    (d / "beach (1).jpg").write_bytes(jpeg(smooth(1), 80))
    for k in range(2, 4):
        (d / f"single{k}.jpg").write_bytes(jpeg(smooth(k)))
    (d / "chain").mkdir()
    for name, img in zip("abc", chain_images()):  # a has the most pixels: the keeper; c is 16 bits from it
        img.save(d / "chain" / f"{name}.png")
    os.utime(d / "2019" / "IMG_0815-2.jpg", (1_500_000_000, 1_500_000_000))  # the copy even looks older
    return d


def _folder_app(folder: Path, monkeypatch, page: str = "pages/review.py") -> AppTest:
    monkeypatch.setenv("DUPFINDER_LOCAL", "1")
    at = open_app(timeout=TIMEOUT)
    at.sidebar.radio(key="ds_source").set_value("Folder path").run()
    at.sidebar.text_input(key="ds_folder").input(str(folder)).run()
    at.switch_page(page).run()
    at.slider(key=f"review_thr::{KEY}").set_value(THR).run()
    assert not at.exception, at.exception
    return at


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _expected_groups(dataset: D.Dataset, thr: float, mode: str = "components"):
    feats = encode_dataset(dataset, AHASH, {}, cache=False)
    i, j, _ = pair_indices(feats, thr)
    return R.review_groups(dataset, feats, i, j, thr, mode=mode)


def _arr(v) -> np.ndarray:
    """A plotly JSON array: a list, or {"dtype", "bdata"} (base64 typed array)."""
    import base64

    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v)


def _keep_box(at, gid: str):
    return next(s for s in at.selectbox if s.key and s.key.startswith("rv_keep::") and s.key.endswith("::" + gid))


def _nd_box(at, gid: str):
    return next(c for c in at.checkbox if c.key and c.key.startswith("rv_nd::") and c.key.endswith("::" + gid))


# ------------------------------------------------------------------------------------------- review, hosted
def test_review_shows_each_keeper_with_its_reason_and_offers_downloads_when_hosted():
    at = open_app("pages/review.py", timeout=TIMEOUT)
    thr = at.slider(key=f"review_thr::{KEY}").value
    ds = D.apply_labels(D.load(demo.demo_dataset_path(), labels=None), "csv")  # the set the app opens on
    want = _expected_groups(ds, thr)
    assert want, "the demo set has duplicate groups at the default threshold"
    assert _metric(at, "Groups") == str(len(want))
    text = texts(at, warnings=True)
    for g in want[:10]:  # the first page
        assert _keep_box(at, g.gid).value == g.keeper
        assert f"Suggested by the rule: {md_escape(g.reason)}." in text
    assert at.selectbox(key="review_rule").value == "original"
    assert K.explain("original") in text  # the rule itself, in plain words
    # hosted: downloads, no move
    assert not [b for b in at.button if b.key == "review_apply"]
    assert "Moving files needs the app on your own computer" in text
    assert {b.key for b in at.get("download_button")} >= {"review_dl_csv", "review_dl_json", "review_dl_zip"}


def test_review_change_keeper_and_not_a_duplicate_change_the_plan():
    at = open_app("pages/review.py", timeout=TIMEOUT)
    gid = next(s.key.split("::", 2)[2] for s in at.selectbox if s.key and s.key.startswith("rv_keep::"))
    box = _keep_box(at, gid)
    suggested, other = box.value, next(o for o in box.options if o != box.value)
    moves_before = int(_metric(at, "Files to move"))
    box.set_value(other).run()
    assert not at.exception, at.exception
    assert _keep_box(at, gid).value == other
    assert "Chosen by you" in texts(at, warnings=True)
    dec = at.session_state["_review_decisions"]
    assert dec["keepers"] == {gid: other}
    assert int(_metric(at, "Files to move")) == moves_before  # same group, another keeper: as many moves
    # the choice survives a page switch and back (kept outside widget state)
    at.switch_page("pages/search.py").run()
    at.switch_page("pages/review.py").run()
    assert _keep_box(at, gid).value == other
    # not a duplicate: nothing of that group moves
    size = len(_keep_box(at, gid).options)
    _nd_box(at, gid).check().run()
    assert not at.exception, at.exception
    assert _metric(at, "Marked not a duplicate") == "1"
    assert int(_metric(at, "Files to move")) == moves_before - (size - 1)
    # back to the suggestion
    at.button(key="review_reset").click().run()
    assert _keep_box(at, gid).value == suggested and _metric(at, "Marked not a duplicate") == "0"


# ------------------------------------------------------------------------------------------- review, local
def test_review_flags_a_chain_and_splits_it_strictly(photos, monkeypatch):
    at = _folder_app(photos, monkeypatch)
    ds = D.load(str(photos), labels=None)
    want = _expected_groups(ds, THR)
    chained = [g for g in want if g.chained]
    assert [(g.keeper, g.far) for g in chained] == [("chain/a.png", ["chain/c.png"])]
    assert _metric(at, "Chained groups") == "1"
    warn = "\n".join(w.value for w in at.warning)
    assert "Chained group: 1 of its images (c" in warn and "not within the threshold of the keeper" in warn
    at.toggle(key="review_strict").set_value(True).run()
    assert not at.exception, at.exception
    assert _metric(at, "Chained groups") == "0"
    assert _metric(at, "Groups") == str(len(_expected_groups(ds, THR, "strict"))) == str(len(want))
    # in strict mode c left the chain's group; a keeps only b (c alone is no group)
    assert sorted(_keep_box(at, "chain/a.png").options) == ["chain/a.png", "chain/b.png"]


def test_local_apply_moves_the_copies_and_undo_restores_a_byte_identical_tree(photos, tmp_path, monkeypatch):
    before = tree_hashes(photos)
    at = _folder_app(photos, monkeypatch)
    ds = D.load(str(photos), labels=None)
    plan = R.final_plan(_expected_groups(ds, THR))
    moves = sorted(n for g in plan for n in g.move)
    assert moves == ["2019/IMG_0815-2.jpg", "2019/IMG_0815_small.jpg", "beach (1).jpg", "chain/b.png",
                     "chain/c.png"]
    assert {b.key for b in at.get("download_button")} >= {"review_dl_csv", "review_dl_json", "review_dl_zip"}
    moved = tmp_path / "moved"
    at.text_input(key="review_move_to").input(str(moved)).run()
    at.button(key="review_apply").click().run()
    assert not at.exception, at.exception
    assert sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*") if p.is_file()) == sorted(
        set(before) - set(moves))
    assert {p.relative_to(moved).as_posix() for p in moved.rglob("*.*") if not p.name.endswith(".jsonl")} == set(moves)
    for n in moves:  # moved byte-identical
        assert hashlib.sha256((moved / n).read_bytes()).hexdigest() == before[n]
    logs = list(moved.glob("dupfinder-undo-*.jsonl"))
    assert len(logs) == 1
    assert any(f"python -m core undo {logs[0]}" in c.value for c in at.code)
    at.button(key="review_undo").click().run()
    assert not at.exception, at.exception
    assert tree_hashes(photos) == before
    assert [p.name for p in moved.rglob("*") if p.is_file()] == [logs[0].name]
    assert "Undone: 5 file(s)" in "\n".join(s.value for s in at.success)


def test_local_apply_refuses_a_folder_inside_the_dataset(photos, monkeypatch):
    at = _folder_app(photos, monkeypatch)
    at.text_input(key="review_move_to").input(str(photos / "dups")).run()
    assert at.button(key="review_apply").disabled
    assert "outside the dataset" in "\n".join(w.value for w in at.warning)


# ------------------------------------------------------------------------------------------- dataset map
def test_dataset_map_plots_every_image_coloured_by_group_and_opens_matches(monkeypatch):
    from core import layout as L

    calls = []
    real = L.layout
    monkeypatch.setattr(L, "layout", lambda X, *a, **k: calls.append(len(X)) or real(X, *a, **k))
    at = open_app("pages/dataset_map.py", timeout=TIMEOUT)
    spec = at.get("plotly_chart")[0].proto.spec
    import json

    fig = json.loads(spec)
    traces = fig["data"]
    rows = np.concatenate([_arr(t["customdata"]) for t in traces[:2]])
    assert sorted(rows.tolist()) == list(range(38))  # every image once, as its row position
    assert traces[0]["type"] == "scattergl" and traces[1]["type"] == "scattergl"
    assert len(_arr(traces[1]["x"])) > 0  # the demo's copies are in duplicate groups
    assert calls == [38]
    # a threshold move recolours only: the layout is not computed again
    cm = get("cnn-cosine")
    slider = at.slider(key=f"map_thr::{cm.params_key(cm.default_params())}")
    slider.set_value(slider.value + (slider.max - slider.value) / 2 if cm.higher_is_closer else slider.min).run()
    assert not at.exception and calls == [38]
    # pick a point by name: thumbnail, its closest images, and "open in Search"
    name = "images/00_astronaut.jpg"
    at.selectbox(key="map_pick").set_value(name).run()
    assert not at.exception, at.exception
    assert any("among its 6 closest" in m.value for m in at.markdown)
    at.button(key="map_open").click().run()
    assert not at.exception, at.exception
    assert at.session_state["query"] == {"kind": "dataset", "name": name, "data": None}
    assert any("of the top" in m.value for m in at.markdown)  # now on the Search page


# ------------------------------------------------------------------------------------------- two sets
def test_two_sets_duplicates_shows_cross_pairs_and_the_leaked_share_of_b():
    at = open_app(timeout=TIMEOUT)
    at.sidebar.toggle(key="two_on").set_value(True).run()
    assert at.sidebar.radio(key="two_use").value == "leakage"
    at.switch_page("pages/duplicates.py").run()
    assert not at.exception, at.exception
    assert any("Leakage between splits" in h.value for h in at.subheader)
    thr = at.slider(key=f"two_dup_thr::{KEY}").value
    ds = D.apply_labels(D.load(demo.demo_dataset_path(), labels=None), "csv")
    a = D.Dataset(name="a", items=ds.items[0::2], skipped=[])
    b = D.Dataset(name="b", items=ds.items[1::2], skipped=[])
    pairs = compare(encode_dataset(a, AHASH, {}, cache=False), encode_dataset(b, AHASH, {}, cache=False), thr)
    assert set(pairs["a"]) <= {it.name for it in a.items} and set(pairs["b"]) <= {it.name for it in b.items}
    share = pairs["b"].nunique() / len(b.items)
    assert 0 < share < 1
    assert _metric(at, "Share of B leaked from A") == f"{share:.1%}"
    assert _metric(at, "Cross pairs") == str(len(pairs))
    # the other use: titled for new arrivals, same figure
    at.sidebar.radio(key="two_use").set_value("arrivals").run()
    assert any("New arrivals vs collection" in h.value for h in at.subheader)
    assert _metric(at, "Share of B already in the collection") == f"{share:.1%}"


def test_two_sets_search_ranks_b_against_a_query_from_a():
    at = open_app(timeout=TIMEOUT)
    at.sidebar.toggle(key="two_on").set_value(True).run()
    at.switch_page("pages/search.py").run()
    assert not at.exception, at.exception
    head = next(m.value for m in at.markdown if "images of B match" in m.value)
    n = int(head.split("of the top ")[1].split()[0])
    assert n == 10
    names_a = [it.name for it in at.session_state["_two_split"][1][0].items]
    names_b = {it.name for it in at.session_state["_two_split"][1][1].items}
    q = at.session_state["two_query"]
    assert q == names_a[0]
    shown = [re.sub(r"\\(.)", r"\1", c.help) for c in at.caption if c.help]  # help text is Markdown-escaped
    ranked = [h for h in shown if h in names_b]
    assert len(ranked) == 10 and q not in ranked
    # pick another query from A: the ranking follows it
    at.button(key=f"two_pick::{names_a[1]}").click().run()
    assert not at.exception and at.session_state["two_query"] == names_a[1]


# ------------------------------------------------------------------------------------------- plan files
def test_plan_csv_neutralises_formulas_and_zip_holds_what_stays(tmp_path):
    from core.collection.clean import PlannedGroup

    plan = [PlannedGroup("=HYPERLINK(\"x\").jpg", "most pixels", ["+1.jpg", "@a.jpg", "-b.jpg", "\tc.jpg"])]
    text = R.plan_csv(plan).decode()
    for bad in ("=HYPERLINK", "+1.jpg", "@a.jpg", "-b.jpg", "\tc.jpg"):
        assert f"'{bad}" in text.replace('"', "").replace("''", "'") or f"'{bad}" in text
    assert all(not line.split(",")[2].startswith(("=", "+", "-", "@", "\t")) for line in text.splitlines()[1:])
    d = tmp_path / "s"
    d.mkdir()
    (d / "a.jpg").write_bytes(jpeg(smooth(0)))
    (d / "a-2.jpg").write_bytes(jpeg(smooth(0)))
    (d / "b.jpg").write_bytes(jpeg(smooth(1)))
    ds = D.load(str(d), labels=None)
    import io
    import zipfile

    z = zipfile.ZipFile(io.BytesIO(R.kept_zip(ds, [PlannedGroup("a.jpg", "", ["a-2.jpg"])])))
    assert sorted(z.namelist()) == ["a.jpg", "b.jpg"]
    assert z.read("a.jpg") == (d / "a.jpg").read_bytes()
    assert np.all([R.neutralise(x) == x for x in ("a.jpg", "", "x=1")])
