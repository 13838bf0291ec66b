"""One topology per (backend, worker class, workers, preload, app) per run.

The pool starts each backend server once and keeps it for the whole run,
and starts gunicorn lazily for each combination.  Tests are ordered by
combination, so only one gunicorn runs at a time and none starts twice.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..backends import Backend, ServerKind
from ..errors import HarnessError, ServerUnreachable
from .gunicorn import Gunicorn, GunicornSpec, WorkerClass, serve
from .ports import reachable
from .processes import ledger
from .servers import Server, XProcessLike, health, running

# Config keys by which a user points a backend at a server of their own;
# when given, the harness starts no server of that kind and checks theirs.
USER_SERVER_KEYS: dict[ServerKind, tuple[str, ...]] = {
    "redis": ("CACHE_REDIS_URL", "CACHE_REDIS_HOST", "CACHE_REDIS_PORT"),
    "memcached": ("CACHE_MEMCACHED_SERVERS",),
}


def needed_servers(backend: Backend, user_config: dict[str, Any]) -> tuple[ServerKind, ...]:
    """The servers the harness must start for ``backend``: those the user's config does not name."""
    return tuple(kind for kind in backend.servers
                 if not any(k in user_config for k in USER_SERVER_KEYS[kind]))


@dataclass(frozen=True, kw_only=True)
class TopologyKey:
    backend: Backend
    worker_class: WorkerClass
    workers: int
    preload: bool = False
    #: MODULE:NAME of the app gunicorn serves; "" means the pool's default.
    app: str = ""

    @property
    def label(self) -> str:
        pre = "+preload" if self.preload else ""
        return f"{self.backend.name} {self.worker_class}x{self.workers}{pre}"


@dataclass(kw_only=True)
class Topology:
    """A running gunicorn plus the servers behind it."""

    key: TopologyKey
    gunicorn: Gunicorn
    servers: dict[ServerKind, Server]
    config: dict[str, Any]
    workdir: Path

    @property
    def workers(self) -> list[Any]:
        return self.gunicorn.workers

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.gunicorn.workers]


