"""The network fault scenarios through the CLI: verdicts, the timeline, and nothing left running.

One run of ``server-latency`` and ``connection-reset`` on RedisCache (both
config styles) and ``connection-reset`` on MemcachedCache, 3 workers per
instance (one on the traffic, one incrementing, one adding), is shared by
the checks of its verdicts and of its report in Chromium.  Then a run is
stopped by SIGINT, SIGTERM and SIGKILL while its proxies run: no proxy, no
server and no gunicorn may outlive it.  Proxies are found by the run's tag
in ``/proc/*/environ`` and by their program's path, never killed by name.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from binaries import need
from clirun import CliRun, run_cli
from test_report_html import _article, _open

from harness.topology.proxy import PROGRAM

pytestmark = pytest.mark.needs("redis", "memcached")

WORKERS = 3


@pytest.fixture(scope="module")
def network_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    return run_cli(tmp_path_factory.mktemp("network"), "--backend", "RedisCache",
                   "--backend", "MemcachedCache", "--scenario", "server-latency",
                   "--scenario", "connection-reset", "--workers", str(WORKERS), timeout=240)


def _row(run: CliRun, backend: str, scenario: str) -> dict[str, Any]:
    [row] = [r for r in run.report()["results"]
             if r["backend"] == backend and r["scenario"] == scenario]
    return row


def test_retries_apply_an_increment_twice_in_one_style_only(network_run: CliRun) -> None:
    run = network_run
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for scenario in ("server-latency", "connection-reset"):
        row = _row(run, "RedisCache", scenario)
        assert row["verdict"] == "duplicated" == row["expected"], row["evidence"]
        ev = row["evidence"]
        styles = ev["styles"]
        # redis.Redis(host=...) retries; from_url's connections do not.
        assert styles["CACHE_REDIS_HOST/PORT"]["duplicated"] > 0, styles
        assert styles["CACHE_REDIS_URL"]["duplicated"] == 0, styles
        assert ev["duplicated"]["counters"] == 16 * 2, ev["duplicated"]
        # Every added key was inspected on the server itself, past the proxy.
        assert ev["immortal"]["judged"] > 10, ev["immortal"]
        assert ev["stalled"]["count"] == 0
        assert len(ev["proxies"]) == 2 and {p["kind"] for p in ev["proxies"]} == {"fault-proxy"}
        # The proxies are in the row's topology, beside the server they front.
        topo = row["topology"]
        fronted = {t["fronts"] for t in topo if t["kind"] == "fault-proxy"}
        assert fronted == {t["port"] for t in topo if t["kind"] == "redis"}, topo
    reset = _row(run, "MemcachedCache", "connection-reset")
    assert reset["verdict"] == "unrecovered" == reset["expected"], reset["evidence"]
    # One config style, one instance; memcached's expiry is not read.
    assert list(reset["evidence"]["styles"]) == ["default"]
    assert "immortal" not in reset["evidence"]
    assert run.leftovers == []


def test_the_timeline_draws_each_proxy_fault_window_in_the_nemesis_lane(
        network_run: CliRun) -> None:
    """In Chromium: each proxy's fault and heal are marks in the nemesis lane, with one
    window per proxy shaded from the fault to its heal; the inspection is a mark only."""
    need("chromium")
    doc = _open(network_run.report_dir / "latest" / "report.html")
    assert doc.find("body").attrs["data-js-errors"] == "0"
    for scenario, fault in (("server-latency", "delay"), ("connection-reset", "reset")):
        article = _article(doc, "RedisCache", scenario)
        svg = article.find("div", "timeline-box").find("svg", "timeline")
        marks = [(g.attrs["data-f"], g.find("rect", "fault-mark"))
                 for g in svg.find("g", "nemesis").iter("g", "fault")]
        assert [f for f, _ in marks] == [fault, fault, "heal", "heal", "inspect"], marks
        windows = list(svg.iter("rect", "fault-window"))
        assert [w.attrs["data-fault"] for w in windows] == [fault, fault]
        for window, (_, opener), (_, heal) in zip(windows, marks[:2], marks[2:4], strict=True):
            x, width = float(window.attrs["x"]), float(window.attrs["width"])
            assert abs(x - float(opener.attrs["x"])) < 1
            # A heal takes milliseconds, drawn at a minimum width: the window ends inside it.
            end, heal_x = x + width, float(heal.attrs["x"])
            assert heal_x - 1 < end < heal_x + float(heal.attrs["width"]) + 1
        lanes = list(svg.iter("rect", "lane-bg"))
        assert len(lanes) == 1 + 2 * WORKERS, "the nemesis lane and one per worker"


def _proxies(run: Any) -> list[str]:
    return [p for p in run.leftovers(grace=0) if str(PROGRAM) in p]


def _gunicorns(run: Any) -> list[str]:
    return [p for p in run.leftovers(grace=0) if "-m gunicorn" in p]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_no_proxy_outlives_a_stopped_run(background: Any, sig: signal.Signals) -> None:
    run = background("--backend", "RedisCache", "--scenario", "server-latency",
                     "--workers", str(WORKERS))
    deadline = time.monotonic() + 90
    # Both instances' proxies and gunicorns run (the shared instance's too: 3
    # arbiters and their workers): the scenario's traffic is under way.
    while len(_proxies(run)) < 2 or len(_gunicorns(run)) < 3 * (1 + WORKERS):
        assert time.monotonic() < deadline and run.proc.poll() is None, run.finish()
        time.sleep(0.02)
    run.proc.send_signal(sig)
    out, err = run.proc.communicate(timeout=60)
    assert run.proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143,
                                   signal.SIGKILL: -9}[sig], out[-3000:] + err[-3000:]
    deadline = time.monotonic() + 15
    while run.leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.leftovers() == []
