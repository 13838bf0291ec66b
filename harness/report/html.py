"""report.html: one self-contained page with the matrix, evidence and timelines.

The page is for people: the matrix answers "which backend shares what" at a
glance, each cell leads to the evidence behind it, and the timelines show
which worker did what when.  Everything (CSS, script, drawings) is inline,
so the file opens offline and can be attached to a CI run as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..checkers.evidence import (
    Counterexample,
    FaultEvidence,
    LostWrites,
    Matrix,
    Recovery,
    SilentAfterRecovery,
    StaleReads,
    key_of,
    keys_of,
)
from ..verdict import INCONCLUSIVE, Conclusion, Result
from . import cost
from .heatmap import heatmap
from .matrix import matrix_grid
from .model import PROCESS_COLUMNS, RunReport, process_rows
from .timeline import DRAW_CAP, Timeline, close_up, split, timeline

#: Evidence counts shown first and large when a result has them.
PROMINENT = ("lost_updates", "winners", "trials", "ops", "trials_per_feature", "writes",
             "reads", "late_reads", "missed_reads", "stale_reads", "failed_ops")
#: At most this many of them, so deeply nested evidence stays readable.
_MAX_PROMINENT = 10
#: Known verdicts have their own colour; anything newer gets a neutral one.
KNOWN_VERDICTS = tuple(Conclusion)


@dataclass(frozen=True, kw_only=True)
class Cell:
    anchor: str
    verdict: str
    css: str
    ok: bool | None
    title: str


@dataclass(frozen=True, kw_only=True)
class Detail:
    """Everything the page shows about one result."""

    anchor: str
    result: Result
    css: str
    reason: str | None
    ref: str | None
    #: (name, value, prominent) for each count in the evidence.
    stats: list[tuple[str, str, bool]]
    #: The processes the result ran on, one row of :data:`PROCESS_COLUMNS` each.
    processes: list[tuple[str, ...]]
    heatmap: Markup | None
    timeline: Timeline | None
    #: The counterexample's ops and their neighbours in time, drawn alone.
    close_up: Timeline | None
    history_path: str | None
    history_note: str | None
    counterexample: dict[str, Any] | None
    evidence_json: str


def anchor(n: int) -> str:
    """The id of result ``n``'s section, which matrix cells and the cost table link to."""
    return f"r-{n:03d}"


def verdict_css(verdict: str) -> str:
    return f"v-{verdict}" if verdict in KNOWN_VERDICTS else "v-other"


def status(r: Result) -> str:
    if r.verdict in INCONCLUSIVE:
        return "inconclusive"
    if r.ok is None:
        return "no expectation"
    return "as expected" if r.ok else "UNEXPECTED"


