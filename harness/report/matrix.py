"""The backend x scenario matrix, shared by the reports and the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from ..expectations import load as load_expectations
from ..verdict import Result


def row_label(r: Result, multi: bool) -> str:
    """The row a result belongs to; names the topology only when a run has several."""
    if not multi:
        return r.backend
    pre = "+preload" if r.preload else ""
    return f"{r.backend} ({r.worker_class} x{r.workers}{pre})"


def cell(r: Result) -> str:
    if r.ok is None:
        return f"{r.verdict} (no expectation)"
    if r.ok:
        return f"{r.verdict} ok"
    expected = f", expected {r.expected}" if r.expected else ""
    return f"{r.verdict} UNEXPECTED{expected}"


def matrix_grid(results: Sequence[Result]) -> tuple[list[str], list[tuple[str, dict[str, int]]]]:
    """Scenario columns, and rows of (label, scenario -> index into ``results``)."""
    combos = {(r.worker_class, r.workers, r.preload) for r in results}
    multi = len(combos) > 1
    # The expectations file's order, which groups related scenarios; any
    # scenario it does not know keeps its order of appearance, after them.
    seen = list(dict.fromkeys(r.scenario for r in results))
    order = {sid: n for n, sid in enumerate(load_expectations().scenarios)}
    scenarios = sorted(seen, key=lambda sid: (order.get(sid, len(order)), seen.index(sid)))
    rows: dict[str, dict[str, int]] = {}
    for n, r in enumerate(results):
        rows.setdefault(row_label(r, multi), {})[r.scenario] = n
    return scenarios, list(rows.items())


def scenario_rows(results: Sequence[Result]) -> tuple[list[str], list[tuple[str, dict[str, int]]]]:
    """The matrix turned: backend columns, and rows of (scenario, label -> index).

    A run has a score of scenarios and a handful of backends, so scenarios
    as rows keep the matrix within a laptop screen's width.
    """
    scenarios, grid = matrix_grid(results)
    return [label for label, _ in grid], [
        (sid, {label: cols[sid] for label, cols in grid if sid in cols}) for sid in scenarios]


def matrix_rows(results: Sequence[Result]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per backend (and topology), one column per scenario."""
    scenarios, grid = matrix_grid(results)
    header = ["backend", *scenarios]
    body = [[label, *(cell(results[cols[s]]) if s in cols else "-" for s in scenarios)]
            for label, cols in grid]
    return header, body


#: Above this many scenarios the terminal table turns scenarios into rows,
#: so a full run fits an 80-column terminal's width in backends instead.
TRANSPOSE_OVER = 4


def terminal_table(results: Sequence[Result]) -> str:
    header, body = matrix_rows(results)
    if not body:
        return "no results"
    if len(header) - 1 > TRANSPOSE_OVER:
        header, body = (["scenario", *(row[0] for row in body)],
                        [[sid, *(row[i] for row in body)] for i, sid in enumerate(header[1:], 1)])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in body)])
