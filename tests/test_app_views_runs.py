"""app-views on gatedshop, a foreign app behind every gate, and the gates it keeps.

``apps/foreign/gatedshop`` is a project tree: the package, and ``shop.cfg``
beside it.  Its module docstring derives each target's verdict from
Flask-Caching's source; :data:`EXPECTED` is that list.  One run from the
project's root checks it on FileSystemCache and RedisCache (one boot
each); the gates are checked in-process on the app as gunicorn serves it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from clirun import ROOT, CliRun, run_cli

GATED = ROOT / "apps" / "foreign" / "gatedshop"
APP = "gatedshop:create_app()"
SAMPLES = ["--sample-args", "gatedshop.catalog:price_of=[1]",
           "--sample-args", 'gatedshop.catalog:exchange_rate=["USD"]',
           "--sample-args", "gatedshop.inventory:Inventory.stock=[1]",
           # A target named on the command line, by its instance.
           "--memoized", "gatedshop.inventory:inventory.stock",
           "--sample-args", "gatedshop.inventory:inventory.stock=[2]"]

#: Each target's verdict on a shared backend, as gatedshop's docstring derives it.
EXPECTED = {
    "catalog.index": "shared",
    "catalog.product": "shared",
    "catalog.reviews": "shared",
    "gatedshop.catalog:price_of": "shared",
    "gatedshop.inventory:Inventory.stock": "shared",
    "gatedshop.inventory:Reports.bestsellers": "shared",
    "gatedshop.inventory:inventory.stock": "shared",
    "gatedshop.catalog:exchange_rate": "per-worker",
    "gatedshop.catalog:category_tree": "stale",
}
#: Targets that cannot run outside a real session or database, and why.
NOT_COMPUTED = {"catalog.order": "NotFound (HTTP 404)", "account.orders": "KeyError: 'user'"}


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    where = tmp_path_factory.mktemp("gated")
    # Started from the project's root with no PYTHONPATH: the harness puts the
    # working directory on the app's sys.path, as gunicorn does.
    return run_cli(where, "--app", APP, "--cache", "cache", "--backend", "FileSystemCache",
                   "--backend", "RedisCache", "--workers", "2", "--scenario", "app-views",
                   *SAMPLES, cwd=GATED, timeout=180,
                   env={"PYTHONPATH": "",
                        "GATEDSHOP_CACHE_DIR": str(where / "own-cache")})


def _row(run: CliRun, backend: str) -> dict[str, Any]:
    rows = [r for r in run.report()["results"] if r["backend"] == backend]
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


@pytest.mark.needs("redis")
@pytest.mark.parametrize("backend", ["FileSystemCache", "RedisCache"])
def test_each_target_of_the_gated_app_gets_its_derived_verdict(gated_run: CliRun,
                                                               backend: str) -> None:
    assert gated_run.code == 0, gated_run.stdout + gated_run.stderr
    row = _row(gated_run, backend)
    # The worst target, the deliberately stale category_tree, decides the row.
    assert row["verdict"] == "stale"
    # A foreign app's own code has no documented expectation.
    assert row["expected"] is None
    judged = {t["name"]: t for t in row["evidence"]["targets"]}
    assert {n: t["verdict"] for n, t in judged.items()} == EXPECTED
    skipped = {t["name"]: t["reason"] for t in row["evidence"]["not_computed"]}
    assert set(skipped) == set(NOT_COMPUTED)
    for name, why in NOT_COMPUTED.items():
        assert why in skipped[name]
    # Every worker answered, and the counts show who computed: for a shared view,
    # only the reading workers' after-invalidation calls, once each.
    pids = [str(p) for p in row["evidence"]["workers"]]
    assert len(pids) == 2
    index = judged["catalog.index"]
    assert {p: index["computed"][p] for p in pids[1:]} == {p: 1 for p in pids[1:]}
    assert {r["key"] for r in index["read"].values()} == {"view//products"}
    assert index["invalidated_by"] == "cache.delete('view//products')"
    # The per-worker target: the other workers computed their own, under other keys.
    rates = judged["gatedshop.catalog:exchange_rate"]
    assert all(r["got"] == "computed" and r["key"] != r["origin_key"]
               for r in rates["read"].values())
    stale = judged["gatedshop.catalog:category_tree"]
    assert stale["stale_on"] == sorted(int(p) for p in pids)
    assert stale["invalidated_by"] == "cache.delete_memoized(gatedshop.catalog:category_tree)"
    # Class.method found its self, and says where.
    assert judged["gatedshop.inventory:Inventory.stock"]["self"] == \
        "module-level instance gatedshop.inventory:inventory"
    assert judged["gatedshop.inventory:Reports.bestsellers"]["self"] == \
        "Reports() (built with no arguments)"
    assert judged["gatedshop.inventory:inventory.stock"]["named"] is True
    assert judged["gatedshop.inventory:inventory.stock"]["call"] == "2"
    assert gated_run.leftovers == []


def test_the_apps_gates_answer_its_own_routes_while_the_probes_pass(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The app as gunicorn serves it (routes.serve): CSRF, set-up and login still
    answer 400 and 302 to the app's routes; the harness endpoints answer 200."""
    from harness.worker.routes import serve

    monkeypatch.syspath_prepend(str(GATED))
    monkeypatch.setenv("GATEDSHOP_CACHE_DIR", str(tmp_path / "cache"))
    for name in [m for m in list(sys.modules) if m.startswith("gatedshop")]:
        monkeypatch.delitem(sys.modules, name)
    client = serve(APP, "cache").test_client()

    products = client.get("/products")
    assert (products.status_code, products.headers["Location"]) == (302, "/setup")
    assert products.headers["X-Worker-Pid"].isdigit()
    setup = client.get("/setup")
    assert (setup.status_code, setup.headers["Location"]) == (302, "/login")
    assert client.post("/login", data={"user": "x"}).status_code == 400  # CSRF
    assert client.get("/no/such/page").status_code == 302  # the catch-all is gated too

    whoami = client.get("/__coherence__/whoami")
    assert whoami.status_code == 200
    assert whoami.get_json()["backend"].endswith("FileSystemCache")
    assert whoami.headers["X-Worker-Pid"] == str(whoami.get_json()["pid"])
    put = client.post("/__coherence__/ops/set", json={"key": "k", "value": 7})
    assert (put.status_code, put.get_json()["result"]) == (200, True)
    assert client.post("/__coherence__/ops/get", json={"key": "k"}).get_json()["result"] == 7
    listed = client.post("/__coherence__/views", json={"do": "list"}).get_json()
    assert {"catalog.index", "catalog.reviews"} <= {t["name"] for t in listed["targets"]}
    assert client.get("/__coherence__/ops/set").status_code == 405
    assert client.get("/__coherence__/nothing").status_code == 404
