"""The app-views checker on hand-built runs: each verdict, and what never passes.

A run is what :func:`harness.workloads.appviews.run` returns: per target,
the steps in its order, each with the count of calls of the undecorated
function in the worker that answered.
"""

from __future__ import annotations

from typing import Any

from harness.checkers.appviews import check

PIDS = [101, 102, 103]


def steps(*, origin: int = 1, reads: tuple[int, ...] = (0, 0), again: int = 0,
          after: tuple[int, ...] = (1, 1, 1), keys: tuple[str, ...] = ("k", "k")
          ) -> list[dict[str, Any]]:
    """The steps of one target on three workers: ``reads``/``after`` are computed counts."""
    out: list[dict[str, Any]] = [
        {"phase": "warm", "do": "call", "pid": PIDS[0], "computed": 1, "keys": {}}]
    for pid, read, key in zip(PIDS[1:], reads, keys, strict=True):
        out += [{"phase": "reset", "do": "forget", "pid": pid, "how": "cache.delete('k')"},
                {"phase": "reset", "do": "forget", "pid": PIDS[0], "how": "cache.delete('k')"},
                {"phase": "origin", "do": "call", "pid": PIDS[0], "computed": origin,
                 "keys": {"get": ["k"]}},
                {"phase": "read", "do": "call", "pid": pid, "computed": read,
                 "keys": {"get": [key]}}]
    out.append({"phase": "again", "do": "call", "pid": PIDS[0], "computed": again})
    for pid, n in zip(PIDS, after, strict=True):
        out += [{"phase": "forget", "do": "forget", "pid": PIDS[0], "how": "cache.delete('k')"},
                {"phase": "after", "do": "call", "pid": pid, "computed": n}]
    return out


def run(*targets: dict[str, Any]) -> dict[str, Any]:
    return {"workers": PIDS, "targets": list(targets)}


def target(name: str, kind: str = "cached", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "call": "/x", "steps": steps(**kw)}


def test_served_everywhere_and_recomputed_after_the_invalidation_is_shared() -> None:
    verdict = check(run(target("a")))
    assert verdict.verdict == "shared"
    judged = verdict.evidence["targets"][0]
    assert judged["computed"] == {"101": 4, "102": 1, "103": 1}
    assert judged["read"]["102"] == {"got": "served", "key": "k", "origin_key": "k"}


def test_computed_again_elsewhere_but_kept_at_home_is_per_worker() -> None:
    verdict = check(run(target("a", reads=(1, 1), after=(1, 0, 0), keys=("k1", "k2"))))
    assert verdict.verdict == "per-worker"
    # A per-worker target's invalidation reaches no one else by construction: not stale.
    assert "stale_on" not in verdict.evidence["targets"][0]


def test_computed_on_every_call_is_none() -> None:
    assert check(run(target("a", reads=(1, 1), again=1))).verdict == "none"


def test_served_on_some_workers_only_is_partial() -> None:
    assert check(run(target("a", reads=(0, 1)))).verdict == "partial"


def test_an_unshared_workers_own_copy_is_partial_not_stale() -> None:
    # 103 computed its own entry (another key): w0's invalidation never could reach it.
    verdict = check(run(target("a", reads=(0, 1), after=(1, 1, 0), keys=("k", "k3"))))
    assert verdict.verdict == "partial"


def test_a_copy_the_invalidation_did_not_reach_is_stale() -> None:
    verdict = check(run(target("a", after=(1, 1, 0))))
    assert verdict.verdict == "stale"
    assert verdict.evidence["targets"][0]["stale_on"] == [103]


def test_the_invalidating_worker_serving_its_old_copy_is_stale() -> None:
    verdict = check(run(target("a", origin=0, after=(0, 0, 0))))
    assert verdict.verdict == "stale"
    assert verdict.evidence["targets"][0]["stale_on"] == PIDS


def test_the_row_is_its_worst_target() -> None:
    verdict = check(run(target("a"), target("b", reads=(1, 1), again=0, after=(1, 0, 0)),
                        target("c", after=(1, 0, 1))))
    assert verdict.verdict == "stale"
    assert verdict.evidence["counts"] == {"shared": 1, "per-worker": 1, "stale": 1}


def test_a_target_that_raised_is_not_computed_and_never_a_pass() -> None:
    raised = {"name": "orders", "kind": "cached", "call": "/orders", "steps": [
        {"phase": "warm", "do": "call", "pid": 101, "computed": 1,
         "error": "raised KeyError: 'user'"}]}
    verdict = check(run(target("a"), raised))
    assert verdict.verdict == "shared"
    assert [t["name"] for t in verdict.evidence["targets"]] == ["a"]
    assert verdict.evidence["not_computed"] == [
        {"name": "orders", "kind": "cached", "call": "/orders",
         "reason": "warm call: raised KeyError: 'user'"}]
    # Alone, it leaves nothing judged: never a pass.
    alone = check(run(raised))
    assert alone.verdict == "unknown"


def test_a_named_target_not_computed_is_an_error() -> None:
    named = {"name": "m:Cls.f", "kind": "memoized", "named": True, "call": "",
             "error": "m:Cls.f is a method and m has no module-level instance of Cls", "steps": []}
    verdict = check(run(target("a"), named))
    assert verdict.verdict == "error"
    assert "--sample-args" in verdict.evidence["reason"]


def test_a_reply_the_harness_could_not_read_is_an_error() -> None:
    lost = target("a")
    lost["steps"][4] = {**lost["steps"][4], "unanswered": "HTTP 500 from pid 102: boom"}
    verdict = check(run(lost))
    assert verdict.verdict == "error"
    assert verdict.evidence["unanswered"][0]["pid"] == 102


def test_one_worker_cannot_show_sharing() -> None:
    assert check({"workers": [101], "targets": []}).verdict == "unknown"


def test_a_listing_that_failed_is_an_error() -> None:
    verdict = check({"workers": PIDS, "listing": {"pid": 101, "unanswered": "refused"},
                     "targets": []})
    assert verdict.verdict == "error"


def test_a_malformed_run_is_unknown_not_a_crash() -> None:
    assert check({"workers": PIDS, "targets": [{"name": "a", "steps": [{}]}]}).verdict \
        == "unknown"
