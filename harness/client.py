"""HTTP to one specific worker, through that worker's private unix socket.

A :class:`WorkerClient` performs one cache operation per call and turns the
reply into an :class:`~harness.history.ops.Op`; it never retries, because a
retry would hide exactly the faults the checkers look for.  How a reply,
or its absence, becomes ``ok``, ``fail`` or ``info`` is the table in
:mod:`harness.history.ops`; :func:`exchange` is where it is applied.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from . import observe
from .history.names import OpType, swallowed
from .history.ops import REQUEST_TIMEOUT, Meta, Op
from .worker.protocol import ROUTE_PREFIX


class NotSentError(OSError):
    """The connection failed before any byte of the request was sent."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException as exc:
            # A stop signal raised here too must not leave the socket to the collector.
            sock.close()
            if isinstance(exc, OSError):
                raise NotSentError(exc.errno, f"{type(exc).__name__}: {exc}") from exc
            raise
        self.sock = sock


@dataclass(frozen=True, kw_only=True)
class Reply:
    status: int
    pid: int | None
    body: Any


def request(
    path: str, method: str, url: str, payload: Any = None, *, timeout: float = REQUEST_TIMEOUT
) -> Reply:
    """One HTTP request over the unix socket at ``path``.

    Raises :class:`NotSentError` when connecting failed, so nothing was
    sent, and any other ``OSError`` or ``HTTPException`` once it may have been.
    """
    conn = _UnixConnection(path, timeout)
    start = time.monotonic()
    resp: http.client.HTTPResponse | None = None
    try:
        conn.connect()
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
        # The response holds the socket open until it is closed, which a read
        # cut short by a stop signal would otherwise leave to the collector.
        if resp is not None:
            resp.close()
        conn.close()
        if observe.listening():
            observe.emit(observe.Step.REQUEST, path=path, url=url, start=start,
                         end=time.monotonic(),
                         poll=isinstance(payload, dict) and bool(payload.get("poll")))


@dataclass(frozen=True, kw_only=True)
class Exchange:
    """One request's fate, before the operation's own result is read.

    ``type`` is ``ok`` only for a 200 from the expected pid; ``body`` is
    the reply's JSON object, or ``{}`` when there was none.
    """

    type: OpType
    answered: bool
    error: str | None
    body: dict[str, Any] = field(default_factory=dict)
    start: float
    end: float


def exchange(path: str, pid: int, method: str, url: str, payload: Any = None, *,
             timeout: float = REQUEST_TIMEOUT) -> Exchange:
    """Send one request to the worker ``pid`` listening at ``path``, and classify its fate."""
    start = time.monotonic()
    try:
        reply = request(path, method, url, payload, timeout=timeout)
    except NotSentError as exc:
        return Exchange(type="fail", answered=True, error=f"not sent: {exc.strerror}",
                        start=start, end=time.monotonic())
    except (OSError, http.client.HTTPException) as exc:
        return Exchange(type="info", answered=False, error=f"{type(exc).__name__}: {exc}",
                        start=start, end=time.monotonic())
    end = time.monotonic()
    body = reply.body if isinstance(reply.body, dict) else {}
    if reply.pid != pid:
        return Exchange(type="info", answered=True, body=body, start=start, end=end,
                        error=f"answered by pid {reply.pid}, not {pid}")
    if reply.status != 200:
        detail = body.get("error") or (str(reply.body) if reply.body else None)
        return Exchange(type="info", answered=True, body=body, start=start, end=end,
                        error=f"HTTP {reply.status}" + (f": {detail}" if detail else ""))
    if not isinstance(reply.body, dict):
        return Exchange(type="info", answered=True, start=start, end=end,
                        error=f"reply is not a JSON object: {reply.body!r}")
    return Exchange(type="ok", answered=True, error=None, body=body, start=start, end=end)


@dataclass(frozen=True, kw_only=True)
class WorkerClient:
    """Talks to exactly one worker: ``index`` in the topology, ``pid`` in the OS."""

    index: int
    pid: int
    socket_path: str

    def whoami(self, *, timeout: float = REQUEST_TIMEOUT) -> Reply:
        return request(self.socket_path, "GET", f"{ROUTE_PREFIX}/whoami", timeout=timeout)

    def op(self, f: str, key: str | None = None, *, meta: Meta | None = None,
           **args: Any) -> Op:
        """Perform cache operation ``f`` (get, set, delete, add, inc, has, clear).

        ``args`` (value, timeout, delta) are sent; ``meta`` is kept in the
        op only.  ``ok`` carries the cache's return value; ``fail`` and ``info``
        follow the table in :mod:`harness.history.ops`.
        """
        ex = exchange(self.socket_path, self.pid, "POST", f"{ROUTE_PREFIX}/ops/{f}",
                      {"key": key, **args})
        value = ex.body.get("result")
        kind, error = ex.type, ex.error
        if kind == "ok" and swallowed(f, value):
            kind, error = "info", f"{f} answered {value!r}: the backend refused it"
        return Op(process=self.index, pid=self.pid, f=f, key=key, args=args,
                  meta=meta or Meta(), type=kind,
                  value=value, error=error, answered=ex.answered, start=ex.start, end=ex.end)
