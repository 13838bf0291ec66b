"""Which cache backends the harness knows, and what each one needs: one spec per backend.

A backend is named the way Flask-Caching names it in ``CACHE_TYPE``: either a
class in ``flask_caching.backends`` (``RedisCache``) or an import path to a
custom class (``mypkg.caches.MyCache``).  Each built-in is a
:class:`BackendSpec` in :data:`BUILTIN`: the server kind it runs on, where it
keeps its entries, the config it always gets, whether it is the no-cache
baseline, and its row label, which is not always its ``CACHE_TYPE``.  The
harness resolves a name once, up front, so a typo fails in the first second
rather than as a worker that cannot boot; a malformed spec fails at import.
"""

from __future__ import annotations

import difflib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import DefinitionError, UsageError, shorten
from .kinds import KINDS
from .storage import DirectoryStorage, Storage, no_barrier

#: A server kind's name in :data:`harness.topology.kinds.KINDS`.
ServerKind = str

#: Where a backend keeps its entries:
#:
#: - ``none``: in no place another process can see (NullCache, SimpleCache);
#: - ``directory``: files in ``CACHE_DIR`` (FileSystemCache);
#: - ``server``: the servers of its kind;
#: - ``unknown``: a custom backend's, which the harness cannot know: it gets
#:   a ``CACHE_DIR`` and its ``--server`` servers, and any of them the user
#:   names with ``--config`` counts as storage of the user's.
StorageKind = Literal["none", "directory", "server", "unknown"]


#: Characters a row label cannot hold: each means something where labels are parsed.
_NOT_IN_LABELS = ":@[] "


@dataclass(frozen=True, kw_only=True)
class BackendSpec:
    """One backend the harness knows: what it runs on, and how its rows are named."""

    #: The row name in every report and the key of its expectations.
    label: str
    #: What the app's ``CACHE_TYPE`` is set to.
    cache_type: str
    #: The server kind the harness starts for it, or None.
    kind: ServerKind | None = None
    storage: StorageKind = "none"
    #: Config it always gets, before the servers' and the user's.
    config: dict[str, Any] = field(default_factory=dict, hash=False)
    #: The no-cache baseline the cost section measures every backend against.
    baseline: bool = False
    #: Known to the harness (documented in the expectations), not a user's import path.
    builtin: bool = True
    #: The package the cache's client must come from (the label ends in
    #: ``[pylibmc]``); a worker holding another's fails to boot.  None: any.
    client: str | None = None
    #: What its workers' venv adds to this stack (:func:`.venvs.for_client`).
    requirements: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = partial(DefinitionError.of, f"backend spec {self.label!r}")

        if not self.label or not self.cache_type:
            raise bad("has no label or no cache_type", "give both, e.g. label='RedisCache', "
                      "cache_type='RedisCache'")
        odd = sorted(set(self.label.removesuffix(f"[{self.client}]" if self.client else ""))
                     & set(_NOT_IN_LABELS))
        if odd:
            raise bad(f"label has {' '.join(map(repr, odd))}", "':' is the size of --backend "
                      "NAME:N, '@' ends a test id's name under --jobs, and '[', ']' and spaces "
                      "break test ids: spell it with letters, digits, '.', '_' or '-' (a "
                      "spec with client='pylibmc' may end in '[pylibmc]')")
        if self.client is not None and not self.label.endswith(f"[{self.client}]"):
            raise bad(f"names client {self.client!r} but its label does not end in "
                      f"'[{self.client}]'", f"label it e.g. '{self.cache_type}[{self.client}]', "
                      "so the row says which client it ran")
        if self.requirements and self.client is None:
            raise bad("has requirements but no client", "requirements build the venv its "
                      "client runs in: name that client with client=...")
        if self.kind is not None and self.kind not in KINDS:
            raise bad(f"names server kind {self.kind!r}, which is not registered",
                      f"use one of {', '.join(KINDS)}, or add the kind to "
                      "harness/topology/kinds/")
        if self.storage not in get_args(StorageKind):
            raise bad(f"storage {self.storage!r} is not a storage kind",
                      f"use one of {', '.join(get_args(StorageKind))}")
        if (self.storage == "server") != (self.kind is not None):
            raise bad(f"storage {self.storage!r} with kind {self.kind!r}",
                      "a backend keeps its entries on servers exactly when it names their "
                      "kind: give both storage='server' and kind=..., or neither")
        if self.baseline and (self.storage != "none" or self.kind is not None):
            raise bad("is the baseline, but stores entries", "the baseline is a backend "
                      "that caches nothing, such as NullCache")


