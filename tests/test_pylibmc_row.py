"""MemcachedCache[pylibmc]: the row whose workers run cachelib's MemcachedCache on pylibmc.

cachelib picks pylibmc before python-memcached (cachelib/memcached.py:
299-314), and the two fail differently; the row runs in a venv of its own
(harness/topology/venvs.py ``for_client``) and proves, per worker, which
client its cache holds.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from harness.errors import BootError, DefinitionError
from harness.schedule import group_of
from harness.topology.backends import (
    BUILTIN,
    DEFAULT_BACKENDS,
    OPT_IN_BACKENDS,
    BackendSpec,
    resolve,
)
from harness.topology.rowclient import interpreter, proven
from harness.topology.venvs import cache_root

ROW = "MemcachedCache[pylibmc]"


def test_the_row_is_opt_in_sized_like_memcached_and_groups_by_its_label() -> None:
    assert ROW in BUILTIN and ROW in OPT_IN_BACKENDS and ROW not in DEFAULT_BACKENDS
    assert [b for b in DEFAULT_BACKENDS if "[" in b] == []
    assert resolve(f"{ROW}:3").label == f"{ROW}:3" and resolve(ROW).size == 1
    assert resolve(ROW).name == "MemcachedCache"
    assert group_of(f"scenarios/test_x.py::test_x[{ROW}:3-gthreadx4]") == f"{ROW}:3-gthread"
    assert group_of(f"scenarios/test_x.py::test_x[{ROW}-syncx4+preload]") == f"{ROW}-sync"


def test_only_a_label_ending_in_its_own_client_may_hold_brackets() -> None:
    with pytest.raises(DefinitionError, match=r"'\['"):
        BackendSpec(label="MemcachedCache[pylibmc]", cache_type="MemcachedCache")
    with pytest.raises(DefinitionError, match="does not end in"):
        BackendSpec(label="MemcachedCache", cache_type="MemcachedCache", client="pylibmc")
    with pytest.raises(DefinitionError, match="no client"):
        BackendSpec(label="X", cache_type="X", requirements=("pylibmc",))


def test_a_worker_that_fell_back_to_python_memcached_is_a_boot_error() -> None:
    pool = "pylibmc.pools.ClientPool"
    assert proven("pylibmc", {1: pool, 2: pool}) == pool
    with pytest.raises(BootError, match=r"worker 2's cache holds memcache\.Client, not a pylibmc"):
        proven("pylibmc", {1: pool, 2: "memcache.Client"})
    with pytest.raises(BootError, match="holds no client"):
        proven("pylibmc", {1: None})
    # A row that names no client only records what its workers hold.
    assert proven(None, {1: "memcache.Client"}) == "memcache.Client"
    assert proven(None, {1: "memcache.Client", 2: None}) is None


def test_the_row_gets_its_venv_unless_python_names_the_apps_own() -> None:
    assert interpreter(resolve("MemcachedCache"), None) is None
    assert interpreter(resolve(ROW), "/srv/app/bin/python") == "/srv/app/bin/python"
    python = interpreter(resolve(ROW), None)
    assert python is not None and python.startswith(str(cache_root()))


@pytest.mark.needs("memcached")
def test_the_row_runs_on_pylibmc_and_raises_where_python_memcached_answers(cli) -> None:
    """One shared boot (visibility) and failure-safety's two instances, all on pylibmc."""
    run = cli("--backend", ROW, "--scenario", "visibility", "--scenario", "failure-safety",
              timeout=300)
    assert run.code == 0, run.stdout + run.stderr
    rows = {r["scenario"]: r for r in run.report()["results"]}
    assert set(rows) == {"visibility", "read-your-writes", "monotonic-reads", "failure-safety"}
    assert all(r["ok"] and r["backend"] == ROW for r in rows.values()), rows
    assert rows["visibility"]["verdict"] == "shared"
    # python-memcached answers None and False here (expectations.toml): pylibmc raises.
    assert rows["failure-safety"]["verdict"] == "raises"
    sample = rows["failure-safety"]["evidence"]["settings"]["CACHE_IGNORE_ERRORS=false"]
    assert sample["get_default"]["answer"] == sample["set_fails"]["answer"] == "raises"
    assert sample["recovered"]["answer"] == "yes"
    for row in rows.values():
        workers = [p for p in row["topology"] if p.get("role") == "worker"]
        assert workers and {p["client"] for p in workers} == {"pylibmc.pools.ClientPool"}, row
    assert run.leftovers == []


@pytest.mark.needs("memcached")
def test_the_row_on_an_interpreter_without_pylibmc_is_an_error_not_a_pass(cli) -> None:
    """cachelib falls back to python-memcached quietly; the harness does not."""
    if importlib.util.find_spec("pylibmc") is not None:
        pytest.skip("the harness's own interpreter has pylibmc, so nothing falls back")
    run = cli("--backend", ROW, "--scenario", "visibility", "--workers", "1",
              "--python", sys.executable)
    assert run.code != 0
    assert "holds memcache.Client, not a pylibmc client" in run.stdout + run.stderr
    assert run.leftovers == []
