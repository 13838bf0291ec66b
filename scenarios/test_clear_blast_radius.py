"""Scenario ``clear-blast-radius``: what does one app's ``clear()`` wipe besides its own keys?

Three single-worker instances share the backend (for FileSystemCache, one
CACHE_DIR): the clearing app with ``CACHE_KEY_PREFIX=coh_a_``, the same app
with an empty prefix, and the seed's demo app as the neighbour with
``coh_b_``.  A foreign entry goes straight into the storage.  The prefixed
app's clear is reported as ``clear-blast-radius``, the empty prefix's as
``clear-blast-radius-no-prefix`` (the seed's warning: Redis then runs
FLUSHDB).
"""

from __future__ import annotations

import pytest

from harness.checkers import blast as checker
from harness.scenario import Judge, Launch, RunOptions, Topology, TopologyPool
from harness.topology.backends import open_storage
from harness.workloads import blast as workload

NEIGHBOUR_APP = "apps.demo:app"


@pytest.mark.destructive
@pytest.mark.scenario("clear-blast-radius", "clear-blast-radius-no-prefix")
def test_clear_blast_radius(topology: Topology, coherence_pool: TopologyPool, launch: Launch,
                            judge: Judge, coherence_options: RunOptions) -> None:
    shared = {"CACHE_DIR": str(coherence_pool.scratch(f"blast-{topology.key.label}"))}
    neighbour = launch("blast-b", workers=1, app=NEIGHBOUR_APP,
                       config={**shared, "CACHE_KEY_PREFIX": "coh_b_"})
    storage = open_storage(topology.key.backend, neighbour.config)
    with judge.together():
        try:
            for scenario, prefix in (("clear-blast-radius", "coh_a_"),
                                     ("clear-blast-radius-no-prefix", "")):
                clearing = launch(f"blast-{prefix or 'noprefix'}", workers=1,
                                  config={**shared, "CACHE_KEY_PREFIX": prefix})
                history = workload.run(clearing.workers[0], neighbour.workers, storage,
                                       settle_window=coherence_options.settle)
                judge(checker.check, history, workers=[clearing.workers[0], *neighbour.workers],
                      scenario=scenario,
                      evidence={"clearing_prefix": prefix, "neighbour_prefix": "coh_b_",
                                "storage": storage.where if storage else None})
        finally:
            if storage is not None:
                storage.close()
