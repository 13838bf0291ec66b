"""Faults in the reports: the nemesis lane, shaded fault windows, fault numbers, processes.

The drawings are checked in their markup, from hand-built histories whose
times put every window at a known place; one test opens a real
report.html in headless Chromium and checks that the windows show.
"""

from __future__ import annotations

import json
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from binaries import need
from histories import Ops
from test_report_html import _article, _open, _row, _write_report, parse

from harness.history.faults import Fault
from harness.history.ops import History
from harness.report import chromium as browser
from harness.report import load, render
from harness.report.html import render_html
from harness.report.markdown import render_markdown
from harness.report.timeline import DRAW_CAP, close_up, split, timeline
from harness.report.writer import to_json
from harness.verdict import Result

T0 = 1000.0
MASTER = "redis-server master pid 123 :7000"
#: Two workers, pids 11 and 12.
op = Ops(pids=(11, 12))
REPLICA = "redis-server replica pid 124 :7001"
# The drawing's geometry (harness.report.timeline): the plot starts at x=128
# and is 1150 wide; a history from T0 to T0 + 10 s puts 1 s at 115 px.
LEFT, PLOT_W, AXIS_H = 128, 1150, 22


def _faulty_history() -> list[dict[str, Any]]:
    """10 s of reads on two workers; the master killed at 2 s and back at 4 s,
    the replica paused at 7 s and never resumed; as a history file holds them."""
    history = History()
    for k in range(20):
        start = T0 + k * 0.5
        failed = 2.0 <= k * 0.5 < 4.1
        history.add(op("get", "k", process=k % 2, at=start, end=start + 0.3,
                       type="fail" if failed else "ok"))
    history.add(op("get", "k", process=1, at=T0 + 9.7, end=T0 + 10.0))
    history.fault(Fault(f="kill", target=MASTER, start=T0 + 2.0, end=T0 + 2.1))
    history.fault(Fault(f="restart", target=MASTER, start=T0 + 4.0, end=T0 + 4.1,
                        value={"pid": 456}))
    history.fault(Fault(f="pause", target=REPLICA, start=T0 + 7.0, end=T0 + 7.05))
    return [r.to_json() for r in history.records()]


def _svg(markup: str) -> Any:
    return parse(markup).find("svg", "timeline")


def _x(t: float) -> float:
    return LEFT + t / 10 * PLOT_W


def test_nemesis_lane_marks_every_action_with_its_f_and_target() -> None:
    ops, faults = split(_faulty_history())
    assert len(ops) == 21 and [f["f"] for f in faults] == ["kill", "restart", "pause"]
    drawn = timeline(ops, faults=faults)
    svg = _svg(drawn.svg)
    lanes = list(svg.iter("g", "lane"))
    assert [g.attrs["data-lane"] for g in lanes] == ["nemesis", "11", "12"], \
        "the nemesis lane comes first, then one lane per worker"
    assert drawn.lanes == ["11", "12"] and drawn.nemesis
    marks = list(lanes[0].iter("g", "fault"))
    assert [m.attrs["data-f"] for m in marks] == ["kill", "restart", "pause"]
    labels = [m.find("text", "fault-label").text() for m in marks]
    assert labels == [f"kill {MASTER}", f"restart {MASTER}", f"pause {REPLICA}"]
    restart = marks[1].find("title").text()
    assert restart.startswith(f"nemesis #1 restart {MASTER}\n")
    assert "from 4000.0 ms to 4100.0 ms" in restart and 'value: {"pid": 456}' in restart
    assert not list(lanes[0].iter("rect", "op")), "no client op on the nemesis lane"
    assert len(list(svg.iter("rect", "op"))) == 21 == drawn.total
    assert drawn.faults == [0, 1, 2]


