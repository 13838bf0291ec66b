"""Start one gunicorn master for an app and address each of its workers.

:func:`serve` is a context manager: it starts gunicorn in its own process
group with an explicit config file, bind address, working directory and a
cleaned environment, waits until every worker answers on its private
socket, yields a :class:`Gunicorn`, and on the way out stops the whole
process group whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import observe
from ..client import WorkerClient
from ..errors import BootError
from ..worker.protocol import ROUTE_PREFIX
from . import boots
from .ports import HOST, ensure_free, free_port
from .processes import ledger, set_pdeathsig
from .rowclient import proven
from .tree import search_path
from .workerpath import CONF_FILE, WRAPPER
from .workerpath import directory as worker_directory

WorkerClass = Literal["sync", "gthread", "gevent"]
WORKER_CLASSES: tuple[WorkerClass, ...] = ("sync", "gthread", "gevent")

STOP_TIMEOUT = 5.0


# Variables gunicorn or the app would read on their own, changing what we
# start behind our back (gunicorn/config.py reads GUNICORN_CMD_ARGS; PORT sets the bind).
_SCRUBBED = ("GUNICORN_CMD_ARGS", "PORT", "WEB_CONCURRENCY", "PYTHONSTARTUP")


@dataclass(frozen=True, kw_only=True)
class GunicornSpec:
    """Everything that decides how a gunicorn instance is started."""

    #: The app as the user named it (``mod:app`` or ``mod:create_app()``);
    #: gunicorn serves it through :mod:`harness.worker.wrap`.
    app: str
    app_root: Path
    #: Which of the app's Flask-Caching instances to drive; None: its only one.
    cache: str | None = None
    #: Another environment's interpreter (rolling-deploy), and directories
    #: its workers need on PYTHONPATH to find the harness.
    python: str | None = None
    pythonpath: tuple[str, ...] = ()
    workers: int = 4
    worker_class: WorkerClass = "sync"
    preload: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    port: int | None = None
    max_requests: int = 0
    #: The package every worker's cache client must come from (a row's
    #: ``BackendSpec.client``); None: any.
    client: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers!r}")
        if self.worker_class not in WORKER_CLASSES:
            raise ValueError(f"worker_class must be one of {WORKER_CLASSES}")


@dataclass(kw_only=True)
class Gunicorn:
    """A running gunicorn master and the clients for its live workers."""

    spec: GunicornSpec
    process: subprocess.Popen[bytes]
    port: int
    socket_dir: Path
    log: Path
    workers: list[WorkerClient]
    #: The client class the workers' caches hold, as they answered (None: none, or several).
    client: str | None = None

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def discover(self, *, count: int, exclude: set[int] = frozenset(),  # type: ignore[assignment]
                 ) -> list[WorkerClient]:
        """Wait until ``count`` workers (pids not in ``exclude``) answer: workers
        gunicorn forked by itself (a HUP, ``max_requests``), so they hold no boot
        slot, but their window still scales with the machine's load."""
        return _await_workers(self, count=count, exclude=exclude,
                              boot=boots.unslotted(count, self.spec.worker_class))


#: Libraries gunicorn_conf imports in the master before it forks; each worker
#: would import them anyway, once per boot and per worker (bench/README.md,
#: "Cheaper steps").  Modules only: no app, Cache or connection is made there.
PREIMPORT = ("flask", "flask_caching", "cachelib", "jinja2", "werkzeug")
#: Not gevent: its workers monkey-patch the standard library after the fork,
#: which must come before anything that holds a socket or thread module imports.
PREIMPORT_CLASSES = ("sync", "gthread")


def worker_env(spec: GunicornSpec, socket_dir: Path) -> dict[str, str]:
    """The cleaned environment gunicorn and its workers run with."""
    env = {
        k: v for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith("FLASK_")
    }
    # The app reads its config with Flask's from_prefixed_env(), which
    # JSON-decodes each value, so JSON-encode every value on the way in.
    for key, value in spec.config.items():
        env[f"FLASK_{key}"] = json.dumps(value)
    env["COHERENCE_SOCKET_DIR"] = str(socket_dir)
    env["COHERENCE_APP"] = spec.app
    env.pop("COHERENCE_CACHE", None)
    if spec.cache is not None:
        env["COHERENCE_CACHE"] = spec.cache
    # The app's root first, as gunicorn's own chdir puts it (tree.py), the
    # bundle of sample apps last.
    env["PYTHONPATH"] = os.pathsep.join([str(worker_directory()), *search_path(
        spec.app_root, [*spec.pythonpath, *os.environ.get("PYTHONPATH", "").split(os.pathsep)])])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("COHERENCE_PREIMPORT", None)
    if spec.worker_class in PREIMPORT_CLASSES:
        env["COHERENCE_PREIMPORT"] = ",".join(PREIMPORT)
    return env


def command(spec: GunicornSpec, port: int) -> list[str]:
    cmd = [
        spec.python or sys.executable, "-m", "gunicorn",
        "-c", str(CONF_FILE),
        "--bind", f"{HOST}:{port}",
        "--workers", str(spec.workers),
        "--worker-class", spec.worker_class,
        # Short graceful timeout: scenarios have finished their requests by
        # the time we stop, so waiting longer only slows every run down.
        "--graceful-timeout", "2",
        "--timeout", "30",
        "--log-level", "info",
    ]
    if spec.worker_class == "gthread":
        cmd += ["--threads", "4"]
    if spec.preload:
        cmd.append("--preload")
    if spec.max_requests:
        cmd += ["--max-requests", str(spec.max_requests)]
    return [*cmd, WRAPPER]


