"""The invalidation-race scenario end to end through the CLI, on two shared backends at once."""

from __future__ import annotations

import pytest

from harness.workloads.invalidation import TRIALS

#: The invalidations that delete one key, whose race with a computing miss is in every
#: trial (the expectations' derivation): each must have been caught stale.
BY_KEY = ("delete_memoized(fn, x)", "cache.delete(view key)", "delete_cached(view)")


@pytest.mark.needs("redis")
def test_invalidation_race_on_filesystem_and_redis(cli) -> None:
    run = cli("--backend", "FileSystemCache", "--backend", "RedisCache",
              "--scenario", "invalidation-race")
    assert run.code == 0, run.stdout + run.stderr
    rows = {r["backend"]: r for r in run.report()["results"]}
    assert set(rows) == {"FileSystemCache", "RedisCache"}
    for backend, row in rows.items():
        ev = row["evidence"]
        assert row["ok"] is True and row["verdict"] == "stale", (backend, row)
        assert ev["trials"] == TRIALS >= 135 and ev["never_computed"] == 0
        assert ev["clock_bound_s"] <= ev["clock_tolerance_s"]
        assert ev["delete_cached"] is True  # flask-caching 2.5.1 is installed
        assert set(ev["per_invalidation"]) >= set(BY_KEY)
        for how in BY_KEY:
            assert ev["per_invalidation"][how]["stale_trials"] > 0, (backend, how, ev)
        example = ev["counterexample"]
        assert example["read"]["start"] > example["invalidation"]["end"]
        assert example["token_before_invalidation_s"] > 0
    assert run.leftovers == []
