"""Scenarios ``stampede``, ``stampede-cached``, ``stampede-memoize``: K misses of one cold key.

Per trial, two requests per worker for one fresh key arrive at once on the
workers' private sockets; the trial's slow calls are counted from the
replies' generation ids.  ``holds`` needs exactly one per trial.  Neither
cachelib nor Flask-Caching locks a miss until its set, so every caching
backend is expected to violate it, and the counts are the finding.  The
seed's plain cache-aside route, a ``@cache.cached`` view and a
``@cache.memoize`` function are measured the same way.  Opt-in.
"""

from __future__ import annotations

import pytest

from harness.checkers import stampede as checker
from harness.scenario import Judge, Topology
from harness.workloads import stampede as workload
from harness.workloads.features import FEATURES_APP

pytestmark = pytest.mark.app(FEATURES_APP)


@pytest.mark.scenario(*workload.ROUTES)
def test_stampede(topology: Topology, judge: Judge) -> None:
    # One sync worker serialises every request: there would be nothing to race.
    if len(topology.workers) < 2:
        pytest.skip("a stampede needs at least 2 workers; run with --workers 2 or more")
    with judge.together():
        for variant in workload.ROUTES:
            history = workload.run(topology.workers, variant)
            judge(checker.check, history, workers=topology.workers, scenario=variant)
