"""report.html: one self-contained page with the matrix, evidence and timelines.

The page is for people: the matrix answers "which backend shares what" at a
glance, each cell leads to the evidence behind it, and the timelines show
which worker did what when.  Everything (CSS, script, drawings) is inline,
so the file opens offline and can be attached to a CI run as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..expectations import load as load_expectations
from ..verdict import INCONCLUSIVE, Result
from .figures import DRAW_CAP, Timeline, close_up, heatmap, timeline
from .matrix import matrix_grid
from .model import RunReport

#: Evidence counts shown first and large when a result has them.
PROMINENT = ("lost_updates", "winners", "trials", "ops", "trials_per_feature", "writes",
             "reads", "late_reads", "missed_reads", "stale_reads", "failed_ops")
#: Known verdicts have their own colour; anything newer gets a neutral one.
KNOWN_VERDICTS = ("shared", "holds", "eventual", "per-instance", "per-worker", "partial",
                  "none", "violated", "error", "unknown")


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
    heatmap: Markup | None
    timeline: Timeline | None
    #: The counterexample's ops and their neighbours in time, drawn alone.
    close_up: Timeline | None
    history_path: str | None
    history_note: str | None
    counterexample: dict[str, Any] | None
    evidence_json: str


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


def stats(evidence: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Top-level counts from the evidence, the well-known ones first.

    A list or dict under a well-known name (``winners``, say) is shown as
    its length; everything else is left to the full evidence below.
    """
    out: list[tuple[str, str, bool]] = []
    for key in PROMINENT:
        if key in evidence:
            value = evidence[key]
            shown = _count(value)
            if shown is None and isinstance(value, list | dict):
                shown = str(len(value))
            if shown is not None:
                out.append((key, shown, True))
    for key, value in evidence.items():
        if key not in PROMINENT:
            shown = _count(value)
            if shown is not None:
                out.append((key, shown, False))
    return out


def counterexample(evidence: dict[str, Any]) -> dict[str, Any] | None:
    """The evidence's counterexample, if it has the shape the timeline can mark.

    ``ops`` are 0-based indices into the history's lines; ``describe`` (one
    line per op, in the same order) and ``culprits`` (the ops whose results
    cannot be explained) are optional, and any other short field is shown.
    """
    cx = evidence.get("counterexample")
    if not isinstance(cx, dict):
        return None
    ops = cx.get("ops")
    if not isinstance(ops, list) or not all(isinstance(i, int) for i in ops):
        return None
    culprits = cx.get("culprits") or []
    if not isinstance(culprits, list) or not all(isinstance(i, int) for i in culprits):
        culprits = []
    describe = cx.get("describe") or []
    if isinstance(describe, str):
        describe = [describe]
    lines = [str(d) for d in describe]
    # Numbered by op only when describe is one line per op, as promised.
    items = [(ops[n] if len(lines) == len(ops) else None, line, len(lines) == len(ops)
              and ops[n] in culprits) for n, line in enumerate(lines)]
    shown = {"key", "ops", "culprits", "describe"}
    extra = [(k, _show(v)) for k, v in cx.items()
             if k not in shown and (isinstance(v, str | bool) or _count(v) is not None)]
    return {"key": cx.get("key"), "ops": ops, "culprits": culprits, "items": items,
            "extra": extra}


def _detail(report: RunReport, n: int) -> Detail:
    r = report.results[n]
    exp = load_expectations().expected(r.backend, r.scenario)
    ev = r.evidence if isinstance(r.evidence, dict) else {"value": r.evidence}
    cx = counterexample(ev)
    figure = None
    matrix, pids = ev.get("matrix"), ev.get("pids")
    if isinstance(matrix, list) and isinstance(pids, list) \
            and all(isinstance(row, list) for row in matrix):
        figure = heatmap(matrix, pids)
    ops = report.history(n)
    path = report.history_paths[n]
    note = None
    drawn = zoom = None
    if path is None:
        note = "this result has no recorded history"
    elif ops is None:
        note = f"history file {path} is missing or unreadable"
    elif not ops:
        note = "the history is empty"
    else:
        order = pids if isinstance(pids, list) else ()
        drawn = timeline(ops, highlight=cx["ops"] if cx else (),
                         strong=cx["culprits"] if cx else (), lane_order=order)
        if cx:
            zoom = timeline(ops, highlight=cx["ops"], strong=cx["culprits"], lane_order=order,
                            only=close_up(ops, [*cx["ops"], *cx["culprits"]]))
    return Detail(
        anchor=f"r-{n:03d}", result=r, css=verdict_css(r.verdict),
        reason=exp.reason if exp else None, ref=exp.ref if exp else None,
        stats=stats(ev), heatmap=figure, timeline=drawn, close_up=zoom, history_path=path,
        history_note=note, counterexample=cx,
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
        verdicts=KNOWN_VERDICTS, verdict_css=verdict_css,
    )
