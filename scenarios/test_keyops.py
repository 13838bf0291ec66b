"""Scenarios ``overwrite``, ``delete``, ``clear`` and ``ttl``: plain key
operations made on one worker and observed on every worker."""

import pytest

from harness.checkers import keyops, visibility
from harness.workloads import keyops as workload


@pytest.mark.scenario("overwrite")
def test_overwrite(topology, coherence_options, judge):
    history = workload.overwrite(topology.workers, settle_window=coherence_options.settle)
    judge(visibility.check, history, workers=topology.workers)


@pytest.mark.scenario("delete")
def test_delete(topology, coherence_options, judge):
    history = workload.delete(topology.workers, settle_window=coherence_options.settle)
    judge(keyops.check_delete, history, workers=topology.workers)


@pytest.mark.destructive
@pytest.mark.scenario("clear")
def test_clear(topology, coherence_options, judge):
    history = workload.clear(topology.workers, settle_window=coherence_options.settle)
    judge(keyops.check_clear, history, workers=topology.workers)


@pytest.mark.scenario("ttl")
def test_ttl(topology, judge):
    history = workload.ttl(topology.workers)
    judge(keyops.check_ttl, history, workers=topology.workers)
