"""The opt-in worker-recycle and failure-safety scenarios through the CLI, as a user runs them."""

from __future__ import annotations

import pytest


@pytest.mark.needs("redis")
def test_worker_recycle_and_failure_safety_run_judge_and_leave_nothing(cli) -> None:
    run = cli("--backend", "SimpleCache", "--backend", "RedisCache",
              "--scenario", "worker-recycle", "--scenario", "failure-safety", timeout=180)
    assert run.code == 0, run.stdout + run.stderr
    verdicts = run.verdicts()
    # SimpleCache's entries die with the workers gunicorn replaces; Redis keeps them.
    assert verdicts[("SimpleCache", "sync", "worker-recycle")] == "lost"
    assert verdicts[("RedisCache", "sync", "worker-recycle")] == "holds"
    # With redis-server down, get and set raise through Flask-Caching.
    assert verdicts[("RedisCache", "sync", "failure-safety")] == "raises"
    # SimpleCache starts no server to take down: no failure-safety row.
    assert ("SimpleCache", "sync", "failure-safety") not in verdicts
    assert run.leftovers == []
