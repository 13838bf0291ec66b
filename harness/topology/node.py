"""One cache server process, and the probe that asks it whether it is still the one we started.

A :class:`Node` is what every layer above hands around: a kind's deploy
returns its nodes, a :class:`~harness.topology.servers.Launcher` starts and
stops them, the nemesis kills and pauses them by pid.  :func:`health` asks a
node for its own pid over its port, so a server that died, stalled, or was
replaced behind the harness's back by another process on the same port is
told apart from one that is fine.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ports import HOST

#: How long a server may take to answer the liveness probe before it counts
#: as stalled.  A loopback INFO or stats answers in well under a millisecond.
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True, kw_only=True)
class Probe:
    """How to ask a server for its own pid: one request, the end of its reply, the pid's field.

    The same exchange tells a server of the kind from anything else on a
    port: one of the kind answers with its pid, or (a user's server that
    wants a password) refuses in the kind's own words, :attr:`refusals`.
    """

    request: bytes
    end: bytes
    pid_field: str
    #: The protocol, as a message names it: "not as a {protocol} server".
    protocol: str = ""
    #: How a reply of the kind starts when it refuses the request (auth).
    refusals: tuple[bytes, ...] = ()
    #: How a reply of the kind starts when it answers.  A first line that
    #: starts neither so nor as a refusal is another protocol's answer (a
    #: memcached's ``ERROR`` to Redis's ``INFO``), complete as it is: the
    #: check need not wait out its timeout for an end that never comes.
    starts: tuple[bytes, ...] = ()


def connect(host: str, port: int, *, timeout: float) -> socket.socket:
    """A connection to host:port, or to the unix socket ``host`` when it is a path."""
    if not host.startswith("/"):
        return socket.create_connection((host, port), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(host)
    except BaseException:
        sock.close()
        raise
    return sock


def ask(host: str, port: int, probe: Probe, *, timeout: float) -> bytes:
    """``probe``'s request sent to host:port, and the reply: up to its end, or a refusal line.

    A ``host`` that is a path is a unix socket (``unix://`` in CACHE_REDIS_URL).

    Raises TimeoutError when nothing comes within ``timeout``, and OSError
    when the connection fails; what came before the time was up is the
    reply (another protocol's server answers and waits for more).
    """
    deadline = time.monotonic() + timeout
    with connect(host, port, timeout=timeout) as sock:
        sock.sendall(probe.request)
        reply = b""
        while probe.end not in reply and len(reply) < 65536:
            if probe.refusals and reply.startswith(probe.refusals) and reply.endswith(b"\r\n"):
                break
            if probe.starts and b"\r\n" in reply \
                    and not reply.startswith(probe.starts + probe.refusals):
                break
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                if reply:
                    break
                raise
            if not chunk:
                break
            reply += chunk
    return reply


def speaks(reply: bytes, probe: Probe) -> bool:
    """Whether ``reply`` to ``probe`` came from a server of the probe's kind."""
    if probe.refusals and reply.startswith(probe.refusals):
        return True
    return any(line.startswith(probe.pid_field)
               for line in reply.decode("utf-8", "replace").splitlines())


@dataclass(kw_only=True)
class Node:
    """One server process; its pid changes when the nemesis restarts it."""

    kind: str
    role: str
    binary: str
    port: int
    argv: tuple[str, ...]
    workdir: Path
    #: The xprocess name, unique in the run.
    name: str
    #: Its kind's liveness probe.
    probe: Probe = field(repr=False, compare=False)
    pid: int = 0
    log: Path = Path()
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    #: False once stopped or killed, until started again.
    running: bool = False

    @property
    def label(self) -> str:
        return f"{self.binary} {self.role} (pid {self.pid}, port {self.port})"

    @property
    def title(self) -> str:
        """The node as an error message names it: kind, role and address."""
        return f"{self.kind} {self.role} on {HOST}:{self.port}"

    def describe(self) -> dict[str, Any]:
        """The node as a row of ``Result.topology``."""
        return {"kind": self.kind, "role": self.role, "process": self.binary,
                "port": self.port, "pid": self.pid}


def health(node: Node, *, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when ``node`` is still the process we started and answers; else what is wrong.

    The server is asked for its own pid, so a server that died and was
    replaced by another process on the same port (restarted behind our
    back) is caught as well as one that died or stalled.
    """
    name = node.label
    if node.popen is not None and node.popen.poll() is not None:
        return f"{name} exited with status {node.popen.returncode}"
    probe = node.probe
    try:
        reply = ask(HOST, node.port, probe, timeout=timeout)
    except TimeoutError:
        return f"{name} did not answer within {timeout:g}s (stalled)"
    except OSError as exc:
        return f"{name} refused the connection ({exc.strerror or type(exc).__name__})"
    for line in reply.decode("utf-8", "replace").splitlines():
        if line.startswith(probe.pid_field):
            seen = line.removeprefix(probe.pid_field).strip()
            if seen != str(node.pid):
                return (f"{name} was replaced: port {node.port} is now served by pid {seen} "
                        "(restarted behind the harness's back)")
            return None
    return f"{name} answered without its pid: {reply[:80]!r}"
