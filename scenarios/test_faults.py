"""Fault scenarios: a workload on every worker while the nemesis breaks a cache server.

Each runs on an instance with **private servers**, so a killed or paused
server never touches the run's shared ones, and ends with the fault
checker's verdict and numbers (:mod:`harness.checkers.faults`): lost
acknowledged writes, stale reads and their age, failures during the
fault, recovery time per worker, and acknowledged writes that had no
effect after recovery.  The fault durations are recorded in the evidence.

``worker-recycle`` replaces the workers instead (gunicorn ``HUP``, then
``max_requests``) on the run's servers, which it never touches; and
``failure-safety`` asks, with every cache server down, what the app
answers on every worker (:mod:`harness.checkers.safety`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from harness.checkers import faults, safety
from harness.nemesis import nemesis
from harness.scenario import History, Judge, Launch, Topology, TopologyKey, TopologyPool, owned
from harness.topology.kinds import timeout_config
from harness.topology.node import Node
from harness.topology.rowclient import client_timeout
from harness.topology.servers import Deployment
from harness.workloads import faults as traffic
from harness.workloads import safety as outage_probes
from harness.workloads.features import FEATURES_APP

#: How long a killed server stays down before it is started again.
DOWN = 1.0
#: How much longer than the client's socket timeout a pause lasts.
PAUSE_MARGIN = 1.0
#: How long the replicas stay behind.
LAG = 1.5
#: Traffic after the last recycle: new workers answer within a tenth of
#: a second (measured), and a short tail keeps max_requests small.
RECYCLE_AFTER = 1.0
#: gunicorn --max-requests of the worker-recycle instance.  The traffic
#: sends one worker at most one request per GAP, so after the last recycle
#: it sends at most RECYCLE_AFTER / GAP + the final pass + the harness's
#: readiness probe (1.0 / 0.01 + 4 + 8 + 1 = 113): a worker reaches 150
#: only when the nemesis spends its budget, which costs fewer requests the
#: smaller it is.
MAX_REQUESTS = 150
#: Traffic on the workers HUP brought, before max_requests replaces them.
BETWEEN = 0.5
#: Keys each worker writes once before the recycles, read in the final pass.
WITNESSES = 2
#: The CACHE_IGNORE_ERRORS settings failure-safety compares, one instance each.
IGNORE_ERRORS = (False, True)


def _timeouts(key: TopologyKey) -> dict[str, Any]:
    """The client timeout config of every server kind the backend uses."""
    kinds = key.backend.servers
    if not kinds:
        pytest.skip(f"{key.backend.label} starts no cache server to fault")
    return timeout_config(kinds)


def _own_servers(inst: Topology) -> None:
    if not inst.servers:
        pytest.skip("the cache server is the user's own (--config); the harness faults only "
                    "servers it started")


def _instance(topology: Topology, launch: Launch, name: str) -> tuple[Topology, Deployment]:
    inst = launch(name, private_servers=True, config=_timeouts(topology.key))
    _own_servers(inst)
    return inst, next(iter(inst.servers.values()))


def _sentinel_only(topology: Topology, why: str) -> None:
    if "redis-sentinel" not in topology.key.backend.servers:
        pytest.skip(f"{topology.key.backend.label} {why}")


def _victim(d: Deployment) -> Node:
    return next(n for n in d.nodes if n.role == d.kind.primary)


def _judge(inst: Topology, fault: Callable[[History], None], judge: Judge,
           **durations: float) -> None:
    history = traffic.run(inst.workers, fault)
    judge(faults.check, history, workers=inst.workers, ran_on=inst,
          evidence={"fault_durations_s": durations})


@pytest.mark.scenario("server-restart")
def test_server_restart(topology: Topology, launch: Launch, judge: Judge) -> None:
    inst, d = _instance(topology, launch, "server-restart")
    node = _victim(d)

    def fault(history: History) -> None:
        with nemesis(history) as n:
            n.kill(d, node)
            time.sleep(DOWN)
            n.restart(d, node)

    _judge(inst, fault, judge, down=DOWN)


@pytest.mark.scenario("server-pause")
def test_server_pause(topology: Topology, launch: Launch, judge: Judge) -> None:
    inst, d = _instance(topology, launch, "server-pause")
    node = _victim(d)
    timeout = client_timeout(inst.key.backend, d.kind)
    held = timeout + PAUSE_MARGIN

    def fault(history: History) -> None:
        with nemesis(history) as n:
            n.pause(node)
            time.sleep(held)
            n.resume(node)

    _judge(inst, fault, judge, paused=held, client_timeout=timeout)


@pytest.mark.scenario("replica-lag")
def test_replica_lag(topology: Topology, launch: Launch, judge: Judge) -> None:
    _sentinel_only(topology, "reads from no replica")
    inst, d = _instance(topology, launch, "replica-lag")

    def fault(history: History) -> None:
        with nemesis(history) as n:
            for r in d.role("replica"):
                n.lag(r)
            time.sleep(LAG)
            for r in d.role("replica"):
                n.unlag(r)

    _judge(inst, fault, judge, lag=LAG)


@pytest.mark.scenario("failover")
def test_failover(topology: Topology, launch: Launch, judge: Judge) -> None:
    _sentinel_only(topology, "has no sentinels to fail over")
    inst, d = _instance(topology, launch, "failover")

    def fault(history: History) -> None:
        with nemesis(history) as n:
            n.failover(d)

    _judge(inst, fault, judge)


@pytest.mark.scenario("worker-recycle")
def test_worker_recycle(topology: Topology, coherence_pool: TopologyPool,
                        judge: Judge) -> None:
    # No cache server is touched, so the run's shared ones serve, and every
    # backend runs it, SimpleCache and NullCache included.
    with owned(coherence_pool) as stack:
        inst = coherence_pool.start(topology.key, name="worker-recycle", stack=stack,
                                    max_requests=MAX_REQUESTS)
        g = inst.gunicorn

        def fault(history: History) -> None:
            with nemesis(history) as n:
                n.reload(g)
                time.sleep(BETWEEN)
                n.exhaust(g, max_requests=MAX_REQUESTS)

        # The clients follow g.workers, which the nemesis points at the new workers.
        history = traffic.run(lambda: g.workers, fault, after=RECYCLE_AFTER,
                              witnesses=WITNESSES)
        spans = {("hup" if f.value.get("signal") else "max_requests"): round(f.end - f.start, 3)
                 for f in history.faults if isinstance(f.value, dict)}
        judge(faults.check, history, workers=g.workers, ran_on=inst,
              evidence={"fault_durations_s": {"between": BETWEEN, **spans}})


@pytest.mark.app(FEATURES_APP)
@pytest.mark.scenario("failure-safety")
def test_failure_safety(topology: Topology, coherence_pool: TopologyPool,
                        judge: Judge) -> None:
    key = topology.key
    config = _timeouts(key)
    settings = [f"CACHE_IGNORE_ERRORS={str(flag).lower()}" for flag in IGNORE_ERRORS]
    with owned(coherence_pool) as stack:
        # Both settings on the same private servers, so one outage answers
        # for both, and the second instance costs a gunicorn, not a cluster.
        first = coherence_pool.start(key, name="failure-safety-0", stack=stack,
                                     config={**config, "CACHE_IGNORE_ERRORS": IGNORE_ERRORS[0]},
                                     private_servers=True)
        _own_servers(first)
        instances = [first] + [
            coherence_pool.start(key, name=f"failure-safety-{n}", stack=stack,
                                 config={**config, "CACHE_IGNORE_ERRORS": flag},
                                 servers=first.servers)
            for n, flag in enumerate(IGNORE_ERRORS[1:], start=1)]
        size = key.workers
        workers = [replace(w, index=n * size + i)
                   for n, inst in enumerate(instances) for i, w in enumerate(inst.workers)]
        groups = [n for n, inst in enumerate(instances) for _ in inst.workers]
        # Every process that holds data; sentinels hold none and stay up, as
        # the discovery service a client asks where the master went.
        victims = [(d, node) for d in first.servers.values() for node in d.nodes
                   if node.role != "sentinel"]

        @contextmanager
        def outage(history: History) -> Iterator[None]:
            with nemesis(history) as n:
                for d, node in victims:
                    n.kill(d, node)
                yield
                for d, node in victims:
                    n.restart(d, node)

        history = outage_probes.run(workers, outage)
        judge(safety.checker(settings), history, workers=workers, instances=groups, ran_on=first,
              evidence={
                  "fault_durations_s": {"down": outage_probes.DOWN,
                                        "recover_within": outage_probes.RECOVER_WITHIN},
                  "instances": {
                      name: {"gunicorn_master_pid": inst.gunicorn.master_pid,
                             "worker_pids": inst.pids}
                      for name, inst in zip(settings, instances, strict=True)}})
