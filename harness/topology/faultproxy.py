"""A TCP proxy that injects network faults, run as a process of its own.

``python faultproxy.py LISTEN_PORT UPSTREAM_PORT CONTROL_SOCKET`` forwards
every connection made to ``127.0.0.1:LISTEN_PORT`` to
``127.0.0.1:UPSTREAM_PORT``, and takes one JSON command per line on the
unix socket ``CONTROL_SOCKET`` (``@name``: the abstract socket ``name``,
which the kernel frees when the process exits), answering each with its
state:

``{"action": "delay", "ms": N}``
    Hold every reply chunk that arrives from now on ``N`` ms before it is
    passed on (requests go through at once, so the server applies them).
``{"action": "blackhole"}``
    Accept connections, and drop every request from now on: a host that
    went dark.  A connection accepted now never reaches the server.  A
    request already passed on is answered (its reply was on its way), so a
    command is either applied and answered or never applied at all.
``{"action": "reset"}``
    Pass each request on; of its reply, pass the first half, then close
    the client's connection with a TCP RST (``SO_LINGER`` 0): a reset
    mid-reply, after the server applied the command.
``{"action": "heal"}``
    Forward again.  Chunks already held keep their time; nothing is lost.
``{"action": "stats"}``
    Only the state: the mode and counts of what the proxy did.

It imports only the standard library and is started by path, not as part
of the harness package, so it starts in tens of milliseconds and shares
nothing with the controller (:mod:`harness.topology.proxy` drives it).
It binds loopback only.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
import time
from collections import Counter
from typing import Any

HOST = "127.0.0.1"
PASS, DELAY, BLACKHOLE, RESET = "pass", "delay", "blackhole", "reset"
MODES = (PASS, DELAY, BLACKHOLE, RESET)
CHUNK = 65536


class State:
    """The proxy's mode and what it has done, counted."""

    def __init__(self) -> None:
        self.mode = PASS
        self.delay = 0.0
        self.counts: Counter[str] = Counter()
        self.open = 0

    def answer(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay_ms": round(self.delay * 1000),
                "open_connections": self.open, "counts": dict(self.counts)}

    def command(self, line: bytes) -> dict[str, Any]:
        try:
            cmd = json.loads(line)
            action = cmd["action"]
            if action == "heal":
                self.mode, self.delay = PASS, 0.0
            elif action == "delay":
                ms = float(cmd["ms"])
                if not ms >= 0:
                    raise ValueError(f"delay of {ms!r} ms")
                self.mode, self.delay = DELAY, ms / 1000
            elif action in (BLACKHOLE, RESET):
                self.mode = action
            elif action != "stats":
                raise ValueError(f"unknown action {action!r}")
        except (ValueError, KeyError, TypeError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}", **self.answer()}
        return self.answer()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST: SO_LINGER on, with a zero timeout."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def _requests(state: State, client: asyncio.StreamReader,
                    server: asyncio.StreamWriter) -> None:
    """Client to server: everything, unless the host is dark."""
    while data := await client.read(CHUNK):
        if state.mode == BLACKHOLE:
            state.counts["dropped_request_chunks"] += 1
            continue
        server.write(data)
        await server.drain()
        state.counts["request_bytes"] += len(data)


async def _replies(state: State, server: asyncio.StreamReader,
                   client: asyncio.StreamWriter, cut: asyncio.Event) -> None:
    """Server to client: on time, held or cut, as the mode says on arrival."""
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def send() -> None:
        while (item := await queue.get()) is not None:
            due, data = item
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            client.write(data)
            await client.drain()
            state.counts["reply_bytes"] += len(data)

    sender = asyncio.ensure_future(send())
    try:
        while data := await server.read(CHUNK):
            mode = state.mode
            if mode == RESET:
                half = data[:len(data) // 2]
                await queue.put((0.0, half))
                await queue.put(None)
                await sender
                # Let loopback deliver the half before the RST overtakes it.
                await asyncio.sleep(0.005)
                state.counts["resets"] += 1
                cut.set()
                return
            else:
                held = mode == DELAY
                state.counts["held_reply_chunks"] += held
                await queue.put((time.monotonic() + state.delay if held else 0.0, data))
        await queue.put(None)
        await sender
    finally:
        sender.cancel()


async def _serve(state: State, client_r: asyncio.StreamReader,
                 client_w: asyncio.StreamWriter, upstream: int) -> None:
    state.counts["accepted"] += 1
    state.open += 1
    server_w: asyncio.StreamWriter | None = None
    cut = asyncio.Event()
    try:
        if state.mode == BLACKHOLE:
            # A dark host: the connection is taken and never answered.
            state.counts["accepted_dark"] += 1
            while await client_r.read(CHUNK):
                state.counts["dropped_request_chunks"] += 1
            return
        try:
            server_r, server_w = await asyncio.open_connection(HOST, upstream)
        except OSError:
            state.counts["upstream_refused"] += 1
            _reset(client_w)
            return
        tasks = [asyncio.ensure_future(_requests(state, client_r, server_w)),
                 asyncio.ensure_future(_replies(state, server_r, client_w, cut))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    except (ConnectionError, OSError):
        pass
    finally:
        state.open -= 1
        if cut.is_set():
            _reset(client_w)
        else:
            client_w.close()
        if server_w is not None:
            server_w.close()


async def _control(state: State, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(json.dumps(state.command(line)).encode() + b"\n")
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(listen: int, upstream: int, control: str) -> None:
    state = State()
    # The control socket first: once the port accepts, commands are taken.
    path = "\0" + control[1:] if control.startswith("@") else control
    ctl = await asyncio.start_unix_server(lambda r, w: _control(state, r, w), path=path)
    data = await asyncio.start_server(lambda r, w: _serve(state, r, w, upstream),
                                      host=HOST, port=listen, reuse_address=True)
    async with ctl, data:
        await asyncio.gather(ctl.serve_forever(), data.serve_forever())


if __name__ == "__main__":
    if len(sys.argv) != 4 or not sys.argv[1].isdigit() or not sys.argv[2].isdigit():
        sys.exit("usage: faultproxy.py LISTEN_PORT UPSTREAM_PORT CONTROL_SOCKET")
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