#: The backends the harness drives end to end, by row label.
BUILTIN: dict[str, BackendSpec] = {s.label: s for s in (
    # The warning is expected; it would only clutter the worker log.
    BackendSpec(label="NullCache", cache_type="NullCache", baseline=True,
                config={"CACHE_NO_NULL_WARNING": True}),
    BackendSpec(label="SimpleCache", cache_type="SimpleCache"),
    BackendSpec(label="FileSystemCache", cache_type="FileSystemCache", storage="directory"),
    BackendSpec(label="RedisCache", cache_type="RedisCache", kind="redis", storage="server"),
    BackendSpec(label="MemcachedCache", cache_type="MemcachedCache", kind="memcached",
                storage="server"),
    BackendSpec(label="RedisSentinelCache", cache_type="RedisSentinelCache",
                kind="redis-sentinel", storage="server"),
    BackendSpec(label="RedisClusterCache", cache_type="RedisClusterCache",
                kind="redis-cluster", storage="server"),
    # cachelib tries pylibmc before python-memcached (cachelib/memcached.py:
    # 299-314); its workers run in a venv that adds it to this stack.
    BackendSpec(label="MemcachedCache[pylibmc]", cache_type="MemcachedCache",
                kind="memcached", storage="server", client="pylibmc",
                requirements=("pylibmc==1.6.3",)),
)}


def _the_baseline(specs: dict[str, BackendSpec]) -> BackendSpec:
    found = [s for s in specs.values() if s.baseline]
    if len(found) != 1:
        raise DefinitionError(
            f"BUILTIN has {len(found)} baseline backends ({', '.join(s.label for s in found)}); "
            "mark exactly one backend that caches nothing with baseline=True")
    return found[0]


#: The no-cache backend that ``load`` rows are measured against ("vs NullCache").
BASELINE: BackendSpec = _the_baseline(BUILTIN)

#: What ``coherence run`` checks when no ``--backend`` is given: every
#: built-in at its kind's default size, plus memcached over several servers;
#: not the rows whose client needs a venv of its own (``--backend`` opts in).
DEFAULT_BACKENDS: tuple[str, ...] = (
    *(label for label, spec in BUILTIN.items() if not spec.requirements), "MemcachedCache:3")

#: The built-ins a plain run leaves out: each needs its client's venv built.
OPT_IN_BACKENDS: tuple[str, ...] = tuple(label for label, spec in BUILTIN.items()
                                         if spec.requirements)

__all__ = ["BASELINE", "BUILTIN", "DEFAULT_BACKENDS", "OPT_IN_BACKENDS", "Backend",
           "BackendSpec", "ServerKind", "OLD_ALIASES", "StorageKind", "kinds_read", "of_app",
           "open_storage", "replication_barrier", "resolve"]

# Flask-Caching backends that exist upstream but need a topology the harness
# cannot start yet; naming one is a usage error with a clear reason.
_NOT_YET = {
    "SASLMemcachedCache": "needs a SASL-enabled memcached",
    "SpreadSASLMemcachedCache": "needs a SASL-enabled memcached",
    "UWSGICache": "only works inside uWSGI, not gunicorn",
}