def _count(value: Any) -> str | None:
    """A number from the evidence, rendered short; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def _seconds(value: Any) -> str | None:
    """A duration in seconds, in ms below one second."""
    if _count(value) is None:
        return None
    return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"


def _length(value: Any) -> str | None:
    return str(len(value)) if isinstance(value, list) else None


def _length_of(shape: Any, key: str) -> Callable[[Any], str | None]:
    """The length of the list under ``key`` of a dict of ``shape``."""
    keys_of(shape, key)
    return lambda value: _length(value.get(key)) if isinstance(value, dict) else None


def _ratio(shape: Any, part: str, whole: str) -> Callable[[Any], str | None]:
    """``{part} of {whole}`` from a dict of ``shape``; ``{part}`` alone without ``whole``."""
    keys_of(shape, part, whole)

    def show(value: Any) -> str | None:
        if not isinstance(value, dict) or _count(value.get(part)) is None:
            return None
        of = _count(value.get(whole))
        return f"{_count(value[part])}" + (f" of {of}" if of is not None else "")
    return show


def _durations(shape: Any, *names: str) -> Callable[[Any], str | None]:
    """Durations under ``names`` of a dict of ``shape``, joined by ``·``; a missing one: ``-``."""
    keys_of(shape, *names)

    def show(value: Any) -> str | None:
        if not isinstance(value, dict) or all(_count(value.get(k)) is None for k in names):
            return None
        return " · ".join(_seconds(value.get(k)) or "-" for k in names)
    return show


_lost_of = _ratio(LostWrites, "count", "acked")


def _lost(value: Any) -> str | None:
    shown = _lost_of(value)
    lost = cast(LostWrites, value)
    if shown is None or _count(lost.get("percent")) is None:
        return shown
    return f"{shown} ({_count(lost['percent'])}%)"


def _silent(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    silent = cast(SilentAfterRecovery, value)
    if _count(silent.get("count")) is None:
        return None
    span = silent.get("window")
    if isinstance(span, list) and len(span) == 2 and all(_count(t) is not None for t in span):
        return f"{_count(silent['count'])} over {_seconds(span[1] - span[0])}"
    return _count(silent["count"])


#: The fault checkers' numbers: (evidence key, label, formatter), shown
#: first and large wherever the key is in the evidence.  A formatter
#: answers None for a value of another shape (``stale_reads`` is a plain
#: count in the sharing checkers), which then goes to the generic counts.
FAULT_STATS: tuple[tuple[str, str, Callable[[Any], str | None]], ...] = (
    (key_of(FaultEvidence, "stale_reads"), "stale reads", _ratio(StaleReads, "count", "reads")),
    (key_of(FaultEvidence, "stale_reads"), "stale read age p50 · p99 · max",
     _durations(StaleReads, "age_p50", "age_p99", "age_max")),
    (key_of(FaultEvidence, "recovery"), "recovery after fault, reads · writes (max)",
     _durations(Recovery, "max_read", "max_write")),
    (key_of(FaultEvidence, "recovery"), "workers never recovered",
     _length_of(Recovery, "unrecovered")),
    (key_of(FaultEvidence, "lost_writes"), "lost writes", _lost),
    (key_of(FaultEvidence, "failed_during_fault"), "ops failed during a fault", _count),
    (key_of(FaultEvidence, "silent_after_recovery"), "silent failures after recovery", _silent),
    (key_of(FaultEvidence, "windows"), "fault windows", _length),
)


def fault_stats(walked: list[tuple[str, Any]]) -> list[tuple[str, str, str]]:
    """(path, label, value) for each :data:`FAULT_STATS` row found, in the table's order.

    One found below the top level is labelled with where it was.
    """
    out = []
    for key, label, show in FAULT_STATS:
        for path, value in walked:
            where, _, name = path.rpartition(".")
            shown = show(value) if name == key else None
            if shown is not None:
                out.append((path, f"{label} ({where})" if where else label, shown))
    return out


def _walk(evidence: dict[str, Any], depth: int = 3) -> list[tuple[str, Any]]:
    """Every (dotted path, value) in nested dicts, shallowest first; lists are leaves.

    Checkers nest their evidence by model ("global", "per_worker") or by
    sub-check ("unique_winner", "linearizability"), so counts and
    counterexamples are looked for below the top level too.
    """
    out: list[tuple[str, Any]] = []
    level: list[tuple[str, dict[str, Any]]] = [("", evidence)]
    for _ in range(depth):
        below: list[tuple[str, dict[str, Any]]] = []
        for prefix, node in level:
            for key, value in node.items():
                path = f"{prefix}{key}"
                out.append((path, value))
                if isinstance(value, dict):
                    below.append((f"{path}.", value))
        level = below
    return out


def stats(evidence: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Counts from the evidence: fault numbers and well-known counts at any depth, then the rest.

    The fault checkers' numbers come from :data:`FAULT_STATS`.  A list
    under a well-known name is shown as its length, a small dict of numbers
    (``winners`` per trial, say) in full; everything else is left to the
    full evidence below.
    """
    # A counterexample's fields are shown with it, not as counts.
    walked = [(p, v) for p, v in _walk(evidence) if "counterexample" not in p.split(".")]
    faults = fault_stats(walked)
    out: list[tuple[str, str, bool]] = [(label, shown, True) for _, label, shown in faults]
    # What a fault row showed, its parts included, is not shown again.
    shown_paths = {p for p, _, _ in faults}
    walked = [(p, v) for p, v in walked
              if p not in shown_paths and not any(p.startswith(f"{s}.") for s in shown_paths)]
    named = sorted(((PROMINENT.index(p.rsplit(".", 1)[-1]), n, p, v)
                    for n, (p, v) in enumerate(walked) if p.rsplit(".", 1)[-1] in PROMINENT),
                   key=lambda t: (t[0], t[1]))
    for _, _, path, value in named[:_MAX_PROMINENT]:
        shown = _count(value)
        if shown is None and isinstance(value, list):
            shown = str(len(value))
        elif shown is None and isinstance(value, dict) and 0 < len(value) <= 4 \
                and all(_count(v) is not None for v in value.values()):
            # A small histogram, such as winners per trial {"1": 30, "2": 1}.
            shown = ", ".join(f"{k}: {_count(v)}" for k, v in value.items())
        if shown is not None:
            out.append((path, shown, True))
    taken = {p for p, _, _ in out} | shown_paths
    for key, value in evidence.items():
        shown = _count(value)
        # A key ending in _at is a moment on the run's clock (healed_at), not a count.
        if key not in taken and shown is not None and not key.endswith("_at"):
            out.append((key, shown, False))
    return out


_COUNTEREXAMPLE = key_of(FaultEvidence, "counterexample")
#: A counterexample's fields shown in their own places, not among its extras.
_SHOWN = keys_of(Counterexample, "key", "ops", "culprits", "describe")


