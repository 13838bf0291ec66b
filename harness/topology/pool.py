"""One topology per (backend, worker class, workers, preload, app) per run.

The pool starts each backend server once and keeps it for the whole run,
and starts gunicorn lazily for each combination.  Tests are ordered by
combination, so only one gunicorn runs at a time and none starts twice.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import observe
from ..errors import BootError, HarnessError, ReadinessTimeout
from .backends import Backend, ServerKind, kinds_read
from .gunicorn import Gunicorn, GunicornSpec, WorkerClass, serve
from .kinds import APP_CONFIG, KINDS, OPTION_CONFIG, check_servers
from .processes import ledger
from .proxy import Proxy, front
from .rowclient import interpreter
from .servers import Deployment, Launcher, XProcessLike, ready_timeout
from .tree import Copier, Copy, instance_failed


def needed_servers(backend: Backend, user_config: dict[str, Any]) -> tuple[ServerKind, ...]:
    """The servers the harness must start for ``backend``: those the user's config does not name.

    A kind's ``user_keys`` are the config keys by which a user points a
    backend at a server of their own; then the harness starts none and
    checks theirs instead.
    """
    return tuple(kind for kind in backend.servers
                 if not any(k in user_config for k in KINDS[kind].user_keys))


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
        return f"{self.backend.label} {self.worker_class}x{self.workers}{pre}"


@dataclass(kw_only=True)
class Topology:
    """A running gunicorn plus the servers behind it."""

    key: TopologyKey
    gunicorn: Gunicorn
    servers: dict[ServerKind, Deployment]
    config: dict[str, Any]
    workdir: Path
    #: True when the servers are this topology's own (a fault scenario's),
    #: not the run's shared ones.
    private: bool = False
    #: The fault proxies between its workers and its servers' primary nodes.
    proxies: list[Proxy] = field(default_factory=list)

    @property
    def workers(self) -> list[Any]:
        return self.gunicorn.workers

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.gunicorn.workers]

    def describe(self) -> list[dict[str, Any]]:
        """Every process of this topology, as ``Result.topology`` rows."""
        rows = [row for d in self.servers.values() for row in d.describe()]
        rows.append({"kind": "gunicorn", "role": "arbiter", "port": self.gunicorn.port,
                     "pid": self.gunicorn.master_pid})
        rows += [{"kind": "gunicorn", "role": "worker", "socket": str(w.socket_path), "pid": w.pid,
                  "client": self.gunicorn.client} for w in self.gunicorn.workers]
        rows += [p.describe() for p in self.proxies]
        return rows


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
    #: What the project copy of an extra instance leaves out beyond
    #: :data:`~harness.topology.tree.LEFT_OUT`: name patterns (``--copy-exclude``)
    #: and directories (the run's report directory).
    copy_exclude: tuple[str, ...] = ()
    keep_out: tuple[Path, ...] = ()
    #: The app's interpreter (``--python``) for every instance the pool starts;
    #: None: the harness's own.  An instance given ``python=`` (a rolling
    #: deploy's venvs) keeps its own.
    python: str | None = None
    #: How long a server kind may take to become ready; read (and checked)
    #: when the pool is made, before it starts anything.
    ready_timeout: float = field(default_factory=ready_timeout)
    _stack: ExitStack = field(default_factory=ExitStack)
    _servers: dict[tuple[ServerKind, int], Deployment] = field(default_factory=dict)
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
    #: The project copy, made on first use and shared by every extra
    #: instance; or why it could not be made.
    _copier: Copier | None = None

    def server(self, kind: ServerKind, size: int) -> Deployment:
        """The run's shared deployment of ``kind`` at ``size``, started on first use."""
        if (kind, size) not in self._servers:
            self._servers[kind, size] = self.deploy(kind, size, self._stack, owner="run")
        return self._servers[kind, size]

    def deploy(self, kind: ServerKind, size: int, stack: ExitStack, *, owner: str) -> Deployment:
        """Start ``kind`` at ``size``; ``stack`` stops every node it started, even on failure."""
        self._started += 1
        own = ExitStack()
        launcher = Launcher(xprocess=self.xprocess, root=self._root / "servers", stack=own,
                            prefix=f"coherence-{self._started:03d}-{owner}-{kind}",
                            ready_timeout=self.ready_timeout)
        try:
            deployment = Deployment.start(kind, size, launcher)
        except BaseException:
            own.close()
            raise
        stack.enter_context(own)
        return deployment

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
                 for k in KINDS[kind].user_keys if k in self.user_config]
        if "CACHE_DIR" in self.user_config and backend.has_directory:
            named.append(f"CACHE_DIR={self.user_config['CACHE_DIR']!r}")
        return ", ".join(named) or None

    def health(self, topology: Topology, *, when: str) -> list[dict[str, Any]]:
        """What is wrong with the servers the harness started for ``topology``."""
        problems = []
        for deployment in topology.servers.values():
            for node, problem in deployment.health():
                status = node.popen.poll() if node.popen is not None else None
                problems.append({
                    "process": f"{node.binary} {node.role} pid {node.pid} port {node.port}",
                    "problem": problem, "exit_status": status, "noticed": when,
                    "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "log": str(self._keep_log(node.log, f"{node.kind}-{node.port}")),
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
        return exc.with_log(self._keep_log(exc.log, label), note="full log:")

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

    def project_copy(self) -> Copy:
        """The copy of the app's project tree extra instances start from, made once.

        See :class:`~harness.topology.tree.Copier`; raises InstanceBootError
        (an ``error`` row, not the end of the run) when it cannot be made.
        """
        if self._copier is None:
            self._copier = Copier(app=self.app, app_root=self.app_root,
                                  target=self._root / "project-copy",
                                  exclude=self.copy_exclude, keep_out=self.keep_out)
        return self._copier.get()

    def start(self, key: TopologyKey, *, name: str, stack: ExitStack,
              config: dict[str, Any] | None = None, private_servers: bool = False,
              servers: dict[ServerKind, Deployment] | None = None, elsewhere: bool = False,
              proxied: bool = False, style: str = "", **spec: Any) -> Topology:
        """Start a topology the caller owns (its ``stack`` stops it).

        For scenarios that need an instance of their own, such as a second
        master or extra config, outside the shared one-per-key cache.  With
        ``private_servers`` its cache servers are its own too, so a fault
        injected into them cannot touch any other scenario; ``servers``
        (another instance's private ones) puts a second instance on them.
        ``elsewhere`` starts it from :meth:`project_copy`, as another
        deployment of the project.  ``proxied`` puts a fault proxy
        (:mod:`~harness.topology.proxy`) in front of each of its private
        servers' primary nodes, which its workers reach only through it;
        ``style`` names the servers in another of the kind's config styles.
        When its gunicorn does not boot, the
        error (:class:`~harness.errors.InstanceBootError`) quotes the log
        and ends only the scenario.
        """
        copy = self.project_copy() if elsewhere else None
        if copy is not None:
            spec["app_root"] = copy.root
        try:
            return self._start(key, stack, name=name, extra_config=config or {},
                               private_servers=private_servers or servers is not None,
                               servers=servers, proxied=proxied, style=style, **spec)
        except HarnessError as exc:
            raise self._kept(exc, f"{key.label}-{name}") from None

    def _start(self, key: TopologyKey, stack: ExitStack, *, name: str = "",
               extra_config: dict[str, Any] | None = None, private_servers: bool = False,
               servers: dict[ServerKind, Deployment] | None = None, proxied: bool = False,
               style: str = "", **spec: Any) -> Topology:
        size = key.backend.size
        if servers is None:
            servers = {kind: (self.deploy(kind, size, stack, owner=_slug(name)[:12] or "own")
                              if private_servers else self.server(kind, size))
                       for kind in self.needed_servers(key.backend)}
        # Numbered and short: worker sockets live under it, and AF_UNIX
        # paths are limited to 107 bytes.
        self._started += 1
        label = _slug("-".join(p for p in (key.label, name) if p))[:40]
        workdir = self._root / f"{self._started:03d}-{label}"
        if workdir.exists():
            shutil.rmtree(workdir)
        cache_dir = workdir / "cache"
        cache_dir.mkdir(parents=True)
        if proxied and not private_servers:
            raise ValueError("a fault proxy fronts only an instance's private servers; "
                             "pass private_servers=True")
        server_config: dict[str, Any] = {}
        proxies: list[Proxy] = []
        for deployment in servers.values():
            fronts = [front(deployment.launcher, n)
                      for n in deployment.role(deployment.kind.primary)] if proxied else []
            proxies += fronts
            server_config.update(deployment.config(
                style=style if style in deployment.kind.styles() else "",
                via={p.upstream.port: p.port for p in fronts}))
        config = {} if self.own_cache else key.backend.cache_config(
            cache_dir=str(cache_dir), server_config=server_config)
        config.update(self.user_config)
        config.update(extra_config or {})
        # Only the servers the user named: one of the harness's own that has
        # died is no configuration problem, and the scenarios on it end in
        # error rather than the run in a usage error blaming --config.
        check_configured_servers(self.user_config, origin=OPTION_CONFIG,
                                 kinds=kinds_read(key.backend))
        gspec = GunicornSpec(
            app=spec.pop("app", key.app or self.app),
            app_root=spec.pop("app_root", self.app_root), cache=self.cache,
            python=spec.pop("python", None) or interpreter(key.backend, self.python),
            workers=key.workers, worker_class=key.worker_class, preload=key.preload, config=config,
            port=self.port if not name else None, client=key.backend.spec.client, **spec,
        )
        observe.emit(observe.Step.TOPOLOGY, workdir=workdir.name, backend=key.backend.label,
                     name=name or "shared")
        try:
            g = stack.enter_context(serve(gspec, workdir))
        except ReadinessTimeout:
            raise
        except BootError as exc:
            if not name:
                raise
            raise instance_failed(name, self._copier, gspec.app_root, exc) from None
        return Topology(key=key, gunicorn=g, servers=servers, config=config, workdir=workdir,
                        private=private_servers, proxies=proxies)

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


def check_configured_servers(config: dict[str, Any], *,
                             origin: str | Mapping[str, str] = APP_CONFIG,
                             kinds: tuple[ServerKind, ...] | None = None) -> None:
    """Raise ServerUnreachable unless each server ``config`` names answers as its kind.

    ``origin`` is whose config it is, or each key's: the app's own (what
    :func:`harness.probe.probe_app` checks) or ``--config`` (the pool's).
    ``kinds``: only the servers of these kinds (those the backend reads).
    """
    check_servers(config, origin=origin, kinds=kinds)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
