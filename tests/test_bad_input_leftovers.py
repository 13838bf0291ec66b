"""What the hostile-input sweep left over (issue 23): a reader that stops early, a
package of the user's own named ``harness``, and a second stop signal during boot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirun import ROOT
from test_bad_input import FAST
from test_diff import _report, _row

#: The console script pip generates for ``[project.scripts]``, beside the interpreter.
COHERENCE = Path(sys.executable).with_name("coherence")
#: What the foreign package prints if anything imports it.
IMPORTED = "the user's own harness package was imported"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "COHERENCE_RUN", "PYTHONPATH")}
    return {**env, **extra}


# --- a reader that stops early: `coherence list | head -1` -------------------


@pytest.mark.parametrize("command", [["list"], ["--help"], ["list", "--profiles"]])
def test_a_reader_gone_before_the_first_write_is_exit_0_and_silent(tmp_path, command) -> None:
    """The pipe's reader has already closed it, so the very first write fails with
    EPIPE: the case ``| head -1`` reaches only sometimes, made certain."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "harness", *command], stdout=write,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              env=_env(PYTHONPATH=str(ROOT)), timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_list_into_head_is_exit_0_every_time(tmp_path) -> None:
    """Through a real shell pipeline, as a user types it, with pipefail: the
    status is coherence's own, whether head left before or after its writes."""
    script = f"set -o pipefail; {COHERENCE} list | head -1"
    for _ in range(3):
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              cwd=tmp_path, env=_env(), timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "backends:\n"
        assert proc.stderr == ""


def test_a_stopped_reader_keeps_the_commands_own_exit_status(tmp_path) -> None:
    """``coherence diff`` exits 1 for a worse verdict; a closed pipe does not hide that."""
    old = _report(tmp_path / "old", [_row("RedisCache", "visibility", "shared", "shared")])
    new = _report(tmp_path / "new", [_row("RedisCache", "visibility", "error", "shared")])
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "harness", "diff", str(old), str(new)],
                              stdout=write, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              env=_env(PYTHONPATH=str(ROOT)), timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""


# --- a package of the user's own named `harness` ------------------------------


@pytest.fixture
def their_harness(tmp_path) -> Path:
    """A directory holding a package ``harness`` of someone else's, as a user's
    PYTHONPATH does: importing it prints :data:`IMPORTED`."""
    where = tmp_path / "theirs"
    (where / "harness").mkdir(parents=True)
    (where / "harness" / "__init__.py").write_text(f"print({IMPORTED!r})\nVALUE = 42\n")
    return where


def test_the_console_script_names_a_shadowing_harness_in_one_line(tmp_path,
                                                                   their_harness) -> None:
    started = time.monotonic()
    proc = subprocess.run([str(COHERENCE), "run", "--backend", "SimpleCache"],
                          capture_output=True, text=True, cwd=tmp_path,
                          env=_env(PYTHONPATH=str(their_harness)), timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "", "their package was imported, or the run went on"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("coherence: error: a package 'harness' of another project ")
    assert str(their_harness / "harness") in lines[0]
    assert f"remove {their_harness} from PYTHONPATH" in lines[0]
    assert time.monotonic() - started < FAST + 1.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs"], "nothing created"


def test_the_pytest_plugin_stands_aside_for_the_users_own_harness(tmp_path,
                                                                   their_harness) -> None:
    """The user's own session, whose tests import their ``harness``: it runs, and the
    header says why the harness's plugin is not loaded."""
    (tmp_path / "test_theirs.py").write_text(
        "import harness\n\n\ndef test_theirs():\n    assert harness.VALUE == 42\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "test_theirs.py"], capture_output=True, text=True, cwd=tmp_path,
                          env=_env(PYTHONPATH=str(their_harness)), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert ("flask-cache-coherence: plugin not loaded: a package 'harness' of another "
            "project") in proc.stdout


# --- stop signals in the windows around the command's own handler ------------

# The console script's two lines, with a SIGTERM sent from inside the CLI's
# imports: before the command has put its handler in place.
_SIGTERM_WHILE_IMPORTING = """
import importlib.abc, os, signal, sys

class Term(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "harness.verdict":
            os.kill(os.getpid(), signal.SIGTERM)
        return None

sys.meta_path.insert(0, Term())
from flask_cache_coherence import main
sys.argv = ["coherence", *sys.argv[1:]]
sys.exit(main())
"""


@pytest.mark.parametrize("command", [["list"], ["run", "--backend", "SimpleCache"]])
def test_sigterm_during_the_imports_is_one_line_exit_143(tmp_path, command) -> None:
    """Not a silent death by the signal (status -15, nothing on stderr)."""
    proc = subprocess.run([sys.executable, "-c", _SIGTERM_WHILE_IMPORTING, *command],
                          capture_output=True, text=True, cwd=tmp_path,
                          env=_env(PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.splitlines() == [
        "coherence: interrupted by SIGTERM while starting; nothing was started"]
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_a_second_sigterm_after_the_runs_line_keeps_the_line_and_143(background) -> None:
    """The first SIGTERM while the gunicorns boot, the second the moment the run has
    said it stopped: the run's one line stays the only one, and the status 143,
    however late in the interpreter's exit the second signal lands."""
    run = background("--backend", "SimpleCache", "--scenario", "visibility", "--workers", "2")
    run.wait_for("running")
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.stderr is not None
    first = run.proc.stderr.readline()
    run.proc.send_signal(signal.SIGTERM)
    code, out, err = run.finish()
    assert code == 143, (code, first + err)
    assert [line for line in (first + err).splitlines() if line.strip()] == [
        "coherence: interrupted by SIGTERM; every process the run started was stopped"]
    assert run.leftovers() == []
