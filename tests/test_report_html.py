"""report.html as a person sees it: rendered by a browser, matrix, evidence, timelines.

The browser tests run a real small matrix, open the page in headless
Chromium and read the DOM it built.  They skip without Chromium, except
under CI=true, where a missing browser is a failure.  The renderer tests
use a hand-made report.json and need no browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from binaries import need
from dom import dump_dom

from harness.expectations import load as load_expectations
from harness.report import SCHEMA, load, render, summary_text
from harness.report import chromium as browser
from harness.report.html import PAGE_CAP, QUIET_CAP, render_html
from harness.report.timeline import DRAW_CAP, window

ROOT = Path(__file__).resolve().parent.parent

# --- a small DOM, enough to ask questions of the page ------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
         "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        #: Text and child elements in document order.
        self.content: list[str | Node] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self, tag: str | None = None, cls: str | None = None) -> Iterator[Node]:
        for child in self.children:
            if (tag is None or child.tag == tag) and (cls is None or cls in child.classes):
                yield child
            yield from child.iter(tag, cls)

    def find(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = next(self.iter(tag, cls), None)
        assert found is not None, f"no <{tag} class={cls}> in <{self.tag} {self.attrs}>"
        return found

    def by_id(self, ident: str) -> Node | None:
        return next((n for n in self.iter() if n.attrs.get("id") == ident), None)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.content)

    def add(self, child: Node) -> Node:
        self.children.append(child)
        self.content.append(child)
        return child


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = self.current.add(Node(tag, {k: v or "" for k, v in attrs}, self.current))
        if tag not in _VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.add(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.content.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


# --- hand-made reports --------------------------------------------------------

def _op(i: int, pid: int, *, f: str = "get", key: str = "k", value: Any = None,
        type_: str = "ok", t: float | None = None) -> dict[str, Any]:
    start = 100.0 + i * 0.001 if t is None else t
    return {"process": pid % 2, "pid": pid, "f": f, "key": key, "args": {}, "type": type_,
            "value": value, "error": None, "start": start, "end": start + 0.0008}


def _row(backend: str, scenario: str, verdict: str, expected: str | None, *,
         worker_class: str = "sync", evidence: dict[str, Any] | None = None,
         history: str | None = None) -> dict[str, Any]:
    ok = None if expected is None else verdict == expected
    if verdict in ("error", "unknown"):
        ok = False
    return {"backend": backend, "worker_class": worker_class, "workers": 2, "preload": False,
            "scenario": scenario, "verdict": verdict, "expected": expected,
            "evidence": evidence or {}, "ok": ok, "history": history}


def _write_report(directory: Path, rows: list[dict[str, Any]],
                  histories: dict[str, list[dict[str, Any]]],
                  worker_classes: tuple[str, ...] = ("sync",)) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for rel, ops in histories.items():
        path = directory / rel
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(json.dumps(op) + "\n" for op in ops))
    data = {"schema": SCHEMA, "created": "2026-01-02T03:04:05Z",
            "environment": {"python": "3.11.7", "flask": "3.1.3", "flask_caching": "2.5.1",
                            "cachelib": "0.17.0", "gunicorn": "23.0.0",
                            "redis-server": "7.0.15", "memcached": None},
            "run": {"workers": 2, "worker_classes": list(worker_classes), "preload": False,
                    "settle_s": 1.0, "app": "apps.features:app"},
            "results": rows}
    (directory / "report.json").write_text(json.dumps(data, indent=2))
    return directory


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    """Visibility on two worker classes, and a race with a counterexample in 5000 ops."""
    vis = {"pids": [11, 12], "matrix": [["Y", "-"], ["1/3", "Y"]], "writes": 6, "reads": 12}
    race_ops = [_op(i, 11 if i % 2 else 12, f="incr", value=i) for i in range(5000)]
    race_ops[2500]["key"] = "<script>alert(1)</script>"
    race = {"pids": [11, 12], "lost_updates": 3, "winners": [11, 12, 11], "trials": 50,
            "ops": 5000,
            "counterexample": {"key": "hits", "ops": [2500, 2503], "culprits": [2503],
                               "describe": ["incr on pid 12 read 7", "incr on pid 11 read 7"],
                               "size": 2, "initial": "any", "minimal": True}}
    rows = [
        _row("SimpleCache", "visibility", "per-worker", "per-worker", evidence=vis,
             history="histories/000.jsonl"),
        _row("SimpleCache", "visibility", "partial", "per-worker", worker_class="gthread",
             evidence=vis, history="histories/001-gone.jsonl"),
        _row("RedisCache", "inc-race", "violated", "holds", evidence=race,
             history="histories/002.jsonl"),
        _row("RedisCache", "visibility", "error", None, evidence={"failed_ops": 1}),
    ]
    histories = {"histories/000.jsonl": [_op(0, 11, f="set"), _op(1, 12), _op(2, 11),
                                         _op(3, 12, type_="fail"), _op(4, 11, type_="info")],
                 "histories/002.jsonl": race_ops}
    return _write_report(tmp_path / "run", rows, histories, ("sync", "gthread"))


def _article(doc: Node, backend: str, scenario: str, wc: str = "sync") -> Node:
    for a in doc.iter("article", "result"):
        if a.attrs["data-backend"] == backend and a.attrs["data-scenario"] == scenario \
                and f"{wc} ×" in a.find("h3").text():
            return a
    raise AssertionError(f"no result section for {backend} {wc} {scenario}")


def test_matrix_rows_cells_and_links(handmade: Path) -> None:
    """A column per backend and worker class, a row per scenario; each cell links to its result."""
    doc = parse(render_html(load(handmade)))
    table = doc.find("table", "matrix")
    assert [th.text() for th in table.iter("th", "backend")] == [
        "SimpleCache (sync x2)", "SimpleCache (gthread x2)", "RedisCache (sync x2)"]
    rows = list(table.iter("tr", "matrix-row"))
    assert [r.find("th").text() for r in rows] == ["visibility", "inc-race"]
    cells = [c for c in doc.iter("td", "cell") if "empty" not in c.classes]
    assert len(cells) == 4
    for cell in cells:
        target = cell.find("a").attrs["href"].removeprefix("#")
        assert doc.by_id(target) is not None, f"cell links to missing #{target}"
    [simple] = [c for c in cells if c.attrs["data-verdict"] == "per-worker"]
    reason = load_expectations().expected("SimpleCache", "visibility")
    assert reason is not None and reason.reason in simple.attrs["title"]
    assert "v-per-worker" in simple.classes and "unexpected" not in simple.classes


def test_unexpected_and_inconclusive_cells_are_marked(handmade: Path) -> None:
    doc = parse(render_html(load(handmade)))
    cells = {c.attrs["data-verdict"]: c for c in doc.iter("td", "cell")
             if "data-verdict" in c.attrs}
    for verdict in ("partial", "violated", "error"):
        cell = cells[verdict]
        assert "unexpected" in cell.classes and f"v-{verdict}" in cell.classes
        assert cell.find("span", "badge").text() == "✗"
    assert "expected holds" in cells["violated"].attrs["title"]
    assert not list(cells["per-worker"].iter("span", "badge"))
    assert "noexp" not in cells["per-worker"].classes
    assert "3 unexpected" in doc.find("header").text()
    assert "inconclusive" in _article(doc, "RedisCache", "visibility").find("h3").text()


def test_overview_shows_environment_and_topology(handmade: Path) -> None:
    doc = parse(render_html(load(handmade)))
    env = doc.by_id("environment")
    topo = doc.by_id("topology")
    assert env is not None and topo is not None
    for text in ("flask_caching", "2.5.1", "cachelib", "gunicorn", "redis-server"):
        assert text in env.text()
    for text in ("workers", "worker_classes", "sync, gthread", "settle_s", "apps.features:app"):
        assert text in topo.text()


def test_visibility_heatmap_and_timeline_lanes(handmade: Path) -> None:
    doc = parse(render_html(load(handmade)))
    art = _article(doc, "SimpleCache", "visibility")
    marks = [td.text() for td in art.find("table", "heatmap").iter("td")]
    assert marks == ["Y", "-", "1/3", "Y"]
    lanes = list(art.find("svg", "timeline").iter("g", "lane"))
    assert [g.attrs["data-lane"] for g in lanes] == ["11", "12"]
    kinds = [sorted(r.classes - {"op"}) for r in art.iter("rect", "op")]
    assert sorted(k[0] for k in kinds) == ["t-fail", "t-info", "t-ok", "t-ok", "t-ok"]
    assert "#3 get k" in next(art.iter("rect", "t-fail")).find("title").text()


def test_counterexample_is_highlighted_inside_the_capped_window(handmade: Path) -> None:
    doc = parse(render_html(load(handmade)))
    art = _article(doc, "RedisCache", "inc-race")
    whole = art.find("div", "timeline-box").find("svg", "timeline")
    highlighted = [r for r in whole.iter("rect", "op") if "cx" in r.classes]
    assert sorted(int(r.attrs["data-i"]) for r in highlighted) == [2500, 2503]
    [culprit] = [r for r in highlighted if "culprit" in r.classes]
    assert culprit.attrs["data-i"] == "2503"
    assert len(list(whole.iter("rect", "op"))) == PAGE_CAP
    cap = art.find("p", "cap").text()
    assert f"Drawing {PAGE_CAP} of 5000 ops" in cap and "around the counterexample" in cap
    stats = {s.find("span").text(): s.find("b").text() for s in art.iter("div", "stat")}
    assert stats["lost_updates"] == "3" and stats["winners"] == "3" and stats["ops"] == "5000"


def test_counterexample_box_lists_its_ops_and_draws_a_close_up(handmade: Path) -> None:
    """The ops a violation rests on are named, in order, and drawn at a readable scale."""
    art = _article(parse(render_html(load(handmade))), "RedisCache", "inc-race")
    box = art.find("div", "counterexample")
    items = [li.text() for li in box.iter("li")]
    assert items == ["#2500 incr on pid 12 read 7", "#2503 incr on pid 11 read 7"]
    assert [li.text() for li in box.iter("li", "culprit")] == [items[1]]
    assert "hits" in box.text() and "minimal yes" in box.text() and "initial any" in box.text()
    close = box.find("svg", "timeline")
    drawn = sorted(int(r.attrs["data-i"]) for r in close.iter("rect", "op"))
    # The race's ops are 1 ms apart and 0.8 ms long: only 2500..2503 overlap the window.
    assert drawn == [2500, 2501, 2502, 2503]
    assert [g.attrs["data-lane"] for g in close.iter("g", "lane")] == ["11", "12"]


def test_nested_evidence_counts_and_counterexample_are_found(tmp_path: Path) -> None:
    """Checkers nest evidence by model; the page finds counts and counterexamples there."""
    ops = [_op(i, 30 + i % 2, f="add") for i in range(6)]
    evidence = {
        "unique_winner": {"trials": 3, "winners": {"1": 2, "2": 1}},
        "global": {"lost_updates": 4},
        "linearizability": {"global": {"ops": 6, "counterexample": {
            "key": "k", "ops": [1, 4], "culprits": [4],
            "describe": ["#1 process 1 pid 31: add('k', 1) -> True",
                         "#4 process 0 pid 30: add('k', 2) -> True"]}}},
    }
    run = _write_report(tmp_path / "run", [
        _row("SimpleCache", "add-race", "per-worker", "per-worker", evidence=evidence,
             history="histories/0.jsonl")], {"histories/0.jsonl": ops})
    art = parse(render_html(load(run))).find("article", "result")
    stats = {s.find("span").text(): s.find("b").text() for s in art.iter("div", "stat")}
    assert stats == {"global.lost_updates": "4", "unique_winner.winners": "1: 2, 2: 1",
                     "unique_winner.trials": "3", "linearizability.global.ops": "6"}
    box = art.find("div", "counterexample")
    assert "linearizability.global" in box.text()
    assert [li.text() for li in box.iter("li")][0] == "#1 process 1 pid 31: add('k', 1) -> True"
    marked = [r.attrs["data-i"] for r in art.find("div", "timeline-box").iter("rect", "cx")]
    assert sorted(marked) == ["1", "4"]


def test_window_without_counterexample_is_the_first_ops(tmp_path: Path) -> None:
    ops = [_op(i, 20 + i % 2) for i in range(DRAW_CAP + 10)]
    run = _write_report(tmp_path / "run", [
        _row("FileSystemCache", "overwrite", "shared", "shared", evidence={"pids": [20, 21]},
             history="histories/0.jsonl")], {"histories/0.jsonl": ops})
    art = parse(render_html(load(run))).find("article", "result")
    # A result as documented draws the fewest ops: its card is read least.
    assert f"the first {QUIET_CAP}" in art.find("p", "cap").text()
    indices = [int(r.attrs["data-i"]) for r in art.iter("rect", "op")]
    assert sorted(indices) == list(range(QUIET_CAP))
    assert "histories/0.jsonl" in art.find("p", "cap").text(), "the rest is linked, not drawn"


def test_window_keeps_every_counterexample_op_even_when_spread_out() -> None:
    chosen = window(10_000, [5, 9_000], cap=100)
    assert 5 in chosen and 9_000 in chosen and len(chosen) == 101
    assert window(50, [3], cap=100) == list(range(50))


def test_history_and_evidence_are_escaped_not_executed(handmade: Path) -> None:
    html = render_html(load(handmade))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_missing_history_file_is_said_not_fatal(handmade: Path) -> None:
    doc = parse(render_html(load(handmade)))
    art = _article(doc, "SimpleCache", "visibility", "gthread")
    assert "history file histories/001-gone.jsonl is missing" in art.text()
    assert "no recorded history" in _article(doc, "RedisCache", "visibility").text()


def test_page_is_self_contained(handmade: Path) -> None:
    """No external script, style, font or image: the file works offline."""
    doc = parse(render_html(load(handmade)))
    assert not list(doc.iter("link"))
    for node in doc.iter():
        for attr in ("src", "href"):
            value = node.attrs.get(attr, "")
            assert not value.startswith(("http:", "https:", "//")), (node.tag, value)
    style = doc.find("style").text()
    assert "url(" not in style and "@import" not in style


def test_render_rewrites_md_and_html_only_from_report_json(handmade: Path) -> None:
    rendered = render(handmade, png=False)
    md = rendered.markdown.read_text()
    assert "| backend | visibility | inc-race |" in md
    assert "| SimpleCache (gthread x2) | partial UNEXPECTED, expected per-worker | - |" in md
    assert rendered.png is None and rendered.png_problem is None
    assert 'id="matrix"' in rendered.html.read_text()


# --- the command ---------------------------------------------------------------

def _coherence(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("make, problem", [
    (lambda p: p / "nowhere", "no report at"),
    (lambda p: p, "has no report.json"),
    (lambda p: (p / "report.json").write_text("{oops") and p, "is not valid JSON"),
    (lambda p: (p / "report.json").write_text('{"schema": "other/9"}') and p,
     "has schema 'other/9'"),
])
def test_report_command_bad_path_exits_2(tmp_path: Path, make: Any, problem: str) -> None:
    proc = _coherence("report", str(make(tmp_path)))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("coherence: error: ") and problem in line
    assert "coherence run" in line, "the message must say how to get a valid report"


# --- in a real browser, from a real run -----------------------------------------

def _open(html: Path) -> Node:
    """The page's DOM after its scripts ran, asserting it logged nothing."""
    started = time.monotonic()
    outcome = dump_dom(html)
    elapsed = time.monotonic() - started
    assert not outcome.timed_out, f"chromium did not finish loading {html}"
    assert outcome.console == [], f"the page wrote to the console: {outcome.console}"
    assert elapsed < browser.TIMEOUT
    assert _live_in_group(outcome.pid) == [], "chromium helpers outlived the browser"
    return parse(outcome.stdout)


