"""Scenarios ``overwrite``, ``delete``, ``clear`` and ``ttl``: plain key
operations made on one worker and observed on every worker."""

import pytest

from harness.checkers import Facts, keyops, visibility
from harness.plugin import assert_expected
from harness.verdict import safely
from harness.workloads import keyops as workload


@pytest.mark.scenario("overwrite")
def test_overwrite(topology, coherence_options, record):
    history = workload.overwrite(topology.workers, settle_window=coherence_options.settle)
    verdict = safely(visibility.check, history, Facts.of(topology.workers))
    assert_expected(record(verdict, history=history))


@pytest.mark.scenario("delete")
def test_delete(topology, coherence_options, record):
    history = workload.delete(topology.workers, settle_window=coherence_options.settle)
    assert_expected(record(safely(keyops.check_delete, history, Facts.of(topology.workers)),
                           history=history))


@pytest.mark.destructive
@pytest.mark.scenario("clear")
def test_clear(topology, coherence_options, record):
    history = workload.clear(topology.workers, settle_window=coherence_options.settle)
    assert_expected(record(safely(keyops.check_clear, history, Facts.of(topology.workers)),
                           history=history))


@pytest.mark.scenario("ttl")
def test_ttl(topology, record):
    history = workload.ttl(topology.workers)
    verdict = safely(keyops.check_ttl, history, Facts.of(topology.workers))
    assert_expected(record(verdict, history=history))
