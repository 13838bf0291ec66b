"""The nemesis: a client whose operations are faults, recorded in the history.

As in Jepsen, faults are not something that happens to a test from
outside: the nemesis performs them, one action at a time, and each action
lands in the history as a :class:`~harness.history.faults.Fault` of process
``nemesis`` with its start, end, target and what it observed.  Checkers
and the report then see exactly when a fault was in force
(:meth:`~harness.history.ops.History.windows`).  Each action is recorded
under the name of its entry in :data:`harness.history.faults.ACTIONS`,
which says what closes the window it opens.

Every action acts on a process the harness started itself, by pid: a node
of a :class:`~harness.topology.servers.Deployment`, or a gunicorn master
(whose workers it then finds again: :meth:`Nemesis.reload`,
:meth:`Nemesis.exhaust`), or a fault proxy in front of a node
(:mod:`harness.topology.proxy`: :meth:`Nemesis.delay`,
:meth:`Nemesis.blackhole`, :meth:`Nemesis.reset`, :meth:`Nemesis.mend`).
"""

from __future__ import annotations

import http.client
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .client import WorkerClient
from .history.faults import (
    BLACKHOLE,
    DELAY,
    FAILOVER,
    HEAL,
    INSPECT,
    KILL,
    PAUSE,
    REPLICA_LAG,
    REPLICA_RESUME,
    RESET,
    RESTART,
    RESUME,
    WORKER_RECYCLE,
    Fault,
    FaultAction,
)
from .history.ops import History
from .topology.gunicorn import STOP_TIMEOUT, Gunicorn
from .topology.kind import MASTER, REPLICA, SENTINEL
from .topology.node import Node
from .topology.proxy import Proxy
from .topology.servers import Deployment


