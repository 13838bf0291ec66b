"""Scenario ``key-stability``: does every process compute the same cache key for the same call?

Every worker of the run's instance, and of a second instance started from
a copy of the whole project tree (another working directory and another
absolute path to the same code, as a second deployment has),
computes the keys of the app's ``@cache.cached`` views and of the
``--memoized`` functions (for the sample app: its deliberately unstable
``PRICES.price`` and stable ``NAMED_PRICES.price``).  Keys that differ are
entries other processes never read, whatever the backend.
"""

import pytest

from harness.checkers import keystability as checker
from harness.errors import InstanceBootError
from harness.scenario import Verdict
from harness.workloads import keystability as workload


@pytest.mark.scenario("key-stability")
def test_key_stability(topology, coherence_options, coherence_pool, launch, judge):
    memoized, samples = workload.targets(
        app=coherence_options.app, memoized=coherence_options.memoized,
        sample_args=coherence_options.sample_args)
    here = workload.collect(topology.workers, memoized=memoized, samples=samples)
    try:
        other = launch("key-stability-elsewhere", elsewhere=True)
    except InstanceBootError as exc:
        # Its row, as any of this scenario's, has no expectation for a foreign app.
        judge.verdict(Verdict(verdict="error", evidence=exc.evidence()), app_code=True)
        raise
    there = workload.collect(other.workers, memoized=memoized, samples=samples)
    verdict = checker.check([here, there])
    verdict.evidence["second_instance"] = coherence_pool.project_copy().evidence()
    judge.verdict(verdict, app_code=True)
