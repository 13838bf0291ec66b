"""Scenario ``cached-view``: is a ``@cache.cached`` result seen by every worker?

Views, a class-based view, a helper with a callable ``key_prefix``, a POST
keyed on its body and an ``unless`` route are each computed on one worker
and read on all; a view is invalidated on one worker and re-read on all;
and a ``CachedResponse`` with a 1 s TTL must have expired everywhere after
one short wait.  ``apps/features.py`` serves the routes, on the run's shared
topology when it is the default app, or in a gunicorn of its own.
"""

from __future__ import annotations

import pytest

from harness.checkers import features as checker
from harness.scenario import Judge, Topology
from harness.topology.backends import replication_barrier
from harness.workloads import features as workload

pytestmark = pytest.mark.app(workload.FEATURES_APP)


@pytest.mark.scenario("cached-view")
def test_cached_view(topology: Topology, judge: Judge) -> None:
    with replication_barrier(topology.key.backend, topology.config) as barrier:
        history = workload.run_cached_view(topology.workers, barrier=barrier)
    judge(checker.check_cached_view, history, workers=topology.workers)
