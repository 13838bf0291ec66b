"""The stampede checker on hand-built histories: it can hold, be violated, say none, and
drops what it cannot trust."""

from __future__ import annotations

from histories import Ops

from harness.checkers import Facts
from harness.checkers import stampede as checker
from harness.history.names import OpType, Phase
from harness.history.ops import History, Meta, Op

PIDS = (101, 102)
FACTS = Facts(pids=PIDS)


op = Ops(pids=PIDS, took=0.06)


def _call(pid: int, gen: str, trial: int, *, after: bool = False, type_: OpType = "ok",
          t: float = 0.0) -> Op:
    """One request of the stampede view on worker ``pid``, answering generation ``gen``."""
    return op("stampede:stampede", f"k{trial}", gen if type_ == "ok" else None, pid=pid, at=t,
              type=type_, error=None if type_ == "ok" else "boom", trial=trial,
              phase=Phase.AFTER if after else None)


def _trial(history: History, trial: int, wave: list[tuple[int, str]],
           after: list[tuple[int, str]]) -> None:
    for pid, gen in wave:
        history.add(_call(pid, gen, trial, t=trial))
    for pid, gen in after:
        history.add(_call(pid, gen, trial, after=True, t=trial + 0.5))


def test_one_slow_call_per_trial_holds() -> None:
    h = History()
    for t in range(3):
        # Four requests, all answered from the one computation on pid 101.
        _trial(h, t, [(101, f"101-{t}-a")] * 2 + [(102, f"101-{t}-a")] * 2,
               [(101, f"101-{t}-a"), (102, f"101-{t}-a")])
    v = checker.check(h, FACTS)
    assert v.verdict == "holds"
    assert v.evidence["slow_calls_per_trial"] == [1, 1, 1]
    assert v.evidence["histogram"] == {"1": 3}


def test_two_workers_computing_is_violated_with_the_count() -> None:
    h = History()
    _trial(h, 0, [(101, "101-0-a"), (102, "101-0-a")], [(101, "101-0-a"), (102, "101-0-a")])
    # Trial 1: both workers missed at once and both computed.
    _trial(h, 1, [(101, "101-1-a"), (101, "101-1-a"), (102, "102-1-b"), (102, "102-1-b")],
           [(101, "102-1-b"), (102, "102-1-b")])
    v = checker.check(h, FACTS)
    assert v.verdict == "violated"
    assert v.evidence["slow_calls_per_trial"] == [1, 2]
    assert v.evidence["slow_calls"] == {"min": 1, "median": 1.5, "max": 2}
    assert v.evidence["max_per_worker"] == 1


def test_one_worker_computing_twice_counts_per_worker() -> None:
    h = History()
    # A threaded worker: its two requests raced each other.
    _trial(h, 0, [(101, "101-0-a"), (101, "101-1-b")], [(101, "101-1-b")])
    v = checker.check(h, FACTS)
    assert v.verdict == "violated" and v.evidence["max_per_worker"] == 2


def test_nothing_stored_is_none_not_violated() -> None:
    h = History()
    for t in range(2):
        # Every request computed, and so did every read after the wave.
        _trial(h, t, [(101, f"101-{t}-a"), (102, f"102-{t}-b")],
               [(101, f"101-{t}-c"), (102, f"102-{t}-d")])
    v = checker.check(h, FACTS)
    assert v.verdict == "none"
    assert v.evidence["reads_after"] == 4 and v.evidence["reads_after_stored"] == 0
    assert v.evidence["slow_calls_per_trial"] == [2, 2]


def test_a_trial_touched_by_a_failed_request_is_dropped() -> None:
    h = History()
    _trial(h, 0, [(101, "101-0-a"), (102, "101-0-a")], [(101, "101-0-a")])
    # Trial 1 would be a violation, but one of its requests got no answer.
    _trial(h, 1, [(101, "101-1-a"), (102, "102-1-b")], [(101, "102-1-b")])
    h.add(_call(102, "", 1, type_="info"))
    for t in range(2, 200):
        _trial(h, t, [(101, f"101-{t}-a"), (102, f"101-{t}-a")], [(101, f"101-{t}-a")])
    v = checker.check(h, FACTS)
    assert v.evidence["dropped"] == 1 and v.evidence["judged"] == 199
    assert v.verdict == "holds"
    assert v.evidence["op_counts"]["info"] == 1


def test_a_pass_on_too_many_failed_requests_is_unknown() -> None:
    h = History()
    _trial(h, 0, [(101, "101-0-a"), (102, "101-0-a")], [(101, "101-0-a")])
    _trial(h, 1, [(101, "101-1-a")], [])
    h.add(_call(102, "", 1, type_="info"))
    v = checker.check(h, FACTS)
    assert v.verdict == "unknown" and v.evidence["would_be"] == "holds"


def test_no_trial_left_is_unknown() -> None:
    h = History()
    h.add(_call(101, "101-0-a", 0))
    h.add(_call(102, "", 0, type_="info"))
    v = checker.check(h, FACTS)
    assert v.verdict == "unknown"


def test_the_memoize_warm_up_is_not_a_trial() -> None:
    h = History()
    h.add(Op(process=0, pid=101, f="stampede:stampede-memoize", key="warm",
             meta=Meta(trial=-1, warm=True), type="ok", value="101-9-z"))
    _trial(h, 0, [(101, "101-0-a"), (102, "101-0-a")], [(102, "101-0-a")])
    v = checker.check(h, FACTS)
    assert v.verdict == "holds" and v.evidence["trials"] == 1
