"""Run completion: how many selected checks ran to an outcome, and the run's results.

A report is partial when fewer checks finished than were selected (a
signal, ``-x``, ``--maxfail``); :class:`Completion` counts both, gathers
the results the test reports carry, and makes a stop signal take effect
between tests rather than inside a teardown.
"""

from __future__ import annotations

from typing import Any

import pytest

from .. import interrupt, schedule
from ..verdict import Result


class Completion:
    """Counts the selected checks that ran to an outcome: a full run from a partial one."""

    def __init__(self, results: list[Result], *, collect: bool) -> None:
        self.selected = 0
        self.finished = 0
        self.stopped: str | None = None
        #: The run's results, gathered from the test reports (a parallel
        #: run's workers send theirs; they do not gather).
        self.results = results
        self.collect = collect

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # A parallel run's controller collects nothing itself: every worker
        # collects (and deselects) the same ids.
        self.selected = len(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.finished += 1
        if self.collect:
            self.results.extend(schedule.results_of(report))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        interrupt.raising(True)
        if interrupt.requested() is not None:
            raise KeyboardInterrupt(interrupt.describe())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        # Teardown stops processes (and, after the last test, the whole
        # pool): a signal now is recorded and acted on at the next setup.
        interrupt.raising(False)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        if interrupt.requested() is not None:
            raise KeyboardInterrupt(interrupt.describe())
        try:
            return (yield)
        finally:
            # From here on a signal is only recorded: raising it in a teardown
            # would cut short the very cleanup it asks for.
            interrupt.raising(False)
            stop = session.shouldstop or session.shouldfail
            if stop:
                self.stopped = str(stop)
