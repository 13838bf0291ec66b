"""Recording: a verdict becomes a report row, compared to the expectations file.

A scenario draws a verdict from its history (:func:`draw`: the facts and
the crash-to-``unknown`` rule of :func:`~harness.checkers.safely`), and a
:class:`Recorder` turns it into a :class:`~harness.verdict.Result` row:
the server health after the scenario, the expectation, the processes it
ran on.  :class:`Judge` does both and asserts the row against its
expectation, so a scenario states its judgement once.  Rows reach the
run's list through the test's report (:func:`carry`), which is how a
parallel run's workers send them to the process that writes the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from .. import schedule
from ..checkers import Checker, Facts, HasPid, safely
from ..errors import BootError, HarnessError
from ..expectations import FILE as EXPECTATIONS_FILE
from ..expectations import load as load_expectations
from ..history.ops import History
from ..options import RunOptions
from ..topology.pool import Topology, TopologyKey, TopologyPool
from ..verdict import INCONCLUSIVE, Result, Verdict, accepts
from .ordering import scenario_of, scenarios_of, topology_key

ITEM_RESULTS = pytest.StashKey[list[Result]]()
SENT = pytest.StashKey[int]()
#: User properties of a test report, beside :data:`harness.schedule.RESULTS_PROPERTY`.
SCENARIO_PROPERTY = "coherence_scenario"
ERROR_PROPERTY = "coherence_error"


def draw(check: Checker, history: History, *, workers: Iterable[HasPid],
         instances: Sequence[int] | None = None) -> Verdict:
    """The checker's verdict on ``history``, with the facts of ``workers``.

    A checker that crashes says ``unknown`` (:func:`~harness.checkers.safely`).
    """
    return safely(check, history, Facts.of(workers, instances=instances))


def result(key: TopologyKey, scenario: str, verdict: Verdict, history: History | None,
           processes: list[dict[str, Any]]) -> Result:
    expectation = load_expectations().expected(key.backend.label, scenario, key.worker_class)
    return Result(
        backend=key.backend.label, worker_class=key.worker_class,
        workers=key.workers, preload=key.preload, scenario=scenario,
        verdict=verdict.verdict, expected=expectation.verdict if expectation else None,
        evidence=verdict.evidence, history=history, topology=processes,
    )


def append_to(item: pytest.Item, row: Result) -> Result:
    # The result reaches the run's list through the test's report
    # (pytest_runtest_makereport), which is how a parallel run's workers
    # send it to the process that writes the report.
    item.stash.setdefault(ITEM_RESULTS, []).append(row)
    return row


def error_rows(item: pytest.Item, key: TopologyKey, evidence: dict[str, Any],
               processes: list[dict[str, Any]] | None = None) -> None:
    """An ``error`` row for each scenario of ``item`` that could not observe.

    Rows only for the ids this backend is judged on: a scenario that never
    applies to it (no expectation) gets no row of its own, nor does one that
    already has its row (a test of several scenarios that failed halfway).
    """
    ids = scenarios_of(item)
    catalog = load_expectations()
    judged = [sid for sid in ids
              if catalog.expected(key.backend.label, sid, key.worker_class)] or ids[:1]
    recorded = {row.scenario for row in item.stash.get(ITEM_RESULTS, [])}
    for sid in (s for s in judged if s not in recorded):
        append_to(item, result(key, sid, Verdict(verdict="error", evidence=evidence), None,
                               processes or []))


def assert_expected(row: Result) -> None:
    """Fail unless the verdict matches the expectations file.

    With no expectation (a custom backend), any conclusive verdict passes:
    it is recorded, and there is nothing documented to compare it to.
    """
    where = f"{row.backend} {row.worker_class}x{row.workers} {row.scenario}"
    if row.verdict in INCONCLUSIVE:
        pytest.fail(f"{where}: verdict {row.verdict!r}; evidence: {row.evidence}")
    if row.expected is not None and not accepts(row.expected, row.verdict):
        exp = load_expectations().expected(row.backend, row.scenario, row.worker_class)
        why = f" ({exp.reason}; {exp.ref})" if exp else ""
        pytest.fail(f"{where}: observed {row.verdict!r}, expected {row.expected!r}"
                    f"{why}; evidence: {row.evidence}")


class Recorder:
    """Turns a test's verdicts into report rows, compared to the expectations file."""

    def __init__(self, item: pytest.Item, topology: Topology, pool: TopologyPool,
                 options: RunOptions) -> None:
        sid = scenario_of(item)
        if sid is None:
            raise pytest.UsageError(f"{item.nodeid} needs @pytest.mark.scenario('<id>')")
        self.item, self.sid = item, sid
        self.topology, self.pool, self.options = topology, pool, options

    def __call__(self, verdict: Verdict, *, scenario: str | None = None,
                 history: History | None = None, ran_on: Topology | None = None,
                 app_code: bool = False) -> Result:
        """``ran_on``: the instance the scenario ran on, when it started its own.
        ``app_code``: the verdict judges the app's own code (key-stability), and the
        expectations file describes the sample app's, so a foreign app's row has none."""
        item, topology = self.item, self.topology
        name = scenario or self.sid
        if name not in scenarios_of(item):
            raise pytest.UsageError(f"{item.nodeid} records {name!r} but its "
                                    f"scenario marker lists only {scenarios_of(item)}")
        backend = topology.key.backend.label
        if (topology.key.backend.spec.builtin
                and load_expectations().expected(backend, name) is None):
            # A built-in backend is documented for every scenario it runs; a
            # missing entry would silently pass as "no expectation".
            raise pytest.UsageError(
                f"{EXPECTATIONS_FILE} has no expectation for {backend} in scenario {name!r}; "
                f"add [expect.{_toml_key(topology.key.backend.spec.label)}.{name}]")
        problems = self.pool.health(topology, when="after the scenario")
        if problems:
            # A verdict drawn while a server was dying says nothing about the backend.
            verdict = Verdict(verdict="error", evidence={
                "server_problems": problems, "checker_verdict": verdict.verdict,
                "checker_evidence": verdict.evidence})
        row = result(topology.key, name, verdict, history, topology.describe())
        if ran_on is not None:
            row = replace(row, topology=ran_on.describe())
        if app_code and self.options.foreign_app:
            row = replace(row, expected=None)
        return append_to(item, row)


