"""The nemesis acts on real servers, by pid, and every action lands in the history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from harness.history.ops import History
from harness.nemesis import nemesis
from harness.topology.kind import MASTER, REPLICA
from harness.topology.node import health
from harness.topology.servers import Deployment, Launcher

pytestmark = pytest.mark.needs("redis")


@pytest.fixture
def deploy(xprocess: Any, tmp_path: Path) -> Iterator[Any]:
    with ExitStack() as stack:
        def start(kind: str, size: int) -> Deployment:
            launcher = Launcher(xprocess=xprocess, root=tmp_path, stack=stack,
                                prefix=f"nemesis-test-{kind}")
            return Deployment.start(kind, size, launcher)
        yield start


def test_kill_then_restart_brings_the_node_back_on_its_port_with_a_new_pid(deploy: Any) -> None:
    d = deploy("redis", 1)
    node = d.nodes[0]
    history = History()
    with nemesis(history) as n:
        old = node.pid
        n.kill(d, node)
        assert "exited" in (health(node) or "") or not node.running
        n.restart(d, node)
    assert node.pid != old and health(node) is None
    assert [f.f for f in history.faults] == ["kill", "restart"]
    [window] = history.windows()
    assert window.fault == "kill" and window.closed and window.end > window.start


def test_pause_stalls_the_node_and_heal_resumes_it_whatever_happens(deploy: Any) -> None:
    d = deploy("redis", 1)
    node = d.nodes[0]
    history = History()
    with pytest.raises(RuntimeError), nemesis(history) as n:
        n.pause(node)
        assert "stalled" in (health(node, timeout=0.3) or "")
        raise RuntimeError("the scenario failed while the server was paused")
    assert health(node) is None, "heal() must resume a paused node on the way out"
    assert [f.f for f in history.faults] == ["pause", "resume"]


def test_sentinel_failover_promotes_a_replica_and_the_roles_follow(deploy: Any) -> None:
    d = deploy("redis-sentinel", 2)
    old_master = d.role(MASTER)[0]
    history = History()
    with nemesis(history) as n:
        fault = n.failover(d)
    assert fault.value["old_master_port"] == old_master.port
    [new_master] = d.role(MASTER)
    assert new_master.port == fault.value["new_master_port"] != old_master.port
    assert old_master.role == REPLICA


def test_the_replication_barrier_returns_once_every_replica_has_the_writes(deploy: Any) -> None:
    """What the feature scenarios wait on after each write step on a Sentinel group;
    a backend without replicas gets a call that does nothing."""
    import redis

    from harness.topology.backends import replication_barrier, resolve
    from harness.topology.storage import no_barrier

    d = deploy("redis-sentinel", 2)
    [master] = d.role(MASTER)
    replicas = d.role(REPLICA)
    writer = redis.Redis(port=master.port)
    try:
        with replication_barrier(resolve("RedisSentinelCache:2"), d.config()) as barrier:
            for n in range(20):
                writer.set(f"barrier-{n}", n)
                barrier()
                for r in replicas:
                    with redis.Redis(port=r.port) as c:
                        assert c.get(f"barrier-{n}") == str(n).encode(), (n, r.port)
    finally:
        writer.close()
    with replication_barrier(resolve("RedisCache"), {"CACHE_REDIS_URL": "redis://x:1"}) as b:
        assert b is no_barrier
