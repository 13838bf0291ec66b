"""The memcached kind: one or more memcached processes, each a separate server.

With several servers the client (python-memcached) spreads keys over them
by hash; nothing is replicated, so each server holds its own share.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..kind import SERVER, Address, Kind, Starter
from ..node import Node, Probe
from ..ports import HOST, free_port
from ..storage import MemcachedStorage, Storage


def _argv(binary: str, port: int, workdir: Path) -> list[str]:
    args = [binary, "-l", HOST, "-p", str(port), "-U", "0", "-v"]
    if os.geteuid() == 0:
        args += ["-u", "root"]  # memcached refuses to run as root without it
    return args


def _deploy(launcher: Starter, size: int) -> list[Node]:
    return [launcher.start(kind="memcached", role=SERVER, argv=_argv, port=free_port())
            for _ in range(size)]


def _config(nodes: Sequence[Node]) -> dict[str, Any]:
    return {"CACHE_MEMCACHED_SERVERS": [f"{HOST}:{n.port}" for n in nodes]}


def _servers(config: dict[str, Any]) -> list[str]:
    servers = config.get("CACHE_MEMCACHED_SERVERS") or []
    return [servers] if isinstance(servers, str) else [str(s) for s in servers]


def _addresses(config: dict[str, Any]) -> list[Address]:
    out: list[Address] = []
    for entry in _servers(config):
        if not entry.startswith("unix:"):
            host, sep, port = entry.rpartition(":")
            if sep and not (host and port.isascii() and port.isdigit()):
                raise ValueError(f"{entry!r} is not host:port")
            if sep:
                out.append(Address("CACHE_MEMCACHED_SERVERS", host, int(port)))
    return out


def _storage(config: dict[str, Any]) -> Storage | None:
    servers = _servers(config)
    return MemcachedStorage(servers=servers) if servers else None


KINDS = (
    Kind(name="memcached", binary="memcached", apt="memcached", client="python-memcached",
         # memcached's error replies (protocol.txt, "Error strings"): a
         # server that refuses stats (SASL) still speaks memcached.
         probe=Probe(request=b"stats\r\n", end=b"END\r\n", pid_field="STAT pid ",
                     protocol="memcached",
                     refusals=(b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR"),
                     # Its answer to stats is STAT lines (protocol.txt, "General-purpose
                     # statistics").
                     starts=(b"STAT ",)),
         size_noun="servers", default_size=1, max_size=8, version_flag="-V",
         roles=lambda size: {SERVER: size}, primary=SERVER, deploy=_deploy, config=_config,
         user_keys=("CACHE_MEMCACHED_SERVERS",),
         addresses=_addresses, storage=_storage,
         # python-memcached's own default (memcache.py: _SOCKET_TIMEOUT = 3).
         client_timeout=3.0),
)
