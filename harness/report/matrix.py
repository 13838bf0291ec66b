"""The backend x scenario matrix, shared by the Markdown report and the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from ..verdict import Result


def _row_label(r: Result, multi: bool) -> str:
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


def matrix_rows(results: Sequence[Result]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per backend (and topology), one column per scenario."""
    combos = {(r.worker_class, r.workers, r.preload) for r in results}
    multi = len(combos) > 1
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    rows: dict[str, dict[str, str]] = {}
    for r in results:
        rows.setdefault(_row_label(r, multi), {})[r.scenario] = cell(r)
    header = ["backend", *scenarios]
    body = [[label, *(cols.get(s, "-") for s in scenarios)] for label, cols in rows.items()]
    return header, body


def terminal_table(results: Sequence[Result]) -> str:
    header, body = matrix_rows(results)
    if not body:
        return "no results"
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in body)])
