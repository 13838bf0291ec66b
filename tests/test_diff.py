"""``coherence diff``: which verdicts changed between two runs, and exit 1 on a regression."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.diff import run

ROOT = Path(__file__).resolve().parent.parent


def _row(backend: str, scenario: str, verdict: str, expected: str | None,
         worker_class: str = "sync") -> dict[str, Any]:
    return {"backend": backend, "worker_class": worker_class, "workers": 4, "preload": False,
            "scenario": scenario, "verdict": verdict, "expected": expected, "evidence": {}}


def _report(path: Path, rows: list[dict[str, Any]], flask_caching: str = "2.5.1") -> Path:
    path.mkdir()
    (path / "report.json").write_text(json.dumps({
        "schema": "coherence-report/1", "created": "2026-01-01T00:00:00+00:00",
        "environment": {"flask_caching": flask_caching, "cachelib": "0.17.0"},
        "run": {}, "results": rows}))
    return path


BASE = [_row("RedisCache", "visibility", "shared", "shared"),
        _row("MemcachedCache", "inc-race", "violated", "violated"),
        _row("mypkg.Cache", "visibility", "per-worker", None)]


def _diff(tmp_path: Path, new_rows: list[dict[str, Any]], **env: str) -> tuple[str, int]:
    old = _report(tmp_path / "old", BASE)
    new = _report(tmp_path / "new", new_rows, **env)
    return run(old, new)


def test_same_verdicts_exit_0(tmp_path: Path) -> None:
    text, code = _diff(tmp_path, BASE)
    assert code == 0
    assert "no verdict changed" in text
    assert "3 rows in both, 0 changed, 0 worse" in text


@pytest.mark.parametrize(("row", "kind", "code"), [
    # An ok row that no longer matches its expectation is a regression.
    (_row("MemcachedCache", "inc-race", "holds", "violated"), "WORSE", 1),
    # So is a row that can no longer be judged.
    (_row("RedisCache", "visibility", "error", "shared"), "WORSE", 1),
    (_row("mypkg.Cache", "visibility", "unknown", None), "WORSE", 1),
    # A custom backend's conclusive change is shown, but there is nothing to call it worse by.
    (_row("mypkg.Cache", "visibility", "shared", None), "changed", 0),
], ids=["ok-to-unexpected", "ok-to-error", "no-expectation-to-unknown", "no-expectation"])
def test_changed_rows_are_listed_and_regressions_exit_1(
        tmp_path: Path, row: dict[str, Any], kind: str, code: int) -> None:
    rows = [r for r in BASE if (r["backend"], r["scenario"]) != (row["backend"], row["scenario"])]
    text, got = _diff(tmp_path, [*rows, row])
    assert got == code, text
    (line,) = [x for x in text.splitlines() if x.startswith(row["backend"] + " sync")]
    assert line.split()[-1] == kind
    assert row["verdict"] in line


def test_a_row_back_to_its_expectation_is_better(tmp_path: Path) -> None:
    old = _report(tmp_path / "old", [_row("RedisCache", "ttl", "violated", "holds")])
    new = _report(tmp_path / "new", [_row("RedisCache", "ttl", "holds", "holds")])
    text, code = run(old, new)
    assert code == 0
    assert "violated (UNEXPECTED)  holds (ok)  better" in text


def test_rows_on_one_side_and_versions_are_shown(tmp_path: Path) -> None:
    new_rows = [*BASE[:2], _row("RedisCache", "visibility", "shared", "shared", "gevent")]
    text, code = _diff(tmp_path, new_rows, flask_caching="2.4.1")
    assert code == 0
    assert "mypkg.Cache syncx4 visibility" in text and "only in OLD" in text
    assert "RedisCache geventx4 visibility" in text and "only in NEW" in text
    (versions,) = [x for x in text.splitlines() if x.startswith("flask_caching")]
    assert versions.split() == ["flask_caching", "2.5.1", "2.4.1", "changed"]


def test_cli_exit_codes(tmp_path: Path) -> None:
    old = _report(tmp_path / "old", BASE)
    new = _report(tmp_path / "new", [_row("RedisCache", "visibility", "per-worker", "shared")])

    def coherence(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", "diff", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    regressed = coherence(str(old), str(new / "report.json"))
    assert regressed.returncode == 1, regressed.stderr
    assert "1 worse" in regressed.stdout
    missing = coherence(str(old), str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "no report at" in missing.stderr
