"""The ``coherence`` command: a thin front door onto the pytest scenarios.

``coherence run`` validates its options with the same code the plugin uses,
then runs ``scenarios/`` through ``pytest.main`` with the plugin and a quiet
progress reporter, and prints the verdict matrix.  There is no second copy
of any scenario or server logic here.

Exit status: 0 when every verdict matches its expectation (or has none),
1 when any verdict is unexpected or inconclusive, 2 for usage or
environment errors, 130 when interrupted.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import pytest

from . import interrupt, schedule
from .errors import BOOT_ERROR, HarnessError, MissingBinary
from .expectations import load as load_expectations
from .expectations import profiles_markdown
from .options import OPTIONS, PROJECT_ROOT, SCENARIO_DIR, RunOptions, from_values
from .plugin.activation import OPTIONS_KEY, REPORT_PATH, RESULTS, Preset
from .plugin.recording import ERROR_PROPERTY, SCENARIO_PROPERTY
from .probe import probe_app
from .report import render as render_report
from .report import summary_text, terminal_table
from .report.chromium import find as find_chromium
from .report.cost import text as cost_text
from .schedule import results_of
from .topology import backends as _backends
from .topology.kinds import KINDS, find_binary, missing_reason
from .topology.pool import needed_servers
from .topology.processes import ledger, reap_leftovers
from .verdict import Result


def _one_line(message: str) -> str:
    """``message`` on one line: a value or an exception may carry newlines."""
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())


def _fail(message: str) -> None:
    click.echo(f"coherence: error: {_one_line(message)}", err=True)
    sys.exit(2)


class _Coherence(click.Group):
    """click's own usage errors in the project's one-line format, still exit 2.

    click prints four lines (``Usage:``, ``Try``, a blank line, ``Error:``);
    this says the same in one, and where the full usage is.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)  # no command: the help, as click does
            sys.exit(2)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "coherence"
            _fail(f"{exc.format_message().rstrip('.')}; see {where} --help")
        except click.ClickException as exc:
            click.echo(f"coherence: error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("coherence: aborted", err=True)
            sys.exit(1)


@click.group(cls=_Coherence, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Check whether gunicorn workers see each other's Flask-Caching writes."""


def _click_options(f: Any) -> Any:
    """Declare every run option on ``f``, from the one table in harness.options."""
    for opt in reversed(OPTIONS):
        kwargs: dict[str, Any] = {"help": opt.help}
        if opt.metavar:
            kwargs["metavar"] = opt.metavar
        if opt.flag_only:
            kwargs["is_flag"] = True
        elif opt.multiple:
            kwargs.update(multiple=True, type=click.Choice(opt.choices) if opt.choices else str)
        else:
            kwargs.update(type=opt.type, default=opt.default)
        f = click.option(opt.flag, opt.dest, **kwargs)(f)
    return f


@main.command()
@_click_options
def run(**values: Any) -> None:
    """Run the scenarios and print the backend x scenario verdict matrix."""
    interrupt.install()
    try:
        code = _run(values)
    finally:
        stopped = ledger().stop_all()
    if interrupt.requested() is not None:
        extra = f"; stopped {len(stopped)} more" if stopped else ""
        click.echo(f"coherence: interrupted by {interrupt.describe()}; every process the run "
                   f"started was stopped{extra}", err=True)
        sys.exit(interrupt.exit_status())
    sys.exit(code)


def _run(values: dict[str, Any]) -> int:
    if not SCENARIO_DIR.is_dir():
        _fail(f"scenario files not found at {SCENARIO_DIR}; reinstall the package "
              "(pip install flask-cache-coherence, or pip install . in a checkout)")
    for reaped in reap_leftovers():
        done = [f"stopped {len(reaped.processes)} processes ({', '.join(reaped.processes)})"
                if reaped.processes else "", f"removed {len(reaped.dirs)} directories"
                if reaped.dirs else ""]
        click.echo(f"coherence: cleaned up after an earlier run (pid {reaped.run_pid}) that "
                   f"did not finish: {'; '.join(d for d in done if d)}", err=True)
    try:
        values["report_dir"] = Path(values["report_dir"]).resolve()
        backends_given = bool(values["backends"])
        options = probe_app(from_values(values.get), backends_given=backends_given)
        if not backends_given and not options.foreign_app:
            chosen = _default_backends()
            options = replace(options, backends=tuple(
                b for b in options.backends if b.spec.label in chosen))
        _require_binaries(options)
    except HarnessError as exc:
        _fail(str(exc))
    if interrupt.requested() is not None:
        return 0
    return _run_pytest(options)


def _default_backends() -> tuple[str, ...]:
    chosen = []
    for name in _backends.DEFAULT_BACKENDS:
        kind = _backends.BUILTIN[name.partition(":")[0]].kind
        if kind is not None and find_binary(kind) is None:
            click.echo(f"{name}: skipped: {missing_reason(kind)}")
        else:
            chosen.append(name)
    return tuple(chosen)


def _require_binaries(options: RunOptions) -> None:
    if options.own_cache:
        return  # the app's own servers: probe_app has checked they answer
    for b in options.backends:
        for kind in needed_servers(b, options.config):
            if find_binary(kind) is None:
                raise MissingBinary(f"cannot check {b.label}: {missing_reason(kind)}")


class _Progress:
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


def _run_pytest(options: RunOptions) -> int:
    # --assert=plain: the CLI has already imported the plugin and xprocess,
    # which pytest could otherwise only warn it cannot rewrite.  -c and
    # --confcutdir: an installed copy of scenarios/ sits in site-packages,
    # whose parents (a user's project holding the venv) may have a pytest
    # config or conftest.py of their own; -W error is the checkout's
    # filterwarnings, which is no longer read.
    args = [str(SCENARIO_DIR), "-p", "no:randomly", "--assert=plain",
            "--rootdir", str(PROJECT_ROOT), "-c", os.devnull,
            "--confcutdir", str(PROJECT_ROOT), "-W", "error"]
    progress = _Progress(left_out=() if options.scenarios else load_expectations().opt_in)
    with tempfile.TemporaryDirectory(prefix="coherence-cache-") as cache_dir:
        # xprocess keeps its pid files in pytest's cache dir; a private one
        # keeps CLI runs from touching the checkout's .pytest_cache.
        ledger().directory(Path(cache_dir))
        # --basetemp: a parallel run's workers get pytest temp dirs, which
        # go with the rest of the run's private directory.
        code = pytest.main([*args, "-o", f"cache_dir={cache_dir}",
                            "--basetemp", str(Path(cache_dir) / "tmp")],
                           plugins=[progress, (Preset(options))])
        ledger().forget_directory(Path(cache_dir))
    if interrupt.requested() is not None:
        return 0  # run() reports the signal
    if progress.error is not None:
        click.echo(f"coherence: error: {progress.error}", err=True)
        return 2
    if code == pytest.ExitCode.INTERRUPTED:
        click.echo("coherence: interrupted; all started processes were stopped", err=True)
        return 130
    if code == pytest.ExitCode.USAGE_ERROR:
        return 2
    if progress.results:
        click.echo("")
        click.echo(terminal_table(progress.results))
        costs = cost_text(progress.results)
        if costs:
            click.echo(f"\ncost under load (vs the {_backends.BASELINE.label} baseline; "
                       f"min/median/max):\n{costs}")
        click.echo(f"\nwhat this run found:\n{summary_text(progress.results)}")
    if progress.report_path is not None:
        click.echo(f"\nreport: {progress.report_path / 'report.md'}")
    elapsed = time.monotonic() - progress.started
    unexpected = [r for r in progress.results if r.ok is False]
    click.echo(f"{len(progress.results)} verdicts, {len(unexpected)} unexpected, "
               f"in {elapsed:.1f}s")
    if code == pytest.ExitCode.NO_TESTS_COLLECTED and not progress.results:
        return 0
    return 1 if unexpected or code != pytest.ExitCode.OK else 0


@main.command(name="report")
@click.argument("path", default="reports/latest", type=click.Path(path_type=Path))
def report_(path: Path) -> None:
    """Re-render report.md, report.html (and report.png) from PATH's report.json.

    PATH is a run directory or its report.json (default reports/latest).
    Nothing is re-run: the verdicts, evidence and histories are read back.
    """
    from .report.writer import standalone

    interrupt.install()
    try:
        with standalone(path, png=(png := find_chromium() is not None)):
            rendered = render_report(path, png=png)
    except HarnessError as exc:
        _fail(str(exc))
        return
    if interrupt.requested() is not None:
        click.echo(f"coherence: interrupted by {interrupt.describe()}", err=True)
        sys.exit(interrupt.exit_status())
    for written in (rendered.markdown, rendered.html, rendered.png):
        if written is not None:
            click.echo(f"report: {written}")
    if rendered.png_problem is not None:
        click.echo(f"coherence: report.png not written: {rendered.png_problem}", err=True)


@main.command(name="diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
def diff_(old: Path, new: Path) -> None:
    """Compare two runs' verdicts (report.json files or run directories).

    Prints each side's versions and every row whose verdict changed or that
    only one run has; exits 1 when any verdict got worse (see harness.diff).
    """
    from .diff import run as run_diff

    try:
        text, code = run_diff(old, new)
    except HarnessError as exc:
        _fail(str(exc))
        return
    click.echo(text)
    sys.exit(code)


@main.command(name="list")
@click.option("--profiles", is_flag=True,
              help="Print only the backend profiles table (Markdown), as in the README.")
def list_(profiles: bool) -> None:
    """Show backends, scenarios and the expected verdicts."""
    catalog = load_expectations()
    if profiles:
        click.echo(profiles_markdown(catalog))
        return
    click.echo("backends:")
    for name, spec in _backends.BUILTIN.items():
        need = ""
        if spec.kind is not None:
            k = KINDS[spec.kind]
            size = "" if k.max_size == 1 else (
                f"[:N {k.size_noun}, default {k.default_size}]")
            name += size
            need = f"  (needs {k.binary}" + (
                ", found)" if find_binary(spec.kind) else ", NOT found)")
        click.echo(f"  {name}{need}")
    click.echo(f"  default run: {', '.join(_backends.DEFAULT_BACKENDS)}")
    click.echo("  <import.path.Class>  (custom backend; use --server to start a server for it)")
    click.echo("\nscenarios:")
    for s in catalog.scenarios.values():
        opt_in = "" if s.default else f"  [opt-in: runs only with --scenario {s.id}]"
        click.echo(f"  {s.id}: {s.summary}{opt_in}")
    if catalog.opt_in:
        click.echo(f"  (a run without --scenario leaves out the opt-in ones: "
                   f"{', '.join(catalog.opt_in)})")
    click.echo("\nexpectations:")
    for e in catalog.expectations.values():
        click.echo(f"  {e.backend:16} {e.scenario:18} {e.verdict:11} {e.reason}")
