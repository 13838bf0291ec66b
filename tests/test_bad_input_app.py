"""Hostile apps and user code: one line, exit 2, quickly, nothing left running,
and the harness's own process never imports any of it.

The fixtures are in ``tests/badapps``: apps that fork, daemonize, start a
thread or end the process at import, and packages that sleep, raise or
exit when imported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from clirun import ROOT, processes_tagged
from test_bad_input import FAST, _assert_clean_error

BADAPPS = Path(__file__).resolve().parent / "badapps"
ENV = {"PYTHONPATH": str(BADAPPS)}


def _refused(cli, *args: str, needles: list[str], within: float = FAST + 1.5) -> str:
    """Run ``coherence run ARGS`` on the fixtures; assert the one-line refusal, return it."""
    started = time.monotonic()
    run = cli("--backend", "SimpleCache", "--scenario", "visibility", *args, env=ENV,
              timeout=within + 20)
    _assert_clean_error(run, needles, started)
    assert time.monotonic() - started < within, "interpreter start-up plus the check"
    return run.stderr.strip()


def test_a_setsid_child_that_keeps_the_output_is_named_and_stopped(cli) -> None:
    """Issue 23 items 1 and 15: no unbounded wait on the pipes, and the true cause."""
    line = _refused(cli, "--app", "forkchild:app", needles=[
        "--app 'forkchild:app' imported in", "a child process it started (pid",
        "kept the output open", "the check stopped it"])
    assert "did not finish importing" not in line


def test_a_child_a_custom_backend_forks_at_import_is_blamed_on_the_backend(cli) -> None:
    """Issue 23 #224: the default --app started nothing; the --backend's module did."""
    line = _refused(cli, "--backend", "forkimport.C", needles=[
        "--backend 'forkimport.C' imported, but a child process it started (pid",
        "kept the output open", "processes a module starts at import"])
    assert "--app" not in line


def test_a_daemon_started_at_import_is_stopped(cli) -> None:
    """Issue 23 item 3: a grandchild with its stdio detached does not outlive the check
    (``_assert_clean_error`` finds no process carrying the run's tag)."""
    _refused(cli, "--app", "daemonizes:app", needles=[
        "a process it started (pid", "was still running after the import", "the check stopped it"])


def test_a_non_daemon_thread_is_named_not_called_a_slow_import(cli) -> None:
    """Issue 23 item 15: the import finished; the thread is what is wrong."""
    line = _refused(cli, "--app", "threads:app", needles=[
        "imported in", "non-daemon thread running ('poller')", "daemon=True"])
    assert "did not finish importing" not in line


def test_an_exit_handler_that_blocks_is_named(cli) -> None:
    """Issue 23 item 15: like a thread, it keeps the process alive after the import."""
    line = _refused(cli, "--app", "atexit_block:app", needles=[
        "imported in", "did not exit within 1 s", "atexit handler that blocks"])
    assert "did not finish importing" not in line


def test_a_thread_pool_that_stops_at_exit_is_no_problem() -> None:
    """Its threads are not daemons, but they do not keep the process alive."""
    from harness.topology.appcheck import check_app

    info = check_app("pool_at_import:app", BADAPPS)
    assert info is not None and info.foreign and info.cache == "cache"


def test_an_app_that_ends_the_process_at_import_gets_a_cause_and_a_fix(cli) -> None:
    """Issue 23 item 14: not a bare "could not be checked: exit status 0"."""
    _refused(cli, "--app", "exits:app", needles=[
        "ended the check's process while being imported", "(exit status 0)",
        "os._exit() or sys.exit() called at import"])


def test_an_app_that_kills_itself_at_import_gets_a_cause_and_a_fix(cli) -> None:
    _refused(cli, "--app", "kills_itself:app", needles=[
        "ended the check's process while being imported", "(signal SIGKILL)",
        "or a signal the import sends"])


def test_prints_at_import_and_at_exit_do_not_hide_the_answer(cli) -> None:
    """Issue 23 item 14: the answer has its own pipe, so the app's output cannot
    displace it; the refusal here is the app's real one (no such --cache)."""
    _refused(cli, "--app", "atexit_print:app", "--cache", "nosuch", needles=[
        "--cache 'nosuch' is not a Flask-Caching instance of 'atexit_print:app'",
        "use one of: cache"])


def test_a_non_callable_app_object_is_not_a_flask_app(cli) -> None:
    """Issue 23 item 16: the project's line, not gunicorn's plus PYTHONPATH advice."""
    line = _refused(cli, "--app", "notcallable:app", needles=[
        "--app 'notcallable:app' is a builtins.int, not a Flask app", "MODULE:NAME"])
    assert "PYTHONPATH" not in line and "must be callable" not in line


@pytest.mark.parametrize("package", ["sleeppkg", "raisepkg", "exitpkg"])
def test_looking_up_a_backend_imports_none_of_its_packages(package: str) -> None:
    """Issue 23 items 2, 6 and 10: the lookup runs no user code in this process
    (a package that sleeps 60 s, raises, or calls sys.exit(5) at import)."""
    from harness.topology.backends import resolve

    started = time.monotonic()
    backend = resolve(f"{package}.sub.C", pythonpath=[str(BADAPPS)])
    assert time.monotonic() - started < 1.0
    assert backend.name == f"{package}.sub.C" and not backend.spec.builtin
    assert package not in sys.modules and f"{package}.sub" not in sys.modules


