"""Scenarios ``add-race``, ``inc-race`` and ``register``: workers hitting one key at once.

Clients are threads bound to workers' private sockets and released
together by a barrier; nothing is retried, and every history is saved
beside the report.  ``add-race`` runs enough trials that a double-winner
race hitting one trial in twenty is missed with probability below 0.1 %
(fewer once one is seen; see ``harness.workloads.concurrent``);
``inc-race`` runs 50 ``inc`` per worker on one counter; ``register`` runs
8 clients x 150 random get/set/delete/add/inc on 2 keys and checks per-key
linearizability.
"""

from __future__ import annotations

import pytest

from harness.checkers import races
from harness.scenario import Judge, Topology
from harness.workloads import concurrent as workload


@pytest.fixture(autouse=True)
def _two_workers(topology: Topology) -> None:
    # One sync worker serialises every request: nothing can race, and a
    # "holds" would say nothing about the backend.
    if len(topology.workers) < 2:
        pytest.skip("races need at least 2 workers; run with --workers 2 or more")


@pytest.mark.scenario("add-race")
def test_add_race(topology: Topology, judge: Judge) -> None:
    history = workload.add_race(topology.workers)
    judge(races.check_add_race, history, workers=topology.workers)


@pytest.mark.scenario("inc-race")
def test_inc_race(topology: Topology, judge: Judge) -> None:
    history = workload.inc_race(topology.workers)
    judge(races.check_inc_race, history, workers=topology.workers)


@pytest.mark.scenario("register")
def test_register(topology: Topology, judge: Judge) -> None:
    history = workload.register(topology.workers)
    judge(races.check_register, history, workers=topology.workers)
