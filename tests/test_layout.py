"""Test files in tests/ and scenarios/ never share a basename (pytest's default import mode)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_test_module_name_is_used_twice() -> None:
    tests = {p.name for p in (ROOT / "tests").glob("test_*.py")}
    scenarios = {p.name for p in (ROOT / "scenarios").glob("test_*.py")}
    assert tests & scenarios == set(), "rename one of each pair: pytest imports both as one module"