def test_real_run_report_in_a_browser(cli) -> None:
    """Two backends, two workers: the page renders, the matrix and lanes match the run."""
    need("chromium")
    run = cli("--backend", "SimpleCache", "--backend", "FileSystemCache", "--workers", "2",
              "--scenario", "visibility", "--scenario", "add-race")
    assert run.code == 0, run.stdout + run.stderr
    assert run.leftovers == [], "chromium or gunicorn outlived the run"
    latest = run.report_dir / "latest"
    assert (latest / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The terminal ends on the same sentences as the reports.
    assert f"what this run found:\n{summary_text(load(latest).results)}\n" in run.stdout
    doc = _open(latest / "report.html")
    body = doc.find("body")
    assert body.attrs["data-rendered"] == "1", "the page's script did not run to the end"
    assert body.attrs["data-js-errors"] == "0"
    table = doc.find("table", "matrix")
    assert [th.text() for th in table.iter("th", "backend")] == ["SimpleCache", "FileSystemCache"]
    rows = list(table.iter("tr", "matrix-row"))
    assert [r.find("th").text() for r in rows] == [
        "visibility", "read-your-writes", "monotonic-reads", "add-race"]
    for row in run.report()["results"]:
        art = _article(doc, row["backend"], row["scenario"])
        assert row["history"], "visibility and add-race both record a history"
        ops = [json.loads(line) for line in (latest / row["history"]).read_text().splitlines()]
        lanes = [g.attrs["data-lane"] for g in art.find("svg", "timeline").iter("g", "lane")]
        # One lane per worker, for the sequential and the concurrent scenario alike.
        assert sorted(lanes) == sorted({str(op["pid"]) for op in ops})
        assert len(lanes) == 2
        if row["scenario"] == "visibility":
            assert art.find("table", "heatmap")


def test_report_command_rerenders_an_old_run(cli) -> None:
    run = cli("--backend", "SimpleCache", "--workers", "2", "--scenario", "overwrite")
    assert run.code == 0, run.stdout + run.stderr
    latest = (run.report_dir / "latest").resolve()
    before = (latest / "report.md").read_text()
    for name in ("report.md", "report.html", "report.png"):
        (latest / name).unlink(missing_ok=True)
    copy = latest.parent / "copied-run"
    shutil.copytree(latest, copy)
    proc = _coherence("report", str(copy / "report.json"))
    assert proc.returncode == 0, proc.stderr
    assert (copy / "report.md").read_text() == before
    html = (copy / "report.html").read_text()
    assert 'id="matrix"' in html and "per-worker" in html
    assert (copy / "report.png").exists() == (browser.find() is not None)
    assert str(copy / "report.html") in proc.stdout


def _live_in_group(pgid: int) -> list[str]:
    """Processes of group ``pgid`` still running; zombies are dead, only unreaped.

    (Helpers orphaned by the browser go to the container's init, which may
    never reap them.)
    """
    live = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            live.append(f"{pid} {state} {stat[stat.index('(') + 1:stat.rindex(')')]}")
    return live


def test_a_browser_past_its_timeout_is_stopped_with_its_whole_group(handmade: Path) -> None:
    """A hung Chromium must not outlive the run: its process group is killed."""
    need("chromium")
    page = render(handmade, png=False).html
    outcome = dump_dom(page, timeout=0.2)
    assert outcome.timed_out and outcome.code is None
    assert _live_in_group(outcome.pid) == []
    problem = browser.screenshot(page, handmade / "report.png", height=900, timeout=0.2)
    assert problem is not None and "longer than 0.2s" in problem
    assert not (handmade / "report.png").exists()


def test_a_verdict_without_expectation_is_marked_as_such(tmp_path: Path) -> None:
    run = _write_report(tmp_path / "run", [
        _row("apps.custom_backends.PerProcessFileSystemCache", "visibility", "per-worker", None,
             evidence={"pids": [1, 2], "matrix": [["Y", "-"], ["-", "Y"]]})], {})
    doc = parse(render_html(load(run)))
    cell = doc.find("td", "cell")
    assert "noexp" in cell.classes and not list(cell.iter("span", "badge"))
    assert "no documented expectation" in cell.attrs["title"]
    assert "no expectation" in doc.find("article", "result").find("h3").text()
