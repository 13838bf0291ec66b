"""The cost section, rendered from a hand-made report.json: bars, baseline marks and
links in report.html, the table in report.md, and nothing at all for a run without load.

The browser check of a real run's cost section is in test_load_runs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_report_html import _row, _write_report, parse

from harness.report import load, render
from harness.report.html import render_html

BASE = {"backend": "NullCache", "measured": "this row", "requests_per_s": 80.0,
        "latency_ms": {"p99": 150.0}, "hit_ratio": 0.0, "requests": 400, "errors": 0}


def _load(rps: float, p99: float, hit: float, per_key: tuple[int, int, int],
          baseline: dict[str, Any] = BASE) -> dict[str, Any]:
    return {"requests_per_s": rps, "latency_ms": {"p50": 2.0, "p99": p99}, "hit_ratio": hit,
            "errors": 0, "requests": int(rps * 5),
            "slow_calls_per_key": dict(zip(("min", "median", "max"), per_key, strict=True)),
            "baseline": baseline,
            "vs_baseline": {"requests_per_s": rps / baseline["requests_per_s"]
                            if "requests_per_s" in baseline else None}}


def _stampede(counts: list[int]) -> dict[str, Any]:
    return {"slow_calls_per_trial": counts,
            "slow_calls": {"min": min(counts), "median": sorted(counts)[len(counts) // 2],
                           "max": max(counts)}}


def _report(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    return _write_report(tmp_path / "run", rows, {})


def test_cost_rows_bars_and_links(tmp_path: Path) -> None:
    run = _report(tmp_path, [
        _row("NullCache", "load", "none", "none", evidence=_load(80.0, 150.0, 0.0, (14, 14, 15))),
        _row("NullCache", "stampede", "none", "none", evidence=_stampede([8, 8])),
        _row("RedisCache", "load", "shared", "shared",
             evidence=_load(2400.0, 90.0, 0.998, (1, 1, 2))),
        _row("RedisCache", "stampede", "violated", "violated", evidence=_stampede([4, 4])),
        _row("RedisCache", "visibility", "shared", "shared"),
        _row("SimpleCache", "visibility", "per-worker", "per-worker"),
    ])
    doc = parse(render_html(load(run)))
    section = doc.by_id("cost")
    assert section is not None
    rows = list(section.iter("tr", "cost-row"))
    # SimpleCache ran no load: it has no cost row.
    assert [r.attrs["data-backend"] for r in rows] == ["NullCache", "RedisCache"]
    null, redis = rows
    assert "baseline" in null.find("th").text()
    bar = redis.find("svg", "rps")
    assert (bar.attrs["data-value"], bar.attrs["data-baseline"]) == ("2400", "80")
    assert "x30.00" in bar.find("title").text()
    # Both bars share one scale: the fill's width is proportional to req/s.
    fills = [float(r.find("svg", "rps").find("rect").attrs["width"]) for r in rows]
    # (Widths are written to 0.1 px.)
    assert fills[1] / fills[0] == pytest.approx(2400 / 80, rel=0.02)
    mark = float(bar.find("line", "baseline-mark").attrs["x1"])
    assert mark == pytest.approx(float(null.find("svg", "rps").find("rect").attrs["width"]),
                                 abs=0.1)
    assert redis.find("td", "hit").text() == "99.8%"
    assert redis.find("td", "per-key").text() == "1/1/2"
    assert redis.find("td", "stampedes").text().strip() == "violated 4/4/4"
    verdicts = [a.attrs["data-scenario"] for a in redis.find("td", "verdicts").iter("a")]
    assert verdicts == ["load", "visibility"]
    for link in section.iter("a"):
        assert doc.by_id(link.attrs["href"].removeprefix("#")) is not None


def test_markdown_has_the_cost_table(tmp_path: Path) -> None:
    run = _report(tmp_path, [
        _row("NullCache", "load", "none", "none", evidence=_load(80.0, 150.0, 0.0, (14, 14, 15))),
        _row("RedisCache", "load", "shared", "shared",
             evidence=_load(2400.0, 90.0, 0.998, (1, 1, 2)))])
    md = render(run, png=False).markdown.read_text()
    assert "## Cost under load" in md
    assert "| RedisCache | 2,400.0 | x30.00 | 90.0 | x0.60 | 99.8% | 1/1/2 | shared |" in md


def test_a_missing_baseline_draws_no_mark_and_no_ratio(tmp_path: Path) -> None:
    failed = {"backend": "NullCache", "measured": "separately", "error": "wrk exited 1"}
    run = _report(tmp_path, [_row("RedisCache", "load", "shared", "shared",
                                  evidence=_load(2400.0, 90.0, 0.998, (1, 1, 1), failed))])
    doc = parse(render_html(load(run)))
    bar = doc.find("tr", "cost-row").find("svg", "rps")
    assert "data-baseline" not in bar.attrs and not list(bar.iter("line"))
    md = render(run, png=False).markdown.read_text()
    assert "| RedisCache | 2,400.0 | - | 90.0 | - |" in md


def test_no_load_no_cost_section(tmp_path: Path) -> None:
    run = _report(tmp_path, [_row("SimpleCache", "visibility", "per-worker", "per-worker")])
    assert parse(render_html(load(run))).by_id("cost") is None
    assert "Cost under load" not in render(run, png=False).markdown.read_text()
