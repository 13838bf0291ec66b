"""The app's cache config, read as its installed Flask-Caching reads it.

Which built-in row the app's cache is comes from the class Flask-Caching
made it from, however ``CACHE_TYPE`` spelt it (a class name, an import path,
cachelib's class, an old alias); only the server keys that backend reads
are checked, and every message about a value says whose it is: the app's
own config or ``--config``.  Fixture apps are in ``tests/appconfig``.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from binaries import need
from clirun import run_cli

from harness import options as _options
from harness.errors import ServerUnreachable, UsageError
from harness.probe import probe_app, unread_server_keys
from harness.topology.backends import BUILTIN, kinds_read, of_app, resolve
from harness.topology.ports import free_port

FIXTURES = Path(__file__).resolve().parent / "appconfig"


def _probed(monkeypatch: pytest.MonkeyPatch, app: str, *config: str,
            env: dict[str, str] | None = None) -> _options.RunOptions:
    """``probe_app`` as ``coherence run --app APP`` calls it: the real probe, no boot."""
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES))
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    built = _options.build(app=app, scenarios=("visibility",), config=config)
    return probe_app(built, backends_given=False)


@pytest.mark.parametrize("cls", [
    *(f"flask_caching.backends.{m}.{n}" for m, n in [
        ("nullcache", "NullCache"), ("simplecache", "SimpleCache"),
        ("filesystemcache", "FileSystemCache"), ("rediscache", "RedisCache"),
        ("memcache", "MemcachedCache"), ("rediscache", "RedisSentinelCache"),
        ("rediscache", "RedisClusterCache")]),
])
def test_each_builtin_class_is_its_builtin_row(cls: str) -> None:
    """What ``CACHE_TYPE`` = the class name, the import path, or (Flask-Caching 2.4)
    an alias such as ``redis`` all make: the class in flask_caching.backends."""
    name = cls.rpartition(".")[2]
    backend = of_app(cls)
    assert backend.spec is BUILTIN[name]
    assert backend == resolve(name)
    assert kinds_read(backend) == backend.servers


def test_cachelib_classes_and_custom_classes() -> None:
    """cachelib's SimpleCache stores per process as the built-in does; cachelib's
    RedisCache is made from CACHE_ARGS/CACHE_OPTIONS (flask_caching/__init__.py:312-313),
    so it is no built-in row and reads no CACHE_REDIS_* key; an app's own class
    may read any key."""
    assert of_app("cachelib.simple.SimpleCache").spec is BUILTIN["SimpleCache"]
    assert of_app("cachelib.base.NullCache").spec is BUILTIN["NullCache"]
    lib_redis = of_app("cachelib.redis.RedisCache")
    assert not lib_redis.spec.builtin and kinds_read(lib_redis) == ()
    own = of_app("apps.custom_backends.PerProcessFileSystemCache",
                 pythonpath=[str(_options.PROJECT_ROOT)])
    assert not own.spec.builtin and kinds_read(own) is None
    with pytest.raises(UsageError, match="the app's cache is SASLMemcachedCache, which the "
                       "harness does not check yet"):
        of_app("flask_caching.backends.memcache.SASLMemcachedCache")
    simple = resolve("SimpleCache")
    assert unread_server_keys(simple, {"CACHE_REDIS_HOST": "h", "CACHE_DIR": "/x"}) == [
        "CACHE_REDIS_HOST"]
    assert unread_server_keys(resolve("RedisCache"), {"CACHE_REDIS_HOST": "h"}) == []


def test_an_import_path_with_leftover_redis_keys_is_simplecache_and_the_keys_are_ignored(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21 item 5: this stopped the run with exit 2 and "correct --config
    CACHE_REDIS_HOST", although no --config was given.  Nothing listens on the port."""
    options = _probed(monkeypatch, "bypath:app", env={"APPCONFIG_PORT": str(free_port())})
    assert [b.label for b in options.backends] == ["SimpleCache"]
    assert options.own_cache
    assert capsys.readouterr().err.splitlines() == [
        "coherence: the app's cache is SimpleCache, which does not read CACHE_REDIS_HOST, "
        "CACHE_REDIS_PORT from the app's own config; not checked"]


