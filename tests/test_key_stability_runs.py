"""key-stability: the keys of one call compared across workers and instances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checkers.keystability import check


def _reply(pid: int, entries: list[dict[str, Any]], root: str = "/srv/a") -> dict[str, Any]:
    return {"pid": pid, "cwd": root, "root_path": root + "/app", "entries": entries}


def _memo(key: str, material: str) -> dict[str, Any]:
    return {"kind": "memoized", "name": "m:f", "call": "3", "key": key, "material": material}


def _view(key: str) -> dict[str, Any]:
    return {"kind": "cached", "name": "v", "call": "/v/1", "key": key}


def test_equal_keys_everywhere_are_stable() -> None:
    verdict = check([[_reply(1, [_view("view//v/1")]), _reply(2, [_view("view//v/1")])],
                     [_reply(3, [_view("view//v/1")], "/srv/b")]])
    assert verdict.verdict == "stable"
    assert verdict.evidence["counts"] == {"stable": 1, "per-instance": 0, "per-worker": 0}


def test_an_address_in_the_repr_is_per_worker_with_both_keys() -> None:
    a = _memo("AAAA", "m.f('<m.P object at 0x7f23db1be990>', 3)")
    b = _memo("BBBB", "m.f('<m.P object at 0x7f23db1bea50>', 3)")
    verdict = check([[_reply(1, [a]), _reply(2, [b])], [_reply(3, [a], "/srv/b")]])
    assert verdict.verdict == "per-worker"
    (call,) = verdict.evidence["calls"]
    assert call["differs"]["keys"] == ["AAAA", "BBBB"]
    assert call["differs"]["pids"] == [1, 2]
    assert call["differs"]["part"].startswith("address")


@pytest.mark.parametrize(("a", "b", "part"), [
    ("view/-4318722346513045251", "view/8871653284019937210", "hash salt"),
    ("/srv/a/app/view/1", "/srv/b/app/view/1", "path"),
])
def test_keys_equal_within_an_instance_but_not_across_are_per_instance(
        a: str, b: str, part: str) -> None:
    verdict = check([[_reply(1, [_view(a)]), _reply(2, [_view(a)])],
                     [_reply(3, [_view(b)], "/srv/b"), _reply(4, [_view(b)], "/srv/b")]])
    assert verdict.verdict == "per-instance"
    assert verdict.evidence["calls"][0]["differs"]["part"].startswith(part)


def test_nothing_to_compare_is_unknown_and_failures_are_error() -> None:
    assert check([[_reply(1, [])], [_reply(2, [])]]).verdict == "unknown"
    assert check([[{"pid": 1, "error": "HTTP 500"}], [_reply(2, [])]]).verdict == "error"
    named = {"kind": "memoized", "name": "m:gone", "call": "", "error": "AttributeError: gone"}
    assert check([[_reply(1, [named])], [_reply(2, [named])]]).verdict == "error"
    assert check([[{"no": "pid"}]]).verdict == "unknown"  # a crash is never a pass


def test_sample_app_unstable_method_is_per_worker_and_stable_one_stable(cli) -> None:
    run = cli("--backend", "SimpleCache", "--workers", "2", "--scenario", "key-stability")
    assert run.code == 0, run.stdout + run.stderr
    (row,) = run.report()["results"]
    assert row["verdict"] == "per-worker"
    calls = {c["name"]: c for c in row["evidence"]["calls"]}
    unstable = calls["apps.features:PRICES.price"]
    assert unstable["verdict"] == "per-worker"
    first, second = unstable["differs"]["keys"]
    assert first != second
    assert unstable["differs"]["part"].startswith("address")
    assert calls["apps.features:NAMED_PRICES.price"]["verdict"] == "stable"
    # The second instance really ran from another directory.
    assert len({p["cwd"] for p in row["evidence"]["instances"]}) == 2


FOREIGN = '''
import os
from flask import Flask, request
from flask_caching import Cache

cache = Cache()


class Catalog:
    def __repr__(self):
        return "Catalog()"

    @cache.memoize()
    def price(self, item):
        return item


catalog = Catalog()


def create_app():
    app = Flask(__name__)
    app.config.update(CACHE_TYPE="SimpleCache")
    cache.init_app(app)

    @app.get("/salted/<int:n>")
    @cache.cached(key_prefix=lambda: "salted/%d" % hash(request.path))
    def salted(n):
        return str(n)

    @app.get("/located/<name>")
    @cache.cached(key_prefix=lambda: os.path.join(app.root_path, request.path.strip("/")))
    def located(name):
        return name

    return app
'''


def test_foreign_app_keys_with_hash_and_path_are_per_instance(cli, tmp_path: Path) -> None:
    (tmp_path / "keysapp.py").write_text(FOREIGN)
    run = cli("--app", "keysapp:create_app()", "--workers", "2", "--scenario", "key-stability",
              "--memoized", "keysapp:catalog.price", "--sample-args", "keysapp:catalog.price=[7]",
              "--sample-args", 'located={"name": "x"}', env={"PYTHONPATH": str(tmp_path)})
    assert run.code == 0, run.stdout + run.stderr
    (row,) = run.report()["results"]
    calls = {c["name"]: c for c in row["evidence"]["calls"]}
    assert calls["keysapp:catalog.price"]["verdict"] == "stable"
    assert calls["keysapp:catalog.price"]["call"] == "7"
    assert calls["salted"]["verdict"] == "per-instance"
    assert calls["salted"]["differs"]["part"].startswith("hash salt")
    assert calls["located"]["verdict"] == "per-instance"
    assert calls["located"]["call"] == "/located/x"
    assert calls["located"]["differs"]["part"].startswith("path")
    assert row["verdict"] == "per-instance"
