"""AppTest of the dashboard's explore pages (Home, Search, Duplicates, Compare methods, Threshold explorer) on
the demo data: every page opens without an exception, and one real interaction per page changes what is shown.

Fast methods (average hash, Euclidean) everywhere except one test: the Compare page's default method set includes
the two CNN methods.
"""
from __future__ import annotations

import io
import re
import zipfile

import pytest

from core.methods import ARTICLE, REGISTRY, get

from helpers import open_app, shown, texts
from photos import jpeg_bytes, near_copy, photo

pytestmark = pytest.mark.usefixtures("hosted_mode")  # tests/conftest.py

AHASH = get("ahash")
KEY = AHASH.params_key(AHASH.default_params())


def _heading(at) -> str:
    return next(m.value for m in at.markdown if "of the top" in m.value)


def _n_matches(at) -> int:
    return int(re.search(r"(\d+) of the top", _heading(at)).group(1))


# ------------------------------------------------------------------------------------------- home
def test_home_shows_ready_example_and_every_method():
    at = open_app()
    text = texts(at)
    assert "#1" in text and "bits" in text  # the demo query ranked with the average hash
    for m in REGISTRY:
        assert any(m.label in md.value for md in at.markdown), m.name
        assert m.summary[:40] in text
    assert at.sidebar.radio(key="ds_source").value == "Demo data"


def test_home_method_choice_persists_across_pages():
    at = open_app()
    at.sidebar.selectbox(key="method").set_value("euclidean").run()
    at.switch_page("pages/search.py").run()
    assert not at.exception
    assert "Euclidean" in texts(at)
    assert at.sidebar.selectbox(key="method").value == "euclidean"


# ------------------------------------------------------------------------------------------- search
def test_search_slider_changes_number_of_matches():
    at = open_app("pages/search.py")
    slider = at.slider(key=f"search_thr::{KEY}")
    assert slider.value == AHASH.threshold_spec().default
    assert "default" in slider.label
    before = _n_matches(at)
    slider.set_value(0).run()
    assert _n_matches(at) == 0
    at.slider(key=f"search_thr::{KEY}").set_value(20).run()
    after = _n_matches(at)
    assert after > before >= 0 and after >= 4  # all four coffee cups (hash distances 11..15)
    # the shared threshold follows to the Duplicates page
    at.switch_page("pages/duplicates.py").run()
    assert at.slider(key=f"dup_thr::{KEY}").value == 20


def test_search_pick_thumbnail_changes_query_and_excludes_it():
    at = open_app("pages/search.py")
    name = "images/08_chelsea.jpg"
    at.button(key=f"search_pick::{name}").click().run()
    assert not at.exception
    caps = [shown(c.value) for c in at.caption]
    assert any("08_chelsea.jpg" in c and "picked from the dataset" in c for c in caps)
    ranked = [c for c in caps if c.startswith(("08_", "09_", "10_", "11_"))]
    assert ranked and not any(c.startswith("08_chelsea.jpg") for c in ranked)  # query excluded from its own ranking
    assert any("chelsea" in c for c in caps[:12])


def test_search_uploaded_query():
    at = open_app("pages/search.py")
    at.file_uploader(key="search::upload").set_value([("cat.jpg", jpeg_bytes(photo("cat")), "image/jpeg")]).run()
    assert not at.exception
    assert any("cat.jpg" in shown(c.value) and "uploaded" in c.value for c in at.caption)


def test_search_unreadable_query_is_an_error_not_a_crash():
    at = open_app("pages/search.py")
    at.file_uploader(key="search::upload").set_value([("bad.jpg", b"not an image", "image/jpeg")]).run()
    assert not at.exception
    assert any("cannot be read" in e.value for e in at.error)


# ------------------------------------------------------------------------------------------- upload in the sidebar
def _zip() -> bytes:
    cat, coffee = photo("cat"), photo("coffee")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/cat/a.jpg", jpeg_bytes(cat))
        zf.writestr("set/cat/b.jpg", jpeg_bytes(near_copy(cat)))
        zf.writestr("set/coffee/c.jpg", jpeg_bytes(coffee))
        zf.writestr("set/coffee/d.jpg", jpeg_bytes(near_copy(coffee)))
        zf.writestr("set/notes.txt", b"hello")
        zf.writestr("set/coffee/broken.jpg", b"\xff\xd8\xff garbage")
    return buf.getvalue()


