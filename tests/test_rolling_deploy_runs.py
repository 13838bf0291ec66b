"""rolling-deploy: two Flask-Caching versions on one backend, and the venvs behind them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.checkers.rolling import check
from harness.errors import UsageError
from harness.topology import venvs

VERSIONS = {"old": "2.4.1", "new": "2.5.1"}


def _facts(read: dict[str, bool], self_read: bool = True) -> dict[str, Any]:
    return {kind: {d: {"token": "t", "errors": [], "self_read": self_read, "read": read[kind]}
                   for d in ("old->new", "new->old")} for kind in read}


@pytest.mark.parametrize(("read", "verdict"), [
    ({"set": True, "cached": True, "memoize": True}, "shared"),
    ({"set": True, "cached": True, "memoize": False}, "partial"),
    ({"set": False, "cached": False, "memoize": False}, "per-instance"),
])
def test_verdict_from_what_crossed(read: dict[str, bool], verdict: str) -> None:
    result = check(_facts(read), VERSIONS)
    assert result.verdict == verdict
    assert result.evidence["versions"] == VERSIONS
    if verdict == "partial":
        assert result.evidence["not_read_by_the_other_version"] == [
            "memoize old->new", "memoize new->old"]


def test_nothing_kept_is_none_and_failures_are_error() -> None:
    assert check(_facts({"set": False}, self_read=False), VERSIONS).verdict == "none"
    facts = _facts({"set": True})
    facts["set"]["old->new"]["errors"] = ["HTTP 500"]
    assert check(facts, VERSIONS).verdict == "error"
    assert check({"set": {"x": None}}, VERSIONS).verdict == "unknown"


def test_versions_and_defaults() -> None:
    assert venvs.previous_minor("2.5.1") == "2.4"
    with pytest.raises(UsageError, match="--old-version"):
        venvs.previous_minor("3.0.0")
    with pytest.raises(UsageError, match="such as 2.4"):
        venvs.check_version("latest", "--old-version")


def test_old_and_new_versions_share_set_and_views_but_not_memoize(cli) -> None:
    run = cli("--backend", "RedisCache", "--scenario", "rolling-deploy", timeout=600)
    assert run.code == 0, run.stdout + run.stderr
    (row,) = run.report()["results"]
    assert row["verdict"] == "partial"
    entries = row["evidence"]["entries"]
    assert row["evidence"]["versions"]["old"].startswith(venvs.previous_minor(venvs.installed()))
    # The memoize keys differ between the versions, the view keys do not.
    assert entries["memoize"]["keys"]["old"] != entries["memoize"]["keys"]["new"]
    assert entries["cached"]["keys"]["old"] == entries["cached"]["keys"]["new"]
    assert run.leftovers == []
    # Built once: the venv is now in the user's cache and found at once.
    started = time.monotonic()
    venv = venvs.ensure(venvs.previous_minor(venvs.installed()))
    assert time.monotonic() - started < 5
    assert venv.python.is_relative_to(venvs.cache_root())
