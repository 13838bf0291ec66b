"""End-to-end CLI runs: verdicts per backend and worker class, reports, hygiene."""

from __future__ import annotations

import json

import pytest

from harness.report import SCHEMA

FIVE = ["NullCache", "SimpleCache", "FileSystemCache", "RedisCache", "MemcachedCache"]
EXPECTED = {"NullCache": "none", "SimpleCache": "per-worker", "FileSystemCache": "shared",
            "RedisCache": "shared", "MemcachedCache": "shared"}


@pytest.mark.needs("redis", "memcached")
def test_five_backends_four_workers_all_worker_classes(cli) -> None:
    """The foundation's acceptance run, for sync, gthread and gevent at once."""
    args = [a for b in FIVE for a in ("--backend", b)]
    run = cli(*args, "--workers", "4", "--scenario", "visibility",
              "--worker-class", "sync", "--worker-class", "gthread", "--worker-class", "gevent")
    assert run.code == 0, run.stdout + run.stderr
    verdicts = run.verdicts()
    for backend, verdict in EXPECTED.items():
        for wc in ("sync", "gthread", "gevent"):
            assert verdicts[(backend, wc, "visibility")] == verdict
    assert run.leftovers == []
    report = run.report()
    assert report["schema"] == SCHEMA
    for field in ("python", "flask", "flask_caching", "cachelib", "gunicorn",
                  "redis-server", "memcached"):
        assert report["environment"][field]
    row = report["results"][0]
    assert set(row) >= {"backend", "worker_class", "workers", "preload", "scenario",
                        "verdict", "expected", "ok", "evidence"}
    assert all(r["ok"] is True for r in report["results"])
    md = (run.report_dir / "latest" / "report.md").read_text()
    assert "| backend | visibility |" in md
    assert "| SimpleCache (gevent x4) | per-worker ok |" in md
    assert "SimpleCache" in run.stdout and "per-worker" in run.stdout


def test_custom_backend_by_import_path_is_per_worker(cli) -> None:
    run = cli("--backend", "apps.custom_backends.PerProcessFileSystemCache",
              "--scenario", "visibility")
    assert run.code == 0, run.stdout + run.stderr
    rows = {r["scenario"]: r for r in run.report()["results"]}
    # The visibility test also reports the session guarantees of its history.
    assert set(rows) == {"visibility", "read-your-writes", "monotonic-reads"}
    row = rows["visibility"]
    assert row["backend"] == "apps.custom_backends.PerProcessFileSystemCache"
    assert row["verdict"] == "per-worker"
    assert row["expected"] is None and row["ok"] is None
    assert len(set(row["evidence"]["pids"])) == 4
    assert rows["read-your-writes"]["verdict"] == rows["monotonic-reads"]["verdict"] \
        == "per-worker"


def test_unexpected_verdict_exits_1(cli) -> None:
    """An app misconfigured so its cache cannot be shared must fail its expectation."""
    run = cli("--backend", "FileSystemCache", "--scenario", "visibility",
              "--app", "apps.misconfigured:app")
    assert run.code == 1, run.stdout + run.stderr
    rows = {r["scenario"]: r for r in run.report()["results"]}
    row = rows["visibility"]
    assert (row["verdict"], row["expected"], row["ok"]) == ("per-worker", "shared", False)
    row = rows["read-your-writes"]
    assert (row["verdict"], row["expected"], row["ok"]) == ("per-worker", "holds", False)
    assert "UNEXPECTED" in run.stdout


def test_list_shows_backends_scenarios_expectations() -> None:
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "harness", "list"], capture_output=True,
                         text=True, check=True).stdout
    for name in FIVE:
        assert name in out
    assert "visibility" in out and "per-worker" in out


def test_report_json_is_valid_json_with_latest_link(cli) -> None:
    run = cli("--backend", "SimpleCache", "--workers", "2", "--scenario", "visibility")
    assert run.code == 0
    latest = run.report_dir / "latest"
    assert latest.is_symlink()
    data = json.loads((latest / "report.json").read_text())
    assert data["results"][0]["evidence"]["matrix"] == [["Y", "-"], ["-", "Y"]]


def test_scenarios_with_their_own_instances_leave_nothing_running(cli) -> None:
    """Launched instances (stopped in the background) and killed workers leave no process."""
    run = cli("--backend", "FileSystemCache", "--backend", "SimpleCache", "--workers", "2",
              "--scenario", "restart", "--scenario", "clear-blast-radius",
              "--scenario", "multi-instance", "--scenario", "preload")
    assert run.code == 0, run.stdout + run.stderr
    assert run.leftovers == []
    verdicts = run.verdicts()
    assert verdicts[("FileSystemCache", "sync", "multi-instance-separate-dirs")] == "per-instance"
    assert verdicts[("SimpleCache", "sync", "restart")] == "violated"
    assert verdicts[("SimpleCache", "sync", "preload-after-fork")] == "per-worker"
    assert verdicts[("FileSystemCache", "sync", "clear-blast-radius-no-prefix")] == "violated"
    # One progress line per reported scenario, including the second of a pair.
    assert "multi-instance-separate-dirs: per-instance (ok)" in run.stdout
