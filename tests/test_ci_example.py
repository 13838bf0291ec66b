"""The CI workflow the README gives projects to copy (docs/ci/coherence.yml) runs
commands that exist, and the README shows the same ones; zizmor audits it in
tests/test_lint.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.options import OPTIONS
from harness.topology.backends import BUILTIN

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "docs" / "ci" / "coherence.yml"
RUN_FLAGS = {opt.flag for opt in OPTIONS}


def _command(text: str, verb: str) -> str:
    """The ``coherence VERB ...`` command in ``text``, its continued lines joined."""
    m = re.search(rf"coherence\"? {verb} ((?:[^\n]*\\\n)*[^\n]*)", text)
    assert m, f"no coherence {verb} command"
    return re.sub(r"\\\n\s*", "", m.group(1))


def _flags(command: str) -> set[str]:
    return set(re.findall(r"(--[a-z][a-z-]*)", command))


def test_the_project_does_not_run_the_example_itself() -> None:
    assert not (ROOT / ".github" / "workflows" / WORKFLOW.name).exists()


@pytest.mark.skipif(not {"--python", "--chdir"} <= RUN_FLAGS,
                    reason="coherence run has no --python or --chdir in this checkout yet")
def test_every_run_option_of_the_workflow_and_the_readme_exists() -> None:
    workflow = _flags(_command(WORKFLOW.read_text(), "run"))
    readme = _flags(_command((ROOT / "README.md").read_text().split(
        "### In your own CI", 1)[1], "run"))
    assert workflow == readme, "the README shows another command than the workflow runs"
    assert workflow <= RUN_FLAGS, sorted(workflow - RUN_FLAGS)
    assert {"--app", "--python", "--chdir", "--backend", "--report-dir"} <= workflow


def test_the_matrix_names_builtin_backends_and_diff_reads_its_run() -> None:
    text = WORKFLOW.read_text()
    m = re.search(r"^\s+backend: \[(.+)\]$", text, re.M)
    assert m, "no backend matrix"
    backends = [b.strip() for b in m.group(1).split(",")]
    assert backends and set(backends) <= set(BUILTIN), backends
    # diff compares the committed baseline with the run directory the run step made.
    diff = _command(text, "diff")
    assert '"ci/coherence/$BACKEND.json"' in diff and '"reports/$BACKEND/latest"' in diff
    assert '--report-dir "reports/$BACKEND"' in _command(text, "run")