def test_sidebar_zip_upload_with_folder_labels():
    at = open_app("pages/duplicates.py")
    at.sidebar.radio(key="ds_source").set_value("Upload images").run()
    at.sidebar.file_uploader(key="ds_upload").set_value([("set.zip", _zip(), "application/zip")]).run()
    assert not at.exception, at.exception
    side = "\n".join(c.value for c in at.sidebar.caption)
    assert "**4** images" in side and "2 labelled groups" in side  # auto labels: the zip's folders
    text = texts(at) + "\n".join(e.label for e in at.expander)
    assert "**4** images used + **2** skipped = **6** files given" in text
    assert at.metric[0].value == "4"
    assert at.metric[2].value == "2"  # two groups: the cats and the coffees
    # the explorer now works on the uploaded, folder-labelled set
    at.switch_page("pages/threshold.py").run()
    assert not at.exception
    assert any(m.label == "Suggested (best F1)" for m in at.metric)


def test_sidebar_unlabelled_upload_gives_nearest_neighbour_histogram():
    at = open_app("pages/threshold.py")
    at.sidebar.radio(key="ds_source").set_value("Upload images").run()
    files = [("a.jpg", jpeg_bytes(photo("cat")), "image/jpeg"), ("b.jpg", jpeg_bytes(near_copy(photo("cat"))),
                                                                  "image/jpeg"),
             ("c.jpg", jpeg_bytes(photo("coffee")), "image/jpeg")]
    at.sidebar.file_uploader(key="ds_upload").set_value(files).run()
    at.sidebar.selectbox(key="ds_labels").set_value("none").run()
    assert not at.exception
    assert any("no ground-truth labels" in i.value for i in at.info)
    assert any(m.label == "Images with a match" for m in at.metric)


def test_folder_source_hidden_unless_local(monkeypatch):
    at = open_app()
    assert "Folder path" not in at.sidebar.radio(key="ds_source").options
    monkeypatch.setenv("DUPFINDER_LOCAL", "1")  # the operator's switch (scripts/run.sh sets it)
    at = open_app()
    assert "Folder path" in at.sidebar.radio(key="ds_source").options


# ------------------------------------------------------------------------------------------- duplicates
def test_duplicates_slider_changes_groups_and_downloads():
    at = open_app("pages/duplicates.py")
    labels = [m.label for m in at.metric]
    assert labels == ["Images", "Duplicate pairs", "Groups", "Removable copies"]
    groups_default = int(at.metric[2].value)
    assert groups_default >= 1
    at.slider(key=f"dup_thr::{KEY}").set_value(0).run()
    assert not at.exception
    pairs0 = int(at.metric[1].value)
    at.slider(key=f"dup_thr::{KEY}").set_value(30).run()
    assert int(at.metric[1].value) > pairs0
    assert len(at.get("download_button")) == 3


# ------------------------------------------------------------------------------------------- compare
def test_compare_all_article_methods_then_subset():
    """The one CNN AppTest: the default selection is the article's six methods, CNN included."""
    at = open_app("pages/compare.py")
    assert at.multiselect(key="cmp_methods").value == list(ARTICLE)
    text = texts(at)
    for n in ARTICLE:
        assert get(n).label in text, n
    rows_before = len(at.dataframe[0].value)
    at.multiselect(key="cmp_methods").set_value(["ahash", "euclidean"]).run()
    at.number_input(key="cmp_topk").set_value(2).run()
    assert not at.exception
    df = at.dataframe[0].value
    assert len(df) < rows_before
    assert {"ahash", "euclidean"} <= set(df.columns) and "cnn-cosine" not in df.columns


# ------------------------------------------------------------------------------------------- threshold explorer
def test_threshold_use_suggested_applies_everywhere():
    at = open_app("pages/threshold.py")
    assert len(at.get("plotly_chart")) == 2  # pair-score histograms + precision/recall/F1
    suggested = float(next(m for m in at.metric if m.label == "Suggested (best F1)").value)
    at.button(key="use_suggested").click().run()
    assert not at.exception
    assert any("applied" in s.value for s in at.success)
    assert float(at.slider(key=f"thr_thr::{KEY}").value) == suggested
    at.switch_page("pages/search.py").run()
    assert float(at.slider(key=f"search_thr::{KEY}").value) == suggested
