"""Gunicorn boots on a shared machine: how many run at once, and how long one may take.

A boot is CPU work: every worker imports the app (a gevent worker imports
Flask too, after the fork, since gevent must patch the standard library
first).  Nothing else the harness does costs as much CPU in a burst, and a
parallel run (``--jobs``) would start all its groups' gunicorns at once.
So a gunicorn boots only while it holds a **boot slot**: one of
:data:`SLOTS_PER_CPU` x CPUs lock files in the per-user runtime directory,
held with ``flock`` from the fork until every worker answers.  The slots
are per user and machine, not per run: two runs share the same CPUs.  The
kernel drops a lock when its holder exits, so a killed run frees its slots.

The readiness window then scales with the work booting at once and with
the machine's load, rather than being one fixed number that a quiet
machine never reaches and a loaded one always does (see :func:`window`).
``COHERENCE_READY_TIMEOUT`` replaces it with a fixed number of seconds.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import ReadinessTimeout, UsageError
from .processes import runtime_dir

#: The environment variable that replaces every readiness window with a
#: fixed number of seconds: a test of the timeout path needs much less.
READY_TIMEOUT_ENV = "COHERENCE_READY_TIMEOUT"
#: The longest readiness timeout :data:`READY_TIMEOUT_ENV` may ask for.
MAX_READY_TIMEOUT = 600.0

#: A boot's window on an idle machine: boots take 0.3-0.6 s there
#: (bench/README.md, "Boot cost"), so this is room for a slow machine.
BASE_WINDOW = 10.0
#: CPU-seconds one worker spends booting, by worker class, its share of the
#: master's included: the median of 8 four-worker boots with their stop
#: (bench/boots.py; bench/README.md, "Boot cost").
WORKER_CPU_S = {"sync": 0.10, "gthread": 0.11, "gevent": 0.22}
#: Machines of the same kind differ about 3x in CPU speed.
SLOWER_MACHINE = 3.0
#: Gunicorns that may boot at once, per CPU.
SLOTS_PER_CPU = 1
#: How often a waiting boot looks for a free slot.
_POLL = 0.05


def ready_override() -> float | None:
    """:data:`READY_TIMEOUT_ENV` in seconds, or None when unset.

    Read before anything starts, so a bad value is refused at once.
    """
    raw = os.environ.get(READY_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_READY_TIMEOUT:
        raise UsageError(
            f"{READY_TIMEOUT_ENV}={raw!r}: the readiness timeout is seconds, more than 0 and "
            f"at most {MAX_READY_TIMEOUT:g}; e.g. {READY_TIMEOUT_ENV}=60, or unset it for "
            "the windows that scale with the machine's load")
    return value


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def slots() -> int:
    return max(1, SLOTS_PER_CPU * cpus())


@dataclass(frozen=True, kw_only=True)
class Pressure:
    """What the machine is doing while a boot waits: the numbers a window rests on."""

    #: The 1-minute load average.
    load: float
    #: Gunicorns holding a boot slot, this one included.
    booting: int
    #: CPU-seconds those boots need in all.
    cpu_s: float

    def describe(self) -> str:
        return (f"load average {self.load:.1f}, {self.booting} "
                f"gunicorn{'s' if self.booting != 1 else ''} booting")


def window(pressure: Pressure, *, override: float | None = None) -> float:
    """Seconds a boot may take under ``pressure``: :data:`BASE_WINDOW`, plus the
    boots' CPU time spread over the CPUs, stretched by a slower machine and by
    the load beyond one runnable process per CPU."""
    if override is not None:
        return override
    n = cpus()
    stretch = max(1.0, pressure.load / n)
    extra = SLOWER_MACHINE * pressure.cpu_s / n * stretch
    return min(MAX_READY_TIMEOUT, BASE_WINDOW + extra)


def cost(workers: int, worker_class: str) -> float:
    return workers * WORKER_CPU_S.get(worker_class, max(WORKER_CPU_S.values()))


def directory() -> Path:
    """The boot slots' directory, made if missing; a UsageError naming the fix if unusable.

    Called while the options are checked, so an unusable runtime directory
    is refused before anything starts.
    """
    try:
        path = runtime_dir() / "boot-slots"
        path.mkdir(mode=0o700, exist_ok=True)
        probe = path / "slot-0"
        probe.touch(mode=0o600, exist_ok=True)
    except OSError as exc:
        why = f"{str(exc.filename)!r}: {exc.strerror}" if exc.filename else str(exc)
        raise UsageError(
            f"cannot keep the gunicorn boot slots ({why}); remove what is in the way, or "
            "set XDG_RUNTIME_DIR to a directory only you can write") from None
    return path


def _others(directory: Path, mine: Path | None) -> list[float]:
    """The CPU-seconds of every boot holding a slot, but ``mine``."""
    held = []
    for path in sorted(directory.glob("slot-*")):
        if path == mine:
            continue
        try:
            with open(path, "a+") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    f.seek(0)
                    try:
                        held.append(float(json.loads(f.read() or "{}").get("cpu_s", 0.0)))
                    except (ValueError, AttributeError):
                        held.append(0.0)
                else:
                    fcntl.flock(f, fcntl.LOCK_UN)
        except OSError:
            continue
    return held


@dataclass(kw_only=True)
class Boot:
    """One gunicorn's boot: its slot, and the window it has to come up in."""

    cpu_s: float
    override: float | None
    started: float
    #: Where the slots are: the other boots' costs are read there.
    slots_dir: Path
    _slot: Path | None = None
    _window: float = 0.0

    def pressure(self) -> Pressure:
        others = _others(self.slots_dir, self._slot)
        return Pressure(load=os.getloadavg()[0], booting=len(others) + 1,
                        cpu_s=self.cpu_s + sum(others))

    def deadline(self) -> float:
        """When the boot is late; looked at again as the machine's load moves, never earlier."""
        self._window = max(self._window, window(self.pressure(), override=self.override))
        return self.started + self._window

    def expired(self, what: str, *, answered: str, log: Path) -> ReadinessTimeout:
        """The error for a boot whose window passed: the window and what the machine was doing."""
        pressure = self.pressure()
        return ReadinessTimeout(
            f"{what} did not answer within {self._window:.3g} s ({pressure.describe()}; "
            f"{answered}); if the machine is only busy, set {READY_TIMEOUT_ENV} to more "
            "seconds or run fewer --jobs",
            log=log, log_note="see", window_s=round(self._window, 2), load=round(pressure.load, 2),
            booting=pressure.booting)


