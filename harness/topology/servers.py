"""Cache server processes (redis-server, memcached) started with pytest-xprocess.

A :class:`Deployment` is one started instance of a server kind (see
:mod:`harness.topology.kinds`): one or more :class:`~harness.topology.node.Node`
processes, each bound to a free port on 127.0.0.1 with persistence off, in a
directory of its own, stopped by its own pid.  A node can be killed, paused
and started again on the same port and directory, which is what the nemesis
does.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from xprocess import ProcessStarter

from ..errors import BootError
from .boots import READY_TIMEOUT_ENV, ready_override
from .kind import Argv, Kind
from .kinds import KINDS, require_binary
from .node import Node, health
from .ports import HOST, reachable
from .processes import ledger, pdeathsig_argv

#: How long a node may take to accept connections before we give up.
START_TIMEOUT = 10.0
#: How long a multi-process kind may take to become ready once its nodes
#: accept connections (sentinels agreeing, a cluster's slots all served).
READY_TIMEOUT = 20.0
#: How often :meth:`Launcher.wait_ready` asks again.
_POLL = 0.05


def ready_timeout() -> float:
    """The readiness timeout: :data:`READY_TIMEOUT`, or :data:`~.boots.READY_TIMEOUT_ENV`
    when set (a slow machine may need longer, and a test of the timeout path much less).

    Read when a pool is made, so a bad value is refused before any server starts.
    """
    override = ready_override()
    return READY_TIMEOUT if override is None else override


class XProcessLike(Protocol):
    resources: list[Any]

    def ensure(
        self, name: str, preparefunc: type[ProcessStarter], restart: bool = ...
    ) -> tuple[int, Any]: ...

    def getinfo(self, name: str) -> Any: ...


@dataclass(kw_only=True)
class Launcher:
    """Starts and stops nodes under xprocess for one owner (the run, or one scenario)."""

    xprocess: XProcessLike
    root: Path
    stack: ExitStack
    prefix: str
    #: How long a node may take to accept connections.
    start_timeout: float = START_TIMEOUT
    #: How long :meth:`wait_ready` waits for a kind's readiness condition.
    ready_timeout: float = READY_TIMEOUT
    _count: int = 0
    _nodes: list[Node] = field(default_factory=list)

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node this launcher started, in start order."""
        return tuple(self._nodes)

    def start(self, *, kind: str, role: str, argv: Argv, port: int) -> Node:
        """Start one node: ``argv(binary, port, workdir)`` is its command line."""
        k: Kind = KINDS[kind]
        binary = require_binary(kind)
        workdir = self.workdir(role, port)
        node = Node(kind=kind, role=role, binary=k.binary, port=port,
                    argv=tuple(argv(binary, port, workdir)), workdir=workdir,
                    name=f"{self.prefix}-{self._count}-{role}-{port}", probe=k.probe)
        return self.own(node)

    def workdir(self, role: str, port: int) -> Path:
        """A fresh directory for a process of this launcher, named by its role and port."""
        self._count += 1
        workdir = self.root / f"{self.prefix}-{role}-{port}"
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    def own(self, node: Node) -> Node:
        """Launch ``node`` (see :meth:`launch`) and stop it with the others at the end."""
        self.launch(node)
        if not self._nodes:
            self.stack.callback(self.stop_all)
        self._nodes.append(node)
        return node

    def launch(self, node: Node) -> None:
        """(Re)start ``node`` on its port and directory, and wait until it accepts.

        If it does not come up, whatever was started is stopped before the
        error leaves: a server that never accepts would otherwise run on,
        owned by no one, until the harness exits.
        """
        xprocess = self.xprocess
        # xprocess owns the Popen (and its preexec_fn), so the parent-death
        # signal is set by a wrapper that then execs the server in place.
        args = pdeathsig_argv(list(node.argv))

        start_timeout = self.start_timeout

        class Starter(ProcessStarter):  # type: ignore[misc]
            timeout = start_timeout
            terminate_on_interrupt = True

            @property
            def args(self) -> Sequence[str]:
                return args

            def startup_check(self) -> bool:
                popen = xprocess.resources[-1].popen
                if popen is not None and popen.poll() is not None:
                    raise BootError(
                        f"{node.title} exited with status {popen.returncode} as it started",
                        log=logpath, log_note="see")
                return reachable(HOST, node.port, timeout=0.2) is None

        info = xprocess.getinfo(node.name)
        logpath = Path(str(info.logpath))
        node.log = logpath
        try:
            # restart=True: never adopt a process left from an earlier run.
            pid, log = xprocess.ensure(node.name, Starter, restart=True)
        except TimeoutError:
            self._abort(node.name)
            raise BootError(
                f"{node.title} did not accept connections within {start_timeout:g}s",
                log=logpath, log_note="see") from None
        except BaseException:
            self._abort(node.name)
            raise
        node.popen = xprocess.resources[-1].popen
        node.pid, node.log, node.running = pid, Path(str(log)), True
        if node.popen is not None:
            ledger().spawned(node.popen, what=f"{node.binary} {node.role}")

    def _abort(self, name: str) -> None:
        """Stop the process of a launch that failed (it is our unreaped child, or gone)."""
        resource = self.xprocess.resources[-1] if self.xprocess.resources else None
        if resource is None or resource.info is None or resource.info[0].name != name:
            return  # interrupted before this launch's process was started
        popen = resource.popen
        if popen is None:
            return
        if popen.poll() is None:
            self.xprocess.getinfo(name).terminate(timeout=5)
        popen.poll()

    def wait_ready(self, nodes: Sequence[Node], check: Callable[[Node], str | None]) -> None:
        """Poll ``check`` on each node until it is None for all, within :attr:`ready_timeout`.

        ``check(node)`` says what ``node`` still lacks, or None when it is
        ready.  On timeout the first node not ready is named, with its log,
        so the message points at the process that did not come up.
        """
        deadline = time.monotonic() + self.ready_timeout
        while True:
            pending = _first_pending(nodes, check)
            if pending is None:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL)
        node, missing = pending
        raise BootError(
            f"{node.title} (pid {node.pid}) did not become ready within "
            f"{self.ready_timeout:g}s: {missing}; if the machine is only slow, set "
            f"{READY_TIMEOUT_ENV} to more seconds", log=node.log, log_note="see")

    def stop_all(self) -> None:
        """Stop every node this launcher started, all at once, the last started first.

        Each is sent SIGTERM before any is waited for, so stopping N nodes
        takes as long as the slowest (memcached answers SIGTERM on its next
        one-second clock tick), not the sum.
        """
        for node in reversed(self._nodes):
            if node.running and node.popen is not None and node.popen.poll() is None:
                # Not reaped, so the pid is still this node's process.
                os.kill(node.pid, signal.SIGCONT)
                os.kill(node.pid, signal.SIGTERM)
        for node in reversed(self._nodes):
            self.stop(node)

    def stop(self, node: Node) -> None:
        """Stop ``node`` by its pid (resuming it first if it was paused)."""
        if not node.running:
            # Killed (and waited for) or already stopped: its pid file names
            # a process that is gone, whose pid may already be someone else's.
            return
        if node.pid:
            try:
                os.kill(node.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        info = self.xprocess.getinfo(node.name)
        info.terminate(timeout=5)
        if node.popen is not None:
            # psutil reaped it; poll() learns that, so Popen does not later
            # warn that a long-gone server "is still running".
            node.popen.poll()
        if node.pid:
            ledger().reaped(node.pid)
        node.running = False

    def kill(self, node: Node) -> int | None:
        """SIGKILL ``node`` and wait for it; its exit status."""
        os.kill(node.pid, signal.SIGKILL)
        status = node.popen.wait(timeout=5) if node.popen is not None else None
        ledger().reaped(node.pid)
        node.running = False
        return status


@dataclass(kw_only=True)
class Deployment:
    """A started server kind: its nodes, and the launcher that can restart them."""

    kind: Kind
    size: int
    nodes: list[Node]
    launcher: Launcher

    @classmethod
    def start(cls, kind: str, size: int, launcher: Launcher) -> Deployment:
        """Start ``kind`` at ``size`` with ``launcher`` and wait until it is ready."""
        k = KINDS[kind]
        nodes = k.deploy(launcher, size)
        started = dict(Counter(n.role for n in nodes))
        if started != k.roles(size):
            # A kind whose deploy and roles disagree would report a topology
            # it does not run; that is a bug in the kind, not in the input.
            raise RuntimeError(f"kind {kind!r} at size {size} started {started}, but its "
                               f"roles say {k.roles(size)}; make its deploy and roles agree")
        return cls(kind=k, size=size, nodes=nodes, launcher=launcher)

    def role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    def config(self, *, style: str = "", via: dict[int, int] | None = None) -> dict[str, Any]:
        """The config that points a backend at these nodes, in the kind's ``style``
        (:meth:`~harness.topology.kind.Kind.styles`; its default when empty), reaching
        node port ``p`` at ``via[p]`` where given (a fault proxy's port)."""
        styles = self.kind.styles()
        style = style or self.kind.config_style
        if style not in styles:
            raise ValueError(f"{self.kind.name} has no config style {style!r}; "
                             f"it has {sorted(styles)}")
        via = via or {}
        return styles[style]([replace(n, port=via[n.port]) if n.port in via else n
                              for n in self.nodes])

    def describe(self) -> list[dict[str, Any]]:
        return [n.describe() for n in self.nodes]

    def health(self) -> list[tuple[Node, str]]:
        """(node, what is wrong) for each node that died, stalled or was replaced."""
        return [(n, p) for n in self.nodes if n.running and (p := health(n)) is not None]


def _first_pending(nodes: Sequence[Node],
                   check: Callable[[Node], str | None]) -> tuple[Node, str] | None:
    """The first node ``check`` finds not ready, with what it lacks; None when all are."""
    for node in nodes:
        try:
            missing = check(node)
        except Exception as exc:  # noqa: BLE001 - redis errors are not OSError
            missing = f"{type(exc).__name__}: {exc}"
        if missing is not None:
            return node, missing
    return None
