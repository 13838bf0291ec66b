"""Helpers for testing the harness from the outside, as a user runs it."""

from __future__ import annotations

import fnmatch
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

from binaries import need_all  # noqa: E402
from clirun import CliRun, processes_tagged, run_cli  # noqa: E402
from isolation import process_state  # noqa: E402 - autouse: every test restores the process

__all__ = ["CliRun", "process_state", "processes_tagged", "run_cli"]


#: The suite's private directory, made by the session that starts it (the
#: xdist controller) and inherited by its workers through the environment.
SUITE_DIR_ENV = "COHERENCE_SUITE_DIR"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*programs): server kinds or tools the test "
                            "runs; a missing one skips it, and fails it under CI=true")
    config.addinivalue_line("markers", "timed: bounds the wall time of a CLI start-up, or "
                            "signals the test process itself (an xdist worker has threads "
                            "of its own a process-directed signal may land on); the "
                            "README's test command runs these in one process of their own")
    _private_runtime_dir(config)


def _private_runtime_dir(config: pytest.Config) -> None:
    """Give this session, and each of its xdist workers, a runtime directory of its own.

    The harness keeps its ledger files and boot slots in
    ``$XDG_RUNTIME_DIR/flask-cache-coherence`` (harness/topology/processes.py).
    Shared with the user's other runs, a ledger left by one that was killed
    earlier is reaped by the next ``coherence run`` of the suite, which then
    says so on stderr and breaks a test of its exact output.  Each xdist
    worker gets its own, so a run one test kills cannot leak into another
    worker's tests either, whatever order they run in.  The user's cache
    directory is left alone: the rolling-deploy venvs built there
    (harness/topology/venvs.py) are meant to outlive the session.
    """
    base = os.environ.get(SUITE_DIR_ENV)
    if base is None:
        base = tempfile.mkdtemp(prefix="coherence-suite-")  # mode 0700
        os.environ[SUITE_DIR_ENV] = base
        config.add_cleanup(lambda: shutil.rmtree(base, ignore_errors=True))
    runtime = Path(base) / os.environ.get("PYTEST_XDIST_WORKER", "runtime")
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


#: The files that take longest (``--durations``; bench/README.md, "The suite's
#: durations"), handed out first when xdist spreads the suite over workers, so
#: that none of them is left to run alone at the end.
SLOWEST_FIRST = ("test_wheel.py", "test_parallel.py", "test_signals.py", "test_cli_runs.py",
                 "test_topology.py", "test_fault_hygiene.py")


#: The hostile-input files: their tests bound how long a refusal takes (2 s on
#: an idle machine, plus the interpreter's start-up), which holds only with no
#: other test of the suite's own beside them on a 2-core machine.  Marked
#: ``timed``; the README's test command runs them by themselves, in one process,
#: after the rest has run side by side.  A test elsewhere with such a bound
#: says ``@pytest.mark.timed`` itself.
TIMED_FILES = "test_bad_input*.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here and fnmatch.fnmatch(item.path.name, TIMED_FILES):
            item.add_marker(pytest.mark.timed)
    if getattr(config.option, "dist", "no") == "no":
        return  # one process: the files' own order
    rank = {here / name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        need_all(*marker.args)


@dataclass
class Background:
    """A ``coherence run`` in the background, with its own TMPDIR and runtime dir."""

    proc: subprocess.Popen[str]
    tag: str
    tmpdir: Path
    report_dir: Path
    lines: list[str]

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        """Block until a stdout line contains ``needle``; return that line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line:
                self.lines.append(line)
                if needle in line:
                    return line
            elif self.proc.poll() is not None:
                break
        raise AssertionError(f"no line with {needle!r} within {timeout}s: {self.lines[-5:]}")

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.lines) + out, err

    def leftovers(self, grace: float = 3.0) -> list[str]:
        """Tagged processes still alive after ``grace`` s (the kernel's parent-death
        signal is sent as the harness exits, and takes effect a moment later)."""
        deadline = time.monotonic() + grace
        while (found := processes_tagged(self.tag)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def temp_files(self) -> list[str]:
        """Everything left under the run's TMPDIR, but the (empty) ledger directory and
        the free boot slots, which outlive every run by design (harness.topology.boots):
        a slot file still locked is a boot still holding it."""
        keep = self.tmpdir / "flask-cache-coherence"
        slots = keep / "boot-slots"
        return sorted(str(p) for p in self.tmpdir.rglob("*")
                      if p not in (keep, slots) and not (p.parent == slots and _free(p)))


def _free(slot: Path) -> bool:
    """Whether no process holds the boot slot ``slot`` (the kernel frees a dead holder's)."""
    import fcntl

    with open(slot, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this test, however the suite was started.

    Python installs that handler only when SIGINT is at its default at start-up;
    a suite started as a background job of a non-interactive shell (a CI runner)
    inherits SIGINT ignored, and a test that counts on the exception would not
    see it.  Put back as it was, so the isolation guard finds nothing changed.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def tagged():
    """:func:`processes_tagged`, for tests that start runs of their own."""
    return processes_tagged


@pytest.fixture
def background(tmp_path: Path):
    """Start ``python -m harness run ARGS`` without waiting; every run is reaped after."""
    runs: list[Background] = []

    def start(*args: str, env: dict[str, str] | None = None,
              before: Callable[[Path], None] | None = None) -> Background:
        tag = uuid.uuid4().hex
        # Short: worker sockets live under TMPDIR, and AF_UNIX paths are
        # limited to 107 bytes.
        tmpdir = Path(tempfile.mkdtemp(prefix="ct-", dir="/tmp"))
        if before is not None:
            before(tmpdir)
        report_dir = tmp_path / f"reports-{tag[:8]}"
        full_env = {**os.environ, **(env or {}), "COHERENCE_TEST_TAG": tag,
                    "TMPDIR": str(tmpdir), "XDG_RUNTIME_DIR": str(tmpdir)}
        full_env.pop("PYTEST_ADDOPTS", None)
        full_env.pop("COHERENCE_RUN", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--report-dir", str(report_dir), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=full_env,
            start_new_session=True)
        run = Background(proc, tag, tmpdir, report_dir, [])
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.communicate()
        for line in processes_tagged(run.tag):
            os.kill(int(line.split()[0]), signal.SIGKILL)
        shutil.rmtree(run.tmpdir, ignore_errors=True)


@pytest.fixture
def cli(tmp_path: Path):
    """Run ``python -m harness`` in a subprocess; report which processes outlived it.

    Every process the run starts inherits a unique tag in its environment,
    so leftovers are found by tag, never by name.
    """
    def run(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> CliRun:
        return run_cli(tmp_path, *args, timeout=timeout, env=env)
    return run
