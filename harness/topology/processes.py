"""The run's ledger of the processes and directories it created, and the reaper.

Every process the harness starts is registered here, and every one of them
carries ``COHERENCE_RUN=<token>`` in its environment.  That gives three lines
of defence, from the most to the least ordinary exit:

* a normal exit or a signal: :meth:`Ledger.stop_all` stops each registered
  process group (TERM, then KILL after a grace period) and removes each
  registered directory;
* the harness itself is SIGKILLed: every direct child was started with
  Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``), so the kernel
  stops it at once; gunicorn workers leave on their own when their master
  goes (gunicorn's ``Worker.notify`` checks ``os.getppid()``);
* anything that still survived: the next run's :func:`reap_leftovers` reads
  the ledger files of runs whose harness is gone and stops the processes it
  can prove belong to them -- by the run's random token in their
  environment -- and removes their directories.  A process without the
  token is never touched.

Ledger files live in a per-user runtime directory
(``$XDG_RUNTIME_DIR/flask-cache-coherence`` or, when that is unset or
relative, ``/tmp/flask-cache-coherence-<uid>``), one JSON file per run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .procfs import all_pids, cmdline, environ_has, start_time, stop_escapees, terminate

#: The environment marker every process of a run inherits.
RUN_ENV = "COHERENCE_RUN"

_PR_SET_PDEATHSIG = 1

# Run as ``python -c`` in front of a binary whose Popen we do not own
# (pytest-xprocess passes its own preexec_fn): set the parent-death signal,
# make sure the parent did not already die before it was set, then exec.
_EXEC_WITH_PDEATHSIG = (
    "import ctypes,os,signal,sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, int(sys.argv[1]))\n"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})\n"
    "os.getppid() == int(sys.argv[2]) or os._exit(1)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


#: The stop signals, blocked while a process is started and registered.
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


#: The pid of the process inside :meth:`Ledger.starting`: a child forked
#: there finds its starter's pid here, in its copy of the parent's memory.
_starter: int | None = None


def reap_killed(proc: subprocess.Popen[Any], *, timeout: float) -> None:
    """Wait up to ``timeout`` for a process just SIGKILLed, then close its pipes."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """``preexec_fn`` for Popen: the child receives ``sig`` when the harness dies.

    The kernel sends it when the *thread* that forked the child exits, so
    processes must be started from the main thread (they are: pytest runs
    fixtures and tests there).  A starter that died between the fork and
    this call sends nothing, so the child then leaves at once (the check
    :data:`_EXEC_WITH_PDEATHSIG` makes for the servers).  It also unblocks
    the stop signals, which :meth:`Ledger.starting` blocks in the parent and
    a child would inherit.
    """
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    if _starter is not None and os.getpid() != _starter and os.getppid() != _starter:
        os._exit(1)


def pdeathsig_argv(argv: list[str], sig: int = signal.SIGKILL) -> list[str]:
    """``argv`` wrapped so that it runs with the parent-death signal set."""
    return [sys.executable, "-c", _EXEC_WITH_PDEATHSIG, str(int(sig)), str(os.getpid()), *argv]


def runtime_dir() -> Path:
    """The per-user directory for ledger files, created private (0700)."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    # The XDG Base Directory spec: a relative path there is invalid and ignored.
    path = (Path(base) / "flask-cache-coherence" if os.path.isabs(base)
            else Path(f"/tmp/flask-cache-coherence-{os.getuid()}"))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        # Someone else's directory, or one others can write: do not trust it.
        raise PermissionError(f"{path} is not a private directory of uid {os.getuid()}")
    return path


@dataclass
class _Entry:
    pid: int
    start: int | None
    what: str
    popen: subprocess.Popen[Any] | None = None


