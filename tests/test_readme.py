"""README.md stays true: its methods table is the registry's, and its two commands exist."""
from pathlib import Path

from core.methods import methods_table

ROOT = Path(__file__).resolve().parents[1]


def test_methods_table_matches_registry():
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- methods-table:start -->\n", "\n<!-- methods-table:end -->"
    assert start in text and end in text
    table = text[text.index(start) + len(start):text.index(end)]
    assert table == methods_table(), "regenerate with: python -m core methods --markdown"


def test_readme_commands_exist():
    text = (ROOT / "README.md").read_text()
    assert "bash scripts/run.sh" in text and "bash scripts/test.sh" in text
    assert (ROOT / "scripts/run.sh").exists() and (ROOT / "scripts/test.sh").exists()
    assert "scripts/test.sh" in (ROOT / ".ci/run").read_text()
