"""The invalidation-race checker on hand-built histories: holds, stale, violated, none, and
unknown when the clocks cannot be matched or no trial can be judged."""

from __future__ import annotations

from typing import Any

from histories import Ops

from harness.checkers import Facts, safely
from harness.checkers import invalidation as checker
from harness.history.names import OpType, Race
from harness.history.ops import History, Op
from harness.verdict import Conclusion

PIDS = (101, 102)
FACTS = Facts(pids=PIDS)
#: The run's clock pair: a worker's wall clock reads this much above the controller's
#: monotonic clock.
OFFSET = 1000.0
HOW = "delete_memoized(fn, x)"

op = Ops(pids=PIDS)


def _token(gen: str, started: float, pid: int, x: str) -> dict[str, Any]:
    return {"gen": gen, "started": OFFSET + started, "pid": pid, "x": x}


def _read(f: str, pid: int, at: float, token: dict[str, Any], *, fresh: bool, trial: int,
          key: str, type_: OpType = "ok", now: float | None = None) -> Op:
    seen = {"started": token["started"], "pid": token["pid"], "x": token["x"], "fresh": fresh,
            "now": OFFSET + (at + 0.005 if now is None else now)}
    return op(f, key, token["gen"], pid=pid, at=at, end=at + 0.03, type=type_, trial=trial,
              how=HOW, observed=seen, error=None if type_ == "ok" else "boom")


def _trial(h: History, t: int, after: list[tuple[int, str]], *, clock_skew: float = 0.0,
           failed: bool = False) -> None:
    """Trial ``t`` at time ``10 * t``: pid 101 computes ``old`` from +0.002 while pid 102
    invalidates at +0.01; then each ``(pid, which)`` reads ``old``, a ``new`` token it
    computes itself (``fresh``), ``hit`` (the ``new`` token computed by pid 101 first)
    or ``ghost`` (a token nobody computed)."""
    base, x = 10.0 * t, f"x{t}"
    old = _token(f"old{t}", base + 0.002, 101, x)
    h.add(_read(Race.READ, 101, base, old, fresh=True, trial=t, key=x))
    h.add(op(Race.FORGET, x, True, pid=102, at=base + 0.01, end=base + 0.012, trial=t, how=HOW,
             type="info" if failed else "ok", error="HTTP 500" if failed else None,
             observed={"how": HOW, "now": OFFSET + base + 0.011 + clock_skew}))
    new = _token(f"new{t}", base + 0.052, 101, x)
    at = base + 0.05
    for pid, which in after:
        if which == "old":
            h.add(_read(Race.AFTER, pid, at, old, fresh=False, trial=t, key=x))
        elif which == "fresh":
            mine = _token(f"new{t}-{pid}", at + 0.002, pid, x) if pid != 101 else new
            h.add(_read(Race.AFTER, pid, at, mine, fresh=True, trial=t, key=x))
        elif which == "hit":
            h.add(_read(Race.AFTER, pid, at, new, fresh=False, trial=t, key=x))
        else:
            h.add(_read(Race.AFTER, pid, at, _token("ghost", base, 101, x), fresh=False,
                        trial=t, key=x))
        at += 0.04


def _history(trials: list[list[tuple[int, str]]], **kw: Any) -> History:
    h = History()
    h.notes.append({"trials": len(trials), "clock_pair_before": OFFSET,
                    "clock_pair_after": OFFSET, "delete_cached": True})
    for t, after in enumerate(trials):
        _trial(h, t, after, **kw)
    return h


HOLDS = [[(101, "fresh"), (102, "hit")]] * 3


def test_fresh_values_after_the_invalidation_hold() -> None:
    v = checker.check(_history(HOLDS), FACTS)
    assert v.verdict == Conclusion.HOLDS, v.evidence
    assert v.evidence["raced_trials"] == 3 and v.evidence["served_from_cache"] == 3
    assert v.evidence["stale_reads"] == 0


def test_a_token_from_before_the_invalidation_is_stale() -> None:
    v = checker.check(_history([*HOLDS, [(101, "fresh"), (102, "old")]]), FACTS)
    assert v.verdict == Conclusion.STALE, v.evidence
    assert v.evidence["stale_reads"] == 1
    assert v.evidence["per_invalidation"][HOW]["stale_trials"] == 1
    example = v.evidence["counterexample"]
    assert example["token"]["gen"] == "old3"
    assert example["invalidation"]["pid"] == 102 and example["read"]["pid"] == 102
    assert example["read"]["start"] > example["invalidation"]["end"]
    assert example["token_before_invalidation_s"] > 0


def test_a_token_nobody_computed_is_violated() -> None:
    v = checker.check(_history([*HOLDS, [(101, "fresh"), (102, "ghost")]]), FACTS)
    assert v.verdict == Conclusion.VIOLATED, v.evidence
    assert v.evidence["never_computed"] == 1
    assert v.evidence["counterexample"]["read"]["value"] == "ghost"


def test_every_read_computing_is_none() -> None:
    v = checker.check(_history([[(101, "fresh"), (102, "fresh")]] * 3), FACTS)
    assert v.verdict == Conclusion.NONE, v.evidence
    assert v.evidence["served_from_cache"] == 0


def test_clocks_that_disagree_are_unknown() -> None:
    # The invalidation's reply says it answered 0.1 s after the op ended.
    v = checker.check(_history(HOLDS, clock_skew=0.1), FACTS)
    assert v.verdict == Conclusion.UNKNOWN, v.evidence
    assert v.evidence["clock_bound_s"] > checker.CLOCK_TOLERANCE


def test_a_failed_invalidation_drops_its_trial() -> None:
    # One failure in 412 ops: under the share rule's 1 %, so the rest can still hold.
    h = _history(HOLDS * 34)
    _trial(h, 102, [(101, "fresh"), (102, "old")], failed=True)
    v = checker.check(h, FACTS)
    assert v.verdict == Conclusion.HOLDS, v.evidence
    assert v.evidence["dropped"] == 1 and v.evidence["stale_reads"] == 0
    assert v.evidence["failed_ops"] == {f"{Race.FORGET} {HOW}": 1}


def test_a_run_that_could_not_start_is_unknown() -> None:
    h = History()
    h.notes.append({"clock_pair_before": OFFSET, "error": "GET /race/kinds answered 404"})

    v = safely(checker.check, h, FACTS)
    assert v.verdict == Conclusion.UNKNOWN
    assert "race/kinds" in v.evidence["checker_error"]
