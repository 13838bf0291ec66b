"""The add-race and inc-race checkers on hand-built histories: each can fail."""

from __future__ import annotations

import pytest
from histories import Ops

from harness.checkers import safely
from harness.checkers.concurrency import check_counter, check_unique_winner, classify_counter
from harness.history.ops import History, Op

#: An operation on worker ``pid`` (its process too); keywords are the request's.
op = Ops(took=0.01)


# --- unique winner ---------------------------------------------------------------------------


def _race(key: str, *results: bool | None) -> list[Op]:
    """One add per worker on ``key``; None stands for an info add."""
    return [op("add", key, r, pid=pid, at=1.0, type="info" if r is None else "ok", value=pid)
            for pid, r in enumerate(results)]


def test_one_winner_per_key_holds() -> None:
    v = check_unique_winner(History(ops=_race("a", True, False, False) + _race("b", False, True)))
    assert v.verdict == "holds"
    assert (v.evidence["trials"], v.evidence["attempts"], v.evidence["winners"]) \
        == (2, 5, {"1": 2})


def test_two_winners_on_one_key_is_violated_and_counted() -> None:
    h = History(ops=_race("a", True, True, False) + _race("b", True, False)
                + _race("c", True, True, True))
    v = check_unique_winner(h)
    assert v.verdict == "violated"
    assert v.evidence["keys_with_multiple_winners"] == 2
    assert v.evidence["winners"] == {"1": 1, "2": 1, "3": 1}
    assert v.evidence["multiple_samples"][0] == {"key": "a", "winner_pids": [0, 1]}


def test_no_winner_on_a_fresh_key_is_violated() -> None:
    v = check_unique_winner(History(ops=_race("a", False, False)))
    assert (v.verdict, v.evidence["no_winner"]) == ("violated", 1)


def test_an_info_add_may_be_the_missing_winner_but_proves_nothing() -> None:
    v = check_unique_winner(History(ops=_race("a", False, None)))
    assert (v.verdict, v.evidence["winner_unconfirmed"]) == ("holds", 1)
    # An info add beside an ok winner is not a second winner.
    assert check_unique_winner(History(ops=_race("b", True, None))).verdict == "holds"


def test_failed_adds_are_dropped_and_no_adds_is_unknown() -> None:
    failed = [op("add", "a", pid=0, at=1.0, type="fail", value=0)]
    v = check_unique_winner(History(ops=failed))
    assert (v.verdict, v.evidence["failed_attempts"]) == ("unknown", 1)
    assert "nothing to judge" in v.evidence["reason"]


# --- counter ---------------------------------------------------------------------------------


def _incs(n: int, *, workers: int = 4, lost: int = 0, info: int = 0,
          final: int | None = None, per_worker: bool = False) -> History:
    """``n`` ok incs spread over workers (the first ``lost`` returning a stale value), then
    ``info`` info incs, then one final read per worker of ``final`` (or the true total)."""
    h = History()
    for i in range(n):
        h.add(op("inc", "c", max(1, i + 1 - lost), pid=i % workers, at=1.0 + i / 1000, delta=1))
    for i in range(info):
        h.add(op("inc", "c", pid=i % workers, at=2.0, type="info", delta=1))
    for pid in range(workers):
        seen = n // workers if per_worker else (n - lost if final is None else final)
        h.add(op("get", "c", seen, pid=pid, at=3.0 + pid))
    return h


def test_no_lost_updates_holds() -> None:
    v = check_counter(_incs(200))
    assert v.verdict == "holds"
    assert (v.evidence["ok"], v.evidence["final"], v.evidence["lost_updates"]) == (200, 200, 0)


def test_115_of_200_is_violated_with_85_lost() -> None:
    v = check_counter(_incs(200, final=115))
    assert v.verdict == "violated"
    assert (v.evidence["lost_updates"], v.evidence["lost_pct"]) == (85, 42.5)
    assert v.evidence["out_of_bound_samples"] == [{"key": "c", "final": 115,
                                                   "bound": [200, 200]}]


def test_duplicate_returns_are_counted_as_witnesses() -> None:
    v = check_counter(_incs(10, lost=3))
    assert v.verdict == "violated"
    assert (v.evidence["lost_updates"], v.evidence["duplicate_returns"]) == (3, 4)


@pytest.mark.parametrize(("final", "verdict"), [(199, "violated"), (200, "holds"),
                                                (205, "holds"), (206, "violated")])
def test_info_incs_widen_the_bound_upwards_only(final: int, verdict: str) -> None:
    v = check_counter(_incs(200, info=5, final=final))
    assert v.verdict == verdict
    assert (v.evidence["attempted"], v.evidence["attempted_sum"]) == (205, 205)


def test_initial_value_shifts_the_bound() -> None:
    assert check_counter(_incs(10, final=15), initial=5).verdict == "holds"


def test_only_reads_after_the_last_inc_count_as_final() -> None:
    h = History(ops=[op("inc", "c", 1, pid=0, at=1.0), op("get", "c", None, pid=1, at=0.5)])
    v = check_counter(h)
    assert v.verdict == "unknown"
    assert "no ok get" in v.evidence["reason"]


def test_no_incs_is_unknown_and_a_non_numeric_read_is_safely_unknown() -> None:
    assert check_counter(History(ops=[op("get", "c", 3, pid=0, at=1.0)])).verdict == "unknown"
    h = History(ops=[op("inc", "c", 1, pid=0, at=1.0), op("get", "c", "abc", pid=0, at=2.0)])
    with pytest.raises(ValueError, match="returned 'abc', not a number"):
        check_counter(h)
    assert safely(check_counter, h).verdict == "unknown"


def test_per_worker_counters_classify_as_per_worker() -> None:
    h = _incs(200, per_worker=True)  # each worker reads back only its own 50
    assert check_counter(h).verdict == "violated"
    assert check_counter(h, by_worker=True).verdict == "holds"
    v = classify_counter(h)
    assert v.verdict == "per-worker"
    assert v.evidence["global"]["lost_updates"] == 150


def test_classify_counter_holds_or_violated() -> None:
    assert classify_counter(_incs(200)).verdict == "holds"
    assert classify_counter(_incs(200, final=115)).verdict == "violated"
