"""report.html: one self-contained page with the summary, the matrix, evidence and timelines.

The page is for people: a sentence per backend says what matters, the
matrix answers "which backend shares what" at a glance, each cell leads to
the evidence behind it, and the timelines show which worker did what when.
Everything (CSS, script, drawings) is inline, so the file opens offline and
can be attached to a CI run as it is; each timeline draws a window of its
history and links the history file for the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..checkers.evidence import Counterexample, FaultEvidence, Matrix, key_of, keys_of
from ..verdict import INCONCLUSIVE, Conclusion, Result
from . import cost
from .counts import count, stats, walk
from .heatmap import heatmap
from .matrix import scenario_rows
from .model import PROCESS_COLUMNS, RunReport, process_rows
from .summary import CATEGORIES, CATEGORY_TITLES, card_order, category, summarize
from .timeline import Timeline, close_up, split, timeline

#: Known verdicts have their own colour; anything newer gets a neutral one.
KNOWN_VERDICTS = tuple(Conclusion)
#: Ops drawn per result on the page; the rest are in the linked history file,
#: so a default run's page stays small enough to open and attach.
#: Fewer for a result as documented, whose card is read least and comes last.
PAGE_CAP, QUIET_CAP = 40, 10


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
    #: At most this many ops drawn in the timeline.
    cap: int
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
    for path, found in walk(evidence):
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
                 if k not in shown and (isinstance(v, str | bool) or count(v) is not None)]
        return {"where": path.rpartition(".")[0], "key": cx.get("key"), "ops": ops,
                "culprits": culprits, "items": items, "extra": extra}
    return None


def _detail(report: RunReport, n: int, cap: int) -> Detail:
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
        # A fault's windows are the point of its timeline, at every verdict.
        cap = max(cap, PAGE_CAP) if faults else cap
        # Lanes are keyed by pid: an entry that cannot be one (from a hand-edited
        # report) is left out of the order rather than failing the page.
        order = [p for p in pids if isinstance(p, int | str)] if isinstance(pids, list) else []
        drawn = timeline(ops, faults=faults, highlight=cx["ops"] if cx else (),
                         strong=cx["culprits"] if cx else (), lane_order=order, cap=cap)
        if cx:
            zoom = timeline(ops, faults=faults, highlight=cx["ops"], strong=cx["culprits"],
                            lane_order=order,
                            only=close_up(ops, [*cx["ops"], *cx["culprits"]]))
    return Detail(
        anchor=anchor(n), result=r, css=verdict_css(r.verdict),
        reason=exp.reason if exp else None, ref=exp.ref if exp else None,
        stats=stats(ev), processes=process_rows(r.topology), heatmap=figure, timeline=drawn,
        close_up=zoom, cap=cap, history_path=path, history_note=note, counterexample=cx,
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


def _cell(label: str, d: Detail) -> Cell:
    return Cell(anchor=d.anchor, verdict=d.result.verdict, css=d.css, ok=d.result.ok,
                title=_cell_title(label, d))


def render_html(report: RunReport) -> str:
    """The whole page as one string.

    It opens on the sentence per backend and the matrix side by side (both
    fit a 1366x768 screen); the cards follow, unexpected results first.
    """
    results = report.results
    details = [_detail(report, n, QUIET_CAP if category(r) == "documented" else PAGE_CAP)
               for n, r in enumerate(results)]
    labels, grid = scenario_rows(results)
    rows = [(sid, [_cell(label, details[cols[label]]) if label in cols else None
                   for label in labels]) for sid, cols in grid]
    order = card_order(results)
    groups = [(c, [details[n] for n in order if category(results[n]) == c]) for c in CATEGORIES]
    return _environment().get_template("report.html").render(
        created=report.created.strftime("%Y-%m-%d %H:%M:%S"), schema=report.data.get("schema"),
        environment=[(k, _show(v)) for k, v in report.environment.items()],
        app_environment=[(k, _show(v)) for k, v in report.app_environment.items()],
        run=[(k, _show(v)) for k, v in report.run.items()],
        summaries=summarize(results), labels=labels, rows=rows,
        groups=[(c, ds) for c, ds in groups if ds], group_titles=CATEGORY_TITLES,
        total=len(results), unexpected=sum(1 for r in results if r.ok is False),
        status=status, verdicts=KNOWN_VERDICTS, verdict_css=verdict_css,
        partial=report.partial_reason, process_columns=PROCESS_COLUMNS,
        cost=cost.section(results), anchor=anchor, stampede_counts=cost.stampede_counts,
        stampede_ids=cost.stampede_ids(), load_duration=report.run.get("load_duration_s"),
    )
