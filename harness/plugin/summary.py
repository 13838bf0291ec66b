"""The end of a run: the report written once, and the matrix in pytest's terminal summary.

Only the process that gathers the results writes (a parallel run's
controller, or the one process of a sequential run), in the order of the
run's backends, whatever order the groups finished in.
"""

from __future__ import annotations

from typing import Any

import pytest

from .. import environment, report, schedule
from ..report.cost import text as cost_text
from ..topology.backends import BASELINE
from .activation import OPTIONS_KEY, REPORT_PATH, RESULTS, partial_reason


def write_report(session: pytest.Session) -> None:
    """Write the run's report, partial when not every selected check ran."""
    config = session.config
    if schedule.is_worker(config):
        return  # its results went to the controller in its reports
    results = config.stash.get(RESULTS, [])
    if not results:
        return
    options = config.stash[OPTIONS_KEY]
    # A parallel run's results arrive as groups finish; put them in the
    # order of the run's backends, as a sequential run has them.
    order = {b.label: n for n, b in enumerate(options.backends)}
    classes: dict[str, int] = {wc: n for n, wc in enumerate(options.worker_classes)}
    results.sort(key=lambda r: (order.get(r.backend, len(order)),
                                classes.get(r.worker_class, len(classes))))
    partial = partial_reason(config)
    if partial is not None:
        _drop_junitxml(config)
    config.stash[REPORT_PATH] = report.write_run(
        results, options.report_dir, environment=environment.describe(),
        run={"workers": options.workers, "worker_classes": list(options.worker_classes),
             "preload": options.preload, "settle_s": options.settle, "app": options.app,
             "allow_destructive": options.allow_destructive, "cache": options.cache,
             "own_cache": options.own_cache, "load_duration_s": options.load_duration},
        partial_reason=partial, app_environment=options.python.describe(),
    )


def _drop_junitxml(config: pytest.Config) -> None:
    """No JUnit file for a partial run: fewer tests and no failures would read as green."""
    from _pytest.junitxml import LogXML

    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, LogXML):
            config.pluginmanager.unregister(plugin)


def terminal_summary(terminalreporter: Any) -> None:
    """The matrix, costs, a sentence per backend and the report's path, after pytest's summary."""
    config = terminalreporter.config
    results = config.stash.get(RESULTS, [])
    if not results:
        return
    terminalreporter.write_sep("=", "cache coherence matrix")
    terminalreporter.write_line(report.terminal_table(results))
    costs = cost_text(results)
    if costs:
        terminalreporter.write_sep("-", f"cost under load (vs the {BASELINE.label} baseline)")
        terminalreporter.write_line(costs)
    terminalreporter.write_sep("-", "what this run found")
    terminalreporter.write_line(report.summary_text(results))
    path = config.stash.get(REPORT_PATH, None)
    if path is not None:
        terminalreporter.write_line(f"report: {path}")
