"""Scenario ``multi-instance``: two gunicorn masters, standing in for two hosts or containers.

Two instances of 2 workers each, on one backend configuration; the
visibility workload runs across all four workers.  For FileSystemCache,
``multi-instance`` gives both instances one CACHE_DIR and
``multi-instance-separate-dirs`` gives each its own, as two containers
with their own disks would have.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.checkers import visibility
from harness.scenario import Judge, Launch, RunOptions, Topology, TopologyPool
from harness.workloads import visibility as writes

WORKERS_PER_INSTANCE = 2


@pytest.mark.scenario("multi-instance", "multi-instance-separate-dirs")
def test_multi_instance(topology: Topology, coherence_pool: TopologyPool, launch: Launch,
                        coherence_options: RunOptions, judge: Judge) -> None:
    label = topology.key.label
    variants = [("multi-instance", [coherence_pool.scratch(f"multi-{label}")] * 2)]
    if topology.key.backend.spec.storage == "directory":
        variants.append(("multi-instance-separate-dirs",
                         [coherence_pool.scratch(f"multi-{label}-{n}") for n in (1, 2)]))
    with judge.together():
        for scenario, dirs in variants:
            # The second from a copy of the project, as another host's checkout.
            instances = [launch(f"{scenario}-{n}", workers=WORKERS_PER_INSTANCE,
                                config={"CACHE_DIR": str(d)}, elsewhere=n > 0)
                         for n, d in enumerate(dirs)]
            # One index space across both instances, so the matrix is 4 x 4.
            workers = [replace(w, index=n * WORKERS_PER_INSTANCE + i)
                       for n, inst in enumerate(instances) for i, w in enumerate(inst.workers)]
            groups = [n for n, inst in enumerate(instances) for _ in inst.workers]
            history = writes.run(workers, settle_window=coherence_options.settle)
            judge(visibility.check, history, workers=workers, instances=groups,
                  scenario=scenario, evidence={"cache_dirs": sorted({str(d) for d in dirs})})
