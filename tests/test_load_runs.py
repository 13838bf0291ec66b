"""The load and stampede scenarios end to end, through the CLI, as a user runs them.

One real run (SimpleCache and RedisCache, 4 sync workers, a 1 s load) is
checked in its report.json, on stdout and in headless Chromium; then the
run without wrk (a skip, or a failure under CI=true), and SIGINT while wrk
runs.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from binaries import need, need_all
from clirun import CliRun, run_cli
from test_report_html import _open

BACKENDS = ("SimpleCache", "RedisCache")
STAMPEDES = ("stampede", "stampede-cached", "stampede-memoize")




@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    need_all("redis", "wrk")
    args = [a for b in BACKENDS for a in ("--backend", b)]
    return run_cli(tmp_path_factory.mktemp("load"), *args, "--scenario", "load",
                   "--scenario", "stampede", "--load-duration", "1", timeout=240)


def _rows(run: CliRun) -> dict[tuple[str, str], dict]:
    return {(r["backend"], r["scenario"]): r for r in run.report()["results"]}


def test_verdicts_and_nothing_left_running(run: CliRun) -> None:
    assert run.code == 0, run.stdout + run.stderr
    assert run.leftovers == [], "wrk, gunicorn or a server outlived the run"
    assert run.verdicts() == {
        ("SimpleCache", "sync", "load"): "per-worker", ("RedisCache", "sync", "load"): "shared",
        **{(b, "sync", s): "violated" for b in BACKENDS for s in STAMPEDES}}
    assert run.report()["run"]["load_duration_s"] == 1


def test_simple_cache_computes_each_key_once_per_worker_that_served_it(run: CliRun) -> None:
    ev = _rows(run)[("SimpleCache", "load")]["evidence"]
    assert ev["slow_calls_by_key"].keys() == ev["served_by_key"].keys()
    assert len(ev["served_by_key"]) == 16
    for key, served in ev["served_by_key"].items():
        # Sync workers serve one request at a time: no stampede inside a worker.
        assert ev["slow_calls_by_key"][key] == dict.fromkeys(served, 1), key
    assert ev["misses"]["redundant"] > 0 and ev["redundant_within_workers"] == 0


def test_redis_computes_each_key_once_apart_from_cold_stampedes(run: CliRun) -> None:
    ev = _rows(run)[("RedisCache", "load")]["evidence"]
    assert ev["misses"]["redundant"] == 0 and ev["misses"]["expired"] == 0
    assert ev["slow_calls"] == 16 + ev["misses"]["stampede"]
    assert ev["cross_worker_hits"] > 0


def test_every_figure_is_in_the_json(run: CliRun) -> None:
    for backend in BACKENDS:
        ev = _rows(run)[(backend, "load")]["evidence"]
        assert ev["requests_per_s"] > 0 and ev["requests"] > 0 and ev["errors"] == 0
        assert set(ev["latency_ms"]) == {"avg", "stdev", "max", "p50", "p75", "p90", "p99"}
        assert 0.5 < ev["hit_ratio"] <= 1
        assert sum(ev["spread"].values()) == ev["served"] >= ev["requests"]
        assert len(ev["spread"]) == 4
        # NullCache was not among the backends: its baseline was measured on the side.
        base = ev["baseline"]
        assert base["backend"] == "NullCache" and base["measured"] == "separately"
        assert base["hit_ratio"] == 0.0 and base["requests_per_s"] > 0
        assert ev["vs_baseline"]["requests_per_s"] > 1
    for backend in BACKENDS:
        for scenario in STAMPEDES:
            ev = _rows(run)[(backend, scenario)]["evidence"]
            assert ev["trials"] == ev["judged"] == 10
            assert ev["run"][0]["requests_per_trial"] == 8
            assert ev["slow_calls"]["min"] >= 2, (backend, scenario, ev["slow_calls_per_trial"])


def test_cost_table_on_stdout_and_in_report_md(run: CliRun) -> None:
    assert "cost under load" in run.stdout
    table = run.stdout.split("cost under load", 1)[1]
    for backend in BACKENDS:
        assert any(line.startswith(backend) and "violated" in line for line in table.splitlines())
    md = (run.report_dir / "latest" / "report.md").read_text()
    assert "## Cost under load" in md and "`wrk -t1 -c10 -d1s`" in md
    assert "| SimpleCache |" in md and "| per-worker |" in md


def test_cost_section_renders_in_a_browser(run: CliRun) -> None:
    need("chromium")
    latest = run.report_dir / "latest"
    doc = _open(latest / "report.html")
    body = doc.find("body")
    assert body.attrs["data-rendered"] == "1" and body.attrs["data-js-errors"] == "0"
    rows = list(doc.find("table", "cost").iter("tr", "cost-row"))
    assert [r.attrs["data-backend"] for r in rows] == list(BACKENDS)
    for row in rows:
        ev = _rows(run)[(row.attrs["data-backend"], "load")]["evidence"]
        rps = row.find("svg", "rps")
        assert float(rps.attrs["data-value"]) == pytest.approx(ev["requests_per_s"])
        assert float(rps.attrs["data-baseline"]) == pytest.approx(
            ev["baseline"]["requests_per_s"])
        assert list(rps.iter("line", "baseline-mark")), "the NullCache baseline is not marked"
        p99 = row.find("svg", "p99")
        assert float(p99.attrs["data-value"]) == pytest.approx(ev["latency_ms"]["p99"])
        assert row.find("td", "hit").text() == f"{ev['hit_ratio']:.1%}"
        stampedes = [a.attrs["data-scenario"] for a in row.find("td", "stampedes").iter("a")]
        assert stampedes == list(STAMPEDES)
        for link in row.iter("a", "pill"):
            target = link.attrs["href"].removeprefix("#")
            assert doc.by_id(target) is not None, f"cost table links to missing #{target}"
    assert (latest / "report.png").exists()


# --- without wrk, and interrupted ---------------------------------------------------

@pytest.fixture
def no_wrk(tmp_path: Path) -> dict[str, str]:
    """A PATH without wrk (and without anything else: the run needs no other binary)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    return {"PATH": str(empty)}


def test_without_wrk_load_is_skipped_with_the_install_hint(cli, no_wrk) -> None:
    run = cli("--backend", "SimpleCache", "--scenario", "load", env={**no_wrk, "CI": ""})
    assert run.code == 0, run.stdout + run.stderr
    assert "load: skipped: wrk not found (apt-get install wrk)" in run.stdout
    assert run.leftovers == []


def test_without_wrk_load_fails_under_ci(cli, no_wrk) -> None:
    run = cli("--backend", "SimpleCache", "--scenario", "load", env={**no_wrk, "CI": "true"})
    assert run.code == 1, run.stdout + run.stderr
    assert "wrk not found (apt-get install wrk); CI must install it" in run.stdout


def test_sigint_while_wrk_runs_stops_it_and_everything_else(background) -> None:
    need("wrk")
    run = background("--backend", "SimpleCache", "--workers", "2", "--scenario", "load",
                     "--load-duration", "60")
    deadline = time.monotonic() + 60
    while not any(" -t1 -c10 " in p for p in run.leftovers(grace=0)):
        assert time.monotonic() < deadline and run.proc.poll() is None, run.lines
        time.sleep(0.05)
    started = time.monotonic()
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert time.monotonic() - started < 10
    assert code == 130, (code, err)
    assert "interrupted by SIGINT" in err and "Traceback" not in err
    assert run.leftovers() == [], "wrk or gunicorn outlived the interrupted run"
    assert run.temp_files() == []
