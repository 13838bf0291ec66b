"""Scenario ``visibility``: when one worker writes, which workers see it?

Each worker in turn sets fresh keys through its private socket; every
worker then reads every key.  The N x N matrix of who saw whose write,
with pids as evidence, gives the sharing verdict.
"""

import pytest

from harness.checkers import Facts
from harness.checkers import visibility as checker
from harness.plugin import assert_expected
from harness.verdict import safely
from harness.workloads import visibility as workload


@pytest.mark.scenario("visibility")
def test_visibility(topology, coherence_options, record):
    history = workload.run(topology.workers, settle_window=coherence_options.settle)
    verdict = safely(checker.check, history, Facts.of(topology.workers))
    assert_expected(record(verdict, history=history))
