"""Write a run's report directory and point ``latest`` at it.

Layout: ``<report-dir>/<UTC timestamp>/report.json``, ``histories/*.jsonl``
(one operation per line, named by each result's ``history`` field), then
``report.md``, ``report.html`` and, when Chromium is installed,
``report.png``, with ``<report-dir>/latest`` a symlink to the newest run.
The last three are rendered from report.json as written, by the same code
``coherence report`` uses to re-render an old run.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import interrupt, observe
from ..errors import UsageError, shorten
from ..expectations import load as load_expectations
from ..topology.processes import ledger
from ..verdict import Result
from . import chromium
from .html import render_html
from .markdown import render_markdown
from .matrix import matrix_grid
from .model import SCHEMA, RunReport, load

#: How much of a --report-dir a message shows: an absolute path's last part
#: is the one that tells it, so more than a plain value's 80 characters.
PATH_SHOWN = 200


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """The files a render wrote, and why report.png is missing if it was asked for."""

    markdown: Path
    html: Path
    png: Path | None
    png_problem: str | None


def to_json(results: Sequence[Result], *, created: datetime,
            environment: dict[str, Any], run: dict[str, Any],
            history_paths: Sequence[str | None] = (), complete: bool = True,
            partial_reason: str | None = None,
            app_environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """report.json's object.  ``environment`` is the controller's (the harness's own
    interpreter); ``app_environment`` the interpreter the app was served with
    (``--python``) and its stack's versions."""
    catalog = load_expectations()
    rows = []
    for n, r in enumerate(results):
        row = r.to_json()
        row["history"] = history_paths[n] if n < len(history_paths) else None
        # The reasons as they stood when this run was judged; a later edit of
        # the expectations file must not rewrite an old report's reasons.
        exp = catalog.expected(r.backend, r.scenario, r.worker_class)
        row["expected_reason"] = exp.reason if exp is not None else None
        row["expected_ref"] = exp.ref if exp is not None else None
        rows.append(row)
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "created": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "complete": complete,
    }
    if not complete:
        data["partial_reason"] = partial_reason or "the run did not finish"
    data["environment"] = environment
    if app_environment is not None:
        data["app_environment"] = app_environment
    data.update(run=run, results=rows)
    return data


def check_report_dir(report_dir: Path) -> None:
    """Raise UsageError unless a run directory and ``latest`` can be written there.

    Called before anything starts, so that an unusable directory costs one
    line, not a whole run's results.  It creates nothing: a directory that
    does not exist yet is made when the run writes into it, and its nearest
    existing parent is where the probe looks, so a refusal after this one
    leaves no empty ``reports/`` behind.
    """
    where = str(report_dir)
    existing = report_dir.absolute()
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        with tempfile.TemporaryDirectory(dir=existing, prefix=".probe-") as probe:
            (Path(probe) / "report.json").write_text("{}", "utf-8")
            os.symlink(probe, Path(probe) / "latest")
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UsageError(
            f"--report-dir {shorten(where, PATH_SHOWN)} is not usable ({why}); pass a writable "
            "directory, e.g. --report-dir reports") from None


