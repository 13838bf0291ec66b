"""Network faults between the workers and a cache server, through a fault proxy.

Each scenario starts instances with **private servers** whose workers reach
each server's primary node only through a fault proxy
(:mod:`harness.topology.proxy`), one instance per config style of the
server kind (Redis: ``CACHE_REDIS_URL`` and ``CACHE_REDIS_HOST/PORT``,
which redis-py builds with different retry defaults), all on the same
servers.  Every instance's workers run the fault traffic, one of them
increments a counter over and over and one ``add``s fresh keys with a
timeout (:mod:`harness.workloads.faults`, ``effects``), while the nemesis
faults the proxies in front of one node (the first primary): it holds
replies past the client's socket timeout (``server-latency``), drops every
request (``server-blackhole``) or cuts replies with a reset
(``connection-reset``), then heals them.  Afterwards it reads the added
keys' expiry on the server itself (``inspect``), and the fault checker
judges one history of all instances (:mod:`harness.checkers.faults`, with
``duplicated``, ``immortal`` and ``stalled``); the evidence also holds each
style's own effect findings, judged on its instance's workers alone (their
counters and added keys are theirs alone; the traffic keys are shared).

``replication-delay`` (Sentinel) puts the proxy on the replicas' link to
the master instead, and delays the replication stream, while the workers
talk to the servers directly.

A kind whose clients learn the nodes' own addresses from the servers
(Sentinel, Cluster: :attr:`~harness.topology.kind.Kind.unproxied`) is skipped
with that reason: a proxy in front of a node would carry none of their traffic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace

import pytest

from harness.checkers import effects, faults
from harness.history.faults import Fault
from harness.history.ops import History
from harness.nemesis import Nemesis, nemesis
from harness.scenario import Judge, Launch, Topology, TopologyPool, owned
from harness.topology.kind import MASTER, REPLICA
from harness.topology.kinds import KINDS, timeout_config
from harness.topology.kinds.redis import follow
from harness.topology.proxy import Proxy, front
from harness.topology.rowclient import client_timeout
from harness.topology.servers import Deployment
from harness.workloads import faults as traffic

#: How much longer than the client's socket timeout a fault lasts.
HOLD_MARGIN = 1.0
#: How much later than the client's socket timeout a held reply comes.
DELAY_MARGIN = 0.5
#: How long connections are reset: each retry in it is cut too.
RESET_FOR = 1.0
#: Keys of the traffic: on a sharded store, enough that every node holds
#: some, so every client meets the faulted node ((2/3)^16 < 0.2 % on three).
KEYS = 16
#: How far the replication stream is held back, and for how long.
REPLICATION_DELAY = 1.5
REPLICATION_HELD = 2.0


def _effects(size: int) -> dict[int, str]:
    """Which of an instance's workers increment and which add: the last two, of three or more."""
    return {size - 2: "inc", size - 1: "add"} if size >= 3 else {size - 1: "inc"}


class Styled:
    """One instance per config style on the same private servers, each fronted by proxies."""

    def __init__(self, topology: Topology, pool: TopologyPool, stack: ExitStack,
                 name: str) -> None:
        key = topology.key
        kinds = key.backend.servers
        if not kinds:
            pytest.skip(f"{key.backend.label} starts no cache server to fault")
        if why := next((KINDS[k].unproxied for k in kinds if KINDS[k].unproxied), ""):
            pytest.skip(f"{key.backend.label}: {why}")
        config = timeout_config(kinds)
        styles = list(KINDS[kinds[0]].styles())
        first = pool.start(key, name=f"{name}-0", stack=stack, config=config,
                           private_servers=True, proxied=True, style=styles[0])
        if not first.servers:
            pytest.skip("the cache server is the user's own (--config); the harness faults "
                        "only servers it started")
        self.instances = [first] + [
            pool.start(key, name=f"{name}-{n}", stack=stack, config=config,
                       servers=first.servers, proxied=True, style=style)
            for n, style in enumerate(styles[1:], start=1)]
        self.styles = [style or "default" for style in styles]
        self.deployment = next(iter(first.servers.values()))
        self.victim = self.deployment.role(self.deployment.kind.primary)[0]
        size = key.workers
        self.workers = [replace(w, index=n * size + i)
                        for n, inst in enumerate(self.instances)
                        for i, w in enumerate(inst.workers)]
        self.effects = {n * size + i: part for n in range(len(self.instances))
                        for i, part in _effects(size).items()}

    @property
    def proxies(self) -> list[Proxy]:
        """The proxies in front of the victim node, one per instance."""
        return [p for inst in self.instances for p in inst.proxies
                if p.upstream.port == self.victim.port]

    @property
    def timeout(self) -> float:
        return client_timeout(self.instances[0].key.backend, self.deployment.kind)

    def judge(self, fault: Callable[[Nemesis, list[Proxy]], None], judge: Judge,
              **durations: float) -> None:
        def run(history: History) -> None:
            with nemesis(history) as n:
                fault(n, self.proxies)

        history = traffic.run(self.workers, run, effects=self.effects, keys=KEYS)
        _inspect(history, self.deployment)
        size = len(self.instances[0].workers)
        by_style = {}
        for n, style in enumerate(self.styles):
            # The counters and added keys are each one worker's own, so each
            # style's effects are judged on its instance's ops alone (the
            # traffic keys are shared by every instance, and judged together).
            pids = {w.pid for w in self.workers[n * size:(n + 1) * size]}
            more, found = effects.judge(_only(history, pids))
            by_style[style] = {"findings": [str(c) for c, yes in found.items() if yes],
                               "worker_pids": sorted(pids),
                               **{name: more[name]["count"] for name in more}}
        judge(faults.check, history, workers=self.workers, ran_on=self.instances[0],
              evidence={"fault_durations_s": {**durations, "client_timeout": self.timeout},
                        "styles": by_style,
                        "proxies": [p.describe() for p in self.proxies]})


