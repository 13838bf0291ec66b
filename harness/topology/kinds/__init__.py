"""The registry of server kinds: every kind of cache server the harness can start, by name.

Each entry is a :class:`~harness.topology.kind.Kind`, defined in a module
of this package with the process choreography it needs (``redis.py``: one
server, a Sentinel group, a Cluster; ``memcached.py``).  :func:`registry`
checks the entries as a whole when this module is imported, so a broken
one fails before any run, naming itself and the fix.

Adding a kind is one module here holding its entry, and its name in the
:data:`KINDS` line below.  ``python -m harness.topology.kinds --apt-packages``
prints the packages that install every kind's binary, for ``.ci/run`` and
the CI workflow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from ...errors import DefinitionError, MissingBinary, ServerUnreachable, UsageError, shorten
from ..kind import Address, Kind
from ..node import Node
from . import memcached, redis


def registry(*kinds: Kind) -> dict[str, Kind]:
    """The kinds by name, once checked against each other.

    Names are unique, and kinds run by one binary agree on how it is
    installed, asked for its pid and asked for its version: those are facts
    of the binary, which the lookups below key by binary.
    """
    out: dict[str, Kind] = {}
    by_binary: dict[str, Kind] = {}
    for kind in kinds:
        if kind.name in out:
            raise DefinitionError(f"server kind {kind.name!r} is registered twice; "
                                  "give each kind a name of its own")
        first = by_binary.setdefault(kind.binary, kind)
        for fact in ("apt", "wheel", "probe", "version_flag"):
            if getattr(kind, fact) != getattr(first, fact):
                raise DefinitionError(
                    f"server kind {kind.name!r}: its {fact} {getattr(kind, fact)!r} differs "
                    f"from {getattr(first, fact)!r} of {first.name!r}, which runs the same "
                    f"binary {kind.binary!r}; make them the same")
        out[kind.name] = kind
    return out


KINDS: dict[str, Kind] = registry(*redis.KINDS, *memcached.KINDS)
SERVER_KINDS: tuple[str, ...] = tuple(KINDS)


#: Whose config names a server, as a message says it.
def timeout_config(kinds: Iterable[str]) -> dict[str, Any]:
    """The client timeout config of every kind in ``kinds``, merged (what a fault outlasts)."""
    config: dict[str, Any] = {}
    for kind in kinds:
        config.update(KINDS[kind].client_timeout_config)
    return config


APP_CONFIG = "the app's own config"
OPTION_CONFIG = "--config"


def check_servers(config: dict[str, Any], *, origin: str | Mapping[str, str],
                  kinds: Iterable[str] | None = None, reach: bool = True) -> None:
    """Raise ServerUnreachable unless every server ``config`` names answers as its kind.

    Each kind's ``addresses`` names the servers and its probe speaks their
    protocol, so a port where something else listens is refused here, in
    one line, rather than as a run whose every row is an error.  ``origin``
    is whose config it is, :data:`APP_CONFIG` or :data:`OPTION_CONFIG`, or
    each key's (a key it does not name is the app's own); ``kinds`` are the
    kinds whose keys the backend reads (default: every kind's).  With
    ``reach`` false, only the values are checked: each must name a server.
    """
    seen: set[tuple[str, int]] = set()
    chosen = KINDS.values() if kinds is None else [KINDS[k] for k in kinds]
    for kind in chosen:
        for source, host, port, tls in _addresses(kind, config, origin=origin):
            if (host, port) in seen:
                continue
            seen.add((host, port))
            unix = host.startswith("/")
            problem = (f"names port {port}, which is not from 1 to 65535"
                       if not (unix or 0 < port < 65536) else
                       kind.problem_at(host, port, tls=tls) if reach else None)
            if problem is None:
                continue
            keys = _source_keys(source, config)
            where_from = _from(keys, origin)
            key = keys[0]
            down = problem.startswith("is unreachable")
            if all(_origin_of(k, origin) == OPTION_CONFIG for k in keys):
                first = (f"start it, correct --config {key}," if down else
                         f"point --config {key} at a {kind.probe.protocol} server,")
                fix = f"{first} or drop that --config to let the harness start its own server"
            else:
                first = "start it" if down else f"point it at a {kind.probe.protocol} server"
                fix = f"{first} in the app's config, or override it with --config {key}=..."
            # A socket path fits in 108 bytes (sun_path), so 140 keeps any that can work whole.
            where = f"unix://{host}" if unix else f"{host}:{port}"
            raise ServerUnreachable(f"cache server {shorten(where, 140, quote=False)} from "
                                    f"{where_from} {problem}; {fix}")


def _source_keys(source: str, config: dict[str, Any]) -> list[str]:
    """The config keys an address came from: ``CACHE_REDIS_HOST/PORT`` is two."""
    head, *tails = source.split("/")
    prefix = head.rpartition("_")[0]
    keys = [head, *(f"{prefix}_{t}" for t in tails)]
    return [k for k in keys if k in config] or keys[:1]


def _origin_of(key: str, origin: str | Mapping[str, str]) -> str:
    return origin if isinstance(origin, str) else origin.get(key, APP_CONFIG)


def _from(keys: list[str], origin: str | Mapping[str, str]) -> str:
    """``the app's own config CACHE_REDIS_HOST and --config CACHE_REDIS_PORT``."""
    by: dict[str, list[str]] = {}
    for key in keys:
        by.setdefault(_origin_of(key, origin), []).append(key)
    return " and ".join(f"{who} {'/'.join(names)}" for who, names in by.items())


def _addresses(kind: Kind, config: dict[str, Any], *,
               origin: str | Mapping[str, str]) -> list[Address]:
    """``kind.addresses(config)``, or UsageError for a value that names no server at all."""
    given = [k for k in kind.user_keys if k in config]
    who = _origin_of(given[0] if given else "", origin)
    try:
        return kind.addresses(config)
    except UsageError as exc:
        raise UsageError(f"{who} {exc}") from None
    except (ValueError, TypeError) as exc:
        named = ", ".join(f"{k}={shorten(config[k])}" for k in given)
        raise UsageError(f"{who} {named} names no {kind.probe.protocol} server "
                         f"({shorten(str(exc), quote=False)}); "
                         "give host:port with a port from 1 to 65535, e.g. "
                         f"{_example(kind)}") from None


def _example(kind: Kind) -> str:
    """The config the harness gives a backend on a deployment of ``kind`` from port 6379 up."""
    roles = [role for role, n in kind.roles(kind.default_size).items() for _ in range(n)]
    nodes = [Node(kind=kind.name, role=role, binary=kind.binary, port=6379 + i, argv=(),
                  workdir=Path(), name=f"example-{i}", probe=kind.probe)
             for i, role in enumerate(roles)]
    return ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}"
                     for k, v in kind.config(nodes).items())