def test_fault_windows_are_shaded_across_all_lanes_behind_the_ops() -> None:
    ops, faults = split(_faulty_history())
    svg = _svg(timeline(ops, faults=faults).svg)
    bands = list(svg.iter("rect", "fault-window"))
    assert [b.attrs["data-fault"] for b in bands] == ["kill", "pause"]
    kill, pause = bands
    bottom = float(svg.attrs["height"]) - 4
    for band in bands:
        assert float(band.attrs["y"]) == AXIS_H
        assert float(band.attrs["height"]) == bottom - AXIS_H, "a window covers every lane"
    # From the kill's start to the restart's end.
    assert float(kill.attrs["x"]) == _x(2.0)
    assert abs(float(kill.attrs["width"]) - (_x(4.1) - _x(2.0))) < 0.06
    assert "unclosed" not in kill.classes and "kill on " + MASTER in kill.find("title").text()
    # Never resumed: shaded to the end of the history, and said so.
    assert "unclosed" in pause.classes
    assert float(pause.attrs["x"]) + float(pause.attrs["width"]) == _x(10.0)
    assert "never closed" in pause.find("title").text()
    # Drawn after the lanes' backgrounds and before any op, so both show.
    order = [n for n in svg.iter() if n.tag in ("rect", "g")]
    first_band = order.index(kill)
    assert all(order.index(r) < first_band for r in svg.iter("rect", "lane-bg"))
    assert all(order.index(r) > first_band for r in svg.iter("rect", "op"))


def test_fault_lines_are_never_dropped_by_the_draw_cap() -> None:
    lines = _faulty_history()
    kill, restart, pause = [line for line in lines if line["process"] == "nemesis"]
    # Thousands of ops before the faults, so the window the cap keeps ends
    # long before the restart and the pause.
    early = [{**lines[0], "start": T0 - 5 + i * 0.001, "end": T0 - 5 + i * 0.001 + 0.0005}
             for i in range(DRAW_CAP + 500)]
    ops, faults = split([*early, *lines])
    drawn = timeline(ops, faults=faults)
    assert drawn.capped and len(drawn.drawn) == DRAW_CAP and drawn.drawn[-1] < DRAW_CAP
    assert drawn.faults == [0, 1, 2]
    svg = _svg(drawn.svg)
    assert [g.attrs["data-f"] for g in svg.find("g", "nemesis").iter("g", "fault")] \
        == [kill["f"], restart["f"], pause["f"]]
    assert len(list(svg.iter("rect", "fault-window"))) == 2
    assert len(list(svg.iter("rect", "op"))) == DRAW_CAP


def test_close_up_shades_the_windows_it_overlaps() -> None:
    ops, faults = split(_faulty_history())
    [failed] = [i for i, op in enumerate(ops) if op["start"] == T0 + 3.0]
    assert ops[failed]["type"] == "fail"
    zoom = timeline(ops, faults=faults, highlight=[failed], only=close_up(ops, [failed]))
    svg = _svg(zoom.svg)
    assert svg.find("g", "nemesis").attrs["data-lane"] == "nemesis"
    [band] = list(svg.iter("rect", "fault-window"))
    # The close-up lies inside the kill window, so the band fills its plot.
    assert band.attrs["data-fault"] == "kill"
    assert float(band.attrs["x"]) == LEFT and float(band.attrs["width"]) == PLOT_W
    assert [w.fault for w in zoom.windows] == ["kill"]
    assert not list(svg.iter("g", "fault")), "no action happened during the close-up"


def test_counterexample_indices_count_the_workers_ops_only(tmp_path: Path) -> None:
    """Checkers number ops in ``History.ops``, which has no nemesis lines; so does the page."""
    lines = _faulty_history()
    assert lines[7]["start"] != T0 + 3.5, "line 7 must not be op 7, or this proves nothing"
    cx = {"key": "k", "ops": [7], "culprits": [7], "describe": ["#7 get k failed"]}
    run = _write_report(tmp_path / "run", [
        _row("RedisSentinelCache", "kill-master", "violated", None,
             evidence={"counterexample": cx}, history="histories/0.jsonl")],
        {"histories/0.jsonl": lines})
    art = parse(render_html(load(run))).find("article", "result")
    whole = art.find("div", "timeline-box").find("svg", "timeline")
    [culprit] = list(whole.iter("rect", "culprit"))
    # Op 7 is the eighth read: it started 3.5 s in, during the kill window.
    assert culprit.attrs["data-i"] == "7"
    assert culprit.find("title").text().startswith("#7 get k")
    assert "at 3500.0 ms" in culprit.find("title").text()
    close = art.find("div", "close-up").find("svg", "timeline")
    assert [r.attrs["data-i"] for r in close.iter("rect", "culprit")] == ["7"]
    assert [b.attrs["data-fault"] for b in close.iter("rect", "fault-window")] == ["kill"]


