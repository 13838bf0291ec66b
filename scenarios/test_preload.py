"""Scenario ``preload``: what do workers share when gunicorn imports the app before forking?

With ``--preload`` the app writes one value while the master imports it.
``preload`` reports whether every worker reads that value, and who wrote
it; ``preload-after-fork`` runs the visibility workload on the same
instance, for the writes the workers make after the fork.  Under
SimpleCache the first is inherited by every worker and the second stays
in the writer.
"""

from __future__ import annotations

import pytest

from harness.checkers import lifecycle as checker
from harness.checkers import visibility
from harness.scenario import Judge, Launch, RunOptions, Topology
from harness.workloads import lifecycle as workload
from harness.workloads import visibility as writes
from harness.workloads.keys import Keyspace


@pytest.mark.scenario("preload", "preload-after-fork")
def test_preload(topology: Topology, launch: Launch, coherence_options: RunOptions,
                 judge: Judge) -> None:
    key = Keyspace("preload").fresh("import")
    own = launch("preload", preload=True, config={"COHERENCE_IMPORT_WRITE": key})
    with judge.together():
        history = workload.import_write(own.workers, key)
        judge(checker.check_import_write, history, workers=own.workers)
        history = writes.run(own.workers, settle_window=coherence_options.settle)
        judge(visibility.check, history, workers=own.workers, scenario="preload-after-fork")
