"""The TTL and fs-threshold scenarios end to end through the CLI, on two backends at once."""

from __future__ import annotations

import pytest

TTL = ("ttl-zero", "ttl-inc", "ttl-rounding")


@pytest.mark.needs("redis")
def test_ttl_and_fs_threshold_on_filesystem_and_redis(cli) -> None:
    run = cli("--backend", "FileSystemCache", "--backend", "RedisCache",
              "--scenario", "ttl-zero", "--scenario", "fs-threshold")
    assert run.code == 0, run.stdout + run.stderr
    rows = {(r["backend"], r["scenario"]): r for r in run.report()["results"]}
    # fs-threshold skips every backend that keeps no files in CACHE_DIR.
    assert set(rows) == {(b, s) for b in ("FileSystemCache", "RedisCache") for s in TTL} \
        | {("FileSystemCache", "fs-threshold")}
    assert all(r["ok"] is True for r in rows.values())
    for s in TTL:
        assert rows["FileSystemCache", s]["verdict"] == "violated"
        assert rows["RedisCache", s]["verdict"] == "holds"
    # timeout=0 files go first in FileSystemCache's prune; Redis keeps them.
    assert rows["FileSystemCache", "ttl-zero"]["evidence"]["lost_after_prune"] > 0
    assert rows["RedisCache", "ttl-zero"]["evidence"]["lost_after_prune"] == 0
    lifetimes = rows["RedisCache", "ttl-rounding"]["evidence"]["lifetimes_s"]
    assert set(lifetimes) == {"1", "2"} and all(d["trials"] >= 5 for d in lifetimes.values())
    assert abs(lifetimes["2"]["median"] - 2.0) < 0.2
    fs = rows["FileSystemCache", "fs-threshold"]["evidence"]
    # The mix's drift can cancel out; the count trials' cannot.
    assert fs["count_drift"] != 0 or fs["count_trials_off"] == 1
    assert 1 <= fs["count_trials"] <= fs["count_trials_planned"]
    assert fs["killed_write"]["victim_pid"] > 0
    # The two instances of their own (ttl, fs-threshold) are gone with the rest.
    assert run.leftovers == []