def find_binary(kind: str) -> str | None:
    """Path of the executable for ``kind``, or None when it is not installed."""
    k = KINDS[kind]
    return _find(k.binary, k.wheel)


@cache
def _find(binary: str, wheel: str) -> str | None:
    found = shutil.which(binary)
    if found or not wheel:
        return found
    spec = importlib.util.find_spec(wheel)
    if spec is None or spec.origin is None:
        return None
    bundled = Path(spec.origin).parent / "bin" / binary
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


def _by_binary() -> dict[str, Kind]:
    """The first kind of each distinct binary, in registry order."""
    out: dict[str, Kind] = {}
    for k in KINDS.values():
        out.setdefault(k.binary, k)
    return out


def clients() -> tuple[str, ...]:
    """The Python distributions the workers talk to the kinds' servers with, each once."""
    return tuple(dict.fromkeys(k.client for k in KINDS.values()))


def binaries() -> tuple[str, ...]:
    """Each distinct server executable once, in registry order."""
    return tuple(_by_binary())


def apt_packages(*, missing: bool = False) -> tuple[str, ...]:
    """The packages that install every kind's binary (with ``missing``: only the absent ones)."""
    return tuple(dict.fromkeys(k.apt for k in _by_binary().values()
                               if not missing or _find(k.binary, k.wheel) is None))


def version(binary: str) -> str | None:
    """The version string of a server executable, for the report's environment block."""
    k = _by_binary()[binary]
    path = _find(k.binary, k.wheel)
    if path is None:
        return None
    try:
        out = subprocess.run([path, k.version_flag], capture_output=True, text=True, timeout=5,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for word in out.split():
        if word.startswith("v=") or word[:1].isdigit():
            return word.removeprefix("v=")
    return out.strip() or None
