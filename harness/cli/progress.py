"""The CLI's progress reporter: one line per scenario check, errors kept for the CLI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import pytest

from .. import schedule
from ..errors import BOOT_ERROR, HarnessError
from ..plugin.activation import OPTIONS_KEY, REPORT_PATH, RESULTS
from ..plugin.recording import ERROR_PROPERTY, SCENARIO_PROPERTY
from ..schedule import results_of
from ..verdict import Result


class Progress:
    """A quiet pytest reporter: one line per scenario, errors kept for the CLI."""

    def __init__(self, *, left_out: tuple[str, ...] = ()) -> None:
        #: Opt-in scenarios this run does not run, said once at the start.
        self.left_out = left_out
        self.error: HarnessError | None = None
        self.done = 0
        self.total = 0
        self.results: list[Result] = []
        self.report_path: Path | None = None
        self.started = time.monotonic()
        self.session: pytest.Session | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        # The CLI prints its own progress and table; pytest's terminal
        # reporter would add dots and a second summary.
        reporter = config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            config.pluginmanager.unregister(reporter)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.error is None:
            lines = [x for x in report.longreprtext.splitlines() if x.strip()]
            self.error = HarnessError(f"collecting {report.nodeid}: "
                                      f"{lines[-1] if lines else 'failed'}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not schedule.is_worker(session.config) and session.items:
            self._start(len(session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.total:
            self._start(len(ids), jobs=node.config.stash[OPTIONS_KEY].jobs)

    def _start(self, total: int, *, jobs: int = 1) -> None:
        self.total = total
        side = f", {jobs} side by side" if jobs > 1 else ""
        click.echo(f"running {self.total} scenario checks{side}")
        if self.left_out:
            click.echo(f"not run (opt-in; name them with --scenario): {', '.join(self.left_out)}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if ERROR_PROPERTY in props and self.error is None:
            self.error = HarnessError(str(props[ERROR_PROPERTY]))
            self._stop("environment error")
        if (report.when == "call") or (report.when == "setup" and not report.passed):
            self._line(report, props)

    def _stop(self, why: str) -> None:
        # One process: pytest stops after this test.  A parallel run: the
        # controller stops handing out groups and ends the session.
        if self.session is not None:
            self.session.shouldstop = why
            dsession = self.session.config.pluginmanager.getplugin("dsession")
            if dsession is not None:
                dsession.shouldstop = why

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def _line(self, rep: pytest.TestReport, props: dict[str, Any]) -> None:
        self.done += 1
        label = rep.nodeid.split("@", 1)[0].split("[", 1)[-1].rstrip("]")
        scenario = str(props.get(SCENARIO_PROPERTY) or rep.nodeid.split("::")[-1])
        results = results_of(rep)
        if results:
            # A test may report several scenarios; give each its own line.
            for result in results[:-1]:
                self._echo(label, result.scenario, self._status(result))
            scenario, result = results[-1].scenario, results[-1]
        else:
            result = None
        if rep.skipped:
            longrepr = rep.longrepr
            why = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            status = f"skipped: {why.removeprefix('Skipped: ')}"
        elif result is not None:
            status = self._status(result)
        elif self.error is not None:
            status = "error"
        else:
            status = "FAILED" if rep.failed else rep.outcome
            if rep.failed:
                status += "\n" + rep.longreprtext
        self._echo(label, scenario, status)

    @staticmethod
    def _status(result: Result) -> str:
        judged = {True: "ok", False: "UNEXPECTED", None: "recorded"}[result.ok]
        why = result.evidence.get(BOOT_ERROR)
        return f"{result.verdict} ({judged})" + (f": {why}" if why else "")

    def _echo(self, label: str, scenario: str, status: str) -> None:
        click.echo(f"[{self.done}/{self.total}] {label} {scenario}: {status}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        found: list[Result] = session.config.stash.get(RESULTS, [])
        self.results = list(found)
        self.options = session.config.stash.get(OPTIONS_KEY, None)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.report_path = config.stash.get(REPORT_PATH, None)
