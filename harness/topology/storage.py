"""Direct access to a backend's storage, bypassing every app.

The ``clear-blast-radius`` scenario needs a key that no Flask app wrote: a
neighbour sharing the same Redis database, memcached or cache directory.
A :class:`Storage` writes and reads such a foreign entry the way that
neighbour would, with the raw client (or a plain file), so whether an
app's ``clear()`` reaches it is measured rather than assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: The key :meth:`SentinelStorage.replicated` writes: the harness's own, one per server.
BARRIER_KEY = "coherence:replication-barrier"
BARRIER_TIMEOUT_MS = 2000


class Storage(Protocol):
    """A neighbour's view of the backend's storage."""

    where: str

    def put(self, key: str, value: str) -> None: ...

    def get(self, key: str) -> str | None: ...

    def close(self) -> None: ...


@dataclass(kw_only=True)
class RedisStorage:
    url: str

    def __post_init__(self) -> None:
        import redis

        self.where = self.url
        self._client: Any = redis.Redis.from_url(self.url, socket_timeout=5)

    def put(self, key: str, value: str) -> None:
        self._client.set(key, value)

    def get(self, key: str) -> str | None:
        raw = self._client.get(key)
        return None if raw is None else raw.decode()

    def close(self) -> None:
        self._client.close()


@dataclass(kw_only=True)
class SentinelStorage:
    """The Sentinel group's current master, as a neighbour's client finds it."""

    sentinels: list[tuple[str, int]]
    master: str

    def __post_init__(self) -> None:
        import redis.sentinel

        self.where = f"sentinel master {self.master!r} via " + ",".join(
            f"{h}:{p}" for h, p in self.sentinels)
        make: Any = redis.sentinel.Sentinel
        self._sentinel: Any = make(self.sentinels, socket_timeout=5)
        self._client: Any = self._sentinel.master_for(self.master, socket_timeout=5)

    put = RedisStorage.put
    get = RedisStorage.get

    def replicated(self) -> None:
        """Return once every replica holds what the master held when this was called.

        ``WAIT`` counts only the writes of its own connection, so it follows a
        write of ours; replication is one ordered stream, so a replica that has
        ours has every write before it, the apps' included.  A replica that
        does not catch up within the timeout is left to show in the verdict.
        """
        self._client.incr(BARRIER_KEY)
        replicas = int(self._client.info("replication").get("connected_slaves", 0))
        if replicas:
            self._client.wait(replicas, BARRIER_TIMEOUT_MS)

    def close(self) -> None:
        self._client.close()
        for s in self._sentinel.sentinels:
            s.close()


@dataclass(kw_only=True)
class ClusterStorage:
    """The cluster, through redis-py's cluster client (routes each key to its slot's node)."""

    nodes: list[str]

    def __post_init__(self) -> None:
        from redis.cluster import ClusterNode, RedisCluster

        self.where = ",".join(self.nodes)
        node: Any = ClusterNode
        startup = [node(h, int(p)) for h, _, p in (n.rpartition(":") for n in self.nodes)]
        self._client: Any = RedisCluster(startup_nodes=startup, socket_timeout=5)

    put = RedisStorage.put
    get = RedisStorage.get

    def close(self) -> None:
        self._client.close()


@dataclass(kw_only=True)
class MemcachedStorage:
    servers: list[str]

    def __post_init__(self) -> None:
        import memcache

        self.where = ",".join(self.servers)
        self._client: Any = memcache.Client(self.servers, socket_timeout=5)

    def put(self, key: str, value: str) -> None:
        if not self._client.set(key, value):
            raise OSError(f"memcached at {self.where} refused to store {key!r}")

    def get(self, key: str) -> str | None:
        value = self._client.get(key)
        return None if value is None else str(value)

    def close(self) -> None:
        self._client.disconnect_all()


@dataclass(kw_only=True)
class DirectoryStorage:
    """Another program's file in the cache directory, e.g. a second app's cache."""

    path: Path

    def __post_init__(self) -> None:
        self.where = str(self.path)

    def put(self, key: str, value: str) -> None:
        (self.path / key).write_text(value, "utf-8")

    def get(self, key: str) -> str | None:
        try:
            return (self.path / key).read_text("utf-8")
        except FileNotFoundError:
            return None

    def close(self) -> None:
        pass


def no_barrier() -> None:
    """The replication barrier of a backend without replicas: nothing to wait for."""
