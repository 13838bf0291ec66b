"""The commands that read what runs left: ``coherence report``, ``diff`` and ``list``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import interrupt
from ..errors import HarnessError
from ..expectations import load as load_expectations
from ..expectations import profiles_markdown
from ..topology import backends as _backends
from ..topology.kinds import KINDS, find_binary
from .lines import fail


@click.command(name="report")
@click.argument("path", default="reports/latest", type=click.Path(path_type=Path))
def report_(path: Path) -> None:
    """Re-render report.md, report.html (and report.png) from PATH's report.json.

    PATH is a run directory or its report.json (default reports/latest).
    Nothing is re-run: the verdicts, evidence and histories are read back.
    """
    from ..report import render as render_report
    from ..report.chromium import find as find_chromium
    from ..report.writer import standalone

    interrupt.install()
    try:
        with standalone(path, png=(png := find_chromium() is not None)):
            rendered = render_report(path, png=png)
    except HarnessError as exc:
        fail(str(exc))
        return
    if interrupt.requested() is not None:
        interrupt.settle()
        click.echo(f"coherence: interrupted by {interrupt.describe()}", err=True)
        sys.exit(interrupt.exit_status())
    for written in (rendered.markdown, rendered.html, rendered.png):
        if written is not None:
            click.echo(f"report: {written}")
    if rendered.png_problem is not None:
        click.echo(f"coherence: report.png not written: {rendered.png_problem}", err=True)


@click.command(name="diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
def diff_(old: Path, new: Path) -> None:
    """Compare two runs' verdicts (report.json files or run directories).

    Prints each side's versions and every row whose verdict changed or that
    only one run has; exits 1 when any verdict got worse (see harness.diff).
    """
    from ..diff import run as run_diff

    try:
        text, code = run_diff(old, new)
    except HarnessError as exc:
        fail(str(exc))
        return
    try:
        click.echo(text)
    except BrokenPipeError:
        pass  # the reader stopped early (see reader_may_leave): a worse verdict still fails
    sys.exit(code)


@click.command(name="list")
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
