"""Scenario ``restart``: does a value outlive the worker that wrote it?

Every worker writes; one worker is sent SIGTERM, gunicorn forks a
replacement, and the new worker, addressed by its new socket, reads every
key.  Twice, with a different victim.  The instance is this test's own,
so the run's shared topology keeps its workers.
"""

from __future__ import annotations

import pytest

from harness.checkers import lifecycle as checker
from harness.scenario import Judge, Launch, Topology
from harness.workloads import lifecycle as workload


@pytest.mark.scenario("restart")
def test_restart(topology: Topology, launch: Launch, judge: Judge) -> None:
    own = launch("restart")
    history = workload.restart(own.gunicorn)
    judge(checker.check_restart, history, workers=own.workers)