@dataclass(kw_only=True)
class Nemesis:
    """Injects faults and records each action in ``history``."""

    history: History
    #: Nodes this nemesis paused and has not resumed: resumed on :meth:`heal`.
    _paused: list[Node] = field(default_factory=list)
    _killed: list[tuple[Deployment, Node]] = field(default_factory=list)
    _lagging: dict[int, tuple[Node, tuple[Any, Any]]] = field(default_factory=dict)
    #: Proxies with a fault in force, by port: healed on :meth:`heal`.
    _faulted: dict[int, Proxy] = field(default_factory=dict)

    def _act(self, kind: FaultAction, target: str, action: Callable[[], Any]) -> Fault:
        f = kind.name
        start = time.monotonic()
        value: Any = None
        error: str | None = None
        try:
            value = action()
        except Exception as exc:  # noqa: BLE001 - a failed action is recorded, then raised
            error = f"{type(exc).__name__}: {exc}"
            self.history.fault(Fault(f=f, target=target, start=start, end=time.monotonic(),
                                     pid=os.getpid(), error=error))
            raise
        return self.history.fault(Fault(f=f, target=target, start=start,
                                        end=time.monotonic(), pid=os.getpid(), value=value))

    # --- kill / restart ----------------------------------------------------

    def kill(self, deployment: Deployment, node: Node) -> Fault:
        """SIGKILL ``node``; its data (persistence is off) dies with it."""
        target = _target(node)

        def action() -> dict[str, Any]:
            pid = node.pid
            status = deployment.launcher.kill(node)
            self._killed.append((deployment, node))
            return {"pid": pid, "exit_status": status}

        return self._act(KILL, target, action)

    def restart(self, deployment: Deployment, node: Node) -> Fault:
        """Start ``node`` again on the same port and directory; wait until it accepts."""
        target = _target(node)

        def action() -> dict[str, Any]:
            deployment.launcher.launch(node)
            self._killed = [(d, n) for d, n in self._killed if n is not node]
            return {"pid": node.pid}

        return self._act(RESTART, target, action)

    # --- pause / resume ----------------------------------------------------

    def pause(self, node: Node) -> Fault:
        """SIGSTOP ``node``: it keeps its connections but answers nothing."""
        def action() -> dict[str, Any]:
            os.kill(node.pid, signal.SIGSTOP)
            self._paused.append(node)
            return {"pid": node.pid}

        return self._act(PAUSE, _target(node), action)

    def resume(self, node: Node) -> Fault:
        def action() -> dict[str, Any]:
            os.kill(node.pid, signal.SIGCONT)
            self._paused = [n for n in self._paused if n is not node]
            return {"pid": node.pid}

        return self._act(RESUME, _target(node), action)

    # --- replica lag ---------------------------------------------------------

    def lag(self, replica: Node) -> Fault:
        """Hold replication back on ``replica``: ``REPLICAOF NO ONE``.

        The replica stops applying the master's stream but keeps answering
        reads from the data it has, which ages with every write to the
        master: exactly a replica that has fallen behind.
        """
        from .topology.kinds.redis import client

        def action() -> dict[str, Any]:
            info = client(replica.port).info("replication")
            master = (info.get("master_host"), info.get("master_port"))
            client(replica.port).execute_command("REPLICAOF", "NO", "ONE")
            self._lagging[replica.port] = (replica, master)
            return {"pid": replica.pid, "was_following": f"{master[0]}:{master[1]}"}

        return self._act(REPLICA_LAG, _target(replica), action)

    def unlag(self, replica: Node) -> Fault:
        """Let ``replica`` follow its master again (it resynchronises)."""
        from .topology.kinds.redis import client

        def action() -> dict[str, Any]:
            _, (host, port) = self._lagging.pop(replica.port)
            client(replica.port).execute_command("REPLICAOF", host, port)
            return {"pid": replica.pid, "following": f"{host}:{port}"}

        return self._act(REPLICA_RESUME, _target(replica), action)

    # --- failover ------------------------------------------------------------

    def failover(self, deployment: Deployment, *, timeout: float = 15.0) -> Fault:
        """``SENTINEL FAILOVER``, then wait until every sentinel names a new master."""
        from .topology.kinds.redis import SENTINEL_MASTER, client

        sentinels = deployment.role(SENTINEL)
        if not sentinels:
            raise ValueError(f"{deployment.kind.name} has no sentinels to fail over with")

        def master_port(port: int) -> int:
            addr = client(port).execute_command("SENTINEL", "get-master-addr-by-name",
                                                SENTINEL_MASTER)
            return int(addr[1])

        def action() -> dict[str, Any]:
            old = master_port(sentinels[0].port)
            client(sentinels[0].port).execute_command("SENTINEL", "FAILOVER", SENTINEL_MASTER)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ports = {master_port(s.port) for s in sentinels}
                if len(ports) == 1 and old not in ports:
                    new = ports.pop()
                    _swap_roles(deployment, old=old, new=new)
                    return {"old_master_port": old, "new_master_port": new}
                time.sleep(0.05)
            raise TimeoutError(f"sentinels did not agree on a new master within {timeout:g}s")

        return self._act(FAILOVER, f"{deployment.kind.name} master", action)

    # --- worker recycle ------------------------------------------------------

    def reload(self, gunicorn: Gunicorn) -> Fault:
        """gunicorn ``HUP``: the master forks a whole new set of workers and stops the old.

        ``gunicorn.workers`` names the new workers as soon as they all
        answer, so clients that follow it move over; the action ends once
        every old worker has exited.
        """
        def action() -> dict[str, Any]:
            old = [w.pid for w in gunicorn.workers]
            os.kill(gunicorn.master_pid, signal.SIGHUP)
            return {"signal": "HUP", **_replaced(gunicorn, old)}

        return self._act(WORKER_RECYCLE, f"gunicorn master pid {gunicorn.master_pid}: HUP",
                         action)

    def exhaust(self, gunicorn: Gunicorn, *, max_requests: int) -> Fault:
        """``max_requests``: spend each worker's request budget; the master forks replacements.

        Gunicorn was started with ``--max-requests max_requests``, so a
        worker exits after that many requests, whoever sent them.  The
        nemesis sends the harness's ``whoami`` (which touches no cache) to
        every worker until it stops answering, at most ``max_requests``
        times, as unrelated traffic would; then finds the replacements.
        """
        def action() -> dict[str, Any]:
            old = list(gunicorn.workers)
            with ThreadPoolExecutor(max_workers=len(old),
                                    thread_name_prefix="coherence-nemesis") as pool:
                sent = list(pool.map(lambda w: _spend(w, max_requests), old))
            return {"max_requests": max_requests,
                    "answered_before_exit": {str(w.pid): n for w, n in zip(old, sent,
                                                                            strict=True)},
                    **_replaced(gunicorn, [w.pid for w in old])}

        return self._act(WORKER_RECYCLE, f"gunicorn master pid {gunicorn.master_pid}: "
                         f"max_requests={max_requests}", action)

    # --- the network, through a fault proxy ----------------------------------

    def _proxy(self, kind: FaultAction, proxy: Proxy,
               command: Callable[[], dict[str, Any]]) -> Fault:
        def action() -> dict[str, Any]:
            state = command()
            if kind is HEAL:
                self._faulted.pop(proxy.port, None)
            else:
                self._faulted[proxy.port] = proxy
            return {"pid": proxy.process.pid, **state}

        return self._act(kind, proxy.target, action)

    def delay(self, proxy: Proxy, ms: float) -> Fault:
        """Hold every reply through ``proxy`` for ``ms`` ms (past the client's timeout)."""
        return self._proxy(DELAY, proxy, lambda: proxy.delay(ms))

    def blackhole(self, proxy: Proxy) -> Fault:
        """``proxy`` takes connections and drops every byte: a host gone dark."""
        return self._proxy(BLACKHOLE, proxy, proxy.blackhole)

    def reset(self, proxy: Proxy) -> Fault:
        """``proxy`` cuts each reply half way with a TCP RST, after the server applied it."""
        return self._proxy(RESET, proxy, proxy.reset)

    def mend(self, proxy: Proxy) -> Fault:
        """``proxy`` forwards again (the ``heal`` action; :meth:`heal` undoes everything)."""
        return self._proxy(HEAL, proxy, proxy.heal)

    # --- looking, not breaking ----------------------------------------------

    def inspect(self, deployment: Deployment, keys: list[str]) -> Fault:
        """Read each key's expiry on the servers themselves, past any proxy."""
        expiry = deployment.kind.expiry
        if expiry is None:
            raise ValueError(f"{deployment.kind.name} has no expiry reader to inspect with")
        primaries = deployment.role(deployment.kind.primary)
        return self._act(INSPECT, f"{deployment.kind.name} {deployment.kind.primary} "
                         f"{', '.join(f':{n.port}' for n in primaries)} (direct)",
                         lambda: {"ttl": expiry(primaries, keys)})

    # --- always ------------------------------------------------------------

    def heal(self) -> None:
        """Undo whatever is still in force: heal proxies, resume paused nodes, restart killed ones.

        Called on every exit path, so a failed scenario never leaves a
        stopped process behind for the teardown to trip over.
        """
        for proxy in list(self._faulted.values()):
            if proxy.process.running:
                self.mend(proxy)
        for node in list(self._paused):
            if node.running:
                self.resume(node)
        for replica, _ in list(self._lagging.values()):
            self.unlag(replica)
        for deployment, node in list(self._killed):
            self.restart(deployment, node)


