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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ports import HOST

#: How long a server may take to answer the liveness probe before it counts
#: as stalled.  A loopback INFO or stats answers in well under a millisecond.
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True, kw_only=True)
class Probe:
    """How to ask a server for its own pid: one request, the end of its reply, the pid's field."""

    request: bytes
    end: bytes
    pid_field: str


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
        with socket.create_connection((HOST, node.port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(probe.request)
            reply = b""
            while probe.end not in reply and len(reply) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
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