def _only(history: History, pids: set[int]) -> History:
    """``history`` with only the ops of ``pids``, and every fault."""
    return History(ops=[op for op in history.ops if op.pid in pids],
                   faults=list(history.faults), notes=history.notes)


def _inspect(history: History, deployment: Deployment) -> None:
    """The nemesis reads the expiry of every added key on the server itself."""
    if deployment.kind.expiry is None:
        return
    added = sorted({op.key for op in history.ops if op.f == "add" and op.key is not None})
    if added:
        with nemesis(history) as n:
            n.inspect(deployment, added)


def _window(act: Callable[[Nemesis, Proxy], Fault], seconds: float
            ) -> Callable[[Nemesis, list[Proxy]], None]:
    """A fault: ``act`` on every proxy, then ``seconds`` later each healed."""
    def fault(n: Nemesis, proxies: list[Proxy]) -> None:
        for p in proxies:
            act(n, p)
        time.sleep(seconds)
        for p in proxies:
            n.mend(p)
    return fault


@pytest.mark.scenario("server-latency")
def test_server_latency(topology: Topology, coherence_pool: TopologyPool, judge: Judge) -> None:
    with owned(coherence_pool) as stack:
        s = Styled(topology, coherence_pool, stack, "server-latency")
        delay, held = s.timeout + DELAY_MARGIN, s.timeout + HOLD_MARGIN

        s.judge(_window(lambda n, p: n.delay(p, delay * 1000), held), judge, delay=delay,
                held=held)


@pytest.mark.scenario("server-blackhole")
def test_server_blackhole(topology: Topology, coherence_pool: TopologyPool,
                          judge: Judge) -> None:
    with owned(coherence_pool) as stack:
        s = Styled(topology, coherence_pool, stack, "server-blackhole")
        held = s.timeout + HOLD_MARGIN

        s.judge(_window(Nemesis.blackhole, held), judge, dark=held)


@pytest.mark.scenario("connection-reset")
def test_connection_reset(topology: Topology, coherence_pool: TopologyPool,
                          judge: Judge) -> None:
    with owned(coherence_pool) as stack:
        s = Styled(topology, coherence_pool, stack, "connection-reset")

        s.judge(_window(Nemesis.reset, RESET_FOR), judge, reset=RESET_FOR)


@pytest.mark.scenario("replication-delay")
def test_replication_delay(topology: Topology, launch: Launch, judge: Judge) -> None:
    if "redis-sentinel" not in topology.key.backend.servers:
        pytest.skip(f"{topology.key.backend.label} reads from no replica")
    kinds = topology.key.backend.servers
    inst = launch("replication-delay", private_servers=True, config=timeout_config(kinds))
    if not inst.servers:
        pytest.skip("the cache server is the user's own (--config); the harness faults only "
                    "servers it started")
    d = next(iter(inst.servers.values()))
    link = front(d.launcher, d.role(MASTER)[0])
    linked = [follow(r, link.port) for r in d.role(REPLICA)]

    def fault(history: History) -> None:
        with nemesis(history) as n:
            n.delay(link, REPLICATION_DELAY * 1000)
            time.sleep(REPLICATION_HELD)
            n.mend(link)

    size = len(inst.workers)
    history = traffic.run(inst.workers, fault, effects=_effects(size))
    _inspect(history, d)
    judge(faults.check, history, workers=inst.workers, ran_on=inst,
          evidence={"fault_durations_s": {"delay": REPLICATION_DELAY,
                                          "held": REPLICATION_HELD},
                    "replication_link": {"proxy": link.describe(), "replicas": linked}})
