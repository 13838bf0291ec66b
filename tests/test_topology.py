"""Gunicorn topology: private per-worker addressing, clean environment, clean stop."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.client import request
from harness.topology.gunicorn import GunicornSpec, serve
from harness.topology.kinds import find_binary

ROOT = Path(__file__).resolve().parent.parent
#: Where ``mypkg`` (a user's RedisCache subclass) lives, put on PYTHONPATH by the runs below.
MYPKG = Path(__file__).resolve().parent / "pythonpath"
MIXED = ("--backend", "MemcachedCache", "--backend", "RedisClusterCache",
         "--backend", "mypkg.MyRedisCache", "--server", "redis")


@pytest.mark.parametrize("worker_class", ["sync", "gthread", "gevent"])
def test_each_socket_is_answered_by_its_own_worker(tmp_path, worker_class) -> None:
    spec = GunicornSpec(app="apps.demo:app", app_root=ROOT, workers=3,
                        worker_class=worker_class, config={"CACHE_TYPE": "SimpleCache"})
    with serve(spec, tmp_path) as g:
        assert len({w.pid for w in g.workers}) == 3
        for w in g.workers:
            for _ in range(5):
                assert w.whoami().pid == w.pid
        pgid = g.master_pid
    # The whole process group is gone once the block exits.
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_stray_gunicorn_environment_is_ignored(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--workers 1")
    monkeypatch.setenv("FLASK_CACHE_TYPE", '"NullCache"')
    (tmp_path / "gunicorn.conf.py").write_text("workers = 1\n")
    monkeypatch.chdir(tmp_path)
    spec = GunicornSpec(app="apps.demo:app", app_root=ROOT, workers=2,
                        config={"CACHE_TYPE": "SimpleCache"})
    with serve(spec, tmp_path / "run") as g:
        assert len(g.workers) == 2
        reply = g.workers[0].whoami()
        assert reply.body["cache_type"] == "SimpleCache"


def test_seed_service_routes(tmp_path) -> None:
    spec = GunicornSpec(app="apps.demo:app", app_root=ROOT, workers=1,
                        config={"CACHE_TYPE": "SimpleCache"})
    with serve(spec, tmp_path) as g:
        path = g.workers[0].socket_path
        created = request(path, "POST", "/cache", {"key": "k1", "value": "v1"})
        assert created.status == 200 and created.body["created"] is True
        again = request(path, "POST", "/cache", {"key": "k1", "value": "v2"})
        assert again.body == {"key": "k1", "value": "v1", "created": False}
        got = request(path, "GET", "/cache/k1")
        assert got.body == {"key": "k1", "found": True, "value": "v1"}
        assert got.pid == g.workers[0].pid
        w = g.workers[0]
        assert w.op("add", "n", value=1).value is True
        assert w.op("add", "n", value=2).value is False
        assert w.op("inc", "n", delta=5).value == 6
        assert w.op("has", "n").value is True
        assert w.op("delete", "n").value is True
        assert w.op("get", "n").value is None
        assert w.op("clear").value is True


@pytest.mark.parametrize("scenario", ["server-pause", "visibility"])
def test_server_applies_to_the_custom_backend_only(cli, scenario) -> None:
    """``--server redis`` starts a redis for ``mypkg.MyRedisCache`` and nothing else.

    The built-ins beside it keep their own servers and config: no redis
    client options reach MemcachedCache, no CACHE_REDIS_URL reaches
    RedisClusterCache, and every row gets its verdict, none ``error``.
    """
    for kind in ("redis", "memcached"):
        if find_binary(kind) is None:
            pytest.skip(f"{kind} server not installed")
    run = cli(*MIXED, "--workers", "2", "--scenario", scenario, timeout=240,
              env={"PYTHONPATH": str(MYPKG)})
    assert run.code == 0, run.stdout + run.stderr
    rows = run.report()["results"]
    by_backend = {r["backend"]: r for r in rows if r["scenario"] == scenario}
    assert set(by_backend) == {"MemcachedCache", "RedisClusterCache:3", "mypkg.MyRedisCache"}
    assert [(r["backend"], r["scenario"]) for r in rows if r["verdict"] == "error"] == []
    for name in ("MemcachedCache", "RedisClusterCache:3"):
        assert by_backend[name]["ok"] is True, by_backend[name]
    # The custom backend has no documented expectation; its verdict is still drawn.
    mine = by_backend["mypkg.MyRedisCache"]
    assert mine["expected"] is None
    assert mine["verdict"] == ("holds" if scenario == "server-pause" else "shared")
    assert run.leftovers == []
