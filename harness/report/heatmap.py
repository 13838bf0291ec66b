"""The visibility heatmap of report.html: the writer -> reader matrix as a coloured table.

Drawn server-side as plain HTML, like the timelines, so the page needs no
script to show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

_MARK_TEXT = {"Y": "always seen at once", "~": "always seen, some only after a delay",
              "-": "never seen"}


def _mark_cell(mark: str) -> tuple[str, str, str]:
    """CSS class, inline style and meaning of one visibility-matrix mark."""
    if mark == "Y":
        return "m-yes", "", _MARK_TEXT[mark]
    if mark == "~":
        return "m-late", "", _MARK_TEXT[mark]
    if mark == "-":
        return "m-no", "", _MARK_TEXT[mark]
    seen, _, total = mark.partition("/")
    try:
        frac = int(seen) / int(total)
    except (ValueError, ZeroDivisionError):
        return "m-other", "", f"mark {mark!r}"
    # From the red of "never" to the green of "always", through amber.
    return ("m-some", f"background: hsl({round(frac * 120)}, 70%, 78%)",
            f"seen in {seen} of {total} reads")


def heatmap(matrix: Sequence[Sequence[Any]], pids: Sequence[Any]) -> Markup:
    """The N x N writer -> reader matrix as a small coloured table."""
    head = "".join(f"<th>{escape(str(p))}</th>" for p in pids)
    rows = []
    for i, row in enumerate(matrix):
        writer = pids[i] if i < len(pids) else f"#{i}"
        cells = []
        for j, mark in enumerate(row):
            reader = pids[j] if j < len(pids) else f"#{j}"
            cls, style, meaning = _mark_cell(str(mark))
            title = f"writes on pid {writer}, read on pid {reader}: {meaning}"
            style_attr = f' style="{escape(style)}"' if style else ""
            cells.append(f'<td class="{cls}"{style_attr} title="{escape(title)}">'
                         f"{escape(str(mark))}</td>")
        rows.append(f"<tr><th>{escape(str(writer))}</th>{''.join(cells)}</tr>")
    return Markup(
        '<figure class="heatmap"><figcaption>writer pid (rows) → reader pid (columns)'
        '</figcaption><table class="heatmap">'
        f'<tr><th class="corner">w \\ r</th>{head}</tr>{"".join(rows)}</table></figure>')
