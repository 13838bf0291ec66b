"""Fault scenarios: a workload on every worker while the nemesis breaks a cache server.

Each runs on an instance with **private servers**, so a killed or paused
server never touches the run's shared ones, and ends with the fault
checker's verdict and numbers (:mod:`harness.checkers.faults`): lost
acknowledged writes, stale reads and their age, failures during the
fault, recovery time per worker, and acknowledged writes that had no
effect after recovery.  The fault durations are recorded in the evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.checkers import Facts, faults
from harness.history import History
from harness.nemesis import nemesis
from harness.plugin import Launch, assert_expected
from harness.topology.kinds import KINDS
from harness.topology.pool import Topology
from harness.topology.servers import Deployment, Node
from harness.verdict import Result, safely
from harness.workloads import faults as traffic

#: How long a killed server stays down before it is started again.
DOWN = 1.0
#: How much longer than the client's socket timeout a pause lasts.
PAUSE_MARGIN = 1.0
#: How long the replicas stay behind.
LAG = 1.5


def _instance(topology: Topology, launch: Launch, name: str) -> tuple[Topology, Deployment]:
    kinds = topology.key.backend.servers
    if not kinds:
        pytest.skip(f"{topology.key.backend.label} starts no cache server to fault")
    config: dict[str, Any] = {}
    for kind in kinds:
        config.update(KINDS[kind].client_timeout_config)
    inst = launch(name, private_servers=True, config=config)
    if not inst.servers:
        pytest.skip("the cache server is the user's own (--config); the harness faults only "
                    "servers it started")
    return inst, next(iter(inst.servers.values()))


def _victim(d: Deployment) -> Node:
    return next(n for n in d.nodes if n.role in ("master", "node", "server"))


def _judge(inst: Topology, fault: Callable[[History], None], record: Callable[..., Result],
           **durations: float) -> None:
    history = traffic.run(inst.workers, fault)
    verdict = safely(faults.check, history, Facts.of(inst.workers))
    verdict.evidence["fault_durations_s"] = durations
    assert_expected(record(verdict, history=history, ran_on=inst))


@pytest.mark.scenario("server-restart")
def test_server_restart(topology: Topology, launch: Launch, record: Callable[..., Result]) -> None:
    inst, d = _instance(topology, launch, "server-restart")
    node = _victim(d)

    def fault(history: History) -> None:
        with nemesis(history) as n:
            n.kill(d, node)
            time.sleep(DOWN)
            n.restart(d, node)

    _judge(inst, fault, record, down=DOWN)


@pytest.mark.scenario("server-pause")
def test_server_pause(topology: Topology, launch: Launch, record: Callable[..., Result]) -> None:
    inst, d = _instance(topology, launch, "server-pause")
    node = _victim(d)
    held = d.kind.client_timeout + PAUSE_MARGIN

    def fault(history: History) -> None:
        with nemesis(history) as n:
            n.pause(node)
            time.sleep(held)
            n.resume(node)

    _judge(inst, fault, record, paused=held, client_timeout=d.kind.client_timeout)


@pytest.mark.scenario("replica-lag")
def test_replica_lag(topology: Topology, launch: Launch, record: Callable[..., Result]) -> None:
    if "redis-sentinel" not in topology.key.backend.servers:
        pytest.skip(f"{topology.key.backend.label} reads from no replica")
    inst, d = _instance(topology, launch, "replica-lag")

    def fault(history: History) -> None:
        with nemesis(history) as n:
            for r in d.role("replica"):
                n.lag(r)
            time.sleep(LAG)
            for r in d.role("replica"):
                n.unlag(r)

    _judge(inst, fault, record, lag=LAG)


@pytest.mark.scenario("failover")
def test_failover(topology: Topology, launch: Launch, record: Callable[..., Result]) -> None:
    if "redis-sentinel" not in topology.key.backend.servers:
        pytest.skip(f"{topology.key.backend.label} has no sentinels to fail over")
    inst, d = _instance(topology, launch, "failover")

    def fault(history: History) -> None:
        with nemesis(history) as n:
            n.failover(d)

    _judge(inst, fault, record)
