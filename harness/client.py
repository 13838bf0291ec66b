"""HTTP to one specific worker, through that worker's private unix socket.

A :class:`WorkerClient` performs one cache operation per call and turns the
reply into an :class:`~harness.history.Op`; it never retries, because a
retry would hide exactly the faults the checkers look for.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from .history import Op

#: Per-request timeout: generous for a loopback round trip, short enough that
#: a wedged worker fails the scenario quickly instead of hanging the run.
REQUEST_TIMEOUT = 10.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


@dataclass(frozen=True, kw_only=True)
class Reply:
    status: int
    pid: int | None
    body: Any


def request(
    path: str, method: str, url: str, payload: Any = None, *, timeout: float = REQUEST_TIMEOUT
) -> Reply:
    """One HTTP request over the unix socket at ``path``."""
    conn = _UnixConnection(path, timeout)
    try:
        body = None if payload is None else json.dumps(payload)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, url, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        pid_header = resp.getheader("X-Worker-Pid")
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return Reply(
            status=resp.status, pid=int(pid_header) if pid_header else None, body=parsed
        )
    finally:
        conn.close()


@dataclass(frozen=True, kw_only=True)
class WorkerClient:
    """Talks to exactly one worker: ``index`` in the topology, ``pid`` in the OS."""

    index: int
    pid: int
    socket_path: str

    def whoami(self, *, timeout: float = REQUEST_TIMEOUT) -> Reply:
        return request(self.socket_path, "GET", "/__coherence__/whoami", timeout=timeout)

    def op(self, f: str, key: str | None = None, **args: Any) -> Op:
        """Perform cache operation ``f`` (get, set, delete, add, inc, has, clear).

        The returned Op is ``ok`` with the cache's return value, ``fail``
        when the app answered with an error, or ``info`` when the request's
        fate is unknown (no answer).  A reply from a pid other than ours is
        a routing bug and is recorded as ``fail`` with the pid seen.
        """
        payload = {"key": key, **args}
        start = time.monotonic()
        try:
            reply = request(self.socket_path, "POST", f"/ops/{f}", payload)
        except (OSError, http.client.HTTPException) as exc:
            return Op(process=self.index, pid=self.pid, f=f, key=key, args=args,
                      type="info", error=f"{type(exc).__name__}: {exc}",
                      start=start, end=time.monotonic())
        end = time.monotonic()
        body = reply.body if isinstance(reply.body, dict) else {"error": str(reply.body)}
        if reply.pid != self.pid:
            return Op(process=self.index, pid=self.pid, f=f, key=key, args=args,
                      type="fail", error=f"answered by pid {reply.pid}, not {self.pid}",
                      start=start, end=end)
        if reply.status != 200:
            return Op(process=self.index, pid=self.pid, f=f, key=key, args=args,
                      type="fail", error=str(body.get("error", f"HTTP {reply.status}")),
                      start=start, end=end)
        return Op(process=self.index, pid=self.pid, f=f, key=key, args=args,
                  type="ok", value=body.get("result"), start=start, end=end)
