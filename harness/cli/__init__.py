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

from .. import interrupt
from ..errors import HarnessError, MissingBinary
from ..expectations import load as load_expectations
from ..options import OPTIONS, PROJECT_ROOT, SCENARIO_DIR, RunOptions, from_values
from ..probe import probe_app
from ..topology import backends as _backends
from ..topology.kinds import find_binary, missing_reason
from ..topology.pool import needed_servers
from ..topology.processes import ledger, reap_leftovers
from .inspect import diff_, list_, report_
from .lines import fail, one_line, reader_may_leave


class _Coherence(click.Group):
    """click's own usage errors in the project's one-line format, still exit 2.

    click prints four lines (``Usage:``, ``Try``, a blank line, ``Error:``);
    this says the same in one, and where the full usage is.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with reader_may_leave():  # --help is printed here
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with reader_may_leave():
            return super().invoke(ctx)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)  # no command: the help, as click does
            sys.exit(2)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "coherence"
            fail(f"{exc.format_message().rstrip('.')}; see {where} --help")
        except click.ClickException as exc:
            click.echo(f"coherence: error: {one_line(exc.format_message())}", err=True)
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
    # Nothing is left to stop: a signal from here on could only cut the line
    # below short, or end the process by the signal instead of its status.
    interrupt.settle()
    if interrupt.requested() is not None:
        extra = f"; stopped {len(stopped)} more" if stopped else ""
        click.echo(f"coherence: interrupted by {interrupt.describe()}; every process the run "
                   f"started was stopped{extra}", err=True)
        code = interrupt.exit_status() or code
    sys.exit(code)


def _run(values: dict[str, Any]) -> int:
    if not SCENARIO_DIR.is_dir():
        fail(f"scenario files not found at {SCENARIO_DIR}; reinstall the package "
              "(pip install flask-cache-coherence, or pip install . in a checkout)")
    for reaped in reap_leftovers():
        click.echo(f"coherence: cleaned up after an earlier run (pid {reaped.run_pid}) that "
                   f"did not finish: {reaped.describe()}", err=True)
    try:
        from ..report.writer import resolve_report_dir

        values["report_dir"] = resolve_report_dir(Path(values["report_dir"]))
        backends_given = bool(values["backends"])
        options = probe_app(from_values(values.get), backends_given=backends_given)
        if not backends_given and not options.foreign_app:
            chosen = _default_backends()
            options = replace(options, backends=tuple(
                b for b in options.backends if b.spec.label in chosen))
        _require_binaries(options)
    except HarnessError as exc:
        fail(str(exc))
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


def _run_pytest(options: RunOptions) -> int:
    # Imported only for a run that starts: pytest, the plugin and the report
    # writers cost a refusal a third of a second.
    import pytest

    from ..plugin.activation import Preset
    from ..report import summary_text, terminal_table
    from ..report.cost import text as cost_text
    from .progress import Progress

    # --assert=plain: the CLI has already imported the plugin and xprocess,
    # which pytest could otherwise only warn it cannot rewrite.  -c and
    # --confcutdir: an installed copy of scenarios/ sits in site-packages,
    # whose parents (a user's project holding the venv) may have a pytest
    # config or conftest.py of their own; -W error is the checkout's
    # filterwarnings, which is no longer read.
    args = [str(SCENARIO_DIR), "-p", "no:randomly", "--assert=plain",
            "--rootdir", str(PROJECT_ROOT), "-c", os.devnull,
            "--confcutdir", str(PROJECT_ROOT), "-W", "error"]
    progress = Progress(left_out=() if options.scenarios else load_expectations().opt_in)
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


main.add_command(report_)
main.add_command(diff_)
main.add_command(list_)
