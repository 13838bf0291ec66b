"""Fault proxies: a process between the workers and one server node, faulted on command.

:func:`front` starts :mod:`harness.topology.faultproxy` (stdlib only,
started by path with the controller's interpreter) on a free loopback port,
forwarding to one node of a :class:`~harness.topology.servers.Deployment`,
through the same launcher as the node itself: pytest-xprocess, its own
process group, the parent-death signal, the run's ledger, and stopped by
its pid with the deployment.  A :class:`Proxy` is driven over its unix
control socket (:meth:`Proxy.delay`, :meth:`Proxy.blackhole`,
:meth:`Proxy.reset`, :meth:`Proxy.heal`); the nemesis records each call.

Which kinds a proxy can front is a fact of the kind
(:attr:`~harness.topology.kind.Kind.unproxied`): a client that learns its
nodes' addresses from the servers (Sentinel, Cluster) would go around it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .node import Node
from .ports import free_port
from .servers import Launcher

#: The program, run by path so no harness import slows its start.
PROGRAM = Path(__file__).with_name("faultproxy.py")
#: The proxies' process name in topology rows and the ledger.
BINARY = "fault-proxy"
ROLE = "proxy"
#: How long a command on the control socket may take.
CONTROL_TIMEOUT = 5.0


class ProxyError(RuntimeError):
    """The proxy refused a command, or its control socket did not answer."""


@dataclass(kw_only=True)
class Proxy:
    """One running proxy: its process, the node it fronts, and its control socket."""

    process: Node
    upstream: Node
    #: Its control socket: an abstract unix socket name (no file to leave behind).
    control: str

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def target(self) -> str:
        """The proxy as a fault's target names it: what it fronts, and where."""
        return (f"{BINARY} :{self.port} -> {self.upstream.binary} {self.upstream.role} "
                f":{self.upstream.port}")

    def command(self, action: str, **args: Any) -> dict[str, Any]:
        """Send one command; the proxy's state after it (mode, counts)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(CONTROL_TIMEOUT)
            try:
                s.connect("\0" + self.control)
                s.sendall(json.dumps({"action": action, **args}).encode() + b"\n")
                with s.makefile("rb") as f:
                    reply = f.readline()
            except OSError as exc:
                raise ProxyError(f"{self.target}: its control socket {self.control} did not "
                                 f"answer {action!r} ({exc}); see {self.process.log}") from exc
        if not reply:
            raise ProxyError(f"{self.target} closed its control socket on {action!r}; "
                             f"see {self.process.log}")
        state: dict[str, Any] = json.loads(reply)
        if "error" in state:
            raise ProxyError(f"{self.target} refused {action!r}: {state['error']}")
        return state

    def delay(self, ms: float) -> dict[str, Any]:
        return self.command("delay", ms=ms)

    def blackhole(self) -> dict[str, Any]:
        return self.command("blackhole")

    def reset(self) -> dict[str, Any]:
        return self.command("reset")

    def heal(self) -> dict[str, Any]:
        return self.command("heal")

    def stats(self) -> dict[str, Any]:
        return self.command("stats")

    def describe(self) -> dict[str, Any]:
        """The proxy as a row of ``Result.topology``."""
        return {"kind": BINARY, "role": ROLE, "process": BINARY, "port": self.port,
                "pid": self.process.pid, "fronts": self.upstream.port}


def front(launcher: Launcher, upstream: Node) -> Proxy:
    """Start a proxy in front of ``upstream``, owned by ``launcher`` (stopped with it)."""
    port = free_port()
    workdir = launcher.workdir(ROLE, port)
    control = f"flask-cache-coherence/proxy/{os.getpid()}/{port}"
    node = Node(kind=BINARY, role=ROLE, binary=BINARY, port=port,
                argv=(sys.executable, "-I", str(PROGRAM), str(port), str(upstream.port),
                      f"@{control}"),
                workdir=workdir, name=f"{launcher.prefix}-{ROLE}-{port}",
                # Asked through the proxy, the node answers with its own pid.
                probe=upstream.probe)
    launcher.own(node)
    return Proxy(process=node, upstream=upstream, control=control)

