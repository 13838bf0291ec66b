"""The op timelines of report.html, drawn server-side as inline SVG.

Drawn here rather than by script in the page, so the page works with
scripts off, its screenshot needs no waiting, and tests can count lanes in
the markup without a browser.

A history with nemesis lines gets, as in Jepsen's timelines, a ``nemesis``
lane of fault actions on top and every fault window shaded across all
lanes; a history without them is drawn exactly as before faults existed.
The windows are paired by :func:`harness.history.faults.line_windows`, from
the one table of fault actions, as the checkers pair them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from ..history.faults import NEMESIS, FaultWindow, line_windows
from ..history.names import OP_TYPES

#: Most ops drawn per timeline: a few thousand rects keep a page of forty
#: results quick to open; the full history stays in its .jsonl file.
DRAW_CAP = 2000

_LEFT = 128        # lane labels
_PLOT_W = 1150
_RIGHT = 12
_AXIS_H = 22
_ROW_H = 11
_ROW_GAP = 2
_LANE_PAD = 5
#: Ops of one lane that overlap in time are stacked into rows, up to this
#: many; beyond it they overlap (the tooltip still tells them apart).
_MAX_ROWS = 6
_MIN_W = 1.5
#: Most ops in a counterexample's close-up.
CLOSE_UP_CAP = 200
_TITLE_PART = 120
#: A fault action's label in the nemesis lane is cut to this many characters
#: (the tooltip has it whole); about this many pixels per character are
#: reserved for it, so labels of nearby actions go to separate rows.
_FAULT_LABEL = 48
_CHAR_W = 6.2


@dataclass(frozen=True, kw_only=True)
class Timeline:
    """A drawn timeline and what it left out, for the page to say so."""

    svg: Markup
    #: The workers' lanes (the nemesis lane is not one of them).
    lanes: list[str]
    #: The workers' ops in the history; nemesis actions are not counted.
    total: int
    #: Indices of the ops drawn, in order (see :func:`split`).
    drawn: list[int]
    highlighted: int
    #: Indices of the nemesis actions drawn: every one, except in a close-up,
    #: which draws those overlapping its ops.
    faults: list[int] = field(default_factory=list)
    #: The fault windows shaded, clipped to the drawing.
    windows: list[FaultWindow] = field(default_factory=list)
    #: Whether the history has nemesis lines, and so a nemesis lane.
    nemesis: bool = False

    @property
    def capped(self) -> bool:
        """Whether some client ops were left out; nemesis lines never are."""
        return len(self.drawn) < self.total


def window(total: int, highlight: Sequence[int], cap: int = DRAW_CAP) -> list[int]:
    """Which ops to draw: all, or ``cap`` consecutive ones around the highlight.

    With a counterexample the window is centred on it, and any of its ops
    that still fall outside are added, so the highlight is always drawn.
    """
    if total <= cap:
        return list(range(total))
    marks = sorted({i for i in highlight if 0 <= i < total})
    if not marks:
        return list(range(cap))
    span = marks[-1] - marks[0] + 1
    start = marks[0] if span >= cap else marks[0] - (cap - span) // 2
    start = max(0, min(start, total - cap))
    return sorted(set(range(start, start + cap)) | set(marks))


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _TITLE_PART else text[:_TITLE_PART - 1] + "…"


def _text(text: str) -> str:
    """Escape element text; quotes need no escaping there, and JSON is full of them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def op_title(i: int, op: dict[str, Any], t0: float) -> str:
    """The tooltip of one op: what was asked, what came back, where and when."""
    head = f"#{i} {op.get('f', '?')} {op.get('key') or ''}".rstrip()
    if op.get("args"):
        head += f" {_short(op['args'])}"
    if op.get("meta"):  # absent from histories written before it existed
        head += f" [{_short(op['meta'])}]"
    head += f" → {_short(op.get('value'))}"
    if op.get("error"):
        head += f"  error: {_short(op['error'])}"
    start, end = _num(op.get("start")), _num(op.get("end"))
    return (f"{head}\n{op.get('type', '?')} · process {op.get('process', '?')} · "
            f"pid {op.get('pid', '?')} · at {(start - t0) * 1000:.1f} ms, "
            f"took {(end - start) * 1000:.1f} ms")


def _ticks(span: float) -> list[float]:
    if span <= 0:
        return [0.0]
    raw = span / 8
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [k * step for k in range(int(span / step) + 1)]