@contextmanager
def slot(workers: int, worker_class: str) -> Iterator[Boot]:
    """Hold a boot slot while the block boots a gunicorn; wait for one if all are taken.

    The wait is bounded by the longest window one holder can have, so a
    holder that is stopped (SIGSTOP) cannot block a run for ever.
    """
    override = ready_override()
    need = cost(workers, worker_class)
    here = directory()
    limit = time.monotonic() + MAX_READY_TIMEOUT
    while True:
        held = _take(here)
        if held is not None:
            break
        if time.monotonic() > limit:
            raise ReadinessTimeout(
                f"no gunicorn boot slot came free within {MAX_READY_TIMEOUT:.3g} s "
                f"({slots()} slots in {here}); another run may be stopped with its "
                "gunicorns half booted: stop it, or wait",
                window_s=MAX_READY_TIMEOUT, load=round(os.getloadavg()[0], 2), booting=slots())
        time.sleep(_POLL)
    path, f = held
    try:
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "cpu_s": need}))
        f.flush()
        boot = Boot(cpu_s=need, override=override, started=time.monotonic(), slots_dir=here,
                    _slot=path)
        yield boot
    finally:
        try:
            f.truncate(0)
        finally:
            f.close()  # drops the lock


def _take(directory: Path) -> tuple[Path, IO[str]] | None:
    for n in range(slots()):
        path = directory / f"slot-{n}"
        f = open(path, "a+")  # noqa: SIM115 - handed to the caller, which closes it
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        return path, f
    return None


def unslotted(workers: int, worker_class: str) -> Boot:
    """A boot that holds no slot: workers gunicorn forks itself (a HUP, ``max_requests``)."""
    return Boot(cpu_s=cost(workers, worker_class), override=ready_override(),
                started=time.monotonic(), slots_dir=directory())


__all__ = ["BASE_WINDOW", "MAX_READY_TIMEOUT", "READY_TIMEOUT_ENV", "Boot", "Pressure",
           "directory", "ready_override", "slot", "unslotted", "window"]
