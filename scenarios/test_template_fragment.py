"""Scenario ``template-fragment``: are Jinja ``{% cache %}`` fragments seen by every worker?

Four fragments from ``apps/templates/fragments/``: the default key (the
template's path plus the tag's line), a named key varied on a token and a
language, ``None`` as the timeout, and ``'del'``.  Each is rendered on one
worker and read on all; the named fragment is deleted on one worker both
from Python (``make_template_fragment_key`` then ``cache.delete``) and from
a template (``'del'``), then re-read on all.
"""

from __future__ import annotations

import pytest

from harness.checkers import features as checker
from harness.scenario import Judge, Topology
from harness.topology.backends import replication_barrier
from harness.workloads import features as workload

pytestmark = pytest.mark.app(workload.FEATURES_APP)


@pytest.mark.scenario("template-fragment")
def test_template_fragment(topology: Topology, judge: Judge) -> None:
    with replication_barrier(topology.key.backend, topology.config) as barrier:
        history = workload.run_template_fragment(topology.workers, barrier=barrier)
    judge(checker.check_template_fragment, history, workers=topology.workers)
