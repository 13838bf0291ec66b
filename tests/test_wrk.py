"""wrk: its output is read right, it only loads loopback, and it never outlives its limit."""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from binaries import need

from harness.load import wrk

# wrk 4.1.0 (Debian) with user.lua, verbatim: SimpleCache, 4 sync workers, 3 s.
CLEAN = """\
Running 3s test @ http://127.0.0.1:18781/
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    15.45ms   31.52ms 200.42ms   86.64%
    Req/Sec     3.61k     2.19k    5.47k    73.33%
  Latency Distribution
     50%    1.99ms
     75%    2.61ms
     90%   65.42ms
     99%  137.12ms
  10755 requests in 3.00s, 2.37MB read
Requests/sec:   3580.31
Transfer/sec:    806.81KB
COHERENCE-WRK statuses 200=10755 cache hit=10691,miss=64
"""

# Made by hand in wrk's layout: every unit it prints, socket errors and non-2xx
# responses, which a clean run does not show.
TROUBLED = """\
Running 1m test @ http://127.0.0.1:41234/
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us    1.20s    1.00m    99.00%
    Req/Sec    10.00      2.00     20.00     50.00%
  Latency Distribution
     50%  812.00us
     75%    1.50ms
     90%    2.00s
     99%    1.00m
  600 requests in 1.00m, 100.00KB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:     10.00
Transfer/sec:      1.67KB
COHERENCE-WRK statuses 200=596,500=4 cache hit=500,miss=96,none=4
"""


def test_parse_clean_output() -> None:
    stats = wrk.parse(CLEAN)
    assert stats.requests == 10755 and stats.duration_s == pytest.approx(3.0)
    assert stats.requests_per_s == 3580.31
    assert stats.latency_ms == {"avg": 15.45, "stdev": 31.52, "max": 200.42, "p50": 1.99,
                                "p75": 2.61, "p90": 65.42, "p99": 137.12}
    assert stats.errors == 0 and stats.non_2xx == 0
    assert stats.statuses == {"200": 10755}
    assert stats.cache == {"hit": 10691, "miss": 64}
    assert stats.hit_ratio == pytest.approx(10691 / 10755)


def test_parse_units_errors_and_statuses() -> None:
    stats = wrk.parse(TROUBLED)
    assert stats.latency_ms["avg"] == 0.812 and stats.latency_ms["p50"] == 0.812
    assert stats.latency_ms["stdev"] == 1200.0 and stats.latency_ms["p90"] == 2000.0
    assert stats.latency_ms["max"] == 60_000.0 and stats.latency_ms["p99"] == 60_000.0
    assert stats.duration_s == 60.0
    assert stats.socket_errors == {"connect": 0, "read": 3, "write": 1, "timeout": 2}
    assert stats.non_2xx == 4 and stats.errors == 10
    assert stats.statuses == {"200": 596, "500": 4}
    # Responses without the header (the 500s) count against the ratio.
    assert stats.hit_ratio == pytest.approx(500 / 600)
    assert stats.to_json()["hit_ratio"] == 0.8333


@pytest.mark.parametrize("drop, named", [
    ("    Latency    15.45ms", "thread latency"),
    ("     99%  137.12ms", "99% latency"),
    ("Requests/sec:", "Requests/sec"),
    ("COHERENCE-WRK", "COHERENCE-WRK"),
])
def test_missing_line_is_named(drop: str, named: str) -> None:
    text = "\n".join(line for line in CLEAN.splitlines() if not line.startswith(drop))
    with pytest.raises(wrk.OutputError, match=named):
        wrk.parse(text)


@pytest.mark.parametrize("url", ["http://10.0.0.1:80/", "http://example.com/",
                                 "https://127.0.0.1:443/", "http://0.0.0.0:8000/"])
def test_only_loopback_is_loaded(url: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        wrk.command("wrk", url, duration_s=1, prefix="p", keys=2)


def test_command_has_the_seeds_shape() -> None:
    cmd = wrk.command("wrk", "http://127.0.0.1:9/", duration_s=7, prefix="p", keys=3)
    assert cmd[1:5] == ["-t1", "-c10", "-d7s", "--latency"]
    assert cmd[-3:] == ["--", "p", "3"] and Path(cmd[cmd.index("-s") + 1]).is_file()


# --- the real binary ---------------------------------------------------------------

@pytest.fixture
def wrk_path() -> str:
    return need("wrk")


class _Slow(http.server.BaseHTTPRequestHandler):
    """Answers like the seed's endpoint, slowly: a wrk run against it stays busy."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        time.sleep(0.02)
        body = b'{"gen": "1-0-x"}'
        self.send_response(200)
        self.send_header("X-Cache", "hit")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_real_run_is_parsed(wrk_path: str, target: str) -> None:
    outcome = wrk.run(wrk_path, target, duration_s=1, prefix="p", keys=4)
    assert outcome.problem is None, outcome.stderr
    stats = wrk.parse(outcome.stdout)
    assert stats.requests > 0 and stats.cache == {"hit": sum(stats.statuses.values())}
    assert stats.latency_ms["p50"] >= 20.0


def test_wrk_past_its_limit_is_stopped_with_its_group(wrk_path: str, target: str) -> None:
    started = time.monotonic()
    outcome = wrk.run(wrk_path, target, duration_s=60, prefix="p", keys=4, limit_s=0.5)
    assert time.monotonic() - started < 5
    assert outcome.timed_out and outcome.code is None
    assert "time limit" in (outcome.problem or "")
    assert not _alive(outcome.pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(outcome.pid, 0)


def test_refused_target_is_a_problem_not_a_crash(wrk_path: str) -> None:
    from harness.topology.ports import free_port

    outcome = wrk.run(wrk_path, f"http://127.0.0.1:{free_port()}/", duration_s=1,
                      prefix="p", keys=4)
    assert outcome.code != 0 and not outcome.timed_out
    assert "wrk exited" in (outcome.problem or "") and "connect" in (outcome.problem or "")
