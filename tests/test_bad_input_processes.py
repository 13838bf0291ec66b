"""Processes and directories a run must not leave behind, whatever its input or its signals.

Fixtures are in ``tests/badprocs``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from clirun import ROOT, processes_tagged, run_cli

from harness.schedule import max_jobs

BADPROCS = Path(__file__).resolve().parent / "badprocs"
ENV = {"PYTHONPATH": str(BADPROCS)}


def test_a_process_that_left_its_group_is_stopped_at_the_end_of_the_run(tmp_path) -> None:
    """Issue 23 #224: a backend module that forks a setsid child in every worker."""
    run = run_cli(tmp_path, "--backend", "forkbackend.C", "--scenario", "visibility",
                  "--workers", "1", env=ENV)
    assert run.code == 0, run.stderr
    assert run.leftovers == []
    lines = [line for line in run.stderr.splitlines()
             if "escaped" in line]
    assert len(lines) == 1, run.stderr
    assert re.fullmatch(r"coherence: stopped 1 process that escaped its process group: "
                        r"pid \d+ \(.+\)", lines[0]), lines[0]


def test_a_relative_runtime_dir_is_ignored_and_nothing_is_created_in_the_cwd(tmp_path) -> None:
    """Issue 23 #134: the XDG Base Directory spec says a relative path is invalid, to be ignored."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    tag = uuid.uuid4().hex
    env = {**os.environ, "XDG_RUNTIME_DIR": "rel", "COHERENCE_TEST_TAG": tag}
    env.pop("COHERENCE_RUN", None)
    env.pop("PYTEST_ADDOPTS", None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--jobs", "0"], cwd=cwd,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "coherence: error: --jobs 0 must be from 1 to "
        f"{max_jobs()} on this machine (4 per CPU); e.g. --jobs 2"], proc.stderr
    assert time.monotonic() - started < 2.0 + 1.5, "interpreter start-up plus the check"
    assert sorted(p.name for p in cwd.rglob("*")) == []
    assert processes_tagged(tag) == []


def test_a_second_sigterm_leaves_no_gunicorn_control_socket(background) -> None:
    """Issue 23 #205: a SIGKILLed master cannot remove its control socket (gunicorn 25.1+)."""
    run = background("--backend", "SimpleCache", "--scenario", "visibility", "--workers", "2")
    run.wait_for("running")
    deadline = time.monotonic() + 30
    while not list(run.tmpdir.rglob("gunicorn.ctl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(run.tmpdir.rglob("gunicorn.ctl")), "gunicorn opened no control socket"
    # The first one while the workers boot, the second while the first one's
    # orderly stop is still going: the masters get SIGKILL.
    run.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    run.proc.send_signal(signal.SIGTERM)
    code, out, err = run.finish()
    assert code == 143, err
    assert list(run.tmpdir.rglob("gunicorn.ctl")) == []
    assert run.leftovers() == []


# Runs the console script's two lines (pip's generated ``coherence``), with a
# SIGINT sent from inside the CLI's imports: where a Ctrl-C in the first
# few tenths of a second lands, before the CLI has installed its handler.
_CTRL_C_WHILE_IMPORTING = """
import importlib.abc, os, signal, sys

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "harness.verdict":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
from harness.__main__ import main
sys.argv = ["coherence", *sys.argv[1:]]
sys.exit(main())
"""


@pytest.mark.parametrize("command", [["list"], ["run", "--backend", "SimpleCache",
                                                "--scenario", "visibility"]])
def test_ctrl_c_during_the_imports_is_one_line_exit_130(tmp_path, command) -> None:
    """Issue 23 #200 and #234: not a KeyboardInterrupt traceback."""
    tag = uuid.uuid4().hex
    env = {**os.environ, "COHERENCE_TEST_TAG": tag}
    env.pop("COHERENCE_RUN", None)
    env.pop("PYTEST_ADDOPTS", None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _CTRL_C_WHILE_IMPORTING, *command],
                          cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == [
        "coherence: interrupted by SIGINT while starting; nothing was started"]
    assert proc.stdout == ""
    assert time.monotonic() - started < 2.0 + 1.5
    assert list(tmp_path.iterdir()) == []
    assert processes_tagged(tag) == []


def test_the_reaper_counts_only_what_it_stopped_in_plain_words(tmp_path, monkeypatch) -> None:
    """Issue 23: "stopped 1 processes (? (pid N))" named a child of the dead run that had
    already exited (a zombie, whose name reads as '?'); it was not stopped, and 1 is
    singular."""
    import json

    from harness.topology.processes import RUN_ENV, reap_leftovers

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    token = uuid.uuid4().hex
    env = {**os.environ, RUN_ENV: token}
    live = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    done = subprocess.Popen(["true"], env=env, start_new_session=True)
    try:
        while Path(f"/proc/{done.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            time.sleep(0.01)  # exited, not waited for: a zombie still carrying the token
        (tmp_path / "left").mkdir()
        book = tmp_path / "flask-cache-coherence"
        book.mkdir(mode=0o700)
        (book / "run-999999999-aaaaaaaaaaaa.json").write_text(json.dumps({
            "pid": 999_999_999, "start": 1, "token": token, "procs": [],
            "dirs": [str(tmp_path / "left")]}))
        [reaped] = reap_leftovers(grace=2.0)
        assert reaped.describe() == (f"stopped 1 process (sleep 60 (pid {live.pid})); "
                                     "removed 1 directory")
        assert live.wait(timeout=5) == -signal.SIGTERM
    finally:
        for p in (live, done):
            p.kill()
            p.wait()
