"""The pytest plugin in other people's sessions: prefixed options, inert unless asked.

The ``pytest11`` entry point loads the plugin into every pytest session of
an environment that has the package, so it must neither add a bare option
another plugin may own (pytest-parallel's ``--workers``) nor change a run
that does not use it; and a user's own tests must be able to use the
topology fixtures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from harness.options import OPTIONS


def _pytest(*args: str, cwd: Path, timeout: float = 120,
            tag: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "COHERENCE_RUN")}
    env["COHERENCE_TEST_TAG"] = tag
    return subprocess.run([sys.executable, "-m", "pytest", *args,
                           "-o", f"cache_dir={cwd / '.cache'}"],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def test_help_shows_only_prefixed_harness_options(tmp_path: Path) -> None:
    proc = _pytest("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # Option lines are indented by two spaces; wrapped help text by more.
    declared = re.findall(r"^  (?:-\w, )?(--[\w-]+)", proc.stdout, flags=re.MULTILINE)
    for opt in OPTIONS:
        # The plugin is loaded (its options are there) and none is bare.
        assert opt.pytest_flag in declared, opt.pytest_flag
        assert opt.flag not in declared, f"bare {opt.flag} in pytest --help"


def test_inert_in_a_foreign_suite_with_a_clashing_option(tmp_path: Path) -> None:
    # A conftest that owns --workers and --backend, as other plugins do:
    # with bare harness options pytest would stop at start-up.
    (tmp_path / "conftest.py").write_text(
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--workers')\n"
        "    parser.addoption('--backend')\n")
    (tmp_path / "test_theirs.py").write_text(
        "def test_b():\n    pass\n\n\ndef test_a():\n    pass\n")
    proc = _pytest("-v", "--workers", "2", "--backend", "x", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Order untouched, no matrix, no report directory, no ledger.
    assert proc.stdout.index("test_b PASSED") < proc.stdout.index("test_a PASSED")
    assert "cache coherence matrix" not in proc.stdout
    assert not (tmp_path / "reports").exists()


FOREIGN_TEST = '''
from harness.workloads.keys import Keyspace


def test_simple_cache_is_per_worker(topology):
    first, second = topology.workers[:2]
    key = Keyspace("mine").fresh("k")
    assert first.op("set", key, value=1).value is True
    assert first.op("get", key).value == 1
    assert second.op("get", key).value is None
'''


@pytest.mark.parametrize("how", [
    # Asked for by name, with prefixed options.
    ("-p", "harness.plugin", "--coherence-backend", "SimpleCache", "--coherence-workers", "2"),
    # Nothing asked: the entry point's plugin wakes up because the test
    # uses its fixture; -k keeps the SimpleCache topology of the defaults.
    ("-k", "SimpleCache"),
], ids=["dash-p", "entry-point"])
def test_foreign_test_file_uses_the_topology_fixtures(
        tmp_path: Path, tagged, how: tuple[str, ...]) -> None:
    (tmp_path / "test_mine.py").write_text(FOREIGN_TEST)
    tag = uuid.uuid4().hex
    proc = _pytest("-v", *how, cwd=tmp_path, tag=tag)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"test_simple_cache_is_per_worker\[SimpleCache-syncx\d\] PASSED",
                     proc.stdout), proc.stdout
    assert "1 passed" in proc.stdout
    # No verdict was recorded, so no report; and nothing outlived the session.
    assert not list(tmp_path.rglob("report.json"))
    assert tagged(tag) == []


# --- the judge: one declaration records a row and asserts it -------------------------

def _judge(expected: str | None):
    from harness.plugin.recording import Judge
    from harness.verdict import Result

    rows: list[Result] = []

    def record(verdict, *, scenario=None, history=None, ran_on=None, app_code=False):
        row = Result(backend="SimpleCache", worker_class="sync", workers=2, preload=False,
                     scenario=scenario or "visibility", verdict=verdict.verdict,
                     expected=expected, evidence=verdict.evidence, history=history)
        rows.append(row)
        return row

    return Judge(record), rows  # type: ignore[arg-type]


def test_judge_draws_the_verdict_adds_evidence_records_and_asserts() -> None:
    from harness.history.ops import History
    from harness.verdict import Verdict

    judge, rows = _judge("shared")
    seen = []

    def check(history, facts):
        seen.append(facts.pids)
        return Verdict(verdict="shared", evidence={"n": 1})

    class W:
        def __init__(self, pid: int) -> None:
            self.pid = pid

    row = judge(check, History(), workers=[W(7), W(8)], evidence={"extra": True})
    assert seen == [(7, 8)]
    assert rows == [row] and row.evidence == {"n": 1, "extra": True}


def test_judge_fails_an_unexpected_or_crashed_verdict() -> None:
    from harness.history.ops import History
    from harness.verdict import Verdict

    judge, _ = _judge("shared")
    with pytest.raises(pytest.fail.Exception, match=r"observed .*'none'.*, expected 'shared'"):
        judge.verdict(Verdict(verdict="none"))

    def crash(history, facts):
        raise RuntimeError("boom")

    with pytest.raises(pytest.fail.Exception, match=r"verdict .*'unknown'.*RuntimeError: boom"):
        judge(crash, History(), workers=[])


def test_judge_together_records_every_row_before_asserting_any() -> None:
    from harness.verdict import Verdict

    judge, rows = _judge("shared")
    with pytest.raises(pytest.fail.Exception, match=r"observed .*'none'"):
        with judge.together():
            judge.verdict(Verdict(verdict="none"), scenario="visibility")
            judge.verdict(Verdict(verdict="shared"), scenario="overwrite")
    assert [r.scenario for r in rows] == ["visibility", "overwrite"]
    # A block cut short by an error asserts nothing: the error is the failure.
    with pytest.raises(OSError):
        with judge.together():
            judge.verdict(Verdict(verdict="none"))
            raise OSError("gunicorn went away")
    judge.verdict(Verdict(verdict="shared"))  # outside the block: asserted at once


RAISING_SCENARIO = '''
import pytest


@pytest.mark.scenario("visibility")
def test_raises_before_it_judges(topology, judge):
    raise ConnectionError("the server went away under the scenario")
'''


def test_a_scenario_that_raises_before_it_judges_leaves_an_error_row(
        tmp_path: Path, tagged) -> None:
    (tmp_path / "test_raising.py").write_text(RAISING_SCENARIO)
    tag = uuid.uuid4().hex
    proc = _pytest("-p", "harness.plugin", "--coherence-backend", "SimpleCache",
                   "--coherence-workers", "2", "--coherence-report-dir", str(tmp_path / "r"),
                   cwd=tmp_path, tag=tag)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [report] = list((tmp_path / "r").rglob("report.json"))
    [row] = json.loads(report.read_text())["results"]
    assert (row["scenario"], row["verdict"]) == ("visibility", "error"), row
    assert row["evidence"]["scenario_error"] == (
        "ConnectionError: the server went away under the scenario")
    assert tagged(tag) == []
