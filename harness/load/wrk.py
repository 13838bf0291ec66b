"""wrk, the seed's load generator: run it against loopback, bounded, and read its output.

The blog post measured its cached endpoint with ``wrk -t1 -c10 -d30s``; the
``load`` scenario keeps that shape (1 thread, 10 connections) with a
configurable duration.  :func:`run` starts wrk in its own process group,
registered in the run's ledger and with the parent-death signal, so it is
stopped on every exit path: its own end, the time limit, a stop signal
(the KeyboardInterrupt raised while scenarios run), or the harness's death.
:func:`parse` reads the ``--latency`` report and the line ``user.lua``
adds (status codes and the ``X-Cache`` header).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .. import interrupt
from ..topology.processes import ledger, set_pdeathsig

BINARY = "wrk"
#: Said when wrk is missing: a skip's reason, or a failure's under CI=true.
MISSING = "wrk not found (apt-get install wrk)"
#: The seed's shape: ``wrk -t1 -c10``.
THREADS = 1
CONNECTIONS = 10
#: A request wrk has waited this long for counts as a timeout error; far
#: above the 50 ms slow call, so only a wedged worker reaches it.
REQUEST_TIMEOUT_S = 10
#: How long past its duration wrk may run before it is stopped: it ends on
#: its own at the duration, after at most one request timeout.
GRACE_S = REQUEST_TIMEOUT_S + 5.0
STOP_WAIT_S = 2.0

#: The line user.lua prints from done().
MARKER = "COHERENCE-WRK"


def find() -> str | None:
    """The wrk binary on PATH, or None."""
    return shutil.which(BINARY)


def script() -> Path:
    """The packaged user.lua."""
    return Path(str(resources.files("harness.load").joinpath("user.lua")))


def check_loopback(url: str) -> None:
    """Raise ValueError unless ``url`` is http on a loopback address: load stays local."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parsed.scheme != "http" or not loopback:
        raise ValueError(f"load target {url!r} is not http on a loopback address; "
                         "the harness only loads servers it started on 127.0.0.1")


def command(binary: str, url: str, *, duration_s: int, prefix: str, keys: int) -> list[str]:
    check_loopback(url)
    return [binary, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration_s}s", "--latency",
            f"--timeout={REQUEST_TIMEOUT_S}s", "-s", str(script()), url, "--", prefix, str(keys)]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one wrk process ended, before its output is read."""

    #: wrk's pid, which was also its process group's id.
    pid: int
    command: list[str]
    code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    elapsed_s: float

    @property
    def problem(self) -> str | None:
        """Why there are no figures to read, or None when wrk ran to its end."""
        if self.timed_out:
            return f"wrk ran {self.elapsed_s:.1f}s, past its time limit, and was stopped"
        if self.code != 0:
            tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-1:] or ["no output"]
            return f"wrk exited {self.code}: {tail[0]}"
        return None


def _stop(proc: subprocess.Popen[str]) -> None:
    """TERM, then KILL, wrk's whole process group; it has no helpers, but be sure."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=STOP_WAIT_S)
            return
        except subprocess.TimeoutExpired:
            continue


def run(binary: str, url: str, *, duration_s: int, prefix: str, keys: int,
        limit_s: float | None = None) -> Outcome:
    """Run wrk to its end, or stop its group at ``limit_s`` or on a stop signal.

    The limit defaults to the duration plus :data:`GRACE_S`.
    """
    cmd = command(binary, url, duration_s=duration_s, prefix=prefix, keys=keys)
    limit = duration_s + GRACE_S if limit_s is None else limit_s
    book = ledger()
    started = time.monotonic()
    with book.starting():
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                                preexec_fn=set_pdeathsig)
        book.spawned(proc, what="wrk")
    timed_out = finished = False
    out = err = ""
    try:
        while True:
            left = started + limit - time.monotonic()
            if left <= 0 or interrupt.requested() is not None:
                timed_out = True
                break
            try:
                out, err = proc.communicate(timeout=min(0.2, left))
                finished = True
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        # Whatever ended the wait (its end, the limit, a KeyboardInterrupt),
        # nothing of wrk's group, and none of its pipes, outlives this block.
        if proc.poll() is None:
            _stop(proc)
        if not finished:
            try:
                out, err = proc.communicate(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                pass
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        book.reaped(proc.pid)
    return Outcome(pid=proc.pid, command=cmd, code=None if timed_out else proc.returncode,
                   stdout=out or "", stderr=err or "", timed_out=timed_out,
                   elapsed_s=time.monotonic() - started)


class OutputError(ValueError):
    """wrk's output lacks a line the figures need."""


@dataclass(frozen=True, kw_only=True)
class Stats:
    """The figures of one wrk run."""

    requests: int
    duration_s: float
    requests_per_s: float
    #: avg, stdev, max and the p50, p75, p90, p99 of ``--latency``, in ms.
    latency_ms: dict[str, float]
    #: connect, read, write and timeout socket errors.
    socket_errors: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0
    #: Responses by status code and by ``X-Cache`` value (hit, miss, none).
    statuses: dict[str, int] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values()) + self.non_2xx

    @property
    def hit_ratio(self) -> float | None:
        answered = sum(self.cache.values())
        return self.cache.get("hit", 0) / answered if answered else None

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "duration_s": self.duration_s,
                "requests_per_s": self.requests_per_s, "latency_ms": self.latency_ms,
                "errors": self.errors, "socket_errors": self.socket_errors,
                "non_2xx": self.non_2xx, "statuses": self.statuses, "cache": self.cache,
                "hit_ratio": None if self.hit_ratio is None else round(self.hit_ratio, 4)}


#: wrk prints times with the unit that keeps them short (``format_time_us``).
_TO_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = r"([0-9.]+)(us|ms|s|m|h)"


def _ms(number: str, unit: str) -> float:
    return round(float(number) * _TO_MS[unit], 4)


def _counts(text: str) -> dict[str, int]:
    pairs = (p.partition("=") for p in text.split(",") if p)
    return {k: int(v) for k, _, v in pairs}


def parse(text: str) -> Stats:
    """The figures in wrk's ``--latency`` output and user.lua's line.

    Raises OutputError naming the first line that is missing.
    """
    def need(pattern: str, what: str) -> re.Match[str]:
        m = re.search(pattern, text, re.M)
        if m is None:
            raise OutputError(f"wrk output has no {what} line: {text.strip()[-300:]!r}")
        return m

    lat = need(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", "thread latency")
    latency = {"avg": _ms(lat[1], lat[2]), "stdev": _ms(lat[3], lat[4]),
               "max": _ms(lat[5], lat[6])}
    for pct in ("50", "75", "90", "99"):
        m = need(rf"^\s*{pct}%\s+{_TIME}\s*$", f"{pct}% latency")
        latency[f"p{pct}"] = _ms(m[1], m[2])
    total = need(rf"^\s*(\d+) requests in {_TIME}", "requests")
    rps = need(r"^Requests/sec:\s+([0-9.]+)", "Requests/sec")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             (int(n) for n in sock.groups()), strict=True)) if sock \
        else dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    marker = need(rf"^{MARKER} statuses (\S*) cache (\S*)\s*$", MARKER)
    return Stats(requests=int(total[1]), duration_s=_ms(total[2], total[3]) / 1e3,
                 requests_per_s=float(rps[1]), latency_ms=latency,
                 socket_errors=socket_errors, non_2xx=int(non2[1]) if non2 else 0,
                 statuses=_counts(marker[1]), cache=_counts(marker[2]))
