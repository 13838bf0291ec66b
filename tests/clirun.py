"""Running the harness's CLI in a subprocess, as a user does; shared by the tests.

A module of its own (not conftest) so test files can import it by a name
no other directory's module shares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    report_dir: Path
    leftovers: list[str]

    def report(self) -> dict[str, Any]:
        return json.loads((self.report_dir / "latest" / "report.json").read_text())

    def verdicts(self) -> dict[tuple[str, str, str], str]:
        return {(r["backend"], r["worker_class"], r["scenario"]): r["verdict"]
                for r in self.report()["results"]}


def processes_tagged(tag: str) -> list[str]:
    """Live processes whose environment carries ``tag``: what a run left behind."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"COHERENCE_TEST_TAG={tag}".encode() in env:
            found.append(f"{pid} {cmd}")
    return found


def run_cli(where: Path, *args: str, timeout: float = 120,
            env: dict[str, str] | None = None, cwd: Path = ROOT) -> CliRun:
    """``python -m harness run ARGS`` in ``cwd``, with reports under ``where``; see :func:`cli`."""
    tag = uuid.uuid4().hex
    report_dir = where / f"reports-{tag[:8]}"
    full_env = {**os.environ, **(env or {}), "COHERENCE_TEST_TAG": tag}
    full_env.pop("PYTEST_ADDOPTS", None)
    # The outer pytest session's run marker must not leak into the run under test.
    full_env.pop("COHERENCE_RUN", None)
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--report-dir", str(report_dir), *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env=full_env,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr, report_dir,
                  processes_tagged(tag))