@dataclass
class Ledger:
    """The processes and directories of this run, mirrored to a ledger file."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    _procs: dict[int, _Entry] = field(default_factory=dict)
    _dirs: list[Path] = field(default_factory=list)
    #: Every group this run started, reaped or not: their members are not escapees.
    _groups: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _file: Path | None = None

    def __post_init__(self) -> None:
        # Children inherit the marker; the reaper's proof of ownership.
        os.environ[RUN_ENV] = self.token

    @property
    def path(self) -> Path:
        if self._file is None:
            self._file = runtime_dir() / f"run-{os.getpid()}-{self.token[:12]}.json"
        return self._file

    def _save(self) -> None:
        data = {
            "pid": os.getpid(), "start": start_time(os.getpid()), "token": self.token,
            "procs": [{"pid": e.pid, "start": e.start, "what": e.what}
                      for e in self._procs.values()],
            "dirs": [str(d) for d in self._dirs],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)

    @contextmanager
    def starting(self) -> Iterator[None]:
        """Hold SIGINT and SIGTERM while a process is started and :meth:`spawned`.

        A stop signal between the fork and the ledger entry would otherwise
        find a process that no one stops.  The held signal is delivered, and
        handled, as soon as the block exits.
        """
        global _starter
        old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        # Nothing but the assignment before the try: a signal that came just
        # before the block is handled at the next call, and raised there it
        # must still find the finally that puts the mask back.
        try:
            _starter = os.getpid()
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def spawned(self, popen: subprocess.Popen[Any], *, what: str) -> None:
        """Record a process group leader this run started (its pid is its pgid)."""
        pid = popen.pid
        with self._lock:
            self._procs[pid] = _Entry(pid=pid, start=start_time(pid), what=what, popen=popen)
            self._groups.add(pid)
            self._save()

    def reaped(self, pid: int) -> None:
        """The process is gone and waited for; forget it."""
        with self._lock:
            if self._procs.pop(pid, None) is not None:
                self._save()

    def directory(self, path: Path) -> Path:
        """Record a directory of this run; removed by :meth:`stop_all`."""
        with self._lock:
            self._dirs.append(path)
            self._save()
        return path

    def forget_directory(self, path: Path) -> None:
        with self._lock:
            if path in self._dirs:
                self._dirs.remove(path)
                self._save()

    def live(self) -> list[str]:
        """What is still registered, e.g. ``gunicorn 1234``."""
        with self._lock:
            return [f"{e.what} {e.pid}" for e in self._procs.values()]

    def kill_all(self) -> int:
        """SIGKILL every registered group now; returns how many were signalled."""
        with self._lock:
            entries = list(self._procs.values())
        n = 0
        for e in entries:
            if _signal_group(e, signal.SIGKILL):
                n += 1
        return n

    def abandon(self) -> int:
        """SIGKILL every group, remove the dirs and the ledger file, wait for no one.

        For a second stop signal, when the orderly teardown is taking too long.
        """
        killed = self.kill_all()
        for d in list(self._dirs):
            shutil.rmtree(d, ignore_errors=True)
        if self._file is not None:
            self._file.unlink(missing_ok=True)
        return killed

    def stop_all(self, *, grace: float = 3.0) -> list[str]:
        """Stop every registered group (TERM, KILL after ``grace``), remove the dirs.

        Returns what had to be stopped here, i.e. what the normal teardown
        did not stop first.  Safe to call more than once.
        """
        with self._lock:
            entries = list(self._procs.values())
            dirs = list(self._dirs)
        stopped = [f"{e.what} {e.pid}" for e in entries if _signal_group(e, signal.SIGTERM)]
        deadline = time.monotonic() + grace
        for e in entries:
            while _alive(e) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _alive(e):
                _signal_group(e, signal.SIGKILL)
            _wait(e, timeout=2.0)
        stop_escapees(f"{RUN_ENV}={self.token}".encode(), groups=set(self._groups),
                      grace=min(grace, 1.0))
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        with self._lock:
            self._procs.clear()
            self._dirs.clear()
            if self._file is not None:
                self._file.unlink(missing_ok=True)
                self._file = None
        return stopped


def _signal_group(e: _Entry, sig: int) -> bool:
    """Signal ``e``'s group, only while its leader is still the process we started."""
    if e.popen is not None and e.popen.poll() is not None:
        # Reaped: its pid may already belong to someone else.  Members of its
        # group may live on, but the group id is then only safe to use if
        # nothing else could have taken it, which a reaped leader cannot prove.
        return False
    if e.start is not None and start_time(e.pid) != e.start:
        return False
    try:
        os.killpg(e.pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _alive(e: _Entry) -> bool:
    if e.popen is not None:
        return e.popen.poll() is None
    return start_time(e.pid) == e.start and e.start is not None


def _wait(e: _Entry, *, timeout: float) -> None:
    """Wait for ``e`` and close the pipes its starter can no longer close.

    A stop signal held by :meth:`Ledger.starting` is raised as the block
    exits, before the starter's own ``try`` can take charge of the pipes;
    left open, they would be reported (ResourceWarning) when collected.
    """
    if e.popen is None:
        return
    try:
        e.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return
    for pipe in (e.popen.stdin, e.popen.stdout, e.popen.stderr):
        if pipe is not None:
            pipe.close()


_LEDGER: Ledger | None = None


def ledger() -> Ledger:
    """This process's ledger, created on first use."""
    global _LEDGER
    if _LEDGER is None:
        _LEDGER = Ledger()
    return _LEDGER


@dataclass(frozen=True, kw_only=True)
class Reaped:
    """What :func:`reap_leftovers` stopped and removed, for one dead run."""

    run_pid: int
    #: The processes stopped (each ``name (pid N)``): running when signalled.
    processes: list[str]
    dirs: list[str]

    def describe(self) -> str:
        """``stopped 1 process (...); removed 2 directories``."""
        n, d = len(self.processes), len(self.dirs)
        done = [f"stopped {n} process{'es' if n != 1 else ''} ({', '.join(self.processes)})"
                if n else "", f"removed {d} director{'ies' if d != 1 else 'y'}" if d else ""]
        return "; ".join(x for x in done if x)


def reap_leftovers(*, grace: float = 2.0) -> list[Reaped]:
    """Stop processes and remove directories left by earlier runs that are gone.

    A run counts as gone when its harness pid no longer exists with the
    start time recorded.  Of its leftovers, only processes whose
    environment carries that run's token are signalled.
    """
    try:
        root = runtime_dir()
    except OSError:
        return []
    own = _LEDGER.path if _LEDGER is not None and _LEDGER._file is not None else None
    found: list[Reaped] = []
    for path in sorted(root.glob("run-*.json")):
        if path == own:
            continue
        try:
            data = json.loads(path.read_text())
            run_pid, run_start, token = int(data["pid"]), data["start"], str(data["token"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if run_start is not None and start_time(run_pid) == run_start:
            continue  # that run is still going
        marker = f"{RUN_ENV}={token}".encode()
        victims = [pid for pid in all_pids() if environ_has(pid, marker)]
        # A ledger entry whose pid still has the recorded start time is the
        # very process the run started, marker or not.
        victims += [int(e["pid"]) for e in data.get("procs", [])
                    if e.get("start") is not None and int(e["pid"]) not in victims
                    and start_time(int(e["pid"])) == e["start"]]
        named = {pid: f"{cmdline(pid)} (pid {pid})" for pid in victims}
        names = [named[pid] for pid in terminate(victims, grace=grace)]
        dirs = [d for d in data.get("dirs", []) if Path(d).exists()]
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        path.unlink(missing_ok=True)
        if names or dirs:
            found.append(Reaped(run_pid=run_pid, processes=names, dirs=dirs))
    return found
