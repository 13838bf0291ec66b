"""The one rule on operations that are not ok, in every checker (see harness.checkers).

Histories are shaped like the runs that motivated it: a register run whose
redis-server died half way (402 of 1200 ops failed), and runs against a
dead memcached, whose client library answers set -> False and get -> None.
"""

from __future__ import annotations

import itertools

import pytest
from histories import Ops

from harness.checkers import (
    MAX_NON_OK_SHARE,
    Facts,
    blast,
    keyops,
    lifecycle,
    races,
    safely,
    visibility,
)
from harness.history.names import OpType
from harness.history.ops import History, Op
from harness.verdict import Verdict

_clock = itertools.count()
PIDS = (101, 102)
FACTS = Facts(pids=PIDS)


op = Ops(pids=PIDS, clock=_clock, took=0.5)

def register(n: int, not_ok: int, *, kind: OpType = "fail", stale: bool = False) -> History:
    """Sequential set/get pairs on one register; the last ``not_ok`` ops are not ok."""
    h = History()
    for i in range(n // 2):
        bad = i >= (n - not_ok) // 2
        h.add(op("set", "r", True, process=i % 2, value=i, type=kind if bad else "ok",
                 answered=kind != "info"))
        h.add(op("get", "r", i - 1 if stale and i == 0 else i, process=(i + 1) % 2,
                 type=kind if bad else "ok"))
    if stale:
        h.ops[1] = op("get", "r", 999, process=1)  # a value nobody wrote, read from ok ops only
    return h


def test_a_register_run_with_402_of_1200_ops_failed_is_unknown_not_holds() -> None:
    v = races.check_register(register(1200, 402), FACTS)
    assert v.verdict == "unknown"
    assert v.evidence["would_be"] == "holds"
    assert v.evidence["op_counts"]["fail"] == 402
    assert v.evidence["op_counts"]["ops"] == 1200


def test_info_ops_count_against_the_share_like_failures() -> None:
    v = races.check_register(register(1200, 402, kind="info"), FACTS)
    assert v.verdict == "unknown"
    assert v.evidence["op_counts"]["info"] == 402


@pytest.mark.parametrize(("not_ok", "verdict"), [(0, "holds"), (12, "holds"), (14, "unknown")])
def test_the_threshold_is_one_percent(not_ok: int, verdict: str) -> None:
    assert MAX_NON_OK_SHARE == 0.01
    v = races.check_register(register(1200, not_ok), FACTS)
    assert v.verdict == verdict
    if not_ok:
        assert v.evidence["op_counts"]["non_ok_share"] == round(not_ok / 1200, 4)


def test_a_violation_proven_on_ok_ops_stands_whatever_failed() -> None:
    v = races.check_register(register(1200, 402, stale=True), FACTS)
    assert v.verdict == "violated"
    assert v.evidence["op_counts"]["fail"] == 402


def test_a_run_with_no_ok_op_is_error() -> None:
    h = History(ops=[op("set", "k", process=0, type="fail", value="v"),
                     op("get", "k", process=1, type="fail")])
    v = visibility.check(h, FACTS)
    assert v.verdict == "error"
    assert "observed nothing" in v.evidence["reason"]


def dead_memcached_visibility() -> History:
    """Every set answered False (info), every get None: NullCache-like, but refused."""
    h = History()
    for w in range(2):
        h.add(op("set", f"k{w}", False, process=w, type="info", value=f"v{w}"))
        for r in range(2):
            h.add(op("get", f"k{w}", process=r))
    return h


def test_visibility_with_every_set_refused_is_error_not_none() -> None:
    v = visibility.check(dead_memcached_visibility(), FACTS)
    assert v.verdict == "error"
    assert v.evidence["would_be"] == "none"
    assert v.evidence["writes_refused"] == {"set": 2}
    assert "refused" in v.evidence["reason"]


def test_visibility_of_a_cache_that_stores_nothing_stays_none() -> None:
    h = History()
    for w in range(2):
        h.add(op("set", f"k{w}", True, process=w, value=f"v{w}"))  # NullCache: set answers True
        for r in range(2):
            h.add(op("get", f"k{w}", process=r))
    assert visibility.check(h, FACTS).verdict == "none"


def test_restart_with_every_set_refused_is_error_not_none() -> None:
    h = History()
    for w in range(2):
        h.add(op("set", f"k{w}", False, process=w, type="info", value="v", phase="write"))
        h.add(op("get", f"k{w}", process=w, want="v", phase="before", role="writer"))
        h.add(op("get", f"k{w}", process=w, want="v", phase="after", role="new"))
    assert lifecycle.check_restart(h, FACTS).verdict == "error"


def test_an_inc_race_whose_incs_were_all_refused_is_error() -> None:
    h = History(ops=[op("inc", "c", None, process=p, type="info", delta=1) for p in (0, 1) * 5])
    h.ops += [op("get", "c", process=p) for p in (0, 1)]
    v = races.check_inc_race(h, FACTS)
    assert v.verdict == "error"
    assert v.evidence["writes_refused"] == {"inc": 10}


def test_an_add_race_where_no_add_ever_won_and_nothing_was_read_is_error() -> None:
    # A dead memcached answers add -> False ("the key existed") on fresh keys.
    h = History()
    for t in range(3):
        h.ops += [op("add", f"k{t}", False, process=p, value=f"w{p}") for p in (0, 1)]
        h.ops += [op("get", f"k{t}", process=p) for p in (0, 1)]
    assert races.check_add_race(h, FACTS).verdict == "error"


def test_a_stale_read_after_a_delete_that_may_not_have_happened_is_not_a_violation() -> None:
    h = History()
    for k in range(150):
        key, unsure = f"k{k}", k == 0
        h.add(op("set", key, True, process=0, value="v"))
        h.add(op("get", key, "v", process=1))
        h.add(op("delete", key, process=1, type="info" if unsure else "ok", answered=not unsure))
        h.add(op("get", key, "v" if unsure else None, process=0))
    v = keyops.check_delete(h, FACTS)
    assert v.verdict == "holds"  # 1 of 600 ops not ok: under the threshold
    assert v.evidence["keys"] == 149
    assert v.evidence["op_counts"]["unanswered"] == 1


def test_a_clear_that_was_not_ok_makes_the_blast_radius_error() -> None:
    h = History(ops=[op("set", "a", True, process=0, value="v", app="clearing", phase="write"),
                     op("get", "a", "v", process=0, want="v", app="clearing", phase="before"),
                     op("clear", None, process=0, type="info", app="clearing", phase="clear"),
                     op("get", "a", "v", process=0, want="v", app="clearing", phase="after")])
    v = blast.check(h, FACTS)
    assert v.verdict == "error"
    assert v.evidence["clears_not_ok"][0]["type"] == "info"


def test_a_crashing_checker_reports_the_op_counts_too() -> None:
    h = History(ops=[op("get", "k", process=0), op("get", "k", process=0, type="info")])
    v = safely(keyops.check_delete, h, FACTS)  # no delete: nothing to judge
    assert v.verdict == "unknown"
    assert v.evidence["op_counts"]["info"] == 1


def _with_500s(ok_f: str, ok: int, failing: int) -> History:
    """``ok`` answered ops of ``ok_f``, then ``failing`` item:forget ops answered HTTP 500."""
    h = History()
    for i in range(ok):
        h.add(Op(process=0, pid=1, f=ok_f, key=f"k{i}", type="ok", value=None))
    for i in range(failing):
        h.add(Op(process=0, pid=1, f="item:forget", key=f"x{i}", type="info",
                 error="HTTP 500: Internal Server Error", answered=True))
    return h


def test_an_operation_that_raises_every_time_is_broken_and_proven() -> None:
    from harness.checkers import BROKEN_MIN, apply_share_rule

    h = _with_500s("get", 40, BROKEN_MIN)
    v = apply_share_rule(h, Verdict(verdict="shared"))
    assert v.verdict == "broken"
    assert v.evidence["raised"]["item:forget"] == {
        "attempts": BROKEN_MIN, "raised": BROKEN_MIN, "sample": "HTTP 500: Internal Server Error"}


def test_an_operation_that_raises_on_most_attempts_is_broken() -> None:
    from harness.checkers import apply_share_rule

    # 11 of 12, as delete_memoized of a method did on Redis Cluster in one run.
    h = _with_500s("get", 40, 11)
    h.add(Op(process=0, pid=1, f="item:forget", key="y", type="ok", value=True))
    v = apply_share_rule(h, Verdict(verdict="shared"))
    assert v.verdict == "broken"
    assert v.evidence["raised"]["item:forget"]["raised"] == 11


def test_an_operation_that_raised_only_sometimes_is_not_broken() -> None:
    from harness.checkers import BROKEN_MIN, apply_share_rule

    h = _with_500s("item:forget", 400, BROKEN_MIN)
    assert apply_share_rule(h, Verdict(verdict="shared")).verdict == "shared"
