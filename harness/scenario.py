"""The names a scenario file uses: one declaration judges a history against the expectations.

A scenario is a pytest test marked with its scenario ids; it runs a
workload on the ``topology`` fixture (or on instances it starts with
``launch``) and hands each history to the ``judge`` fixture, which draws the
checker's verdict (a crash is ``unknown``), records the report row and
asserts it against ``harness/expectations.toml``::

    @pytest.mark.scenario("visibility")
    def test_visibility(topology: Topology, judge: Judge) -> None:
        history = workload.run(topology.workers)
        judge(checker.check, history, workers=topology.workers)

Workloads, checkers and faults come from their own packages
(:mod:`harness.workloads`, :mod:`harness.checkers`, :mod:`harness.nemesis`);
this module is only the scenario's side of the pytest plugin, and the
types its fixtures hand over.
"""

from __future__ import annotations

from .history.ops import History
from .options import RunOptions
from .plugin.fixtures import Launch, missing_tool, owned
from .plugin.recording import Judge, draw
from .topology.pool import Topology, TopologyKey, TopologyPool
from .verdict import Result, Verdict

__all__ = [
    "History",
    "Judge",
    "Launch",
    "Result",
    "RunOptions",
    "Topology",
    "TopologyKey",
    "TopologyPool",
    "Verdict",
    "draw",
    "missing_tool",
    "owned",
]