def counterexample(evidence: dict[str, Any]) -> dict[str, Any] | None:
    """The evidence's counterexample (the shallowest), if it has a shape the timeline can mark.

    ``ops`` are 0-based indices into the workers' ops, as checkers number
    them: the history's lines less the nemesis's (see :func:`split`).
    ``describe`` (one line per op, in the same order) and ``culprits`` (the
    ops whose results cannot be explained) are optional, and any other
    short field is shown.
    """
    for path, found in _walk(evidence):
        if path.rsplit(".", 1)[-1] != _COUNTEREXAMPLE or not isinstance(found, dict):
            continue
        # Checked value by value: an old report may hold any shape.
        cx = cast(Counterexample, found)
        ops = cx.get("ops")
        if not isinstance(ops, list) or not all(isinstance(i, int) for i in ops):
            continue
        culprits = cx.get("culprits") or []
        if not isinstance(culprits, list) or not all(isinstance(i, int) for i in culprits):
            culprits = []
        describe = cx.get("describe") or []
        lines = [describe] if isinstance(describe, str) else [str(d) for d in describe]
        # Numbered by op only when describe is one line per op, as promised,
        # and only when the line does not already start with its number.
        paired = len(lines) == len(ops)
        items = [(ops[n] if paired and not line.startswith(f"#{ops[n]}") else None, line,
                  paired and ops[n] in culprits) for n, line in enumerate(lines)]
        shown = set(_SHOWN)
        extra = [(k, _show(v)) for k, v in cx.items()
                 if k not in shown and (isinstance(v, str | bool) or _count(v) is not None)]
        return {"where": path.rpartition(".")[0], "key": cx.get("key"), "ops": ops,
                "culprits": culprits, "items": items, "extra": extra}
    return None


def _detail(report: RunReport, n: int) -> Detail:
    r = report.results[n]
    exp = report.expectation(n)
    ev = r.evidence if isinstance(r.evidence, dict) else {"value": r.evidence}
    cx = counterexample(ev)
    figure = None
    grid = cast(Matrix, ev)
    matrix, pids = grid.get("matrix"), grid.get("pids")
    if isinstance(matrix, list) and isinstance(pids, list) \
            and all(isinstance(row, list) for row in matrix):
        figure = heatmap(matrix, pids)
    lines = report.history(n)
    path = report.history_paths[n]
    note = None
    drawn = zoom = None
    if path is None:
        note = "this result has no recorded history"
    elif lines is None:
        note = f"history file {path} is missing or unreadable"
    elif not lines:
        note = "the history is empty"
    else:
        # A counterexample's op indices count the workers' ops only.
        ops, faults = split(lines)
        # Lanes are keyed by pid: an entry that cannot be one (from a hand-edited
        # report) is left out of the order rather than failing the page.
        order = [p for p in pids if isinstance(p, int | str)] if isinstance(pids, list) else []
        drawn = timeline(ops, faults=faults, highlight=cx["ops"] if cx else (),
                         strong=cx["culprits"] if cx else (), lane_order=order)
        if cx:
            zoom = timeline(ops, faults=faults, highlight=cx["ops"], strong=cx["culprits"],
                            lane_order=order,
                            only=close_up(ops, [*cx["ops"], *cx["culprits"]]))
    return Detail(
        anchor=anchor(n), result=r, css=verdict_css(r.verdict),
        reason=exp.reason if exp else None, ref=exp.ref if exp else None,
        stats=stats(ev), processes=process_rows(r.topology), heatmap=figure, timeline=drawn,
        close_up=zoom, history_path=path, history_note=note, counterexample=cx,
        evidence_json=json.dumps(ev, indent=2, default=str, ensure_ascii=False),
    )


def _cell_title(label: str, d: Detail) -> str:
    r = d.result
    lines = [f"{label} · {r.scenario}: {r.verdict} ({status(r)})"]
    if r.expected is not None:
        lines.append(f"expected {r.expected}" + (f": {d.reason}" if d.reason else ""))
        if d.ref:
            lines.append(f"upstream: {d.ref}")
    else:
        lines.append("no documented expectation for this backend")
    if d.stats:
        lines.append(", ".join(f"{k} {v}" for k, v, _ in d.stats[:6]))
    lines.append("click for the evidence")
    return "\n".join(lines)


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("harness.report", "templates"),
                       autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def render_html(report: RunReport) -> str:
    """The whole page as one string."""
    details = [_detail(report, n) for n in range(len(report.results))]
    scenarios, grid = matrix_grid(report.results)
    rows = []
    for label, cols in grid:
        cells: list[Cell | None] = []
        for s in scenarios:
            if s not in cols:
                cells.append(None)
                continue
            d = details[cols[s]]
            cells.append(Cell(anchor=d.anchor, verdict=d.result.verdict, css=d.css,
                              ok=d.result.ok, title=_cell_title(label, d)))
        rows.append((label, cells))
    results = report.results
    unexpected = sum(1 for r in results if r.ok is False)
    env = [(k, _show(v)) for k, v in report.environment.items()]
    run = [(k, _show(v)) for k, v in report.run.items()]
    return _environment().get_template("report.html").render(
        created=report.created.strftime("%Y-%m-%d %H:%M:%S"), schema=report.data.get("schema"),
        environment=env, run=run, scenarios=scenarios, rows=rows, details=details,
        total=len(results), unexpected=unexpected, draw_cap=DRAW_CAP, status=status,
        verdicts=KNOWN_VERDICTS, verdict_css=verdict_css, partial=report.partial_reason,
        process_columns=PROCESS_COLUMNS,
        cost=cost.section(results), anchor=anchor, stampede_counts=cost.stampede_counts,
        stampede_ids=cost.stampede_ids(), load_duration=report.run.get("load_duration_s"),
    )
