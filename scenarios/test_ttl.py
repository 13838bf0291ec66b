"""Scenarios ``ttl-zero``, ``ttl-inc`` and ``ttl-rounding``: what a timeout means, per backend.

``ttl-rounding`` runs on the run's own instance, in a thread, while
``ttl-zero`` and ``ttl-inc`` run on an instance of their own (a 1 s default
timeout, a small threshold), so the three waits are one.
"""

import pytest

from harness.checkers import ttl as checker
from harness.workloads import ttl as workload


@pytest.mark.scenario("ttl-zero", "ttl-inc", "ttl-rounding")
def test_ttl(topology, launch, judge):
    config = workload.instance_config()
    rounding = workload.in_background(lambda: workload.rounding(topology.workers))
    own = launch("ttl", workers=workload.INSTANCE_WORKERS, config=config)
    zero, inc = workload.zero_and_inc(own.workers)
    rounding_history = rounding()
    with judge.together():
        judge(checker.check_zero, zero, workers=own.workers, scenario="ttl-zero",
              ran_on=own, evidence={"config": config})
        judge(checker.check_inc, inc, workers=own.workers, scenario="ttl-inc",
              ran_on=own, evidence={"config": config})
        judge(checker.check_rounding, rounding_history, workers=topology.workers,
              scenario="ttl-rounding")
