"""Scenario ids are checked against the expectations file when tests are collected."""

from __future__ import annotations

import os
import subprocess
import sys


def test_unknown_scenario_id_is_a_one_line_collection_error(tmp_path) -> None:
    (tmp_path / "test_bogus.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.scenario('no-such-id')\n"
        "def test_bogus(topology):\n"
        "    raise AssertionError('must never run')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-q", "--coherence-backend", "SimpleCache",
         "--coherence-report-dir", str(tmp_path / "r"), "-o", f"cache_dir={tmp_path / 'c'}"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines()
              if "'no-such-id' is not in harness/expectations.toml" in line]
    assert errors, proc.stdout
    assert "must never run" not in proc.stdout
    assert "Traceback" not in proc.stdout