# Drawn by the renderer before faults existed (main at 17a4c2f), for the history below.
_BEFORE_WHOLE = (
    '<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1290 68" '
    'width="1290" height="68" role="img" aria-label="timeline of 3 operations in 2 '
    'lanes"><line class="tick" x1="128.0" x2="128.0" y1="18" y2="64"/><text '
    'class="tick-label" x="128.0" y="14" text-anchor="middle">0 ms</text><line class="tick" '
    'x1="358.0" x2="358.0" y1="18" y2="64"/><text class="tick-label" x="358.0" y="14" '
    'text-anchor="middle">2 ms</text><line class="tick" x1="588.0" x2="588.0" y1="18" '
    'y2="64"/><text class="tick-label" x="588.0" y="14" text-anchor="middle">4 '
    'ms</text><line class="tick" x1="818.0" x2="818.0" y1="18" y2="64"/><text '
    'class="tick-label" x="818.0" y="14" text-anchor="middle">6 ms</text><line class="tick" '
    'x1="1048.0" x2="1048.0" y1="18" y2="64"/><text class="tick-label" x="1048.0" y="14" '
    'text-anchor="middle">8 ms</text><line class="tick" x1="1278.0" x2="1278.0" y1="18" '
    'y2="64"/><text class="tick-label" x="1278.0" y="14" text-anchor="middle">10 ms</text><g '
    'class="lane" data-lane="11"><rect class="lane-bg" x="0" y="22" width="1290" '
    'height="21"/><text class="lane-label" x="6" y="36.5">pid 11</text><text '
    'class="lane-count" x="122" y="36.5" text-anchor="end">2</text><rect class="op t-ok" '
    'data-i="0" x="128.0" y="27" width="460.0" height="11"><title>#0 set k {"value": 1} → '
    'true\nok · process 0 · pid 11 · at 0.0 ms, took 4.0 ms</title></rect><rect class="op '
    't-info" data-i="2" x="818.0" y="27" width="460.0" height="11"><title>#2 get k → null  '
    'error: timed out\ninfo · process 0 · pid 11 · at 6.0 ms, took 4.0 '
    'ms</title></rect></g><g class="lane" data-lane="12"><rect class="lane-bg odd" x="0" '
    'y="43" width="1290" height="21"/><text class="lane-label" x="6" y="57.5">pid '
    '12</text><text class="lane-count" x="122" y="57.5" text-anchor="end">1</text><rect '
    'class="op t-ok cx culprit" data-i="1" x="358.0" y="48" width="345.0" '
    'height="11"><title>#1 get k [{"phase": "after"}] → 1\nok · process 1 · pid 12 · at 2.0 '
    'ms, took 3.0 ms</title></rect></g></svg>')