@dataclass(kw_only=True)
class TopologyPool:
    """Owns every process of a run; :meth:`close` stops them all."""

    xprocess: XProcessLike
    app: str
    app_root: Path
    user_config: dict[str, Any] = field(default_factory=dict)
    port: int | None = None
    #: Where a failed boot's log is copied, so the message can name a file
    #: that still exists when it is read.
    log_dir: Path | None = None
    #: A foreign app on the cache it configures itself: the harness starts no
    #: server and sets no backend config, only ``user_config``.
    own_cache: bool = False
    #: Which of a foreign app's Flask-Caching instances to drive.
    cache: str | None = None
    _stack: ExitStack = field(default_factory=ExitStack)
    _servers: dict[ServerKind, Server] = field(default_factory=dict)
    _current: tuple[TopologyKey, Topology, ExitStack] | None = None
    # A topology that failed to start fails the same way for every later
    # test that asks for it, instead of paying the boot timeout again.
    _failed: dict[TopologyKey, HarnessError] = field(default_factory=dict)
    _started: int = 0
    _retiring: list[threading.Thread] = field(default_factory=list)
    _retire_errors: list[BaseException] = field(default_factory=list)
    #: Server logs already copied under :attr:`log_dir`, so a dead server
    #: noticed by every later scenario is copied once.
    _kept_logs: dict[Path, Path] = field(default_factory=dict)
    _root: Path = field(default_factory=lambda: ledger().directory(
        Path(tempfile.mkdtemp(prefix="coherence-"))))

    def server(self, kind: ServerKind) -> Server:
        """The run's server of ``kind``, started on first use."""
        if kind not in self._servers:
            self._servers[kind] = self._stack.enter_context(
                running(self.xprocess, kind, name=f"coherence-{kind}")
            )
        return self._servers[kind]

    def needed_servers(self, backend: Backend) -> tuple[ServerKind, ...]:
        if self.own_cache:
            return ()
        return needed_servers(backend, self.user_config)

    def foreign_storage(self, backend: Backend) -> str | None:
        """The user's ``--config`` naming storage this backend would use, or None.

        Such storage belongs to someone else: the harness did not start it,
        so it must not clear it without ``--allow-destructive``.
        """
        if self.own_cache:
            return f"the app's own {backend.name}"
        named = [f"{k}={self.user_config[k]!r}" for kind in backend.servers
                 for k in USER_SERVER_KEYS[kind] if k in self.user_config]
        if "CACHE_DIR" in self.user_config and (backend.name == "FileSystemCache"
                                                or "." in backend.name):
            named.append(f"CACHE_DIR={self.user_config['CACHE_DIR']!r}")
        return ", ".join(named) or None

    def health(self, topology: Topology, *, when: str) -> list[dict[str, Any]]:
        """What is wrong with the servers the harness started for ``topology``."""
        problems = []
        for server in topology.servers.values():
            problem = health(server)
            if problem is not None:
                status = server.popen.poll() if server.popen is not None else None
                problems.append({
                    "process": f"{server.kind} pid {server.pid} port {server.port}",
                    "problem": problem, "exit_status": status, "noticed": when,
                    "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "log": str(self._keep_log(server.log, f"{server.kind}-{server.port}")),
                })
        return problems

    def _keep_log(self, log: Path, label: str) -> Path:
        """A copy of ``log`` under :attr:`log_dir`, which outlives the run's temp files."""
        if self.log_dir is None:
            return log
        if log in self._kept_logs:
            return self._kept_logs[log]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        copy = self.log_dir / f"{stamp}-{_slug(label)}.log"
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, copy)
        except OSError:
            return log
        self._kept_logs[log] = copy
        return copy

    def _kept(self, exc: HarnessError, label: str) -> HarnessError:
        """``exc`` with its log copied to safety and named in the message."""
        if exc.log is None or self.log_dir is None:
            return exc
        copy = self._keep_log(exc.log, label)
        message = exc.message.replace(f"; see {exc.log}", "").replace(f" see {exc.log}", "")
        return type(exc)(f"{message}; full log: {copy}", log=copy)

    def get(self, key: TopologyKey) -> Topology:
        """The running topology for ``key``, replacing any other one."""
        if self._current is not None:
            if self._current[0] == key:
                return self._current[1]
            # A fixed --port must be free again before the next instance binds it.
            if self.port is None:
                self.retire(self._current[2])
            else:
                self._current[2].close()
            self._current = None
        if key in self._failed:
            raise self._failed[key]
        stack = ExitStack()
        try:
            topo = self._start(key, stack)
        except HarnessError as exc:
            stack.close()
            kept = self._kept(exc, key.label)
            self._failed[key] = kept
            raise kept from None
        except BaseException:
            stack.close()
            raise
        self._current = (key, topo, stack)
        return topo

    def retire(self, stack: ExitStack) -> None:
        """Stop what ``stack`` owns in the background; :meth:`close` waits for it.

        Gunicorn takes about half a second to stop; the run need not wait
        for that before it boots the next instance on another port.
        """
        def _close() -> None:
            try:
                stack.close()
            except BaseException as exc:  # noqa: BLE001 - re-raised by close()
                self._retire_errors.append(exc)

        thread = threading.Thread(target=_close, name="coherence-retire")
        thread.start()
        self._retiring.append(thread)

    def scratch(self, name: str) -> Path:
        """A fresh directory for this run, e.g. a CACHE_DIR two instances share."""
        path = self._root / "scratch" / _slug(name)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def start(self, key: TopologyKey, *, name: str, stack: ExitStack,
              config: dict[str, Any] | None = None, **spec: Any) -> Topology:
        """Start a topology the caller owns (its ``stack`` stops it).

        For scenarios that need an instance of their own, such as a second
        master or extra config, outside the shared one-per-key cache.
        """
        try:
            return self._start(key, stack, name=name, extra_config=config or {}, **spec)
        except HarnessError as exc:
            raise self._kept(exc, f"{key.label}-{name}") from None

    def _start(self, key: TopologyKey, stack: ExitStack, *, name: str = "",
               extra_config: dict[str, Any] | None = None, **spec: Any) -> Topology:
        servers = {kind: self.server(kind) for kind in self.needed_servers(key.backend)}
        # Numbered and short: worker sockets live under it, and AF_UNIX
        # paths are limited to 107 bytes.
        self._started += 1
        label = _slug("-".join(p for p in (key.label, name) if p))[:40]
        workdir = self._root / f"{self._started:03d}-{label}"
        if workdir.exists():
            shutil.rmtree(workdir)
        cache_dir = workdir / "cache"
        cache_dir.mkdir(parents=True)
        config = {} if self.own_cache else key.backend.cache_config(
            cache_dir=str(cache_dir), server_urls={k: s.url for k, s in servers.items()}
        )
        config.update(self.user_config)
        config.update(extra_config or {})
        check_configured_servers(config)
        gspec = GunicornSpec(
            app=spec.pop("app", key.app or self.app),
            app_root=spec.pop("app_root", self.app_root), cache=self.cache,
            workers=key.workers,
            worker_class=key.worker_class, preload=key.preload, config=config,
            port=self.port if not name else None, **spec,
        )
        g = stack.enter_context(serve(gspec, workdir))
        return Topology(key=key, gunicorn=g, servers=servers, config=config, workdir=workdir)

    def close(self) -> None:
        try:
            if self._current is not None:
                self._current[2].close()
                self._current = None
        finally:
            try:
                for thread in self._retiring:
                    thread.join()
            finally:
                self._stack.close()
                shutil.rmtree(self._root, ignore_errors=True)
                ledger().forget_directory(self._root)
        if self._retire_errors:
            raise self._retire_errors[0]


def check_configured_servers(config: dict[str, Any]) -> None:
    """Raise ServerUnreachable if a server named in ``config`` refuses TCP."""
    targets: list[tuple[str, str, int]] = []
    url = config.get("CACHE_REDIS_URL")
    if isinstance(url, str) and url.startswith(("redis://", "rediss://")):
        parsed = urlparse(url)
        targets.append(("CACHE_REDIS_URL", parsed.hostname or "localhost", parsed.port or 6379))
    elif "CACHE_REDIS_HOST" in config or "CACHE_REDIS_PORT" in config:
        targets.append(("CACHE_REDIS_HOST/PORT", str(config.get("CACHE_REDIS_HOST", "localhost")),
                        int(config.get("CACHE_REDIS_PORT", 6379))))
    servers = config.get("CACHE_MEMCACHED_SERVERS") or []
    for entry in [servers] if isinstance(servers, str) else servers:
        if isinstance(entry, str) and not entry.startswith("unix:"):
            host, _, port_text = entry.rpartition(":")
            if host and port_text.isdigit():
                targets.append(("CACHE_MEMCACHED_SERVERS", host, int(port_text)))
    for source, host, port in targets:
        problem = reachable(host, port)
        if problem is not None:
            raise ServerUnreachable(
                f"cache server {host}:{port} from {source} is unreachable ({problem}); "
                f"start it, correct --config {source.split('/')[0]}, or drop that "
                "--config to let the harness start its own server"
            )


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
