"""Scenario ``load``: the seed's wrk measurement per backend, beside the coherence verdicts.

The seed's cached endpoint (``apps/user.py``) gets ``wrk -t1 -c10`` for
``--load-duration`` seconds through gunicorn's shared listener, on an
instance of its own (a fresh cache and fresh workers, whatever ran before).
The row records throughput, latency, hit ratio, errors, the spread over
workers and the slow calls per key and worker, and judges whether each slow
call was one the cache could not have saved.  A no-cache baseline (NullCache,
same shape) is measured once per run and worker class, and every row carries
it with its ratios against it.  Opt-in: it takes seconds per backend.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest

from harness.checkers import load as checker
from harness.load import wrk
from harness.scenario import Judge, Launch, RunOptions, Topology, TopologyPool, draw, missing_tool
from harness.topology.backends import BASELINE, resolve
from harness.workloads import load as workload
from harness.workloads.features import FEATURES_APP

pytestmark = pytest.mark.app(FEATURES_APP)

Baselines = dict[tuple[Any, ...], dict[str, Any]]


@pytest.fixture
def wrk_binary() -> str:
    path = wrk.find()
    if path is None:
        missing_tool(wrk.MISSING)
    return path


@pytest.fixture(scope="session")
def baselines() -> Baselines:
    """The no-cache baseline's figures, per worker class and shape, measured once per run."""
    return {}


@pytest.mark.scenario("load")
def test_load(wrk_binary: str, topology: Topology, launch: Launch, coherence_pool: TopologyPool,
              coherence_options: RunOptions, baselines: Baselines,
              judge: Judge) -> None:
    if len(topology.workers) < 2:
        pytest.skip("the load's sharing verdict needs traffic across workers; "
                    "run with --workers 2 or more")
    duration = coherence_options.load_duration
    instance = launch("load")
    history = workload.run(instance.workers, instance.gunicorn.port, binary=wrk_binary,
                           duration_s=duration)
    verdict = draw(checker.check, history, workers=instance.workers)
    shape = (topology.key.worker_class, topology.key.workers, topology.key.preload, duration)
    if topology.key.backend.spec.baseline and "requests_per_s" in verdict.evidence:
        baselines[shape] = workload.baseline_of(verdict.evidence, measured="this row")
    if shape not in baselines:
        baselines[shape] = _measure_baseline(coherence_pool, topology, wrk_binary, duration)
    verdict.evidence["baseline"] = baselines[shape]
    verdict.evidence["vs_baseline"] = workload.versus(verdict.evidence, baselines[shape])
    judge.verdict(verdict, history=history)


def _measure_baseline(pool: TopologyPool, topology: Topology, binary: str,
                      duration: int) -> dict[str, Any]:
    """The same load on a baseline instance of the same shape, for a run without that row."""
    stack = ExitStack()
    try:
        key = replace(topology.key, backend=resolve(BASELINE.label))
        instance = pool.start(key, name="load-baseline", stack=stack)
        history = workload.run(instance.workers, instance.gunicorn.port, binary=binary,
                               duration_s=duration)
        verdict = draw(checker.check, history, workers=instance.workers)
    finally:
        pool.retire(stack)
    return workload.baseline_of(verdict.evidence, measured="separately")
