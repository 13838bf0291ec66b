"""Processes and directories a run must not leave behind, whatever its input or its signals.

Fixtures are in ``tests/badprocs``.
"""

from __future__ import annotations

import re
from pathlib import Path

from clirun import run_cli

BADPROCS = Path(__file__).resolve().parent / "badprocs"
ENV = {"PYTHONPATH": str(BADPROCS)}


def test_a_process_that_left_its_group_is_stopped_at_the_end_of_the_run(tmp_path) -> None:
    """Issue 23 #224: a backend module that forks a setsid child in every worker."""
    run = run_cli(tmp_path, "--backend", "forkbackend.C", "--scenario", "visibility",
                  "--workers", "1", env=ENV)
    assert run.code == 0, run.stderr
    assert run.leftovers == []
    lines = [line for line in run.stderr.splitlines()
             if "escaped" in line]
    assert len(lines) == 1, run.stderr
    assert re.fullmatch(r"coherence: stopped 1 process that escaped its process group: "
                        r"pid \d+ \(.+\)", lines[0]), lines[0]
