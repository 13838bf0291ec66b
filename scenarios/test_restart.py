"""Scenario ``restart``: does a value outlive the worker that wrote it?

Every worker writes; one worker is sent SIGTERM, gunicorn forks a
replacement, and the new worker, addressed by its new socket, reads every
key.  Twice, with a different victim.  The instance is this test's own,
so the run's shared topology keeps its workers.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.checkers import Facts
from harness.checkers import lifecycle as checker
from harness.plugin import Launch, assert_expected
from harness.topology.pool import Topology
from harness.verdict import Result, safely
from harness.workloads import lifecycle as workload


@pytest.mark.scenario("restart")
def test_restart(topology: Topology, launch: Launch, record: Callable[..., Result]) -> None:
    own = launch("restart")
    history = workload.restart(own.gunicorn)
    assert_expected(record(safely(checker.check_restart, history, Facts.of(own.workers)),
                           history=history))
