"""What a server kind is: one frozen entry holding everything the harness knows about it.

A :class:`Kind` says which binary runs its servers and how to install it,
which processes a deployment of size N runs (its roles), how to start them
and when they are ready, how to ask one whether it is still the process
that was started (its :class:`~harness.topology.node.Probe`, which also
tells a user's server of the kind from anything else on a port), the config keys
that point a backend at it and those by which a user names a server of
their own, a neighbour's raw client on its storage, its version, and how
long a worker's client waits on it.  The entries themselves live in
:mod:`harness.topology.kinds`; an entry that is malformed fails as it is
made, at import, naming itself and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..errors import DefinitionError, UsageError, shorten
from .node import Node, Probe, ask, speaks
from .ports import reachable
from .storage import Storage

#: The roles a kind's processes take: a node's ``role``, a topology row's
#: ``role``, what the nemesis swaps on a failover.
MASTER = "master"
REPLICA = "replica"
SENTINEL = "sentinel"
#: A Redis Cluster node: the master of its share of the slots.
NODE = "node"
#: One of several independent servers, each holding its own share (memcached).
SERVER = "server"
ROLES = (MASTER, REPLICA, SENTINEL, NODE, SERVER)

#: How long a user's server may take to answer the kind's probe before the
#: check gives up on it: loopback or LAN servers answer in milliseconds.
USER_SERVER_TIMEOUT = 1.0
class Address(NamedTuple):
    """A server a config names: the config key it came from, where it is, and how."""

    source: str
    host: str
    port: int
    #: Reached over TLS (``rediss://``): the plain-text probe cannot speak to
    #: it, so only the connection is checked.
    tls: bool = False


#: ``argv(binary, port, workdir)``: a node's command line.
Argv = Callable[[str, int, Path], list[str]]


class Starter(Protocol):
    """What a kind's ``deploy`` is handed: starts nodes and waits until they are ready.

    :class:`~harness.topology.servers.Launcher` is the one the harness uses.
    """

    def start(self, *, kind: str, role: str, argv: Argv, port: int) -> Node: ...

    def wait_ready(self, nodes: Sequence[Node], check: Callable[[Node], str | None]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Kind:
    """One kind of cache server: everything the harness knows about it."""

    name: str
    #: The executable, looked up on PATH (and in :attr:`wheel`'s ``bin/``).
    binary: str
    #: The Debian/Ubuntu package that installs :attr:`binary`: what the
    #: install hint names, and what ``.ci/run`` and the workflow install.
    apt: str
    #: A Python package whose ``bin/`` ships :attr:`binary`, for users without root.
    wheel: str = ""
    #: How to ask one of its servers for its own pid (liveness, and replacement).
    probe: Probe
    #: The Python distribution a worker's backend talks to it with: a
    #: dependency of the harness, and pinned in every venv it builds.
    client: str
    #: What the ``:N`` suffix of ``--backend`` counts, with its default and bounds.
    size_noun: str
    default_size: int
    max_size: int
    min_size: int = 1
    #: Why a size below :attr:`min_size` is refused, with its upstream source.
    min_size_why: str = ""
    #: The processes a deployment of size N runs, by role (``{"master": 1,
    #: "replica": N, "sentinel": 3}``): what ``deploy`` starts, what the
    #: topology of each report row shows, and what the tests count.
    roles: Callable[[int], dict[str, int]]
    #: The role of the process that holds the data: what a server fault stops.
    primary: str
    #: Start the kind's processes with the starter and wait until ready.
    deploy: Callable[[Starter, int], list[Node]]
    #: The Flask-Caching config keys that point a backend at a deployment's nodes.
    config: Callable[[Sequence[Node]], dict[str, Any]]
    #: User config keys that name a server of the user's own instead.
    user_keys: tuple[str, ...]
    #: The servers a (user) config names, to check they answer before boot.
    addresses: Callable[[dict[str, Any]], list[Address]]
    #: A neighbour's raw client on the storage a config points at.
    storage: Callable[[dict[str, Any]], Storage | None]
    version_flag: str = "--version"
    #: How long a worker's client waits on an unanswering server before it
    #: gives up, and the config that sets it (empty: the library's default).
    #: A pause must outlast it to be a fault rather than a slow reply.
    client_timeout: float = 1.0
    client_timeout_config: dict[str, Any] = field(default_factory=dict, hash=False)
    #: Each key's remaining lifetime read on the primary nodes themselves, found
    #: under whatever prefix the app adds (Redis ``TTL``: -1 none, -2 absent;
    #: None for a key not found once); None when the harness cannot read it.
    expiry: Callable[[Sequence[Node], Sequence[str]], dict[str, int | None]] | None = field(
        default=None, hash=False)
    #: Why a fault proxy in front of its nodes would carry none of a client's
    #: traffic (the client learns the nodes' own addresses from the servers,
    #: and connects to those); empty when a proxy can front it.
    unproxied: str = ""
    #: The name of :attr:`config`'s way of naming the nodes (``CACHE_REDIS_URL``),
    #: and the other ways a user's config may name the same nodes, by name.
    #: A client library may treat them differently (redis-py's retries).
    config_style: str = ""
    other_styles: dict[str, Callable[[Sequence[Node]], dict[str, Any]]] = field(
        default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        bad = partial(DefinitionError.of, f"server kind {self.name!r}")

        if not self.name or not self.binary:
            raise bad("has no name or no binary", "give both, e.g. name='redis', "
                      "binary='redis-server'")
        if not self.client:
            raise bad("has no client", "give client='<the pip distribution a worker's "
                      "backend talks to it with>', e.g. client='redis'")
        if not self.apt:
            raise bad("has no install hint", f"give apt='<the package that installs "
                      f"{self.binary}>', e.g. apt={self.binary!r}")
        if not isinstance(self.probe, Probe) or not self.probe.request or not self.probe.end \
                or not self.probe.pid_field or not self.probe.protocol:
            raise bad(f"has no liveness probe ({self.probe!r})",
                      "give probe=Probe(request=..., end=..., pid_field=..., protocol=...) "
                      "that asks a server for its own pid")
        if not 1 <= self.min_size <= self.default_size <= self.max_size:
            raise bad(f"default_size {self.default_size!r} is not within {self.min_size!r} "
                      f"to max_size {self.max_size!r} (min_size {self.min_size!r})",
                      "make 1 <= min_size <= default_size <= max_size")
        roles = self.roles(self.default_size)
        unknown = sorted(set(roles) - set(ROLES))
        if not roles or unknown:
            raise bad(f"roles at size {self.default_size} are {roles!r}",
                      f"name at least one process, each by a role in {ROLES} "
                      "(add a new role to harness.topology.kind.ROLES)")
        if self.primary not in roles:
            raise bad(f"primary role {self.primary!r} is not among its roles {sorted(roles)}",
                      "name the role of the process that holds the data")
        if not self.user_keys:
            raise bad("has no user_keys", "name the config keys by which a user points a "
                      "backend at a server of their own")
        if self.other_styles and not self.config_style:
            raise bad(f"names other config styles {sorted(self.other_styles)} but not its "
                      "own", "give config_style='<the keys config sets>', e.g. "
                      "config_style='CACHE_REDIS_URL'")
        if not self.client_timeout > 0:
            raise bad(f"client_timeout {self.client_timeout!r} is not positive",
                      "give the seconds a worker's client waits on a paused server")

    def styles(self) -> dict[str, Callable[[Sequence[Node]], dict[str, Any]]]:
        """Every way of naming a deployment's nodes in a config, the default first."""
        return {self.config_style: self.config, **self.other_styles}

    @property
    def install_hint(self) -> str:
        """How to install :attr:`binary`, as the skip and error messages say it."""
        hint = f"apt-get install {self.apt}"
        return f"{hint}, or pip install {self.wheel}" if self.wheel else hint

    def problem_at(self, host: str, port: int, *, tls: bool = False,
                   timeout: float = USER_SERVER_TIMEOUT) -> str | None:
        """None when host:port answers as a server of this kind; else what it does instead.

        A bare TCP connect would take any listener (an HTTP server on the
        port a config names) and leave every scenario an error; the kind's
        own liveness probe speaks its protocol.
        """
        noun = f"a {self.probe.protocol} server"
        if tls:
            problem = reachable(host, port, timeout=timeout)
            return None if problem is None else f"is unreachable ({problem})"
        try:
            reply = ask(host, port, self.probe, timeout=timeout)
        except TimeoutError:
            return f"accepts connections, but did not answer as {noun} within {timeout:g}s"
        except OSError as exc:
            return f"is unreachable ({exc.strerror or type(exc).__name__})"
        if speaks(reply, self.probe):
            return None
        first = reply.splitlines()[0] if reply.strip() else reply
        said = f"it replied {shorten(first, 40)}" if reply else "it closed the connection"
        return f"answers, but not as {noun} ({said})"

    def check_size(self, size: int, backend: str) -> int:
        if not self.min_size <= size <= self.max_size:
            why = f" ({self.min_size_why})" if size < self.min_size and self.min_size_why else ""
            raise UsageError(
                f"--backend {backend}:{size}: the size counts {self.size_noun} and must be "
                f"{self.min_size} to {self.max_size}{why}; e.g. --backend "
                f"{backend}:{self.default_size}")
        return size