def test_a_missing_submodule_is_still_found_missing_without_importing() -> None:
    from harness.errors import UsageError
    from harness.topology.backends import resolve

    with pytest.raises(UsageError, match=r"module 'sleeppkg.nosuch' cannot be found"):
        resolve("sleeppkg.nosuch.C", pythonpath=[str(BADAPPS)])
    assert "sleeppkg" not in sys.modules


@pytest.mark.parametrize(("backend", "needles"), [
    ("raisepkg.sub.f", ["--backend 'raisepkg.sub.f': could not create the cache backend",
                        "RuntimeError: raisepkg does not import"]),
    ("exitpkg.sub.C", ["--backend 'exitpkg.sub.C': could not create the cache backend",
                       "raised SystemExit: 5"]),
    ("notcache.NotCache", ["--backend 'notcache.NotCache' is the class notcache.NotCache",
                           "not a cache backend", "flask_caching.backends.base.BaseCache"]),
    ("notcache.not_a_factory", ["would call as a factory with (app, config, args, options)"]),
    ("os.", ["--backend 'os.' is not an import path", "MODULE.CLASS"]),
])
def test_a_custom_backend_is_imported_and_checked_in_the_probe(cli, backend: str,
                                                                needles: list[str]) -> None:
    """Issue 23 items 6, 10 and 20: a package that raises or exits, a class that is
    not a cache, an empty class name."""
    started = time.monotonic()
    run = cli("--backend", backend, "--scenario", "visibility", env=ENV, timeout=30)
    _assert_clean_error(run, needles, started)
    assert time.monotonic() - started < FAST + 1.5


def test_a_backend_whose_package_sleeps_leaves_on_sigterm() -> None:
    """Issue 23 item 2: the sleeping import runs in the probe, so SIGTERM is
    answered at once (143), and the probe goes with the run."""
    tag = uuid.uuid4().hex
    env = {**os.environ, **ENV, "COHERENCE_TEST_TAG": tag}
    env.pop("COHERENCE_RUN", None)
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--backend",
                             "sleeppkg.sub.C", "--scenario", "visibility"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        # The probe is running once a process other than the CLI carries the tag.
        while len(processes_tagged(tag)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(processes_tagged(tag)) >= 2, "the probe never started"
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - signalled < FAST
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err
    assert processes_tagged(tag) == []


@pytest.mark.parametrize(("args", "needles"), [
    (["--memoized", "apps.features:NOPE.price"],
     ["--memoized 'apps.features:NOPE.price'", "has no attribute 'NOPE'", "MODULE:QUALNAME"]),
    (["--memoized", "raisepkg.sub:f"],
     ["--memoized 'raisepkg.sub:f'", "RuntimeError: raisepkg does not import"]),
    (["--memoized", "apps.features:_helper_key"],
     ["--memoized 'apps.features:_helper_key' is not decorated with @cache.memoize"]),
    (["--memoized", "apps.features:Item.describe"],
     ["--memoized 'apps.features:Item.describe'", "no module-level instance of Item",
      "Item() raised TypeError", "--memoized apps.features:instance.describe"]),
    (["--sample-args", "nosuch=[1]"],
     ["--sample-args 'nosuch=[1]' names neither a cached view",
      "apps.features:NAMED_PRICES.price"]),
    (["--sample-args", 'apps.features:PRICES.price={"nope": 1}'],
     ["--sample-args 'apps.features:PRICES.price={\"nope\": 1}'",
      "cannot be called with these arguments", "JSON list"]),
    (["--sample-args", "cached_view=[1]"],
     ["--sample-args 'cached_view=[1]'", "takes a JSON object of its URL values"]),
])
def test_memoized_targets_and_sample_args_are_checked_in_the_probe(
        cli, args: list[str], needles: list[str]) -> None:
    """Issue 23 item 20: targets that do not exist or whose module raises, sample
    arguments for an unknown name or of the wrong shape."""
    started = time.monotonic()
    run = cli(*args, "--backend", "SimpleCache", "--scenario", "key-stability", env=ENV,
              timeout=30)
    _assert_clean_error(run, needles, started)
    assert time.monotonic() - started < FAST + 1.5


def test_the_sample_apps_own_targets_pass_the_probe(tmp_path) -> None:
    """The default app's memoized targets and their sample arguments are accepted."""
    from harness.topology.appcheck import check_app
    from harness.workloads.keystability import targets

    memoized, samples = targets(app="apps.features:app", memoized=(), sample_args={})
    info = check_app("apps.features:app", ROOT, memoized=memoized, samples=samples,
                     backends=["apps.custom_backends.PerProcessFileSystemCache"])
    assert info is not None and not info.foreign


def test_a_backend_whose_package_sleeps_is_named_when_the_check_gives_up(monkeypatch) -> None:
    """Issue 23 item 2: the hang is the backend's, and the refusal says so (the CLI's
    bound is PROBE_TIMEOUT; a shorter one here keeps the test quick)."""
    from harness.errors import BootError
    from harness.topology.appcheck import check_app

    monkeypatch.setenv("PYTHONPATH", str(BADAPPS))
    started = time.monotonic()
    with pytest.raises(BootError, match=r"^--backend 'sleeppkg.sub.C' did not finish importing "
                                        r"within 1.5s"):
        check_app("apps.features:app", ROOT, backends=["sleeppkg.sub.C"], timeout=1.5)
    assert time.monotonic() - started < 1.5 + FAST
