"""The README stays true: its profiles table is the expectations file's."""

from __future__ import annotations

import re
from pathlib import Path

from harness.diff import compare, render
from harness.expectations import load, profiles_markdown
from harness.report.model import load as load_report

ROOT = Path(__file__).resolve().parent.parent


def test_readme_profiles_table_matches_expectations_file() -> None:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- profiles -->\n(.*?)\n<!-- /profiles -->", text, re.S)
    assert m, "README.md lacks the profiles markers"
    assert m.group(1).strip() == profiles_markdown(load()), \
        "regenerate with: coherence list --profiles"


def test_ci_runs_the_readme_test_command() -> None:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- test-command -->\n```\n(.+?)\n```\n<!-- /test-command -->", text, re.S)
    assert m and "pytest" in m.group(1)
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


def test_readme_diff_is_the_diff_of_the_stored_reports() -> None:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- diff -->\n```\n\$ coherence diff (\S+) (\S+)\n(.*?)\n```", text, re.S)
    assert m, "README.md lacks the diff block"
    old, new = m.group(1), m.group(2)
    diff = compare(load_report(ROOT / old), load_report(ROOT / new), labels=(old, new))
    assert m.group(3) == render(diff).rstrip(), "regenerate with: coherence diff " + old + " " + new
    assert not diff.worse
