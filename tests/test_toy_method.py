""""Add a method" is one module plus one registry line: a toy method defined here, registered at test time with
:func:`core.methods.registry.registered`, reaches the CLI, the contract checks and every page with no other edit.

The toy compares images by their mean colour: encode = the mean R, G, B in 0..255 (float32, shape (n, 3)), score =
the Euclidean distance between two means (float64, 0..~441.7, lower is closer).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core.methods as M
import test_methods_contract as contract
from core.__main__ import main
from core.methods.base import Method, Param, ThresholdSpec
from core.methods.registry import register, registered, unregister
from tests.photos import jpeg_bytes, near_copy, photo

NAME = "toy-mean-colour"


def mean_colour_encode(images, scale: float = 1.0, **_ignored) -> np.ndarray:
    """Mean R, G, B of each image, times ``scale``; shape (n, 3), float32."""
    return np.array([np.asarray(im.convert("RGB"), np.float64).reshape(-1, 3).mean(axis=0) * scale
                     for im in images], np.float32).reshape(len(images), 3)


def mean_colour_pairwise(A: np.ndarray, B: np.ndarray, **_ignored) -> np.ndarray:
    """Euclidean distance between mean colours; shape (len(A), len(B)), float64."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    return np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2))


def mean_colour_compare(img_a, img_b, scale: float = 1.0, **_ignored) -> float:
    """Per-pair reference: distance between the two images' mean colours."""
    a, b = mean_colour_encode([img_a, img_b], scale)
    return float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))


TOY = Method(
    name=NAME, label="Toy mean colour", family="toy",
    summary="Compares the average colour of two images: a toy that proves a method is one record.",
    wins="recoloured-free copies of the same picture", fails="any two pictures with the same average colour",
    unit="RGB distance", higher_is_closer=False,
    threshold=ThresholdSpec(min=0.0, max=442.0, step=0.5, default=8.0),
    encode=mean_colour_encode, pairwise=mean_colour_pairwise, compare=mean_colour_compare,
    params=(Param("scale", 1.0, "multiplies the mean colour", (1.0, 2.0)),),
    input_size=64, version="1", reference_atol=1e-3, source="tests/test_toy_method.py",
)


@pytest.fixture
def toy(monkeypatch, tmp_path):
    # one process: the toy lives in this test module (worker processes would have to import it); private cache
    monkeypatch.setenv("DUPFINDER_WORKERS", "1")
    monkeypatch.setenv("DUPFINDER_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("DUPFINDER_LOCAL", "DUPFINDER_ALLOW_FOLDER"):
        monkeypatch.delenv(var, raising=False)
    with registered(TOY) as m:
        yield m
    assert NAME not in M.METHODS and all(x.name != NAME for x in M.REGISTRY)


def test_register_adds_everywhere_and_removes_cleanly(toy):
    from ui import sidebar

    assert M.get(NAME) is toy and M.REGISTRY[-1] is toy and [m.name for m in M.parse_methods(NAME)] == [NAME]
    assert sidebar.REGISTRY is M.REGISTRY  # a module that imported the tuple by name sees the new one
    assert NAME in M.methods_table()
    with pytest.raises(ValueError, match="already registered"):
        register(toy)


def test_unregister_restores_the_registry():
    before = M.REGISTRY
    register(TOY)
    unregister(NAME)
    assert M.REGISTRY == before and NAME not in M.METHODS


# ------------------------------------------------------------------------------------------------ contract
def test_toy_obeys_the_method_contract(toy):
    cat, coffee = photo("cat"), photo("coffee")
    imgs = {"cat": cat, "cat2": near_copy(cat), "coffee": coffee, "coffee2": near_copy(coffee)}
    encoded = {NAME: toy.encode([imgs[k] for k in ("cat", "cat2", "coffee", "coffee2")], **toy.default_params())}
    contract.test_record_fields(toy)
    contract.test_encode_shape_and_pairwise_shape(toy, encoded)
    contract.test_symmetry_and_identity(toy, encoded)
    contract.test_batch_equals_reference(toy, imgs, encoded)
    contract.test_near_copy_closer_than_unrelated(toy, encoded)
    contract.test_order_and_is_match_follow_direction(toy)


# ------------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    cat, coffee = photo("cat"), photo("coffee")
    (d / "cat0.jpg").write_bytes(jpeg_bytes(cat))
    (d / "cat1.jpg").write_bytes(jpeg_bytes(near_copy(cat), 80))
    (d / "coffee0.jpg").write_bytes(jpeg_bytes(coffee))
    q = tmp_path / "query.jpg"
    q.write_bytes(jpeg_bytes(near_copy(cat), 70))
    return d, q


def test_cli_lists_searches_and_groups_with_the_toy(toy, folder, capsys):
    d, q = folder
    assert main(["methods"]) == 0
    assert NAME in capsys.readouterr().out
    assert main(["search", str(q), str(d), "--method", NAME, "--json", "--no-cache"]) == 0
    out = json.loads(capsys.readouterr().out)
    text = json.dumps(out)
    assert "cat0.jpg" in text and "cat1.jpg" in text
    assert main(["duplicates", str(d), "--method", NAME, "--threshold", "8", "--json", "--no-cache"]) == 0
    dup = json.dumps(json.loads(capsys.readouterr().out))
    assert "cat0.jpg" in dup and "cat1.jpg" in dup
    assert main(["search", str(q), str(d), "--method", "no-such-toy", "--json"]) == 2
    assert NAME in capsys.readouterr().err  # the valid names, toy included


# ------------------------------------------------------------------------------------------------ pages
def test_every_page_offers_and_runs_the_toy(toy):
    import os

    app = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
    key = toy.params_key(toy.default_params())
    at = AppTest.from_file(app, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert toy.label in at.sidebar.selectbox(key="method").options  # options are shown by label
    assert any(toy.label in md.value for md in at.markdown)  # Home lists every method
    at.sidebar.selectbox(key="method").set_value(NAME).run()
    assert not at.exception, at.exception
    at.switch_page("pages/search.py").run()
    assert not at.exception, at.exception
    assert at.slider(key=f"search_thr::{key}").value == toy.threshold_spec().default
    assert any("of the top" in m.value for m in at.markdown)  # ranked matches shown
    at.switch_page("pages/duplicates.py").run()
    assert not at.exception, at.exception
    assert at.slider(key=f"dup_thr::{key}").value == toy.threshold_spec().default
    at.switch_page("pages/threshold.py").run()
    assert not at.exception, at.exception
    # pages comparing several methods: preselect the toy alone (their default, the article's six, runs the CNN)
    for page, widget in (("pages/compare.py", "cmp_methods"), ("pages/robustness.py", "lab::methods")):
        at.session_state[widget] = [NAME]
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert toy.label in at.multiselect(key=widget).options and at.multiselect(key=widget).value == [NAME]
    at.switch_page("pages/experiments.py").run()
    assert not at.exception, at.exception
    assert toy.label in at.multiselect(key="exp1::methods").options
