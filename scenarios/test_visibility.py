"""Scenarios ``visibility``, ``read-your-writes`` and ``monotonic-reads``.

Each worker in turn sets fresh keys through its private socket; every
worker then reads every key.  The N x N matrix of who saw whose write,
with pids as evidence, gives the sharing verdict.  Each key belongs to one
client whose requests reach every worker, and ends overwritten through
another worker, so the same history answers whether that client reads its
own writes, and never reads back in time, on each worker and across them.
"""

import pytest

from harness.checkers import Facts, session
from harness.checkers import visibility as checker
from harness.plugin import assert_expected
from harness.verdict import safely
from harness.workloads import visibility as workload


@pytest.mark.scenario("visibility", "read-your-writes", "monotonic-reads")
def test_visibility(topology, coherence_options, record):
    history = workload.run(topology.workers, settle_window=coherence_options.settle)
    facts = Facts.of(topology.workers)
    results = [
        record(safely(checker.check, history, facts), history=history),
        record(safely(session.check_read_your_writes, history, facts),
               scenario="read-your-writes", history=history),
        record(safely(session.check_monotonic_reads, history, facts),
               scenario="monotonic-reads", history=history),
    ]
    for result in results:
        assert_expected(result)
