"""Nothing survives: SIGINT, SIGTERM and SIGKILL at chosen moments of a real run.

Each moment is found by waiting for a progress line or a process, never by
sleeping.  After the run, no process carrying the run's tag, no temp file
and no ledger file may remain, and ``reports/latest`` must not move.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.topology.processes import RUN_ENV

#: The issue's promise: a stop signal ends the run within this many seconds.
STOP_WITHIN = 10.0


def _assert_stopped(run, code: int, err: str, *, status: int, name: str) -> None:
    assert code == status, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [lines[-1]] and f"interrupted by {name}" in lines[-1], err
    assert "Traceback" not in err
    assert run.leftovers() == []
    assert run.temp_files() == [], "temp dirs, sockets or ledger files survived"
    assert not (run.report_dir / "latest").exists(), "a partial run moved reports/latest"


def _partial_report(run) -> dict:
    [report] = list(run.report_dir.glob("*/report.json"))
    data = json.loads(report.read_text())
    assert data["complete"] is False
    assert not (report.parent / "report.html").exists()
    assert not (report.parent / "report.png").exists()
    return data


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_a_scenario_stops_everything(background, sig, status) -> None:
    run = background("--backend", "SimpleCache", "--backend", "FileSystemCache",
                     "--workers", "2")
    run.wait_for("[2/")  # two checks done, more running
    started = time.monotonic()
    run.proc.send_signal(sig)
    code, out, err = run.finish()
    assert time.monotonic() - started < STOP_WITHIN
    _assert_stopped(run, code, err, status=status, name=signal.Signals(sig).name)
    data = _partial_report(run)
    assert data["partial_reason"].startswith(f"interrupted by {signal.Signals(sig).name}")


def test_sigint_after_the_last_scenario_exits_130_without_traceback(background) -> None:
    """Teardown and report writing are not cut short, and their warnings do not escape."""
    run = background("--backend", "SimpleCache", "--workers", "2", "--scenario", "visibility",
                     "--scenario", "overwrite")
    run.wait_for("[2/2]")
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    _assert_stopped(run, code, err, status=130, name="SIGINT")
    assert "ResourceWarning" not in err


def test_second_signal_kills_at_once(background) -> None:
    run = background("--backend", "SimpleCache", "--workers", "2")
    run.wait_for("[1/")
    run.proc.send_signal(signal.SIGINT)
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130, err
    assert run.leftovers() == []


def test_sigint_while_chromium_takes_the_screenshot(background, tmp_path) -> None:
    """The browser's process group and its profile go, and the report is partial."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "chromium"
    # A browser that never finishes: the moment to interrupt is when it runs.
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    run = background("--backend", "SimpleCache", "--workers", "2", "--scenario", "visibility",
                     env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    deadline = time.monotonic() + 60
    while not any("sleep 60" in p for p in run.leftovers(grace=0)):
        assert time.monotonic() < deadline and run.proc.poll() is None, run.lines
        time.sleep(0.05)
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    _assert_stopped(run, code, err, status=130, name="SIGINT")
    data = _partial_report(run)
    assert "while the report was written" in data["partial_reason"]


def test_sigkill_leaves_no_server_or_gunicorn_alive(background) -> None:
    """The parent-death signal stops every direct child; gunicorn workers follow their master."""
    run = background("--backend", "SimpleCache", "--backend", "RedisCache",
                     "--backend", "MemcachedCache", "--workers", "2")
    run.wait_for("RedisCache-sync")
    assert any("redis-server" in p for p in run.leftovers(grace=0)), run.lines
    run.proc.kill()
    run.proc.communicate()
    deadline = time.monotonic() + 15
    while run.leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.leftovers() == []


def test_next_run_reaps_what_a_dead_run_left(background, tmp_path) -> None:
    """Only processes that carry the dead run's token are stopped, and the run says so."""
    token = "f" * 32
    env = {**os.environ, RUN_ENV: token}
    ours = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    def dead_run(tmpdir: Path) -> None:
        # The ledger of a run whose harness (a pid that cannot exist) is gone.
        (tmpdir / "coherence-leftover").mkdir()
        ledger_dir = tmpdir / "flask-cache-coherence"
        ledger_dir.mkdir(mode=0o700)
        (ledger_dir / "run-999999999-ffffffffffff.json").write_text(json.dumps({
            "pid": 999_999_999, "start": 1, "token": token,
            "procs": [{"pid": ours.pid, "start": None, "what": "sleep"}],
            "dirs": [str(tmpdir / "coherence-leftover")]}))

    try:
        run = background("--backend", "SimpleCache", "--workers", "2",
                         "--scenario", "visibility", before=dead_run)
        leftover_dir = run.tmpdir / "coherence-leftover"
        code, out, err = run.finish(timeout=60)
        assert code == 0, err
        assert "cleaned up after an earlier run (pid 999999999)" in err
        assert f"(pid {ours.pid})" in err
        assert ours.wait(timeout=5) is not None
        assert stranger.poll() is None, "a process without the run's token was touched"
        assert not leftover_dir.exists()
    finally:
        for p in (ours, stranger):
            p.kill()
            p.wait()


def test_pytest_front_door_leaves_nothing_on_sigterm(tmp_path, tagged) -> None:
    """``pytest scenarios/`` goes through the same plugin: SIGTERM stops what it started."""
    root = Path(__file__).resolve().parent.parent
    tag = os.urandom(8).hex()
    env = {**os.environ, "COHERENCE_TEST_TAG": tag}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop(RUN_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "scenarios", "-q", "-x",
         "-o", f"cache_dir={tmp_path / 'cache'}", "--coherence-backend",
         "SimpleCache", "--coherence-workers", "2", "--coherence-report-dir", str(tmp_path / "r")],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not any("gunicorn" in p for p in tagged(tag)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=STOP_WITHIN + 5)
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
        assert tagged(tag) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.mark.timed
def test_a_signal_held_while_a_process_starts_leaves_no_pipe_open(monkeypatch, tmp_path,
                                                                 sigint_raises) -> None:
    """A stop signal that arrives while a process is started is raised as
    :meth:`Ledger.starting` exits, before the starter's ``try`` owns its
    pipes; the ledger's stop closes them (left open, pytest's -W error turns
    their collection into an error, and an interrupted run into exit 1)."""
    from harness.topology.processes import Ledger, set_pdeathsig

    monkeypatch.setenv(RUN_ENV, "restored-after-the-test")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    book = Ledger()
    with pytest.raises(KeyboardInterrupt):
        with book.starting():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, preexec_fn=set_pdeathsig)
            book.spawned(proc, what="sleeper")
            os.kill(os.getpid(), signal.SIGINT)  # held until the block exits
    assert proc.poll() is None
    assert book.stop_all(grace=1.0) == [f"sleeper {proc.pid}"]
    assert proc.returncode is not None
    assert proc.stdout.closed and proc.stderr.closed


def test_a_child_whose_starter_died_before_its_death_signal_was_set_leaves(monkeypatch) -> None:
    """Between the fork and the prctl the starter may die (a SIGKILLed run's
    worker); the child would then never get its signal, so it must leave."""
    from harness.topology import processes

    monkeypatch.setattr(processes, "_starter", 999_999_999)  # a starter that is not our pid
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                            start_new_session=True, preexec_fn=processes.set_pdeathsig)
    try:
        assert proc.wait(timeout=10) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
