"""A run directory read back from disk: report.json, its results and histories.

Every renderer (Markdown, HTML, the screenshot) works from this, never from
the live objects of a run, so that ``coherence report`` re-renders an old
run exactly as the run itself rendered it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..expectations import Expectation
from ..expectations import load as load_expectations
from ..verdict import Result
from .schema import FIX, SCHEMA, check, inside

__all__ = ["PROCESS_COLUMNS", "SCHEMA", "RunReport", "load", "process_rows", "report_file",
           "result_from_row"]


@dataclass(frozen=True, kw_only=True)
class RunReport:
    """The contents of one run directory, as the renderers need them."""

    directory: Path
    data: dict[str, Any]
    results: list[Result]
    #: One per result: the history's path relative to ``directory``, or None.
    history_paths: list[str | None]

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.data["created"])

    @property
    def environment(self) -> dict[str, Any]:
        env: dict[str, Any] = self.data.get("environment") or {}
        return env

    @property
    def app_environment(self) -> dict[str, Any]:
        """The interpreter the app was served with and its stack; {} in reports before it."""
        env: dict[str, Any] = self.data.get("app_environment") or {}
        return env

    @property
    def complete(self) -> bool:
        """False for a run that was interrupted or stopped before every check ran.

        Reports written before the flag existed were only ever written by
        runs that finished, so a missing flag reads as complete.
        """
        return self.data.get("complete", True) is not False

    @property
    def partial_reason(self) -> str | None:
        if self.complete:
            return None
        return str(self.data.get("partial_reason") or "the run did not finish")

    def expectation(self, n: int) -> Expectation | None:
        """Result ``n``'s expectation as the run saw it.

        The row keeps the expected verdict, reason and upstream reference it
        was judged against, so an old run shows its own reasons; rows from
        before they were stored fall back to today's expectations file.
        """
        row = self.data["results"][n]
        r = self.results[n]
        if isinstance(row.get("expected_reason"), str):
            if r.expected is None:
                return None
            return Expectation(backend=r.backend, scenario=r.scenario, verdict=r.expected,
                               reason=row["expected_reason"], ref=str(row.get("expected_ref")))
        return load_expectations().expected(r.backend, r.scenario, r.worker_class)

    @property
    def run(self) -> dict[str, Any]:
        run: dict[str, Any] = self.data.get("run") or {}
        return run

    def history(self, n: int) -> list[dict[str, Any]] | None:
        """Result ``n``'s history, one dict per JSON line; None when absent.

        The lines are the workers' ops and the nemesis's actions together;
        :func:`harness.report.timeline.split` tells them apart.

        A missing or unreadable file gives None rather than an error: the
        report is still worth rendering without that one timeline.
        """
        rel = self.history_paths[n]
        # load() refused a path that leaves the run directory; checked again
        # here in case a symlink was put in its way since.
        path = None if rel is None else inside(self.directory, rel)
        if path is None or not path.is_file():
            # A FIFO or a device would block the read, or never end it.
            return None
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        ops = []
        for line in text.splitlines():
            if line.strip():
                try:
                    op = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    return None
                if not _drawable(op):
                    return None
                ops.append(op)
        return ops


#: The keys of a history line the timeline lays out by: lanes by the first
#: two, the time axis by the last two.
_LAYOUT_KEYS = ("pid", "process", "start", "end")


def _drawable(op: Any) -> bool:
    """Whether a history line can be laid out: an object whose lane keys are
    scalars and whose times are finite (JSON's 1e999 reads back as infinity)."""
    if not isinstance(op, dict):
        return False
    for key in _LAYOUT_KEYS:
        value = op.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if not isinstance(value, str | int | float | None):
            return False
    return True


#: The columns of a result's process table, in both reports.
PROCESS_COLUMNS = ("kind", "role", "port / socket", "pid")


def process_rows(topology: Any) -> list[tuple[str, ...]]:
    """A result's topology (:attr:`Result.topology`) as rows of :data:`PROCESS_COLUMNS`.

    Anything that is not a dict is skipped rather than refused: a report
    is still worth rendering without one odd entry.
    """
    if not isinstance(topology, list):
        return []
    rows = []
    for proc in topology:
        if not isinstance(proc, dict):
            continue
        where = proc.get("port") if proc.get("port") is not None else proc.get("socket")
        rows.append(tuple("-" if v is None else str(v)
                          for v in (proc.get("kind"), proc.get("role"), where, proc.get("pid"))))
    return rows


def result_from_row(row: dict[str, Any]) -> Result:
    """Rebuild a Result from its report.json row (without its history)."""
    known = {f.name for f in fields(Result)} - {"history"}
    return Result(**{k: v for k, v in row.items() if k in known})


def report_file(path: Path) -> Path:
    """The report.json that ``path`` names: the file itself or a run directory's."""
    if not path.exists():
        raise UsageError(
            f"no report at {str(path)!r}: pass a run directory such as reports/latest "
            "(or its report.json), or write one with 'coherence run'")
    if path.is_dir():
        path = path / "report.json"
        if path.exists() and not path.is_file():
            # A FIFO or a device would block the read, or never end it.
            raise UsageError(
                f"{str(path)!r} is not a regular file: pass a run directory written by "
                "'coherence run', such as reports/latest, whose report.json is a file")
        if not path.is_file():
            raise UsageError(
                f"{str(path.parent)!r} has no report.json: pass a run directory written by "
                "'coherence run', such as reports/latest")
    elif not path.is_file():
        # A FIFO or a device would block the read, or never end it.
        raise UsageError(
            f"{str(path)!r} is not a regular file: pass a run directory written by "
            "'coherence run', such as reports/latest, or its report.json")
    return path


def load(path: Path) -> RunReport:
    """Read a run directory (or its report.json) and check it against the schema.

    Every problem is a UsageError naming the file and its first bad field
    (:func:`harness.report.schema.check`), so that nothing past this point
    meets a report of the wrong shape.
    """
    file = report_file(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {str(file)!r} ({exc.strerror or exc}): "
                         "check its permissions") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{str(file)!r} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}), so not a report.json the harness wrote: {FIX}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{str(file)!r} is not valid JSON ({exc.msg} at line {exc.lineno}): {FIX}") from None
    except RecursionError:
        raise UsageError(f"{str(file)!r} is nested too deeply to be a report: {FIX}") from None
    check(data, file)
    rows = data["results"]
    results = [result_from_row(row) for row in rows]
    paths = [row.get("history") for row in rows]
    return RunReport(directory=file.parent, data=data, results=results, history_paths=paths)
