"""The cost section: what each backend costs under the seed's load, beside what it guarantees.

Choosing a backend trades what it costs against what it guarantees; the
matrix shows the guarantees, this section the cost.  One row per backend
(and topology) that ran the ``load`` scenario: requests per second and p99
latency, each drawn as an inline SVG bar with the no-cache (NullCache)
baseline marked on it, the hit ratio, the slow calls per key, the stampede
counts, and that backend's other verdicts of the same run.  Built from the
results' evidence alone, so a re-render of an old run draws the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from markupsafe import Markup, escape

from ..checkers.evidence import Baseline, Load, Spread, Stampede, keys_of
from ..expectations import load as load_expectations
from ..topology.backends import BASELINE
from ..verdict import Result
from .matrix import matrix_grid

_BAR_W = 200
_BAR_H = 20
_LABEL_W = 96


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict: evidence read back from an old report may have any shape."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One measured number beside its baseline."""

    value: float | None
    baseline: float | None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


@dataclass(frozen=True, kw_only=True)
class CostRow:
    label: str
    #: Index of the ``load`` result in the run's results.
    index: int
    result: Result
    requests_per_s: Figure
    p99_ms: Figure
    hit_ratio: float | None
    errors: int | None
    #: min / median / max slow calls per key.
    slow_calls_per_key: tuple[float, float, float] | None
    #: How the baseline was measured ("this row", "separately"), or why it is missing.
    baseline_note: str
    #: (scenario, index, result) of the stampede rows of the same backend.
    stampedes: list[tuple[str, int, Result]] = field(default_factory=list)
    #: (index, result) of the backend's other verdicts, in matrix order.
    others: list[tuple[int, Result]] = field(default_factory=list)

    @property
    def is_baseline(self) -> bool:
        """Whether this row is the baseline's own (:data:`~harness.topology.backends.BASELINE`)."""
        return self.result.backend == BASELINE.label

    @property
    def hit_text(self) -> str:
        return "-" if self.hit_ratio is None else f"{self.hit_ratio:.1%}"

    @property
    def per_key_text(self) -> str:
        spread = self.slow_calls_per_key
        return "/".join(f"{v:g}" for v in spread) if spread else "-"


_SPREAD = keys_of(Spread, "min", "median", "max")


def _spread(value: Any) -> tuple[float, float, float] | None:
    if not isinstance(value, dict):
        return None
    parts = [_num(value.get(k)) for k in _SPREAD]
    if any(p is None for p in parts):
        return None
    lo, mid, hi = (float(p) for p in parts if p is not None)
    return lo, mid, hi


def load_ids() -> tuple[str, ...]:
    """The scenarios whose results give a cost row its figures (``cost = "load"``)."""
    return load_expectations().feeding("load")


def stampede_ids() -> tuple[str, ...]:
    """The scenarios counted beside a cost row (``cost = "stampede"``), in file order."""
    return load_expectations().feeding("stampede")


def cost_rows(results: Sequence[Result]) -> list[CostRow]:
    """One row per matrix row that has a ``load`` result, in matrix order."""
    scenarios, grid = matrix_grid(results)
    loads, stampedes = load_ids(), stampede_ids()
    rows = []
    for label, cols in grid:
        load = next((s for s in loads if s in cols), None)
        if load is None:
            continue
        n = cols[load]
        r = results[n]
        # Checked value by value below: an old report may hold any shape.
        ev = cast(Load, _dict(r.evidence))
        base = cast(Baseline, _dict(ev.get("baseline")))
        latency = _dict(ev.get("latency_ms"))
        base_latency = _dict(base.get("latency_ms"))
        errors = _num(ev.get("errors"))
        note = str(base.get("error") or base.get("measured") or "no baseline")
        rows.append(CostRow(
            label=label, index=n, result=r,
            requests_per_s=Figure(value=_num(ev.get("requests_per_s")),
                                  baseline=_num(base.get("requests_per_s"))),
            p99_ms=Figure(value=_num(latency.get("p99")), baseline=_num(base_latency.get("p99"))),
            hit_ratio=_num(ev.get("hit_ratio")),
            errors=None if errors is None else int(errors),
            slow_calls_per_key=_spread(ev.get("slow_calls_per_key")),
            baseline_note=note,
            stampedes=[(s, cols[s], results[cols[s]]) for s in stampedes if s in cols],
            others=[(cols[s], results[cols[s]]) for s in scenarios
                    if s in cols and s not in loads and s not in stampedes],
        ))
    return rows


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(figure: Figure) -> str:
    ratio = figure.ratio
    return "-" if ratio is None else f"x{ratio:.2f}"


