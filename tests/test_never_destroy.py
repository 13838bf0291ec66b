"""Storage the harness did not start is never cleared without --allow-destructive."""

from __future__ import annotations

import subprocess

import pytest
from binaries import need

from harness.topology.ports import free_port, reachable

USER_KEYS = {"user:1": b"alice", "flask_cache_user:2": b"bob"}


@pytest.fixture
def users_redis():
    """A Redis the user runs, holding keys of theirs, one under Flask-Caching's prefix."""
    binary = need("redis")
    import redis

    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        for _ in range(200):
            if reachable("127.0.0.1", port, timeout=0.05) is None:
                break
        client = redis.Redis(port=port)
        for key, value in USER_KEYS.items():
            client.set(key, value)
        yield port, client
        client.close()
    finally:
        proc.terminate()
        proc.wait()


def test_clear_scenarios_skip_a_users_redis(cli, users_redis) -> None:
    port, client = users_redis
    run = cli("--backend", "RedisCache", "--workers", "2", "--scenario", "visibility",
              "--scenario", "clear", "--scenario", "clear-blast-radius",
              "--config", f"CACHE_REDIS_URL=redis://127.0.0.1:{port}/0")
    assert run.code == 0, run.stdout + run.stderr
    for key, value in USER_KEYS.items():
        assert client.get(key) == value, f"the user's {key} was destroyed"
    assert "clear: skipped: would clear storage the harness did not start" in run.stdout
    assert "--allow-destructive" in run.stdout
    assert run.verdicts()[("RedisCache", "sync", "visibility")] == "shared"
    assert run.leftovers == []


def test_allow_destructive_runs_them(cli, users_redis) -> None:
    """The option is honoured: the clear scenario runs, and clear() reaches the user's keys."""
    port, client = users_redis
    run = cli("--backend", "RedisCache", "--workers", "2", "--scenario", "clear",
              "--config", f"CACHE_REDIS_URL=redis://127.0.0.1:{port}/0", "--allow-destructive")
    assert run.code == 0, run.stdout + run.stderr
    assert run.verdicts()[("RedisCache", "sync", "clear")] == "holds"
    # The default prefix's clear() deletes flask_cache_* -- the user's key under it too.
    assert client.get("flask_cache_user:2") is None
    assert client.get("user:1") == b"alice"


def test_clear_scenarios_skip_a_users_cache_dir(cli, tmp_path) -> None:
    cache_dir = tmp_path / "users-cache"
    cache_dir.mkdir()
    (cache_dir / "keep-me").write_text("the user's file")
    run = cli("--backend", "FileSystemCache", "--workers", "2", "--scenario", "clear",
              "--scenario", "clear-blast-radius", "--config", f"CACHE_DIR={cache_dir}")
    assert run.code == 0, run.stdout + run.stderr
    assert (cache_dir / "keep-me").read_text() == "the user's file"
    assert "skipped: would clear storage the harness did not start (CACHE_DIR=" in run.stdout
