"""The fault proxy, on real redis-server and memcached: each action, as a client sees it.

Every action goes through the nemesis, so each is also checked to land in
the history as a fault with its window; the proxy's own counts say what it
did.  Clients talk through the proxy; the checks of what the server holds
read it directly, past the proxy.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.history.ops import History
from harness.nemesis import nemesis
from harness.topology.node import health
from harness.topology.ports import HOST
from harness.topology.proxy import Proxy, ProxyError, front
from harness.topology.servers import Deployment, Launcher

#: The clients' socket timeout; every hold is longer.
TIMEOUT = 0.5


@pytest.fixture
def fronted(xprocess: Any, tmp_path: Path) -> Iterator[Callable[[str], tuple[Deployment, Proxy]]]:
    with ExitStack() as stack:
        def start(kind: str) -> tuple[Deployment, Proxy]:
            launcher = Launcher(xprocess=xprocess, root=tmp_path, stack=stack,
                                prefix=f"proxy-test-{kind}")
            d = Deployment.start(kind, 1, launcher)
            return d, front(launcher, d.nodes[0])
        yield start


def _redis(port: int, **kw: Any) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kw.setdefault("retry", Retry(NoBackoff(), 0))
    return redis.Redis(host=HOST, port=port, socket_timeout=TIMEOUT,
                       socket_connect_timeout=TIMEOUT, **kw)


def _memcached(line: bytes, port: int) -> bytes:
    """One memcached text-protocol command through ``port``; its reply as far as it came."""
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
        s.sendall(line)
        out = b""
        try:
            while not out.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        except TimeoutError:
            out += b"<timeout>"
        except ConnectionResetError:
            out += b"<reset>"
        return out


@pytest.mark.needs("redis")
def test_redis_each_action_as_the_client_and_the_server_see_it(fronted: Any) -> None:
    d, proxy = fronted("redis")
    node = d.nodes[0]
    # Asked through the proxy, the node answers with its own pid.
    assert health(replace(node, port=proxy.port)) is None
    client, direct = _redis(proxy.port), _redis(node.port)
    assert client.incr("n") == 1
    history = History()
    with nemesis(history) as n:
        n.delay(proxy, TIMEOUT * 1000 * 3)
        t0 = time.monotonic()
        with pytest.raises(Exception, match="Timeout"):
            client.incr("n")
        assert time.monotonic() - t0 < TIMEOUT * 2
        # Held, not dropped: the server applied it.
        assert direct.get("n") == b"2"
        n.mend(proxy)
        assert _redis(proxy.port).incr("n") == 3
        n.reset(proxy)
        with pytest.raises(Exception, match="reset|Connection|closed"):
            _redis(proxy.port).execute_command("PING")
        n.mend(proxy)
        n.blackhole(proxy)
        with pytest.raises(Exception, match="Timeout"):
            _redis(proxy.port).incr("n")
        assert direct.get("n") == b"3", "a dark host never reaches the server"
        n.mend(proxy)
    assert _redis(proxy.port).incr("n") == 4
    assert [f.f for f in history.faults] == ["delay", "heal", "reset", "heal", "blackhole",
                                             "heal"]
    assert [w.fault for w in history.windows()] == ["delay", "reset", "blackhole"]
    assert all(w.closed for w in history.windows())
    counts = history.faults[-1].value["counts"]
    assert counts["held_reply_chunks"] >= 1 and counts["resets"] >= 1
    assert counts["accepted_dark"] >= 1 and counts["dropped_request_chunks"] >= 1


@pytest.mark.needs("redis")
def test_a_reset_cuts_the_reply_after_the_server_applied_the_command(fronted: Any) -> None:
    d, proxy = fronted("redis")
    direct = _redis(d.nodes[0].port)
    raw = socket.create_connection((HOST, proxy.port), timeout=TIMEOUT)
    proxy.reset()
    raw.sendall(b"*2\r\n$4\r\nINCR\r\n$1\r\nr\r\n")
    got = b""
    with pytest.raises(ConnectionResetError):
        while chunk := raw.recv(100):
            got += chunk
    raw.close()
    proxy.heal()
    # The reply ":1\r\n" came half way, and the increment was made.
    assert got == b":1" and direct.get("r") == b"1"


@pytest.mark.needs("memcached")
def test_memcached_each_action_as_the_client_and_the_server_see_it(fronted: Any) -> None:
    d, proxy = fronted("memcached")
    port, direct = proxy.port, d.nodes[0].port
    assert _memcached(b"set k 0 0 1\r\n1\r\n", port) == b"STORED\r\n"
    proxy.delay(TIMEOUT * 1000 * 3)
    assert _memcached(b"incr k 1\r\n", port) == b"<timeout>"
    assert _memcached(b"get k\r\n", direct).startswith(b"VALUE k 0 1\r\n2")
    proxy.reset()
    # The reply "3\r\n" is cut half way: the increment was made.
    assert _memcached(b"incr k 1\r\n", port) == b"3<reset>"
    proxy.blackhole()
    assert _memcached(b"incr k 1\r\n", port) == b"<timeout>"
    assert _memcached(b"get k\r\n", direct).startswith(b"VALUE k 0 1\r\n3")
    state = proxy.heal()
    assert _memcached(b"incr k 1\r\n", port) == b"4\r\n"
    assert state["mode"] == "pass" and state["counts"]["resets"] == 1


@pytest.mark.needs("redis")
def test_a_bad_command_is_refused_by_name_and_a_dead_proxy_named_with_its_log(
        fronted: Any) -> None:
    d, proxy = fronted("redis")
    with pytest.raises(ProxyError, match="refused 'delay'.*delay of -1.0 ms"):
        proxy.delay(-1)
    with pytest.raises(ProxyError, match="unknown action 'flood'"):
        proxy.command("flood")
    d.launcher.stop(proxy.process)
    with pytest.raises(ProxyError, match="did not answer 'heal'.*see "):
        proxy.heal()
