"""Every test leaves the process as it found it.

The harness's own suite runs in one process, so what one test leaves behind
changes what the tests after it see: a test that passes alone and fails in
the suite.  :func:`process_state` is an autouse fixture (``conftest.py``
imports it) that restores, after every test, the process-global state the
harness touches: signal handlers, the signal mask, ``os.environ``, the
working directory, the state of :mod:`harness.interrupt` and the ledger of
:mod:`harness.topology.processes`.

Restoring alone would hide the defect, so a test that left a signal handler
or the signal mask changed also fails, naming what it changed: the code it
ran would leave the same behind in a user's process.  So does a test that
left processes registered in the ledger (they are stopped first).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness import interrupt
from harness.topology import processes

#: pytest sets it itself for every phase of every test.
_PYTEST_OWN = ("PYTEST_CURRENT_TEST",)
_INTERRUPT_STATE = ("_received", "_received_at", "_raising", "_echoes")


def _handlers() -> dict[signal.Signals, Any]:
    found = {}
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            found[signal.Signals(sig)] = signal.getsignal(sig)
        except (ValueError, OSError):
            continue  # a real-time signal glibc keeps for itself
    return found


def _mask() -> set[signal.Signals]:
    return {signal.Signals(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])}


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _PYTEST_OWN}


@dataclass(frozen=True)
class ProcessState:
    """What a test may change in its process and must leave as it was."""

    handlers: dict[signal.Signals, Any]
    mask: set[signal.Signals]
    environ: dict[str, str]
    cwd: str
    interrupt: dict[str, Any]
    installed: dict[int, object]
    children: set[int]
    ledger: processes.Ledger | None
    ledger_procs: frozenset[int]
    starter: int | None

    @classmethod
    def now(cls) -> ProcessState:
        book = processes._LEDGER
        return cls(
            handlers=_handlers(), mask=_mask(), environ=_environ(), cwd=os.getcwd(),
            interrupt={name: getattr(interrupt, name) for name in _INTERRUPT_STATE},
            installed=dict(interrupt._installed), children=set(interrupt._children),
            ledger=book, ledger_procs=frozenset(book._procs) if book is not None else frozenset(),
            starter=processes._starter)

    def changed_signals(self, after: ProcessState) -> list[str]:
        """The signal handlers and mask bits that differ in ``after``."""
        changes = [f"{sig.name} handler {self.handlers.get(sig)!r} -> {after.handlers[sig]!r}"
                   for sig in after.handlers if after.handlers[sig] != self.handlers.get(sig)]
        if after.mask != self.mask:
            blocked = sorted(s.name for s in after.mask - self.mask)
            unblocked = sorted(s.name for s in self.mask - after.mask)
            changes.append(f"signal mask: blocked {blocked}, unblocked {unblocked}")
        return changes

    def restore(self) -> list[str]:
        """Put everything back; return what the test left registered in the ledger."""
        left = _stop_left(self)
        for sig, handler in self.handlers.items():
            if handler is not None and signal.getsignal(sig) != handler:
                signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
        if _environ() != self.environ:
            for key in [k for k in os.environ if k not in self.environ and k not in _PYTEST_OWN]:
                del os.environ[key]
            os.environ.update(self.environ)
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)
        for name, value in self.interrupt.items():
            setattr(interrupt, name, value)
        interrupt._installed.clear()
        interrupt._installed.update(self.installed)
        interrupt._children.clear()
        interrupt._children.update(self.children)
        processes._LEDGER = self.ledger
        processes._starter = self.starter
        return left


def _stop_left(before: ProcessState) -> list[str]:
    """Stop what the test registered in the ledger and did not stop itself."""
    book = processes._LEDGER
    if book is None:
        return []
    if book is not before.ledger:
        # A ledger made during the test: nothing outside it knows of it.
        return book.stop_all(grace=1.0)
    new = [pid for pid in book._procs if pid not in before.ledger_procs]
    if not new:
        return []
    left = [f"{book._procs[pid].what} {pid}" for pid in new]
    for pid in new:
        entry = book._procs[pid]
        processes._signal_group(entry, signal.SIGKILL)
        processes._wait(entry, timeout=2.0)
        book.reaped(pid)
    return left


@pytest.fixture(autouse=True)
def process_state() -> Iterator[ProcessState]:
    """Restore the process's global state after the test; fail one that left
    a signal handler, the signal mask or a registered process behind."""
    before = ProcessState.now()
    yield before
    after = ProcessState.now()
    changes = before.changed_signals(after)
    left = before.restore()
    problems = [*changes, *(f"process left registered in the ledger: {p}" for p in left)]
    if problems:
        pytest.fail("the test left process-global state changed (restored now): "
                    + "; ".join(problems), pytrace=False)
