"""How a reply, or its absence, becomes ok, fail or info: each row of the table in history.py.

A tiny HTTP server on a real unix socket stands in for a worker, so the
client's own connect, send and read paths are exercised, not mocked.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from harness.client import WorkerClient, exchange
from harness.history.names import Phase
from harness.history.ops import Meta

PID = 4242

#: What the fake worker does with a request: (status, pid header, JSON body),
#: or None to hang up without answering.
Behaviour = Callable[[str], tuple[int, int, Any] | None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append(json.loads(self.rfile.read(length) or b"null"))
        answer = self.server.behaviour(self.path)
        if answer is None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, pid, body = answer
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("X-Worker-Pid", str(pid))
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, behaviour: Behaviour) -> None:
        super().__init__(path, _Handler)
        self.behaviour = behaviour
        self.seen: list[Any] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is what some tests do


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # AF_UNIX paths are short; pytest's tmp_path can exceed the limit.
    with tempfile.TemporaryDirectory(prefix="coh-") as d:
        yield Path(d)


@pytest.fixture
def serve(sock_dir: Path) -> Iterator[Callable[[Behaviour], tuple[WorkerClient, _Server]]]:
    servers: list[tuple[_Server, threading.Thread]] = []

    def start(behaviour: Behaviour) -> tuple[WorkerClient, _Server]:
        path = str(sock_dir / f"w{len(servers)}.sock")
        server = _Server(path, behaviour)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return WorkerClient(index=0, pid=PID, socket_path=path), server

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _result(value: Any, status: int = 200, pid: int = PID) -> Behaviour:
    return lambda _path: (status, pid, {"result": value})


def test_a_missing_socket_file_is_fail_nothing_was_sent(sock_dir: Path) -> None:
    op = WorkerClient(index=0, pid=PID, socket_path=str(sock_dir / "gone.sock")).op("set", "k",
                                                                                     value=1)
    assert (op.type, op.answered) == ("fail", True)
    assert op.error is not None and op.error.startswith("not sent")


def test_a_refused_connection_is_fail(sock_dir: Path) -> None:
    path = str(sock_dir / "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)  # the file exists, but nobody listens: ECONNREFUSED
    try:
        op = WorkerClient(index=0, pid=PID, socket_path=path).op("set", "k", value=1)
    finally:
        s.close()
        os.unlink(path)
    assert op.type == "fail"


def test_a_hang_up_after_the_request_was_sent_is_info_unanswered(serve: Any) -> None:
    client, server = serve(lambda _path: None)
    op = client.op("set", "k", value=1)
    assert (op.type, op.answered) == ("info", False)
    assert server.seen == [{"key": "k", "value": 1}]  # it did reach the worker


def test_a_timeout_is_info_unanswered(serve: Any) -> None:
    release = threading.Event()

    def slow(_path: str) -> tuple[int, int, Any]:
        release.wait(5)
        return 200, PID, {"result": True}

    client, _ = serve(slow)
    try:
        ex = exchange(client.socket_path, PID, "POST", "/ops/set", {"key": "k"}, timeout=0.2)
    finally:
        release.set()
    assert (ex.type, ex.answered) == ("info", False)


def test_a_500_is_info_answered_the_write_may_have_landed(serve: Any) -> None:
    client, _ = serve(lambda _path: (500, PID, {"error": "ConnectionError: reset"}))
    op = client.op("set", "k", value=1)
    assert (op.type, op.answered) == ("info", True)
    assert op.error == "HTTP 500: ConnectionError: reset"


def test_a_reply_from_another_pid_is_info_answered_it_ran_somewhere(serve: Any) -> None:
    client, _ = serve(_result(True, pid=PID + 1))
    op = client.op("set", "k", value=1)
    assert (op.type, op.answered) == ("info", True)
    assert op.error == f"answered by pid {PID + 1}, not {PID}"


@pytest.mark.parametrize(("f", "value"), [("set", False), ("inc", None), ("clear", False)])
def test_a_result_the_client_library_swallowed_is_info_with_its_value(
        serve: Any, f: str, value: Any) -> None:
    client, _ = serve(_result(value))
    op = client.op(f, None if f == "clear" else "k")
    assert (op.type, op.answered, op.value) == ("info", True, value)
    assert op.error is not None and "refused" in op.error


@pytest.mark.parametrize(("f", "value"), [
    ("set", True), ("add", False), ("delete", False), ("inc", 0), ("get", None),
    ("clear", True),
])
def test_legitimate_answers_are_ok(serve: Any, f: str, value: Any) -> None:
    # add -> False: the key existed; delete -> False: it was not there;
    # inc -> 0 is a count, not a refusal.
    client, _ = serve(_result(value))
    op = client.op(f, "k")
    assert (op.type, op.value) == ("ok", value)


def test_only_the_values_to_send_go_over_the_wire(serve: Any) -> None:
    client, server = serve(_result(True))
    op = client.op("set", "k", value="v", timeout=3, meta=Meta(phase=Phase.WRITE, want="v"))
    assert server.seen == [{"key": "k", "value": "v", "timeout": 3}]
    assert (op.args, op.meta.phase) == ({"value": "v", "timeout": 3}, "write")
