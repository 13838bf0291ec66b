"""The topology: gunicorn's private per-worker addressing, clean environment and clean stop;
the registry of server kinds and backend specs, checked as it is defined; and ``--server``,
which starts servers for the custom backend it names and for nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.client import request
from harness.errors import DefinitionError
from harness.topology.backends import (
    BASELINE,
    BUILTIN,
    Backend,
    BackendSpec,
    _the_baseline,
    resolve,
)
from harness.topology.gunicorn import GunicornSpec, serve
from harness.topology.kind import ROLES
from harness.topology.kinds import KINDS, registry
from harness.topology.node import Probe
from harness.topology.venvs import PINNED

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


@pytest.mark.needs("redis", "memcached")
@pytest.mark.parametrize("scenario", ["server-pause", "visibility"])
def test_server_applies_to_the_custom_backend_only(cli, scenario) -> None:
    """``--server redis`` starts a redis for ``mypkg.MyRedisCache`` and nothing else.

    The built-ins beside it keep their own servers and config: no redis
    client options reach MemcachedCache, no CACHE_REDIS_URL reaches
    RedisClusterCache, and every row gets its verdict, none ``error``.
    """
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


# --- the registry: kinds and backend specs, checked as they are defined ------------


def test_every_builtin_names_a_registered_kind_and_every_kind_can_be_installed_and_probed() -> None:
    for spec in BUILTIN.values():
        assert spec.kind is None or spec.kind in KINDS, spec
        assert (spec.storage == "server") == (spec.kind is not None), spec
    for kind in KINDS.values():
        assert kind.apt and kind.install_hint.startswith(f"apt-get install {kind.apt}"), kind
        assert kind.probe.request and kind.probe.end and kind.probe.pid_field, kind
        assert kind.primary in kind.roles(kind.default_size), kind
        assert set(kind.roles(kind.max_size)) <= set(ROLES), kind
    assert [s.label for s in BUILTIN.values() if s.baseline] == [BASELINE.label] == ["NullCache"]


def test_every_kinds_client_is_a_dependency_and_pinned_in_every_venv() -> None:
    """A worker's backend imports its kind's client: the harness must install it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower()
                for d in project["dependencies"]}
    for kind in KINDS.values():
        assert kind.client in declared, kind.name
        assert kind.client in PINNED, kind.name


