"""Scenarios ``visibility``, ``read-your-writes`` and ``monotonic-reads``.

Each worker in turn sets fresh keys through its private socket; every
worker then reads every key.  The N x N matrix of who saw whose write,
with pids as evidence, gives the sharing verdict.  Each key belongs to one
client whose requests reach every worker, and ends overwritten through
another worker, so the same history answers whether that client reads its
own writes, and never reads back in time, on each worker and across them.
"""

import pytest

from harness.checkers import session
from harness.checkers import visibility as checker
from harness.workloads import visibility as workload


@pytest.mark.scenario("visibility", "read-your-writes", "monotonic-reads")
def test_visibility(topology, coherence_options, judge):
    history = workload.run(topology.workers, settle_window=coherence_options.settle)
    workers = topology.workers
    with judge.together():
        judge(checker.check, history, workers=workers)
        judge(session.check_read_your_writes, history, workers=workers,
              scenario="read-your-writes")
        judge(session.check_monotonic_reads, history, workers=workers,
              scenario="monotonic-reads")
