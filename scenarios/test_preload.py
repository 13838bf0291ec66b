"""Scenario ``preload``: what do workers share when gunicorn imports the app before forking?

With ``--preload`` the app writes one value while the master imports it.
``preload`` reports whether every worker reads that value, and who wrote
it; ``preload-after-fork`` runs the visibility workload on the same
instance, for the writes the workers make after the fork.  Under
SimpleCache the first is inherited by every worker and the second stays
in the writer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.checkers import Facts, visibility
from harness.checkers import lifecycle as checker
from harness.options import RunOptions
from harness.plugin import Launch, assert_expected
from harness.topology.pool import Topology
from harness.verdict import Result, safely
from harness.workloads import lifecycle as workload
from harness.workloads import visibility as writes
from harness.workloads.keys import Keyspace


@pytest.mark.scenario("preload", "preload-after-fork")
def test_preload(topology: Topology, launch: Launch, coherence_options: RunOptions,
                 record: Callable[..., Result]) -> None:
    key = Keyspace("preload").fresh("import")
    own = launch("preload", preload=True, config={"COHERENCE_IMPORT_WRITE": key})
    history = workload.import_write(own.workers, key)
    imported = record(
        safely(checker.check_import_write, history, Facts.of(own.workers)),
        history=history)
    history = writes.run(own.workers, settle_window=coherence_options.settle)
    after = record(safely(visibility.check, history, Facts.of(own.workers)),
                   scenario="preload-after-fork", history=history)
    assert_expected(imported)
    assert_expected(after)