@contextmanager
def serve(spec: GunicornSpec, workdir: Path) -> Iterator[Gunicorn]:
    """Run gunicorn for ``spec`` until the block exits; see the module doc."""
    if spec.port is not None:
        ensure_free(spec.port)
    port = spec.port if spec.port is not None else free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    socket_dir = workdir / "sockets"
    socket_dir.mkdir(exist_ok=True)
    log = workdir / "gunicorn.log"
    book = ledger()
    with boots.slot(spec.workers, spec.worker_class) as boot:
        started = time.monotonic()
        # The log is opened with the stop signals held too: a signal raised
        # between open() and its with would leave the file to the collector.
        with book.starting(), open(log, "ab") as out:
            proc = subprocess.Popen(
                command(spec, port),
                cwd=spec.app_root,
                env=worker_env(spec, socket_dir),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stopped as one unit
                # If the harness dies without a word, the master goes at once;
                # each worker has the same signal for its master (gunicorn_conf).
                preexec_fn=set_pdeathsig,
            )
            book.spawned(proc, what=f"gunicorn {spec.app}")
        g = Gunicorn(spec=spec, process=proc, port=port, socket_dir=socket_dir, log=log,
                     workers=[])
        try:
            g.workers = _await_workers(g, count=spec.workers, exclude=set(), boot=boot)
        except BaseException:
            stop(proc)
            raise
    try:
        observe.emit(observe.Step.BOOT, workdir=workdir.name, app=spec.app, workers=spec.workers,
                     preload=spec.preload, worker_class=spec.worker_class, start=started,
                     ready=time.monotonic())
        yield g
    finally:
        with observe.span(observe.Step.STOP, workdir=workdir.name):
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn's whole process group: QUIT, then KILL after a timeout."""
    pgid = proc.pid  # start_new_session made the master its group leader
    # SIGQUIT is gunicorn's quick shutdown: scenarios have no request in flight
    # by now, so a graceful drain would only add seconds to every run.
    for sig, wait in ((signal.SIGQUIT, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The master is gone; make sure no orphaned worker outlives it.
        _wait_group_gone(pgid, wait)
        break
    if proc.poll() is None:
        proc.wait()
    ledger().reaped(pgid)


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


_SOCK = re.compile(r"^w-(\d+)\.sock$")


def _await_workers(
    g: Gunicorn, *, count: int, exclude: set[int], boot: boots.Boot
) -> list[WorkerClient]:
    deadline = boot.deadline()
    looked = time.monotonic()
    ready: dict[int, WorkerClient] = {}
    clients: dict[int, str | None] = {}
    while True:
        if g.process.poll() is not None:
            raise _boot_failure(g)
        for entry in sorted(os.listdir(g.socket_dir)):
            m = _SOCK.match(entry)
            if not m or int(m.group(1)) in ready or int(m.group(1)) in exclude:
                continue
            pid = int(m.group(1))
            path = str(g.socket_dir / entry)
            client = WorkerClient(index=len(ready), pid=pid, socket_path=path)
            try:
                reply = client.whoami(timeout=1.0)
            except OSError:
                continue  # still importing the app, or already gone
            if reply.status == 404:
                raise BootError(
                    f"app {g.spec.app!r} does not serve the harness routes "
                    f"({ROUTE_PREFIX}/whoami); check that it is served through "
                    "harness.worker.wrap, which adds them",
                    log=g.log,
                )
            if reply.status == 200 and reply.pid == pid:
                ready[pid] = client
                clients[pid] = reply.body.get("client") if isinstance(reply.body, dict) else None
        if len(ready) >= count:
            g.client = proven(g.spec.client, clients, log=g.log)
            return [
                WorkerClient(index=i, pid=c.pid, socket_path=c.socket_path)
                for i, c in enumerate(sorted(ready.values(), key=lambda c: c.pid)[:count])
            ]
        now = time.monotonic()
        if now > deadline or now - looked > 1.0:
            # The load moves while the workers boot: the window follows it up.
            deadline, looked = boot.deadline(), now
        if now > deadline:
            raise boot.expired(
                f"gunicorn workers for {g.spec.app!r} ({g.spec.worker_class})",
                answered=f"{len(ready)} of {count} answered", log=g.log)
        time.sleep(0.02)


def _boot_failure(g: Gunicorn) -> BootError:
    """Why gunicorn exited, in one line taken from the last error in its log."""
    text = g.log_tail(200)
    error = None
    for line in text.splitlines():
        stripped = line.strip()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:", stripped) or \
                stripped.startswith("Error:"):
            error = stripped
    cache_type = str(g.spec.config.get("CACHE_TYPE", ""))
    if error and "." in cache_type and cache_type.rpartition(".")[0] in error:
        return BootError(
            f"gunicorn workers could not create the cache backend {cache_type!r}: {error}; "
            "check the class name in --backend and that its module imports", log=g.log)
    if error and ("ModuleNotFoundError" in error or "ImportError" in error):
        return BootError(
            f"app {g.spec.app!r} failed to import in the gunicorn worker: {error}; "
            "fix the module path or add its directory to PYTHONPATH", log=g.log)
    if error and ("Connection" in error or "refused" in error):
        return BootError(
            f"gunicorn workers for {g.spec.app!r} could not reach the cache server: {error}; "
            "check the CACHE_* server settings", log=g.log)
    reason = error or f"exit status {g.process.returncode}"
    return BootError(
        f"gunicorn exited during start-up for {g.spec.app!r} "
        f"({g.spec.worker_class}): {reason}", log=g.log, log_note="see")