class Judge:
    """Judges a test's histories: the verdict, its row, and the assertion against it.

    ``judge(check, history, workers=...)`` draws the verdict (:func:`draw`),
    adds ``evidence``, records the row and fails the test unless the row
    matches its expectation.  :meth:`verdict` does the last two for a
    verdict the scenario drew itself.  Inside :meth:`together`, every row
    is recorded before any is asserted, so one unexpected verdict keeps no
    other row out of the report.
    """

    def __init__(self, record: Recorder) -> None:
        self._record = record
        self._held: list[Result] | None = None

    def __call__(self, check: Checker, history: History, *, workers: Iterable[HasPid],
                 instances: Sequence[int] | None = None, scenario: str | None = None,
                 ran_on: Topology | None = None,
                 evidence: dict[str, Any] | None = None) -> Result:
        verdict = draw(check, history, workers=workers, instances=instances)
        if evidence:
            verdict.evidence.update(evidence)
        return self.verdict(verdict, scenario=scenario, history=history, ran_on=ran_on)

    def verdict(self, verdict: Verdict, *, scenario: str | None = None,
                history: History | None = None, ran_on: Topology | None = None,
                app_code: bool = False) -> Result:
        """Record ``verdict`` as a row and assert it (see :meth:`Recorder.__call__`)."""
        row = self._record(verdict, scenario=scenario, history=history, ran_on=ran_on,
                           app_code=app_code)
        if self._held is None:
            assert_expected(row)
        else:
            self._held.append(row)
        return row

    @contextmanager
    def together(self) -> Iterator[None]:
        """Record every row of the block, then assert each in order."""
        held: list[Result] = []
        self._held = held
        try:
            yield
        finally:
            self._held = None
        for row in held:
            assert_expected(row)


def carry(item: pytest.Item, call: pytest.CallInfo[None], rep: pytest.TestReport) -> None:
    """Put the rows recorded since the last phase, the scenario id and any
    environment error into the test's report: the one way they reach the run's list.

    An environment error (a server that did not come up, bad input) is
    reported as its one line: its message names the process, the fix and a
    log that outlives the run, which a traceback through the pool and the
    captured start-up chatter would only bury.
    """
    excinfo = call.excinfo
    error: BaseException | None = excinfo.value if excinfo is not None else None
    if isinstance(error, BootError) and not error.stops_run:
        # An instance the test started itself (launch) timed out or did not
        # boot: its rows say so, and the run goes on.
        key = topology_key(item)
        if key is not None:
            error_rows(item, key, error.evidence())
    elif (call.when == "call" and error is not None
          and not isinstance(error, (pytest.skip.Exception, HarnessError))
          and (key := topology_key(item)) is not None):
        # The scenario raised before it judged (a server died under the
        # nemesis, a client error): an error row, never a row left out.
        error_rows(item, key, {"scenario_error": f"{type(error).__name__}: {error}"[:500]})
    results = item.stash.get(ITEM_RESULTS, [])
    sent = item.stash.get(SENT, 0)
    item.stash[SENT] = len(results)
    schedule.attach(rep, results[sent:])
    sid = scenario_of(item)
    if sid is not None:
        rep.user_properties.append((SCENARIO_PROPERTY, sid))
    if isinstance(error, HarnessError):
        if error.stops_run:
            rep.user_properties.append((ERROR_PROPERTY, str(error)))
        rep.longrepr = str(error)
        rep.sections = []


def _toml_key(label: str) -> str:
    """``label`` as a TOML table key: quoted unless bare (``"MemcachedCache[pylibmc]"``)."""
    bare = label.replace("-", "").replace("_", "").isalnum() and label.isascii()
    return label if bare else f'"{label}"'