@dataclass(frozen=True, kw_only=True)
class Backend:
    """A resolved backend: its spec, its size, and the servers it needs."""

    spec: BackendSpec
    #: The ``:N`` of ``--backend``: how many of its kind's size unit (servers,
    #: masters, replicas); the kind's default when not given.
    size: int = 1
    #: Servers to start for a custom backend (``--server``); a built-in runs
    #: on its own kind's alone.
    extra_servers: tuple[ServerKind, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.spec.builtin and self.extra_servers:
            raise DefinitionError(
                f"backend {self.spec.label!r} is built in and runs on its own kind's servers "
                f"alone, not also on {', '.join(self.extra_servers)}; --server is for custom "
                "backends only")

    @property
    def name(self) -> str:
        """The ``CACHE_TYPE`` the app is given."""
        return self.spec.cache_type

    @property
    def server(self) -> ServerKind | None:
        return self.spec.kind

    @property
    def label(self) -> str:
        """The row name in every report: the spec's label, and ``:N`` unless N is a default 1."""
        if self.server is None or self.size == KINDS[self.server].default_size == 1:
            return self.spec.label
        return f"{self.spec.label}:{self.size}"

    @property
    def servers(self) -> tuple[ServerKind, ...]:
        needed = ((self.server,) if self.server else ()) + self.extra_servers
        return tuple(dict.fromkeys(needed))

    @property
    def has_directory(self) -> bool:
        """Whether it may keep entries in ``CACHE_DIR`` (FileSystemCache, a custom backend)."""
        return self.spec.storage in ("directory", "unknown")

    def cache_config(
        self, *, cache_dir: str, server_config: dict[str, Any]
    ) -> dict[str, Any]:
        """The Flask config for this backend, before the user's ``--config``.

        ``server_config`` is what the started servers' kinds give (their
        addresses): its own kind's for a built-in, its ``--server`` kinds'
        for a custom backend, which also gets a ``CACHE_DIR``, so a subclass
        of any built-in finds the settings its parent expects.
        """
        config: dict[str, Any] = {"CACHE_TYPE": self.name}
        if self.has_directory:
            config["CACHE_DIR"] = cache_dir
        config.update(self.spec.config)
        config.update(server_config)
        return config


def resolve(
    name: str,
    *,
    extra_servers: tuple[ServerKind, ...] = (),
    pythonpath: list[str] | None = None,
) -> Backend:
    """Turn a ``--backend`` value (``NAME`` or ``NAME:N``) into a :class:`Backend`.

    ``extra_servers`` (``--server``) go to a custom backend only: a built-in
    runs on its own kind.  Raises UsageError for an unknown name or a size
    its kind does not take.
    """
    name, sep, size_text = name.partition(":")
    # A 100 kB value echoed whole would bury the line that names the problem.
    shown, size_shown = shorten(name, quote=False), shorten(size_text, quote=False)
    if sep and not (size_text.isascii() and size_text.isdigit()):
        raise UsageError(f"--backend {shown}:{size_shown}: the size after ':' must be a "
                         f"whole number, e.g. --backend {shown}:3")
    if "." not in name:
        if name in BUILTIN:
            spec = BUILTIN[name]
            if spec.kind is None:
                if sep:
                    raise UsageError(f"--backend {shown}:{size_shown}: {shown} starts no server, "
                                     f"so it takes no size; use --backend {shown}")
                return Backend(spec=spec)
            k = KINDS[spec.kind]
            size = k.check_size(int(size_text), name) if sep else k.default_size
            return Backend(spec=spec, size=size)
        if name in _NOT_YET:
            raise UsageError(
                f"backend {shorten(name)} is not supported yet: it {_NOT_YET[name]}; "
                f"choose one of {', '.join(BUILTIN)} or pass an import path"
            )
        close = difflib.get_close_matches(name, [*BUILTIN, *_NOT_YET], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(
            f"unknown backend {shorten(name)}: {hint}use one of {', '.join(BUILTIN)} "
            "or an import path such as 'mypkg.caches.MyCache'"
        )
    if sep:
        raise UsageError(f"--backend {shown}:{size_shown}: a size applies to built-in backends "
                         f"only; use --backend {shown} with --server KIND")
    module, _, attr = name.rpartition(".")
    if not all(part.isidentifier() for part in name.split(".")):
        raise UsageError(f"--backend {shorten(name)} is not an import path: a custom backend is "
                         "MODULE.CLASS, dotted names only, e.g. 'mypkg.caches.MyCache'")
    if not _module_exists(module, pythonpath or []):
        raise UsageError(
            f"unknown backend {shorten(name)}: module {shorten(module)} cannot be found; "
            "check the spelling or add its directory to PYTHONPATH"
        )
    spec = BackendSpec(label=name, cache_type=name, storage="unknown", builtin=False)
    return Backend(spec=spec, extra_servers=extra_servers)


#: cachelib's own classes that are, for the harness, the built-in of the same
#: name: each keeps its entries where the built-in does (nowhere another
#: process sees), and reads no server setting.  Flask-Caching's built-ins
#: subclass them (flask_caching/backends/simplecache.py:24).
_CACHELIB_AS_BUILTIN = {"cachelib.simple.SimpleCache": "SimpleCache",
                        "cachelib.base.NullCache": "NullCache"}


#: The ``CACHE_TYPE`` aliases of Flask-Caching before 2.5, each a function of
#: ``flask_caching.backends`` returning the class named here (Flask-Caching
#: 2.4.1, backends/__init__.py:38-84); 2.5 removed them, so there such a
#: CACHE_TYPE fails to import.
OLD_ALIASES = {"null": "NullCache", "simple": "SimpleCache", "filesystem": "FileSystemCache",
               "redis": "RedisCache", "redissentinel": "RedisSentinelCache",
               "rediscluster": "RedisClusterCache", "uwsgi": "UWSGICache",
               "memcached": "MemcachedCache", "gaememcached": "MemcachedCache",
               "saslmemcached": "SASLMemcachedCache",
               "spreadsaslmemcached": "SpreadSASLMemcachedCache"}


def of_app(backend_class: str, *, pythonpath: list[str] | None = None) -> Backend:
    """The backend an app's cache is, by the class the app's Flask-Caching made it from.

    The class is what the installed Flask-Caching resolved ``CACHE_TYPE``
    to, however the app spelled it: a class name, which it prefixes with
    ``flask_caching.backends.`` (flask_caching/__init__.py:283-287,
    ``_set_cache``); an import path; or, before 2.5, an old alias such as
    ``redis``, a function of ``flask_caching.backends`` that returns the
    built-in (Flask-Caching 2.4, backends/__init__.py:50-51).  So
    ``flask_caching.backends.simplecache.SimpleCache`` and ``SimpleCache``
    are one row; a class of the app's own is a custom backend.
    """
    module, _, name = backend_class.rpartition(".")
    if module.startswith("flask_caching.backends") and name in BUILTIN:
        return resolve(name)
    if backend_class in _CACHELIB_AS_BUILTIN:
        return resolve(_CACHELIB_AS_BUILTIN[backend_class])
    if module.startswith("flask_caching.backends") and name in _NOT_YET:
        raise UsageError(f"the app's cache is {name}, which the harness does not check yet: "
                         f"it {_NOT_YET[name]}; choose a backend with --backend")
    return resolve(backend_class, pythonpath=pythonpath)


def kinds_read(backend: Backend) -> tuple[ServerKind, ...] | None:
    """The server kinds whose config keys ``backend`` reads; None: any kind's.

    A built-in reads its own kind's alone (each factory in
    flask_caching/backends/rediscache.py:70-105, :201-219, :303-319 and
    memcache.py:100-109 reads only its kind's keys).  A class from cachelib
    is made from ``CACHE_ARGS`` and ``CACHE_OPTIONS`` alone, never a
    ``CACHE_*`` server key (flask_caching/__init__.py:312-313, the
    ``"cachelib"`` in its import path); a custom factory may read anything.
    """
    if backend.spec.builtin:
        return backend.servers
    if "cachelib" in backend.name:
        return ()
    return None


def _module_exists(module: str, pythonpath: list[str]) -> bool:
    """Whether ``module`` can be found, without importing it or any package above it.

    ``importlib.util.find_spec('a.b')`` imports ``a`` to read its path, which
    would run user code (that may block, raise or exit) in the harness's own
    process; only the top-level name is looked up that way, which imports
    nothing, and each name below it in its parent's directories.  The
    workers, or the app check's probe, import it for real.
    """
    if module in sys.modules:
        return True
    top, *below = module.split(".")
    saved = list(sys.path)
    sys.path[:0] = [p for p in pythonpath if p]
    try:
        spec = importlib.util.find_spec(top)
        for depth, _ in enumerate(below, start=1):
            if spec is None or spec.submodule_search_locations is None:
                return False
            name = ".".join([top, *below[:depth]])
            spec = importlib.machinery.PathFinder.find_spec(
                name, list(spec.submodule_search_locations))
        return spec is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path[:] = saved


def pythonpath_entries(env: dict[str, str] | None = None) -> list[str]:
    raw = (env if env is not None else os.environ).get("PYTHONPATH", "")
    return [p for p in raw.split(os.pathsep) if p]


def open_storage(backend: Backend, config: dict[str, Any]) -> Storage | None:
    """The backend's shared storage, as a neighbour reaches it; None when it has none."""
    if backend.spec.storage == "server" and backend.server is not None:
        return KINDS[backend.server].storage(config)
    if backend.spec.storage == "directory" and config.get("CACHE_DIR"):
        return DirectoryStorage(path=Path(config["CACHE_DIR"]))
    return None


@contextmanager
def replication_barrier(backend: Backend, config: dict[str, Any]) -> Iterator[Callable[[], None]]:
    """A call that waits until the backend's replicas have every write made so far.

    For a backend that writes to a master and reads from replicas
    (RedisSentinelCache); anything else gets a call that does nothing.
    """
    storage = open_storage(backend, config)
    try:
        yield getattr(storage, "replicated", no_barrier)
    finally:
        if storage is not None:
            storage.close()
