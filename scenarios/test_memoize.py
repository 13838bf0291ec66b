"""Scenario ``memoize``: is a ``@cache.memoize`` result, and its deletion, seen by every worker?

A memoized function, a method of a class whose ``repr`` is its id, and a
classmethod are each computed on one worker and read on all, then deleted
on one worker (``delete_memoized(f, x)``, ``delete_memoized(f)``, a bound
method, ``delete_memoized(Cls.method, Cls, x)``) and re-read on all.  The
default-``repr`` gotcha (a singleton made at import, and a new instance
per request) is measured and reported, not judged.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.checkers import Facts
from harness.checkers import features as checker
from harness.plugin import assert_expected
from harness.topology.backends import replication_barrier
from harness.topology.pool import Topology
from harness.verdict import Result, Verdict, safely
from harness.workloads import features as workload

pytestmark = pytest.mark.app(workload.FEATURES_APP)


@pytest.mark.scenario("memoize")
def test_memoize(topology: Topology, record: Callable[[Verdict], Result]) -> None:
    with replication_barrier(topology.key.backend, topology.config) as barrier:
        history = workload.run_memoize(topology.workers, barrier=barrier)
    verdict = safely(checker.check_memoize, history, Facts.of(topology.workers))
    assert_expected(record(verdict, history=history))
