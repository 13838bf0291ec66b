"""Scenario ``app-views``: are the app's own cached views and memoized functions shared?

Every ``@cache.cached`` view of the app and every ``@cache.memoize``
function and method of its own modules (plus ``--memoized`` targets, called
with ``--sample-args``) is computed on one worker and called on every
other, then invalidated the app's way on one worker and called again on
each: served from the cache, computed again, or served stale?  On the
sample app its deliberately per-worker ``PriceList.price`` decides the row.
"""

from __future__ import annotations

import pytest

from harness.checkers import appviews as checker
from harness.scenario import Judge, RunOptions, Topology
from harness.topology.backends import replication_barrier
from harness.workloads import appviews as workload


@pytest.mark.scenario("app-views")
def test_app_views(topology: Topology, coherence_options: RunOptions, judge: Judge) -> None:
    samples = workload.samples(app=coherence_options.app,
                               sample_args=coherence_options.sample_args)
    with replication_barrier(topology.key.backend, topology.config) as barrier:
        run = workload.run(topology.workers, memoized=coherence_options.memoized,
                           samples=samples, barrier=barrier)
    judge.verdict(checker.check(run), app_code=True)
