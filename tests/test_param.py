"""``Param`` has one declared kind: the CLI parses ``--param NAME=VALUE`` by it and the sidebar picks its widget by
it (issue 10: the typing was written twice, in ``core/__main__.py`` and the sidebar)."""
from __future__ import annotations

import pytest

from core import __main__ as cli
from core.methods import REGISTRY, Param, get


@pytest.mark.parametrize("default, kind", [(True, "bool"), (False, "bool"), (3, "int"), (0.5, "float"),
                                           ("auto", "str"), (None, "str")])
def test_kind_follows_the_default(default, kind):
    assert Param("p", default, "help").kind == kind


def test_an_explicit_kind_wins_and_an_unknown_one_is_refused():
    assert Param("p", None, "help", kind="float").kind == "float"
    with pytest.raises(ValueError, match="kind"):
        Param("p", 1, "help", kind="complex")


@pytest.mark.parametrize("default, text, value", [
    (False, "true", True), (False, "YES", True), (False, "1", True), (True, "0", False), (True, "no", False),
    (8, "16", 16), (0.5, "0.25", 0.25), ("auto", "onnx", "onnx"), (None, "", None), (None, "None", None),
    (None, "/w.pth", "/w.pth"),
])
def test_parse(default, text, value):
    got = Param("p", default, "help").parse(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("default, text", [(8, "8.5"), (8, "x"), (0.5, "half")])
def test_parse_refuses_what_is_not_of_its_kind(default, text):
    with pytest.raises(ValueError):
        Param("p", default, "help").parse(text)


def test_every_registered_parameter_has_a_kind_and_its_default_parses_back():
    for m in REGISTRY:
        for p in m.params:
            assert p.kind in ("bool", "int", "float", "str"), (m.name, p.name)
            if p.default is not None:
                assert p.parse(str(p.default)) == p.default, (m.name, p.name)


def test_cli_params_use_the_kind():
    m = next(m for m in REGISTRY if any(p.kind == "int" and p.choices for p in m.params))
    p = next(p for p in m.params if p.kind == "int" and p.choices)
    other = next(c for c in p.choices if c != p.default)
    assert cli._params(m, [f"{p.name}={other}"]) == {p.name: other}
    with pytest.raises(cli.UsageError):
        cli._params(m, [f"{p.name}=not-a-number"])
    with pytest.raises(cli.UsageError):
        cli._params(get("ahash"), ["nope=1"])