_BEFORE_CLOSE_UP = (
    '<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1290 68" '
    'width="1290" height="68" role="img" aria-label="timeline of 2 operations in 2 '
    'lanes"><line class="tick" x1="128.0" x2="128.0" y1="18" y2="64"/><text '
    'class="tick-label" x="128.0" y="14" text-anchor="middle">0 ms</text><line class="tick" '
    'x1="415.5" x2="415.5" y1="18" y2="64"/><text class="tick-label" x="415.5" y="14" '
    'text-anchor="middle">2 ms</text><line class="tick" x1="703.0" x2="703.0" y1="18" '
    'y2="64"/><text class="tick-label" x="703.0" y="14" text-anchor="middle">4 '
    'ms</text><line class="tick" x1="990.5" x2="990.5" y1="18" y2="64"/><text '
    'class="tick-label" x="990.5" y="14" text-anchor="middle">6 ms</text><line class="tick" '
    'x1="1278.0" x2="1278.0" y1="18" y2="64"/><text class="tick-label" x="1278.0" y="14" '
    'text-anchor="middle">8 ms</text><g class="lane" data-lane="11"><rect class="lane-bg" '
    'x="0" y="22" width="1290" height="21"/><text class="lane-label" x="6" y="36.5">pid '
    '11</text><text class="lane-count" x="122" y="36.5" text-anchor="end">1</text><rect '
    'class="op t-info" data-i="2" x="703.0" y="27" width="575.0" height="11"><title>#2 get k '
    '→ null  error: timed out\ninfo · process 0 · pid 11 · at 4.0 ms, took 4.0 '
    'ms</title></rect></g><g class="lane" data-lane="12"><rect class="lane-bg odd" x="0" '
    'y="43" width="1290" height="21"/><text class="lane-label" x="6" y="57.5">pid '
    '12</text><text class="lane-count" x="122" y="57.5" text-anchor="end">1</text><rect '
    'class="op t-ok cx culprit" data-i="1" x="128.0" y="48" width="431.2" '
    'height="11"><title>#1 get k [{"phase": "after"}] → 1\nok · process 1 · pid 12 · at 0.0 '
    'ms, took 3.0 ms</title></rect></g></svg>')


def test_a_history_without_nemesis_lines_is_drawn_exactly_as_before() -> None:
    """Old run directories re-render byte for byte as they did before faults existed."""
    ops = [{"process": 0, "pid": 11, "f": "set", "key": "k", "args": {"value": 1},
            "type": "ok", "value": True, "error": None, "start": 100.0, "end": 100.004},
           {"process": 1, "pid": 12, "f": "get", "key": "k", "args": {},
            "meta": {"phase": "after"}, "type": "ok", "value": 1, "error": None,
            "start": 100.002, "end": 100.005},
           {"process": 0, "pid": 11, "f": "get", "key": "k", "args": {}, "type": "info",
            "value": None, "error": "timed out", "start": 100.006, "end": 100.010}]
    whole = timeline(ops, highlight=[1], strong=[1])
    assert str(whole.svg) == _BEFORE_WHOLE
    assert not whole.nemesis and whole.faults == [] and whole.windows == []
    assert str(timeline(ops, highlight=[1], strong=[1], only=[1, 2]).svg) == _BEFORE_CLOSE_UP


def test_page_without_faults_or_topology_has_none_of_their_parts(tmp_path: Path) -> None:
    ops = [{"process": 0, "pid": 11, "f": "get", "key": "k", "type": "ok",
            "start": T0, "end": T0 + 0.1}]
    run = _write_report(tmp_path / "run", [
        _row("SimpleCache", "visibility", "per-worker", "per-worker",
             history="histories/0.jsonl")], {"histories/0.jsonl": ops})
    art = parse(render_html(load(run))).find("article", "result")
    svg = art.find("svg", "timeline")
    assert "faults" not in svg.classes
    assert not list(svg.iter("g", "nemesis")) and not list(svg.iter("rect", "fault-window"))
    assert not list(art.iter("table", "processes"))
    assert "nemesis" not in art.find("div", "timeline-box").text()
    assert "Processes" not in render_markdown(load(run))


# --- the processes a result ran on, and its fault numbers -------------------------

_SENTINEL = [
    {"kind": "redis", "role": "master", "port": 7000, "pid": 123},
    {"kind": "redis", "role": "replica", "port": 7001, "pid": 124},
    {"kind": "redis-sentinel", "role": "sentinel", "port": 26379, "pid": 125},
    {"kind": "gunicorn", "role": "arbiter", "socket": "/tmp/a|b/gunicorn.sock", "pid": 200},
    {"kind": "gunicorn", "role": "worker", "pid": 201},
]


