"""Scenario ``fs-threshold``: FileSystemCache with four workers writing past its threshold.

It runs on an instance of its own (four workers, a small
``CACHE_THRESHOLD``, a fresh ``CACHE_DIR``), on FileSystemCache and on any
custom backend that keeps a FileSystemCache count file in ``CACHE_DIR``.
"""

from pathlib import Path

import pytest

from harness.checkers import fsthreshold as checker
from harness.workloads import fsthreshold as workload

WORKERS = 4


@pytest.mark.destructive
@pytest.mark.scenario("fs-threshold")
def test_fs_threshold(topology, launch, judge):
    backend = topology.key.backend
    if not backend.has_directory:
        pytest.skip(f"{backend.label} keeps no files in CACHE_DIR; fs-threshold is for "
                    "FileSystemCache and its subclasses")
    config = workload.instance_config()
    own = launch("fs-threshold", workers=WORKERS, config=config)
    if "CACHE_DIR" not in own.config:
        pytest.skip("the app configures its own cache, with no CACHE_DIR the harness can read")
    history = workload.run(own.workers, Path(own.config["CACHE_DIR"]))
    snap = history.notes[0]["cache_dir"]
    if not backend.spec.builtin and snap["count_file"] is None and not snap["entries"]:
        pytest.skip(f"{backend.label} keeps no FileSystemCache count file or entry in CACHE_DIR")
    judge(checker.check, history, workers=own.workers, ran_on=own, evidence={"config": config})