def test_cachelibs_simplecache_is_the_simplecache_row(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    options = _probed(monkeypatch, "fromcachelib:app")
    assert [b.label for b in options.backends] == ["SimpleCache"]
    assert "CACHE_REDIS_URL from the app's own config; not checked" in capsys.readouterr().err


def test_an_alias_the_installed_flask_caching_dropped_is_named_with_its_class(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Flask-Caching 2.5 prefixes 'simple' with flask_caching.backends. and finds
    nothing there (flask_caching/__init__.py:284-287): the app cannot start."""
    import flask_caching.backends as installed

    if hasattr(installed, "simple"):
        pytest.skip("this Flask-Caching still has the old aliases")
    with pytest.raises(UsageError, match="its CACHE_TYPE 'simple' is an alias the installed "
                       "Flask-Caching no longer has .*set CACHE_TYPE to 'SimpleCache'"):
        _probed(monkeypatch, "oldalias:app")


@pytest.fixture
def http_port() -> Iterator[int]:
    """A listener that answers every connection as an HTTP server would."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_value_from_each_config_is_named_with_its_origin(
        monkeypatch: pytest.MonkeyPatch, http_port: int) -> None:
    """The host is the app's own, the port comes from --config: the message says so."""
    with pytest.raises(ServerUnreachable, match=(
            f"cache server 127.0.0.1:{http_port} from the app's own config CACHE_REDIS_HOST "
            f"and --config CACHE_REDIS_PORT answers, but not as a Redis server")):
        _probed(monkeypatch, "ownredis:app", f"CACHE_REDIS_PORT={http_port}",
                env={"APPCONFIG_PORT": "1"})


@pytest.fixture
def memcached_port() -> Iterator[int]:
    import os

    port = free_port()
    argv = [need("memcached"), "-l", "127.0.0.1", "-p", str(port), "-U", "0"]
    proc = subprocess.Popen(argv + (["-u", "root"] if os.geteuid() == 0 else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and proc.poll() is None, "memcached did not start"
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait()


def test_a_redis_url_at_a_memcached_is_refused_without_waiting(
        monkeypatch: pytest.MonkeyPatch, memcached_port: int) -> None:
    """Issue 23 #111: memcached answers Redis's INFO with one ERROR line, which is its
    whole answer; the check took 1 s more waiting for an end of a Redis reply."""
    from harness.topology.kinds import APP_CONFIG, check_servers

    started = time.monotonic()
    with pytest.raises(ServerUnreachable, match="answers, but not as a Redis server "
                       r"\(it replied b'ERROR'\)"):
        check_servers({"CACHE_REDIS_URL": f"redis://127.0.0.1:{memcached_port}/0"},
                      origin=APP_CONFIG)
    assert time.monotonic() - started < 0.5


def test_a_run_on_the_apps_own_simplecache_by_import_path(tmp_path: Path) -> None:
    """End to end: the row is SimpleCache's, judged by its expectations."""
    run = run_cli(tmp_path, "--app", "bypath:app", "--scenario", "visibility",
                  "--workers", "2", env={"PYTHONPATH": str(FIXTURES),
                                         "APPCONFIG_PORT": str(free_port())})
    assert run.code == 0, run.stdout + run.stderr
    assert run.verdicts()[("SimpleCache", "sync", "visibility")] == "per-worker"
    assert "does not read CACHE_REDIS_HOST, CACHE_REDIS_PORT" in run.stderr
    assert run.leftovers == []


def test_a_config_server_no_backend_of_the_run_reads_is_not_checked(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """SimpleCache reads no CACHE_REDIS_URL: a dead one is said to be unread, not
    refused; RedisCache reads it, and a dead one is refused, naming --config."""
    dead = f"CACHE_REDIS_URL=redis://127.0.0.1:{free_port()}/0"
    simple = _options.build(backends=("SimpleCache",), scenarios=("visibility",),
                            config=(dead,))
    probe_app(simple, backends_given=True)
    assert capsys.readouterr().err.splitlines() == [
        "coherence: no backend of this run (SimpleCache) reads CACHE_REDIS_URL from "
        "--config; not checked"]
    redis = _options.build(backends=("SimpleCache", "RedisCache"), scenarios=("visibility",),
                           config=(dead,))
    with pytest.raises(ServerUnreachable, match="from --config CACHE_REDIS_URL is unreachable"):
        probe_app(redis, backends_given=True)