@contextmanager
def nemesis(history: History) -> Iterator[Nemesis]:
    """A nemesis that heals everything it broke when the block exits, however it exits."""
    n = Nemesis(history=history)
    try:
        yield n
    finally:
        n.heal()


def _target(node: Node) -> str:
    return f"{node.binary} {node.role} :{node.port}"


def _spend(worker: WorkerClient, budget: int) -> int:
    """Requests ``worker`` answered before it went away; raises if it outlasts ``budget``."""
    for n in range(budget):
        try:
            worker.whoami(timeout=STOP_TIMEOUT)
        except (OSError, http.client.HTTPException):
            # Its socket is gone, or it closed the connection unanswered: exited.
            return n
    raise RuntimeError(f"worker pid {worker.pid} still answered after {budget} requests; "
                       f"start gunicorn with --max-requests {budget} or less")


def _replaced(gunicorn: Gunicorn, old: list[int]) -> dict[str, Any]:
    """Point ``gunicorn.workers`` at the workers that replace ``old``; wait until ``old`` exit."""
    fresh = gunicorn.discover(count=len(old), exclude=set(old))
    gunicorn.workers = fresh
    deadline = time.monotonic() + STOP_TIMEOUT
    while (alive := [pid for pid in old if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive:
        raise TimeoutError(f"old gunicorn workers {alive} did not exit within "
                           f"{STOP_TIMEOUT:g}s of being replaced; see {gunicorn.log}")
    return {"retired": old, "new": [w.pid for w in fresh]}


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie waiting for gunicorn to reap it has exited."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            # The state follows the parenthesised command name.
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _swap_roles(deployment: Deployment, *, old: int, new: int) -> None:
    for node in deployment.nodes:
        if node.port == new:
            node.role = MASTER
        elif node.port == old:
            node.role = REPLICA
