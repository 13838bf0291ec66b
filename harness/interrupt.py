"""Stopping on SIGINT and SIGTERM: one line, everything stopped, a known exit status.

The first signal is recorded.  While scenarios run it is also raised as
KeyboardInterrupt, which pytest turns into an orderly end of the session:
fixtures tear down, the pool stops every process, the report is marked
partial.  After the scenarios (teardown, report writing, the screenshot)
nothing is raised, because an exception there would cut a cleanup short;
that code asks :func:`requested` at its safe points instead.  A second
signal does not wait for anyone: every process group in the ledger gets
SIGKILL, the run's directories go, and the process exits at once.

A parallel run (``--jobs``) passes every signal it receives on to its
workers by pid, and each worker stops its own gunicorns and servers the
same way.

Exit status is 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import os
import signal
import time
from types import FrameType

from .topology.processes import ledger

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: In a parallel run's worker, a repeat of the first signal within this many
#: seconds is the same request: Ctrl-C reaches a worker from the terminal
#: and again from the controller, which forwards it.
ECHO_WINDOW = 1.0
_echoes = False

_received: int | None = None
_received_at = 0.0
_raising = False
_installed: dict[int, object] = {}
#: Child processes that run scenarios for this one (the parallel run's
#: workers): each signal is passed on to them, by pid, so they stop their
#: own gunicorns and servers exactly as a sequential run would.
_children: set[int] = set()


def forward_to(pid: int) -> None:
    """Pass every later stop signal on to ``pid``, a child this process started."""
    _children.add(pid)


def expect_echoes() -> None:
    """This process is a parallel run's worker: see :data:`ECHO_WINDOW`."""
    global _echoes
    _echoes = True


def forget(pid: int) -> None:
    _children.discard(pid)


def _forward(signum: int) -> None:
    for pid in list(_children):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            _children.discard(pid)


def requested() -> int | None:
    """The signal that asked the run to stop, or None."""
    return _received


def exit_status() -> int | None:
    return None if _received is None else 128 + _received


def describe() -> str | None:
    return None if _received is None else signal.Signals(_received).name


def raising(on: bool) -> None:
    """Whether the first signal is raised (while scenarios run) or only recorded."""
    global _raising
    _raising = on


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received, _received_at
    now = time.monotonic()
    if _echoes and _received == signum and now - _received_at < ECHO_WINDOW:
        return
    _forward(signum)
    if _received is not None:
        _escalate(signum)
        return
    _received, _received_at = signum, now
    if _raising:
        raise KeyboardInterrupt(signal.Signals(signum).name)


def _escalate(signum: int) -> None:
    killed = ledger().abandon()
    name = signal.Signals(signum).name
    os.write(2, f"coherence: {name} again: killed {killed} process groups; exiting\n".encode())
    os._exit(128 + (_received or signum))


def install() -> None:
    """Install the handlers; idempotent.  Only the main thread may call it."""
    if _installed:
        return
    for sig in _SIGNALS:
        _installed[sig] = signal.signal(sig, _handle)


def settle() -> None:
    """Everything is stopped: ignore any later stop signal, up to the exit.

    What is left is the run's last line and the interpreter's exit, whose
    last steps put a Python-level handler back to the default
    (``_PySignal_Fini`` in CPython's Modules/signalmodule.c).  A SIGTERM then
    would cut the line short or end the process by the signal, with no line
    and not the run's status.  Main thread only.
    """
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def installed() -> bool:
    return bool(_installed)


def uninstall() -> None:
    """Put back the handlers that were there before :func:`install`."""
    for sig, previous in _installed.items():
        signal.signal(sig, previous)  # type: ignore[arg-type]
    _installed.clear()


__all__ = ["describe", "exit_status", "expect_echoes", "forget", "forward_to", "install",
           "installed", "raising", "requested", "settle", "uninstall"]