def _run(tmp_path: Path, *results: Result) -> Path:
    data = to_json(list(results), created=datetime(2026, 1, 1, tzinfo=UTC), environment={},
                   run={})
    (tmp_path / "report.json").write_text(json.dumps(data))
    return tmp_path


def _result(scenario: str, *, topology: list[dict[str, Any]] | None = None,
            evidence: dict[str, Any] | None = None) -> Result:
    return Result(backend="RedisSentinelCache", worker_class="sync", workers=2, preload=False,
                  scenario=scenario, verdict="holds", expected=None, evidence=evidence or {},
                  topology=topology or [])


def test_topology_table_per_result_in_html_and_markdown(tmp_path: Path) -> None:
    run = _run(tmp_path, _result("kill-master", topology=_SENTINEL), _result("plain"))
    report = load(run)
    doc = parse(render_html(report))
    with_topology, without = list(doc.iter("article", "result"))
    table = with_topology.find("table", "processes")
    assert [th.text() for th in table.iter("th")] == ["kind", "role", "port / socket", "pid"]
    rows = [[td.text() for td in tr.iter("td")] for tr in table.iter("tr")][1:]
    assert rows == [["redis", "master", "7000", "123"], ["redis", "replica", "7001", "124"],
                    ["redis-sentinel", "sentinel", "26379", "125"],
                    ["gunicorn", "arbiter", "/tmp/a|b/gunicorn.sock", "200"],
                    ["gunicorn", "worker", "-", "201"]]
    assert not list(without.iter("table", "processes")), "no table for a row without one"
    md = render_markdown(report).split("## Processes each result ran on", 1)[1]
    assert "`kill-master`" in md and "`plain`" not in md
    assert "| kind | role | port / socket | pid |" in md
    assert "| redis-sentinel | sentinel | 26379 | 125 |" in md
    assert "| gunicorn | arbiter | /tmp/a\\|b/gunicorn.sock | 200 |" in md


def test_fault_numbers_are_shown_from_one_table_skipping_absent_keys(tmp_path: Path) -> None:
    evidence = {
        "stale_reads": {"count": 3, "reads": 400, "age_p50": 0.02, "age_p99": 0.3,
                        "age_max": 0.31},
        "recovery": {"max_read": 1.2, "max_write": None, "per_worker": {"11": 1.2},
                     "unrecovered": [12]},
        "lost_writes": {"count": 2, "acked": 200, "percent": 1.0},
        "failed_during_fault": 17,
        "windows": [{"fault": "kill"}, {"fault": "pause"}],
        # A moment on the run's clock, not a count: no box of its own.
        "healed_at": 1004.1,
    }
    run = _run(tmp_path, _result("kill-master", evidence=evidence),
               _result("old", evidence={"stale_reads": 4, "reads": 9}))
    doc = parse(render_html(load(run)))
    faulty, old = list(doc.iter("article", "result"))
    stats = [(s.find("span").text(), s.find("b").text(), "prominent" in s.classes)
             for s in faulty.iter("div", "stat")]
    assert stats == [
        ("stale reads", "3 of 400", True),
        ("stale read age p50 · p99 · max", "20 ms · 300 ms · 310 ms", True),
        ("recovery after fault, reads · writes (max)", "1.2 s · -", True),
        ("workers never recovered", "1", True),
        ("lost writes", "2 of 200 (1%)", True),
        ("ops failed during a fault", "17", True),
        ("fault windows", "2", True),
    ], "silent_after_recovery is absent, so it has no box"
    # A sharing checker's plain count keeps its old rendering.
    assert [(s.find("span").text(), s.find("b").text()) for s in old.iter("div", "stat")] \
        == [("reads", "9"), ("stale_reads", "4")]


