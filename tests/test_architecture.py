"""The layering rules of ARCHITECTURE.md, checked on the source with ``ast`` (nothing is imported or run).

* core never imports ui, pages or streamlit; ui never imports pages; pages never import each other;
* no module in core/, ui/, pages/ over 500 lines, except the named allow-list below;
* no private name (``_x``) imported, or read as ``module._x``, across modules, except the named allow-list;
* no docstring names a repository file (``core/...py``, ``DESIGN.md``, ``core.methods.registry``) that does not
  exist.

The allow-lists are the debt left by issue 10: each entry names the file and why it is there; an entry that no
longer applies fails the test, so the lists only shrink.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500

#: Files allowed over MAX_LINES for now (issue 10 follow-ups). Shrink, never grow.
LONG_FILES: set[str] = set()

#: (file, imported module.private name) pairs allowed for now. Shrink, never grow.
PRIVATE_IMPORTS: set[tuple[str, str]] = set()


def _sources() -> list[Path]:
    files = [ROOT / "app.py"]
    for d in ("core", "ui", "pages"):
        files += sorted((ROOT / d).rglob("*.py"))
    return [p for p in files if ".venv" not in p.parts]


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _module(rel: str) -> str:
    parts = rel[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(rel: str, source: str) -> list[tuple[int, str, str | None]]:
    """Every import of a module, anywhere in it (functions too): (line, absolute module, imported name or None)."""
    me = _module(rel)
    package = me if rel.endswith("__init__.py") else me.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out += [(node.lineno, mod, a.name) for a in node.names]
    return out


def layer_violations(rel: str, source: str) -> list[str]:
    """Imports of ``rel`` that break the layering (see module docstring)."""
    top = rel.split("/")[0]
    bad = []
    for line, mod, name in imports(rel, source):
        targets = {mod} | ({f"{mod}.{name}"} if name else set())
        heads = {t.split(".")[0] for t in targets}
        if top == "core" and heads & {"ui", "pages", "streamlit"}:
            bad.append(f"{rel}:{line}: core imports {mod}")
        if top == "ui" and "pages" in heads:
            bad.append(f"{rel}:{line}: ui imports {mod}")
        if top == "pages" and "pages" in heads:
            bad.append(f"{rel}:{line}: a page imports {mod}")
    return bad


def private_imports(rel: str, source: str) -> set[str]:
    """``module._name`` of every private name this file imports, or reads through an imported project module."""
    found = set()
    aliases: dict[str, str] = {}
    for _, mod, name in imports(rel, source):
        if name is None:
            continue
        if name.startswith("_") and not name.startswith("__"):
            found.add(f"{mod}.{name}")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                mod = [m for ln, m, n in imports(rel, source) if ln == node.lineno and n == a.name]
                aliases[a.asname or a.name] = f"{mod[0]}.{a.name}" if mod else a.name
        elif isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            target = aliases[node.value.id]
            if target.split(".")[0] in ("core", "ui", "pages"):
                found.add(f"{target}.{node.attr}")
    return found


_FILE_REF = re.compile(r"(?<![\w/.])((?:core|ui|pages|tests|bench|scripts)/[\w/]*\.py|[\w./-]*DESIGN\.md"
                       r"|core\.methods\.registry)")


def missing_files_in_docstrings(source: str) -> list[str]:
    """Repository files (and the registry module) named in docstrings that do not exist."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for m in _FILE_REF.finditer(ast.get_docstring(node, clean=False) or ""):
                ref = m.group(1)
                path = "core/methods/registry.py" if ref == "core.methods.registry" else ref
                if not (ROOT / path).exists():
                    out.append(ref)
    return out


# ------------------------------------------------------------------------------------------------- the checks
def test_layers_import_only_downwards():
    bad = [v for p in _sources() for v in layer_violations(_rel(p), p.read_text())]
    assert not bad, "layering broken (see ARCHITECTURE.md):\n" + "\n".join(bad)


def test_no_module_over_500_lines_outside_the_allow_list():
    sizes = {_rel(p): len(p.read_text().splitlines()) for p in _sources()}
    over = sorted(f"{f}: {n} lines" for f, n in sizes.items() if n > MAX_LINES and f not in LONG_FILES)
    assert not over, f"modules over {MAX_LINES} lines (split by concept):\n" + "\n".join(over)
    stale = sorted(f for f in LONG_FILES if sizes.get(f, 0) <= MAX_LINES)
    assert not stale, f"now within {MAX_LINES} lines (or gone): remove from LONG_FILES: {stale}"


def test_no_private_name_imported_across_modules_outside_the_allow_list():
    found = {(_rel(p), name) for p in _sources() for name in private_imports(_rel(p), p.read_text())}
    assert not found - PRIVATE_IMPORTS, f"private names used across modules: {sorted(found - PRIVATE_IMPORTS)}"
    assert not PRIVATE_IMPORTS - found, f"fixed: remove from PRIVATE_IMPORTS: {sorted(PRIVATE_IMPORTS - found)}"


def test_docstrings_name_only_files_that_exist():
    bad = [f"{_rel(p)}: {ref}" for p in _sources() for ref in missing_files_in_docstrings(p.read_text())]
    assert not bad, "docstrings naming files that do not exist:\n" + "\n".join(bad)


def test_architecture_md_names_only_files_that_exist():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    refs = set(re.findall(r"`((?:core|ui|pages|tests)/[\w/]*\.py)`", text))
    assert refs, "ARCHITECTURE.md names no file"
    arriving = {"core/ann.py", "core/scale.py"}  # announced as arriving from another branch
    missing = sorted(r for r in refs - arriving if not (ROOT / r).exists())
    assert not missing, f"ARCHITECTURE.md names files that do not exist: {missing}"


# ------------------------------------------------------------------------------------- the checkers can fail
@pytest.mark.parametrize("rel, source, expected", [
    ("core/x.py", "import streamlit as st\n", "core imports streamlit"),
    ("core/x.py", "def f():\n    from ui import session\n", "core imports ui"),
    ("core/sub/x.py", "from ...ui import session\n", "core imports ui"),
    ("core/x.py", "from ..pages import home\n", "core imports pages"),
    ("ui/x.py", "from pages import home\n", "ui imports pages"),
    ("pages/a.py", "import pages.b\n", "a page imports pages.b"),
    ("pages/a.py", "from ui import session\nfrom core import search\n", None),
])
def test_layer_checker_catches_violations(rel, source, expected):
    got = layer_violations(rel, source)
    assert (expected in got[0]) if expected else not got, got


def test_private_and_docstring_checkers_catch_violations():
    src = "from core.datasets import _x\nfrom core import search as S\nimport numpy as np\nS._y, np._z\n"
    assert private_imports("ui/w.py", src) == {"core.datasets._x", "core.search._y"}
    assert private_imports("core/methods/w.py", "from .base import _q\nfrom . import pixels\npixels._r\n") == {
        "core.methods.base._q", "core.methods.pixels._r"}
    assert missing_files_in_docstrings('"""See core/no_such_room.py and DESIGN.md; core/search.py exists."""') == [
        "core/no_such_room.py", "DESIGN.md"]