def _tick_label(t: float, span: float) -> str:
    if span < 2:
        return f"{t * 1000:g} ms"
    return f"{t:g} s"


def _pack(ops: list[tuple[int, float, float]]) -> dict[int, int]:
    """Row within its lane for each op index, greedy by start time."""
    rows: list[float] = []
    placed: dict[int, int] = {}
    for i, start, end in sorted(ops, key=lambda o: (o[1], o[0])):
        free = next((r for r, last in enumerate(rows) if last <= start), None)
        if free is None and len(rows) < _MAX_ROWS:
            rows.append(end)
            free = len(rows) - 1
        elif free is None:
            free = min(range(len(rows)), key=rows.__getitem__)
        rows[free] = max(rows[free], end)
        placed[i] = free
    return placed


def is_fault(line: dict[str, Any]) -> bool:
    """Whether a history line is a nemesis action rather than a worker's op."""
    return line.get("process") == NEMESIS


def split(lines: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A history file's lines as the workers' ops and the nemesis's actions, each in order.

    Checkers see only the workers' ops (``History.ops``), so the op indices
    in their evidence count those alone; the drawings number ops the same
    way.  Without nemesis lines an op's index is its line's.
    """
    ops: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    for line in lines:
        (faults if is_fault(line) else ops).append(line)
    return ops, faults


def fault_title(j: int, fault: dict[str, Any], t0: float) -> str:
    """The tooltip of one nemesis action: what it did to what, when, and what it saw."""
    lines = [f"nemesis #{j} {fault.get('f', '?')} {_short(fault.get('target') or '')}".rstrip()]
    start, end = _num(fault.get("start")), _num(fault.get("end"))
    lines.append(f"from {(start - t0) * 1000:.1f} ms to {(end - t0) * 1000:.1f} ms, "
                 f"took {(end - start) * 1000:.1f} ms")
    if fault.get("value") is not None:
        lines.append(f"value: {_short(fault['value'])}")
    if fault.get("error"):
        lines.append(f"error: {_short(fault['error'])}")
    return "\n".join(lines)


def window_title(w: FaultWindow, t0: float) -> str:
    """The tooltip of a shaded fault window."""
    head = f"fault window: {w.fault} on {_short(w.target)}"
    start = (w.start - t0) * 1000
    if not w.closed:
        return f"{head}\nfrom {start:.1f} ms, never closed: shaded to the end of the history"
    return (f"{head}\nfrom {start:.1f} ms to {(w.end - t0) * 1000:.1f} ms "
            f"({(w.end - w.start) * 1000:.1f} ms)")


def close_up(ops: Sequence[dict[str, Any]], marks: Sequence[int],
             cap: int = CLOSE_UP_CAP) -> list[int]:
    """The marked ops and those overlapping them in time, nearest first, up to ``cap``.

    A counterexample is a few ops among thousands; drawn at the scale of
    the whole run they are slivers, so the page draws them again alone.
    """
    marked = sorted({i for i in marks if 0 <= i < len(ops)})
    if not marked:
        return []
    lo = min(_num(ops[i].get("start")) for i in marked)
    hi = max(_num(ops[i].get("end")) for i in marked)
    chosen = set(marked)
    near = [i for i, op in enumerate(ops) if i not in chosen
            and _num(op.get("end")) >= lo and _num(op.get("start")) <= hi]
    room = max(0, cap - len(marked))
    centre = (marked[0] + marked[-1]) / 2
    near = sorted(near, key=lambda i: abs(i - centre))[:room]
    return sorted([*marked, *near])


def _fault_lane(faults: Sequence[dict[str, Any]], shown: list[int], *, y: int,
                x_of: Callable[[float], float], t0: float) -> tuple[str, str, int]:
    """The nemesis lane: one labelled mark per fault action.

    Returns its background, its marks and its height; the background is
    drawn under the fault windows like the other lanes'.  Labels are packed
    like ops, by the pixels they take, so that two actions close in time
    do not write over each other.
    """
    right_edge = _LEFT + _PLOT_W + _RIGHT
    marks = []
    for j in shown:
        fault = faults[j]
        s = _num(fault.get("start"))
        e = max(s, _num(fault.get("end")))
        x = x_of(s)
        w = max(_MIN_W, x_of(e) - x)
        label = f"{fault.get('f', '?')} {fault.get('target') or ''}".rstrip()
        if len(label) > _FAULT_LABEL:
            label = label[:_FAULT_LABEL - 1] + "…"
        room = len(label) * _CHAR_W + 3
        # A label that would leave the drawing goes left of its mark instead.
        after = x + w + room <= right_edge
        lo, hi = (x, x + w + room) if after else (x - room, x + w)
        marks.append((j, x, w, label, after, lo, hi))
    rows = _pack([(j, lo, hi + 4) for j, *_, lo, hi in marks])
    nrows = max(rows.values(), default=0) + 1
    height = nrows * (_ROW_H + _ROW_GAP) - _ROW_GAP + 2 * _LANE_PAD
    back = (f'<rect class="lane-bg nemesis-bg" x="0" y="{y}" width="{right_edge}" '
            f'height="{height}"/>')
    parts = [f'<g class="lane nemesis" data-lane="{NEMESIS}">'
             f'<text class="lane-label" x="6" y="{y + height / 2 + 4:.1f}">{NEMESIS}</text>'
             f'<text class="lane-count" x="{_LEFT - 6}" y="{y + height / 2 + 4:.1f}" '
             f'text-anchor="end">{len(marks)}</text>']
    for j, x, w, label, after, _, _ in marks:
        fault = faults[j]
        oy = y + _LANE_PAD + rows[j] * (_ROW_H + _ROW_GAP)
        tx, anchor = (x + w + 3, "start") if after else (x - 3, "end")
        parts.append(f'<g class="fault" data-j="{j}" data-f="{escape(str(fault.get("f", "")))}">'
                     f'<title>{_text(fault_title(j, fault, t0))}</title>'
                     f'<rect class="fault-mark" x="{x:.1f}" y="{oy}" width="{w:.1f}" '
                     f'height="{_ROW_H}"/><text class="fault-label" x="{tx:.1f}" '
                     f'y="{oy + _ROW_H - 2}" text-anchor="{anchor}">{_text(label)}</text></g>')
    parts.append("</g>")
    return back, "".join(parts), height


def timeline(ops: Sequence[dict[str, Any]], *, faults: Sequence[dict[str, Any]] = (),
             highlight: Sequence[int] = (), strong: Sequence[int] = (),
             lane_order: Sequence[Any] = (), lane_by: str = "pid", cap: int = DRAW_CAP,
             only: Sequence[int] | None = None) -> Timeline:
    """One swimlane per worker pid (or ``lane_by`` field), one box per op.

    Lanes come from the whole history, so a window still shows every worker;
    ``lane_order`` (the evidence's pids) fixes their order when given, and
    any other lanes follow in numeric order.
    ``highlight`` ops are outlined, ``strong`` ones (a counterexample's
    culprits) more so; ``only`` draws just those ops instead of a window.

    ``faults`` (the nemesis lines, see :func:`split`) get a lane of their
    own, on top, and are never left out by ``cap``; each fault window is
    shaded across all lanes, behind the ops.  A close-up (``only``) keeps
    its own time span and draws the actions and windows that overlap it.
    """
    drawn = sorted(set(only)) if only is not None \
        else window(len(ops), [*highlight, *strong], cap)
    marked = set(highlight) | set(strong)
    culprits = set(strong)
    present = set(o.get(lane_by) for o in ops)
    rest = sorted(present - set(lane_order), key=lambda k: (type(k).__name__, str(k).zfill(12)))
    keys = [*(k for k in dict.fromkeys(lane_order) if k in present), *rest]
    spans = {i: (_num(ops[i].get("start")), _num(ops[i].get("end"))) for i in drawn}
    fault_at = [(_num(f.get("start")), _num(f.get("end"))) for f in faults]
    bounds = [*spans.values(), *(fault_at if only is None else ())]
    t0 = min((s for s, _ in bounds), default=0.0)
    t1 = max((max(s, e) for s, e in bounds), default=0.0)
    span = t1 - t0
    scale = _PLOT_W / span if span > 0 else 0.0

    def x_of(t: float) -> float:
        return _LEFT + (min(max(t, t0), t1) - t0) * scale

    shown = [j for j, (s, e) in enumerate(fault_at) if e >= t0 and s <= t1]
    shaded: list[FaultWindow] = []
    if faults:
        until = max((_num(o.get("end")) for o in [*ops, *faults]), default=0.0)
        shaded = [w for w in line_windows(faults, until=until) if w.end >= t0 and w.start <= t1]

    per_lane: dict[Any, list[tuple[int, float, float]]] = {k: [] for k in keys}
    for i in drawn:
        s, e = spans[i]
        per_lane[ops[i].get(lane_by)].append((i, s, max(s, e)))

    parts: list[str] = []
    # With faults, the lanes' backgrounds are drawn first, then the fault
    # windows, then the lanes' ops, so a window shows behind the ops.
    backs: list[str] | None = None
    y = _AXIS_H
    if faults:
        back, lane, height = _fault_lane(faults, shown, y=y, x_of=x_of, t0=t0)
        backs = [back]
        parts.append(lane)
        y += height
    for n, key in enumerate(keys):
        lane_ops = per_lane[key]
        rows = _pack(lane_ops)
        nrows = max(rows.values(), default=0) + 1
        height = nrows * (_ROW_H + _ROW_GAP) - _ROW_GAP + 2 * _LANE_PAD
        label = f"{lane_by} {key}"
        back = (f'<rect class="lane-bg{" odd" if n % 2 else ""}" x="0" y="{y}" '
                f'width="{_LEFT + _PLOT_W + _RIGHT}" height="{height}"/>')
        if backs is not None:
            backs.append(back)
        parts.append(f'<g class="lane" data-lane="{escape(str(key))}">'
                     + (back if backs is None else "")
                     + f'<text class="lane-label" x="6" y="{y + height / 2 + 4:.1f}">'
                     f'{escape(label)}</text>'
                     f'<text class="lane-count" x="{_LEFT - 6}" y="{y + height / 2 + 4:.1f}" '
                     f'text-anchor="end">{len(lane_ops)}</text>')
        # Highlighted ops last, so their outline is drawn on top of neighbours.
        for i, s, e in sorted(lane_ops, key=lambda o: o[0] in marked):
            op = ops[i]
            kind = op.get("type") if op.get("type") in OP_TYPES else "other"
            cls = f"op t-{kind}" + (" cx" if i in marked else "") \
                + (" culprit" if i in culprits else "")
            x = _LEFT + (s - t0) * scale
            w = max(_MIN_W, (e - s) * scale)
            oy = y + _LANE_PAD + rows[i] * (_ROW_H + _ROW_GAP)
            parts.append(f'<rect class="{cls}" data-i="{i}" x="{x:.1f}" y="{oy}" '
                         f'width="{w:.1f}" height="{_ROW_H}">'
                         f'<title>{_text(op_title(i, op, t0))}</title></rect>')
        parts.append("</g>")
        y += height
    axis = []
    for t in _ticks(span):
        x = _LEFT + t * scale
        axis.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{_AXIS_H - 4}" '
                    f'y2="{y}"/><text class="tick-label" x="{x:.1f}" y="{_AXIS_H - 8}" '
                    f'text-anchor="middle">{escape(_tick_label(t, span))}</text>')
    width = _LEFT + _PLOT_W + _RIGHT
    under = ""
    if backs is not None:
        bands = []
        for fw in shaded:
            x = x_of(fw.start)
            cls = "fault-window" + ("" if fw.closed else " unclosed")
            bands.append(f'<rect class="{cls}" data-fault="{escape(fw.fault)}" x="{x:.1f}" '
                         f'y="{_AXIS_H}" width="{max(_MIN_W, x_of(fw.end) - x):.1f}" '
                         f'height="{y - _AXIS_H}"><title>{_text(window_title(fw, t0))}</title>'
                         '</rect>')
        under = (f'<g class="lane-bgs">{"".join(backs)}</g>'
                 f'<g class="fault-windows">{"".join(bands)}</g>')
    label = f"timeline of {len(drawn)} operations in {len(keys)} lanes"
    if faults:
        label += f", {len(shown)} nemesis actions and {len(shaded)} fault windows"
    svg = (f'<svg class="timeline{" faults" if faults else ""}" '
           f'xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {width} {y + 4}" width="{width}" height="{y + 4}" role="img" '
           f'aria-label="{label}">'
           + "".join(axis) + under + "".join(parts) + "</svg>")
    return Timeline(svg=Markup(svg), lanes=[str(k) for k in keys], total=len(ops),
                    drawn=drawn, highlighted=len(marked & set(drawn)), faults=shown,
                    windows=shaded, nemesis=bool(faults))