def resolve_report_dir(report_dir: Path) -> Path:
    """``report_dir`` made absolute with its symlinks resolved, or UsageError in one line
    (a symlink loop, or a name too long for the file system)."""
    try:
        return report_dir.resolve()
    except (OSError, RuntimeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UsageError(
            f"--report-dir {shorten(str(report_dir), PATH_SHOWN)} is not usable ({why}); pass a "
            "writable directory, e.g. --report-dir reports") from None


def write_histories(results: Sequence[Result], target: Path) -> list[str | None]:
    """Write each result's history as ``histories/NNN-<scenario>.jsonl``.

    Returns the paths relative to ``target``, one per result (None when a
    result carries no history), for report.json to point at.
    """
    paths: list[str | None] = []
    for n, r in enumerate(results):
        if r.history is None:
            paths.append(None)
            continue
        rel = f"histories/{n:03d}-{_slug(r.backend)}-{r.worker_class}-{_slug(r.scenario)}.jsonl"
        path = target / rel
        path.parent.mkdir(exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for op in r.history.records():
                fh.write(json.dumps(op.to_json(), default=str) + "\n")
        paths.append(rel)
    return paths


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text.rsplit(".", 1)[-1])


def screenshot_height(report: RunReport) -> int:
    """Tall enough for the overview, the matrix and the start of the first result."""
    _, rows = matrix_grid(report.results)
    return max(900, min(2000, 1100 + 40 * len(rows)))


def render(path: Path, *, png: bool = True) -> Rendered:
    """(Re)write report.md, report.html and, if ``png``, report.png from report.json.

    ``path`` is a run directory or its report.json; a path that is neither
    raises UsageError saying what to pass instead.
    """
    report = load(path)
    target = report.directory
    md = target / "report.md"
    _replace(md, lambda tmp: _text(tmp, render_markdown(report)))
    page = target / "report.html"
    _replace(page, lambda tmp: _text(tmp, render_html(report)))
    shot: Path | None = None
    problem: str | None = None
    if png and interrupt.requested() is None:
        shot = target / "report.png"
        with observe.span(observe.Step.REPORT_PNG):
            problem = _replace(shot, lambda tmp: chromium.screenshot(
                page, tmp, height=screenshot_height(report)))
        if problem is not None:
            shot = None
    return Rendered(markdown=md, html=page, png=shot, png_problem=problem)


def _replace(path: Path, write: Callable[[Path], str | None]) -> str | None:
    """``write`` a temp file beside ``path``, then, unless it returns a problem, rename it
    onto ``path``.

    The rename replaces whatever the name is, a symlink included, so a
    re-render never writes through a link to a file outside the run
    directory.  The temp file is gone either way.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        problem = write(tmp)
        if problem is None:
            os.replace(tmp, path)
        return problem
    finally:
        tmp.unlink(missing_ok=True)


def _text(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")


@contextmanager
def standalone(path: Path, *, png: bool) -> Iterator[None]:
    """Around a render of ``path`` on its own (``coherence report``), not as part of a run.

    Refuses a TMPDIR Chromium cannot use before anything is written, turns
    a report directory that cannot be written into a UsageError, and at the
    end stops what the render started: its Chromium, and with it the
    ledger file that registered it.
    """
    if png and (problem := chromium.tmpdir_problem()) is not None:
        raise UsageError(problem)
    try:
        yield
    except OSError as exc:
        raise UsageError(
            f"cannot write the report files beside {str(path)!r} ({exc.strerror}): "
            "check that the directory is writable") from None
    finally:
        ledger().stop_all()


def write_run(results: Sequence[Result], report_dir: Path, *,
              environment: dict[str, Any], run: dict[str, Any],
              partial_reason: str | None = None,
              app_environment: dict[str, Any] | None = None) -> Path:
    """Write report.json, the histories and the renderings into a new timestamped directory.

    A partial run (``partial_reason`` given) gets report.json with
    ``"complete": false`` and its histories, and nothing else: no
    renderings, and ``latest`` keeps pointing at the last complete run.  A
    signal that arrives while a complete run is written turns it into a
    partial one the same way.
    """
    with observe.span(observe.Step.REPORT):
        return _write_run(results, report_dir, environment=environment, run=run,
                          partial_reason=partial_reason, app_environment=app_environment)


def _write_run(results: Sequence[Result], report_dir: Path, *,
               environment: dict[str, Any], run: dict[str, Any],
               partial_reason: str | None, app_environment: dict[str, Any] | None) -> Path:
    created = datetime.now(UTC)
    stamp = created.strftime("%Y%m%dT%H%M%S%fZ")
    target = report_dir / stamp
    target.mkdir(parents=True, exist_ok=False)
    history_paths = write_histories(results, target)

    def write_json(reason: str | None) -> None:
        data = to_json(results, created=created, environment=environment, run=run,
                       history_paths=history_paths, complete=reason is None,
                       partial_reason=reason, app_environment=app_environment)
        tmp = target / ".report.json.tmp"
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", "utf-8")
        os.replace(tmp, target / "report.json")

    write_json(partial_reason)
    if partial_reason is not None:
        return target
    rendered = render(target, png=chromium.find() is not None)
    if interrupt.requested() is not None:
        for name in ("report.md", "report.html", "report.png"):
            (target / name).unlink(missing_ok=True)
        write_json(f"interrupted by {interrupt.describe()} while the report was written")
        return target
    if rendered.png_problem is not None:
        # Chromium is installed but failed: worth a line, never worth failing the run.
        print(f"coherence: report.png not written: {rendered.png_problem}", file=sys.stderr)
    latest = report_dir / "latest"
    tmp = report_dir / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    # Relative link, swapped in atomically, so a reader never sees it missing.
    tmp.symlink_to(stamp, target_is_directory=True)
    os.replace(tmp, latest)
    return target
