"""Scenario ``memoize``: is a ``@cache.memoize`` result, and its deletion, seen by every worker?

A memoized function, a method of a class whose ``repr`` is its id, and a
classmethod are each computed on one worker and read on all, then deleted
on one worker (``delete_memoized(f, x)``, ``delete_memoized(f)``, a bound
method, ``delete_memoized(Cls.method, Cls, x)``) and re-read on all.  The
default-``repr`` gotcha (a singleton made at import, and a new instance
per request) is measured and reported, not judged.
"""

from __future__ import annotations

import pytest

from harness.checkers import features as checker
from harness.scenario import Judge, Topology
from harness.topology.backends import replication_barrier
from harness.workloads import features as workload

pytestmark = pytest.mark.app(workload.FEATURES_APP)


@pytest.mark.scenario("memoize")
def test_memoize(topology: Topology, judge: Judge) -> None:
    with replication_barrier(topology.key.backend, topology.config) as barrier:
        history = workload.run_memoize(topology.workers, barrier=barrier)
    judge(checker.check_memoize, history, workers=topology.workers)
