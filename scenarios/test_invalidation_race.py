"""Scenario ``invalidation-race``: after an invalidation returns, may any worker serve older?

Cold memoized functions, a memoized method and a cached view are computed
on one worker while another invalidates them (``delete_memoized`` in its
three forms, ``cache.delete`` of the view's key, ``delete_cached`` where
Flask-Caching has it); then every worker reads.  A read that returns a
token computed before the invalidation started is stale.
"""

from __future__ import annotations

import pytest

from harness.checkers import invalidation as checker
from harness.scenario import Judge, Topology
from harness.topology.backends import replication_barrier
from harness.workloads import invalidation as workload
from harness.workloads.features import FEATURES_APP

pytestmark = pytest.mark.app(FEATURES_APP)


@pytest.mark.scenario("invalidation-race")
def test_invalidation_race(topology: Topology, judge: Judge) -> None:
    with replication_barrier(topology.key.backend, topology.config) as barrier:
        history = workload.run(topology.workers, barrier=barrier)
    judge(checker.check, history, workers=topology.workers)