@pytest.mark.parametrize(("change", "says"), [
    ({"apt": ""}, "has no install hint; give apt="),
    ({"client": ""}, "has no client; give client="),
    ({"probe": Probe(request=b"", end=b"END", pid_field="pid ")}, "has no liveness probe"),
    ({"primary": "replica"}, "primary role 'replica' is not among its roles ['server']"),
    ({"roles": lambda size: {"leader": 1}}, "add a new role to harness.topology.kind.ROLES"),
    ({"default_size": 9}, "default_size 9 is not within 1 to max_size 8"),
    ({"user_keys": ()}, "has no user_keys"),
])
def test_a_broken_kind_fails_as_it_is_made_naming_itself_and_the_fix(
        change: dict[str, Any], says: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        replace(KINDS["memcached"], **change)
    assert str(raised.value).startswith("server kind 'memcached': ")
    assert says in str(raised.value)


def test_kinds_that_share_a_binary_must_agree_on_its_facts_and_names_are_unique() -> None:
    redis = KINDS["redis"]
    with pytest.raises(DefinitionError, match="'redis' is registered twice"):
        registry(redis, redis)
    odd = replace(redis, name="redis-odd", version_flag="-v")
    with pytest.raises(DefinitionError, match=r"'redis-odd': its version_flag '-v' differs from "
                                              r"'--version' of 'redis'.*make them the same"):
        registry(redis, odd)
    assert list(registry(*KINDS.values())) == list(KINDS)


@pytest.mark.parametrize(("spec", "says"), [
    ({"kind": "redis-typo", "storage": "server"},
     "names server kind 'redis-typo', which is not registered; use one of redis, "),
    ({"kind": "redis"}, "storage 'none' with kind 'redis'"),
    ({"storage": "server"}, "storage 'server' with kind None"),
    ({"storage": "disk"}, "storage 'disk' is not a storage kind; use one of none, directory, "),
    ({"baseline": True, "storage": "directory"}, "is the baseline, but stores entries"),
    ({"label": "RedisCache@toy", "kind": "redis", "storage": "server"},
     "label has '@'; ':' is the size of --backend NAME:N, '@' ends a test id's name"),
])
def test_a_broken_backend_spec_fails_as_it_is_made_naming_itself_and_the_fix(
        spec: dict[str, Any], says: str) -> None:
    fields = {"label": "ToyCache", "cache_type": "ToyCache", **spec}
    with pytest.raises(DefinitionError) as raised:
        BackendSpec(**fields)
    assert str(raised.value).startswith(f"backend spec {fields['label']!r}: ")
    assert says in str(raised.value)


def test_there_is_exactly_one_baseline() -> None:
    two = {**BUILTIN, "Other": replace(BASELINE, label="Other")}
    with pytest.raises(DefinitionError, match=r"2 baseline backends \(NullCache, Other\)"):
        _the_baseline(two)
    with pytest.raises(DefinitionError, match="0 baseline backends"):
        _the_baseline({k: v for k, v in BUILTIN.items() if not v.baseline})


def test_server_kinds_go_to_custom_backends_and_built_ins_keep_their_own() -> None:
    extra = ("redis",)
    for name in ("MemcachedCache", "RedisClusterCache", "SimpleCache"):
        backend = resolve(name, extra_servers=extra)
        assert backend.servers == ((BUILTIN[name].kind,) if BUILTIN[name].kind else ())
    mine = resolve("mypkg.MyRedisCache", extra_servers=extra, pythonpath=[str(MYPKG)])
    assert (mine.label, mine.name, mine.servers) == ("mypkg.MyRedisCache",) * 2 + (extra,)
    with pytest.raises(DefinitionError, match="'MemcachedCache' is built in and runs on its own "
                                              "kind's servers alone, not also on redis"):
        Backend(spec=BUILTIN["MemcachedCache"], extra_servers=extra)


def test_each_backend_gets_the_config_its_spec_says() -> None:
    def config(name: str, **kw: Any) -> dict[str, Any]:
        return resolve(name, **kw).cache_config(cache_dir="/d", server_config={"S": 1})

    assert config("NullCache") == {"CACHE_TYPE": "NullCache", "CACHE_NO_NULL_WARNING": True,
                                   "S": 1}
    assert config("FileSystemCache") == {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": "/d",
                                         "S": 1}
    assert config("RedisCache") == {"CACHE_TYPE": "RedisCache", "S": 1}
    # A custom backend may be a subclass of any built-in: it gets a directory too.
    assert config("mypkg.MyRedisCache", pythonpath=[str(MYPKG)]) == {
        "CACHE_TYPE": "mypkg.MyRedisCache", "CACHE_DIR": "/d", "S": 1}


def test_the_apt_packages_come_from_the_registry_on_the_standard_library_alone() -> None:
    """.ci/run and the workflow install what the kinds name, before anything else is installed."""
    proc = subprocess.run([sys.executable, "-S", "-m", "harness.topology.kinds", "--apt-packages"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    packages = proc.stdout.split()
    assert packages == list(dict.fromkeys(k.apt for k in KINDS.values()))
    assert {"redis-server", "memcached"} <= set(packages)
    ci = (ROOT / ".ci" / "run").read_text()
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "python3 -m harness.topology.kinds --apt-packages --missing" in ci
    assert workflow.count("python -m harness.topology.kinds --apt-packages") == 2
    installs = [line for text in (ci, workflow) for line in text.splitlines()
                if "apt-get install" in line or "command -v" in line]
    assert installs and not [line for line in installs for kind in KINDS.values()
                             if kind.apt in line or kind.binary in line]
