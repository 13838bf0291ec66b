"""What /proc says about a process: whether it is still the same one, its marker, its name.

And the stopping of processes by pid, for those out of reach of a group
signal: a dead run's leftovers (:func:`processes.reap_leftovers`) and what
escaped this run's groups (:func:`stop_escapees`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone.

    With the pid it identifies a process for good: a reused pid has a later
    start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may hold spaces and parentheses; the rest follows the last ')'.
    return int(stat.rpartition(")")[2].split()[19])


def environ_has(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    parts = [p.decode(errors="replace") for p in raw.split(b"\0") if p]
    return " ".join(Path(parts[0]).name.split() + parts[1:3]) if parts else "?"


def terminate(pids: list[int], *, grace: float) -> list[int]:
    """SIGTERM ``pids``, then SIGKILL whichever is still the same process after ``grace``.

    Returns the pids that were running when signalled: one that had already
    exited (gone, or a zombie waiting for its parent) was not stopped here.
    """
    starts = {pid: start_time(pid) for pid in pids}

    def alive(pid: int) -> bool:
        return starts[pid] is not None and start_time(pid) == starts[pid]

    running = [pid for pid in pids if alive(pid) and stat_fields(pid)[:1] not in (["Z"], [])]
    for pid in pids:
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            kill(pid, signal.SIGKILL)
    return running


def stop_escapees(marker: bytes, *, groups: set[int], grace: float) -> None:
    """Stop what still carries this run's marker once its groups are stopped, and say so.

    A process that left its group (``setsid``, e.g. a daemon a backend
    module forks at import in a gunicorn worker) is out of reach of
    :func:`os.killpg`; its environment still proves it is this run's.  A
    member of one of the run's ``groups`` was stopped with it (a gunicorn
    worker may outlive its master by a moment).  Left alone too: the groups
    of the caller's own children (one a boot thread started but has not
    registered yet stops with its starter's death signal) and the caller's
    own group (a parallel run's workers stop with the caller, or with the
    terminal's Ctrl-C).
    """
    stats = {pid: fields for pid in all_pids()
             if environ_has(pid, marker) and (fields := stat_fields(pid))}
    groups = groups | {os.getpgrp()} | {pid for pid, f in stats.items()
                                        if f[1] == str(os.getpid())}
    pids = [pid for pid, f in stats.items() if f[0] != "Z" and int(f[2]) not in groups]
    if not pids:
        return
    names = ", ".join(f"pid {pid} ({cmdline(pid)})" for pid in pids)
    terminate(pids, grace=grace)
    what = ("1 process that escaped its process group" if len(pids) == 1
            else f"{len(pids)} processes that escaped their process groups")
    print(f"coherence: stopped {what}: {names}", file=sys.stderr, flush=True)


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the name: state, ppid, pgrp, ...; [] if gone.

    A zombie's (state ``Z``) environ stays readable until it is waited for.
    """
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def all_pids() -> list[int]:
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]


def kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