def stampede_counts(r: Result) -> str:
    """``violated 4/4/4``: the verdict and min/median/max slow calls per trial."""
    spread = _spread(cast(Stampede, _dict(r.evidence)).get("slow_calls"))
    counts = "/".join(f"{v:g}" for v in spread) if spread else "-"
    return f"{r.verdict} {counts}"


def table(results: Sequence[Result]) -> tuple[list[str], list[list[str]]]:
    """The cost figures as text: header and rows (for report.md and the terminal)."""
    rows = cost_rows(results)
    variants = [s for s in stampede_ids()
                if any(s in (x[0] for x in row.stampedes) for row in rows)]
    versus = f"vs {BASELINE.label}"
    header = ["backend", "req/s", versus, "p99 ms", versus, "hit ratio",
              "slow calls/key", "load", *variants]
    body = []
    for row in rows:
        found = {s: res for s, _, res in row.stampedes}
        body.append([row.label, _fmt(row.requests_per_s.value), _ratio(row.requests_per_s),
                     _fmt(row.p99_ms.value), _ratio(row.p99_ms), row.hit_text, row.per_key_text,
                     row.result.verdict,
                     *(stampede_counts(found[s]) if s in found else "-" for s in variants)])
    return header, body


def text(results: Sequence[Result]) -> str:
    """The cost table for a terminal, or "" when no backend ran the load."""
    header, body = table(results)
    if not body:
        return ""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, body)])


def markdown(results: Sequence[Result], load_duration_s: Any = None) -> list[str]:
    """report.md's cost section, or no lines when no backend ran the load."""
    header, body = table(results)
    if not body:
        return []
    shape = f" -d{load_duration_s}s" if load_duration_s else ""
    return ["## Cost under load", "",
            f"`wrk -t1 -c10{shape}` on the seed's `GET /user/<name>` (16 keys, 50 ms slow "
            f"call on a miss), through gunicorn's shared listener. \"vs {BASELINE.label}\" "
            "divides by the no-cache baseline of the same run; slow calls/key and the stampede "
            "counts are min/median/max.", "",
            "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in body), ""]


def bar(figure: Figure, *, scale: float, unit: str, what: str, digits: int = 0) -> Markup:
    """One value as a horizontal bar, with the baseline marked as a dashed line across it."""
    if figure.value is None:
        return Markup('<span class="note">-</span>')
    scale = scale or 1.0
    width = max(1.0, figure.value / scale * _BAR_W)
    value = f"{figure.value:,.{digits}f} {unit}"
    parts = [f'<svg class="bar {what}" xmlns="http://www.w3.org/2000/svg" '
             f'width="{_BAR_W + _LABEL_W}" height="{_BAR_H}" role="img" '
             f'data-value="{figure.value:g}"',
             f' data-baseline="{figure.baseline:g}"' if figure.baseline is not None else "",
             ">"]
    title = f"{what}: {value}"
    if figure.baseline is not None:
        title += f"; {BASELINE.label} baseline {figure.baseline:,.{digits}f} {unit}"
        if figure.ratio is not None:
            title += f" (x{figure.ratio:.2f})"
    parts.append(f"<title>{escape(title)}</title>")
    parts.append(f'<rect class="bar-fill" x="0" y="3" width="{width:.1f}" '
                 f'height="{_BAR_H - 6}"/>')
    if figure.baseline is not None:
        x = min(_BAR_W, figure.baseline / scale * _BAR_W)
        parts.append(f'<line class="baseline-mark" x1="{x:.1f}" x2="{x:.1f}" y1="0" '
                     f'y2="{_BAR_H}"/>')
    parts.append(f'<text class="bar-label" x="{_BAR_W + 4}" y="{_BAR_H - 6}">'
                 f"{escape(value)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True, kw_only=True)
class Section:
    """The cost section as report.html draws it."""

    rows: list[CostRow]
    rps_bars: list[Markup]
    p99_bars: list[Markup]
    #: The label of the backend every bar's dashed line stands for.
    baseline: str = BASELINE.label

    @property
    def stampedes(self) -> bool:
        return any(row.stampedes for row in self.rows)


def section(results: Sequence[Result]) -> Section | None:
    rows = cost_rows(results)
    if not rows:
        return None

    def scale(figures: list[Figure]) -> float:
        values = [v for f in figures for v in (f.value, f.baseline) if v is not None]
        return max(values, default=1.0) * 1.05

    rps = scale([r.requests_per_s for r in rows])
    p99 = scale([r.p99_ms for r in rows])
    return Section(rows=rows,
                   rps_bars=[bar(r.requests_per_s, scale=rps, unit="req/s", what="rps")
                             for r in rows],
                   p99_bars=[bar(r.p99_ms, scale=p99, unit="ms", what="p99", digits=1)
                             for r in rows])
