"""Which cache backends the harness knows, and the config each one needs.

A backend is named the way Flask-Caching names it in ``CACHE_TYPE``: either a
class in ``flask_caching.backends`` (``RedisCache``) or an import path to a
custom class (``mypkg.caches.MyCache``).  The harness resolves that name once,
up front, so a typo fails in the first second rather than as a worker that
cannot boot.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .topology.kinds import KINDS, SERVER_KINDS

#: A server kind's name in :data:`harness.topology.kinds.KINDS`.
ServerKind = str

#: The backends the harness drives end to end, with the server kind each needs.
BUILTIN: dict[str, ServerKind | None] = {
    "NullCache": None,
    "SimpleCache": None,
    "FileSystemCache": None,
    "RedisCache": "redis",
    "MemcachedCache": "memcached",
    "RedisSentinelCache": "redis-sentinel",
    "RedisClusterCache": "redis-cluster",
}

#: What ``coherence run`` checks when no ``--backend`` is given: every
#: built-in at its kind's default size, plus memcached over several servers.
DEFAULT_BACKENDS: tuple[str, ...] = (*BUILTIN, "MemcachedCache:3")

__all__ = ["BUILTIN", "DEFAULT_BACKENDS", "SERVER_KINDS", "Backend", "ServerKind", "resolve"]

# Flask-Caching backends that exist upstream but need a topology the harness
# cannot start yet; naming one is a usage error with a clear reason.
_NOT_YET = {
    "SASLMemcachedCache": "needs a SASL-enabled memcached",
    "SpreadSASLMemcachedCache": "needs a SASL-enabled memcached",
    "UWSGICache": "only works inside uWSGI, not gunicorn",
}


@dataclass(frozen=True, kw_only=True)
class Backend:
    """A resolved backend: the CACHE_TYPE to hand the app, and what it needs."""

    name: str
    server: ServerKind | None = None
    #: The ``:N`` of ``--backend``: how many of its kind's size unit (servers,
    #: masters, replicas); the kind's default when not given.
    size: int = 1
    #: Servers to start for a custom backend (``--server``).
    extra_servers: tuple[ServerKind, ...] = field(default=())

    @property
    def label(self) -> str:
        """The row name in every report: the name, plus ``:N`` unless N is a default of 1."""
        if self.server is None or self.size == KINDS[self.server].default_size == 1:
            return self.name
        return f"{self.name}:{self.size}"

    @property
    def servers(self) -> tuple[ServerKind, ...]:
        needed = ((self.server,) if self.server else ()) + self.extra_servers
        return tuple(dict.fromkeys(needed))

    def cache_config(
        self, *, cache_dir: str, server_config: dict[str, Any]
    ) -> dict[str, Any]:
        """The Flask config for this backend, before the user's ``--config``.

        ``server_config`` is what the started servers' kinds give (their
        addresses).  Custom backends get everything the built-ins get, so a
        subclass of any built-in finds the settings its parent expects.
        """
        config: dict[str, Any] = {"CACHE_TYPE": self.name, "CACHE_DIR": cache_dir}
        if self.name == "NullCache":
            # The warning is expected; it would only clutter the worker log.
            config["CACHE_NO_NULL_WARNING"] = True
        config.update(server_config)
        return config


def resolve(
    name: str,
    *,
    extra_servers: tuple[ServerKind, ...] = (),
    pythonpath: list[str] | None = None,
) -> Backend:
    """Turn a ``--backend`` value (``NAME`` or ``NAME:N``) into a :class:`Backend`.

    Raises UsageError for an unknown name or a size its kind does not take.
    """
    name, sep, size_text = name.partition(":")
    if sep and not (size_text.isascii() and size_text.isdigit()):
        raise UsageError(f"--backend {name}:{size_text}: the size after ':' must be a "
                         f"whole number, e.g. --backend {name}:3")
    if "." not in name:
        if name in BUILTIN:
            kind = BUILTIN[name]
            if kind is None:
                if sep:
                    raise UsageError(f"--backend {name}:{size_text}: {name} starts no server, "
                                     f"so it takes no size; use --backend {name}")
                return Backend(name=name, extra_servers=extra_servers)
            k = KINDS[kind]
            size = k.check_size(int(size_text), name) if sep else k.default_size
            return Backend(name=name, server=kind, size=size, extra_servers=extra_servers)
        if name in _NOT_YET:
            raise UsageError(
                f"backend {name!r} is not supported yet: it {_NOT_YET[name]}; "
                f"choose one of {', '.join(BUILTIN)} or pass an import path"
            )
        close = difflib.get_close_matches(name, [*BUILTIN, *_NOT_YET], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(
            f"unknown backend {name!r}: {hint}use one of {', '.join(BUILTIN)} "
            "or an import path such as 'mypkg.caches.MyCache'"
        )
    if sep:
        raise UsageError(f"--backend {name}:{size_text}: a size applies to built-in backends "
                         f"only; use --backend {name} with --server KIND")
    module, _, attr = name.rpartition(".")
    if not _module_exists(module, pythonpath or []):
        raise UsageError(
            f"unknown backend {name!r}: module {module!r} cannot be found; "
            "check the spelling or add its directory to PYTHONPATH"
        )
    return Backend(name=name, extra_servers=extra_servers)


def _module_exists(module: str, pythonpath: list[str]) -> bool:
    # Look the module up without importing it: importing user code in the
    # harness process could have side effects the workers are meant to own.
    saved = list(sys.path)
    sys.path[:0] = [p for p in pythonpath if p]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path[:] = saved


def pythonpath_entries(env: dict[str, str] | None = None) -> list[str]:
    raw = (env if env is not None else os.environ).get("PYTHONPATH", "")
    return [p for p in raw.split(os.pathsep) if p]