def test_every_verdict_has_a_colour_of_its_own() -> None:
    """A verdict without a rule is bare text in the matrix and the legend, as the
    fault verdicts were on the first real fault run's report."""
    from harness import report
    from harness.verdict import Conclusion

    css = (Path(report.__file__).parent / "templates" / "report.html").read_text()
    assert [c.value for c in Conclusion if f".v-{c.value} {{" not in css] == []


def test_fault_numbers_found_below_the_top_level_say_where(tmp_path: Path) -> None:
    evidence = {"global": {"silent_after_recovery": {"count": 5, "window": [10.0, 10.25]}},
                "per_worker": {"silent_after_recovery": {"count": 0, "window": None}}}
    run = _run(tmp_path, _result("kill-master", evidence=evidence))
    art = parse(render_html(load(run))).find("article", "result")
    stats = {s.find("span").text(): s.find("b").text() for s in art.iter("div", "stat")}
    assert stats == {"silent failures after recovery (global)": "5 over 250 ms",
                     "silent failures after recovery (per_worker)": "0"}


# --- in a real browser -------------------------------------------------------------

def _png_pixels(path: Path) -> tuple[int, int, list[bytes], int]:
    """Width, height, unfiltered rows and bytes per pixel of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 4 if colour == 6 else 3
    raw, stride, rows = zlib.decompress(idat), width * bpp, []
    prev = bytearray(stride)
    for y in range(height):
        at = y * (stride + 1)
        kind, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """The [first, last] index of each run of True."""
    out, start = [], None
    for n, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = n
        elif not flag and start is not None:
            out.append((start, n - 1))
            start = None
    return out


def test_fault_windows_show_in_a_real_browser(tmp_path: Path) -> None:
    """Rendered by Chromium, each window tints the timeline where, and only where, it should.

    The same page is shot twice, once with the windows hidden by an added
    style; the pixels that differ are the windows as a person sees them.
    """
    need("chromium")
    run = _write_report(tmp_path / "run", [
        _row("RedisSentinelCache", "kill-master", "holds", None,
             evidence={"pids": [11, 12]}, history="histories/000.jsonl")],
        {"histories/000.jsonl": _faulty_history()})
    page = render(run, png=False).html
    doc = _open(page)
    body = doc.find("body")
    assert body.attrs["data-rendered"] == "1" and body.attrs["data-js-errors"] == "0"
    svg = _article(doc, "RedisSentinelCache", "kill-master").find("svg", "timeline")
    assert [b.attrs["data-fault"] for b in svg.iter("rect", "fault-window")] == ["kill", "pause"]

    hidden = run / "hidden.html"
    hidden.write_text(page.read_text().replace(
        "</head>", "<style>svg .fault-window { visibility: hidden; }</style></head>", 1))
    shots = []
    for html in (page, hidden):
        png = run / f"{html.stem}.png"
        problem = browser.screenshot(html, png, height=1400)
        assert problem is None, problem
        shots.append(_png_pixels(png))
    (width, height, shown, bpp), (_, _, plain, _) = shots
    differs = [[shown[y][x * bpp:x * bpp + 3] != plain[y][x * bpp:x * bpp + 3]
                for x in range(width)] for y in range(height)]
    columns = _runs([any(differs[y][x] for y in range(height)) for x in range(width)])
    lines = _runs([any(row) for row in differs])
    assert len(columns) == 2, f"expected two shaded windows, saw columns {columns}"
    (kill_lo, kill_hi), (pause_lo, pause_hi) = columns
    # The kill window spans 2.0 s .. 4.1 s, the pause 7.0 s to the end at 10 s.
    assert abs((kill_hi - kill_lo + 1) - (_x(4.1) - _x(2.0))) <= 3
    assert abs((pause_lo - kill_lo) - (_x(7.0) - _x(2.0))) <= 3
    assert abs((pause_hi - kill_lo) - (_x(10.0) - _x(2.0))) <= 3
    # Top to bottom: the nemesis lane and both workers' lanes.
    [(top, bottom)] = lines
    assert abs((bottom - top + 1) - (float(svg.attrs["height"]) - 4 - AXIS_H)) <= 3
