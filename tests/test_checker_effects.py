"""The fault checker's effect findings, on hand-built histories: duplicated, immortal, stalled.

Each history is the clean fault run of ``test_checker_faults`` (a window
from t=1 to t=2.1, traffic and a final read pass after it), plus the ops
of one finding.
"""

from __future__ import annotations

from test_checker_faults import A, B, check, op, run

from harness.history.faults import Fault
from harness.history.names import Phase
from harness.history.ops import REQUEST_TIMEOUT, History, Op


def counter(*incs: Op, final: int) -> list[Op]:
    """A counter set to 0 at t=0.5, the increments given, and its final read."""
    return [op("set", "c", True, at=0.5, value=0), *incs,
            op("get", "c", final, at=7.0, phase=Phase.FINAL)]


def inc(at: float, result: object, **kw: object) -> Op:
    return op("inc", "c", result, at=at, delta=1, **kw)  # type: ignore[arg-type]


def test_a_counter_above_every_increment_asked_for_is_duplicated() -> None:
    # Two increments asked for (one left unknown by the fault), and the counter says 3:
    # one of them was applied twice.
    v = check(run(*counter(inc(1.2, None, type="info", answered=False, error="timeout"),
                           inc(3.5, 2), final=3)))
    assert v.verdict == "duplicated", v.evidence
    dup = v.evidence["duplicated"]
    assert dup["count"] == 1 and dup["counters"] == 1
    assert dup["samples"][0]["at_most"] == 2 and dup["samples"][0]["over_by"] == 1
    assert "duplicated" in v.evidence["findings"]


def test_an_increment_answering_more_than_was_asked_before_it_is_duplicated() -> None:
    # The final read is gone, but the second increment answered 3 after two were asked.
    h = run(op("set", "c", True, at=0.5, value=0), inc(1.2, 2), inc(3.5, 3))
    v = check(h)
    assert v.verdict == "duplicated", v.evidence
    assert v.evidence["duplicated"]["samples"][0]["ops"]


def test_increments_unknown_but_not_doubled_hold() -> None:
    # Unknown increments may or may not have landed: anything up to 2 is explained.
    for final in (1, 2):
        v = check(run(*counter(inc(1.2, None, type="info", answered=False, error="t"),
                               inc(3.5, final), final=final)))
        assert v.verdict == "holds", (final, v.evidence)
        assert v.evidence["duplicated"] == {"count": 0, "counters": 1, "samples": []}


def test_a_key_not_set_once_then_only_incremented_is_not_a_counter() -> None:
    v = check(run(op("set", "c", True, at=0.5, value=0), op("set", "c", True, at=0.6, value=5),
                  inc(3.5, 6), op("get", "c", 9, at=7.0, phase=Phase.FINAL)))
    assert v.evidence["duplicated"]["counters"] == 0
    assert "duplicated" not in v.evidence["findings"]


def _inspect(h: History, ttl: dict[str, int], at: float = 7.5) -> History:
    h.fault(Fault(f="inspect", target="redis-server master :7000 (direct)", start=at,
                  end=at + 0.01, value={"ttl": ttl}))
    return h


def test_a_key_added_with_a_timeout_and_stored_with_none_is_immortal() -> None:
    h = run(op("add", "n1", True, at=3.2, value="v", timeout=300),
            op("add", "n2", None, at=1.3, value="v", timeout=300, type="info",
               answered=False, error="reset"),
            op("add", "n3", None, at=1.5, value="v", timeout=300, type="fail", error="x"))
    v = check(_inspect(h, {"n1": 290, "n2": -1, "n3": -2}))
    assert v.verdict == "immortal", v.evidence
    imm = v.evidence["immortal"]
    # n3 was never stored (-2): not judged.
    assert imm["count"] == 1 and imm["judged"] == 2 and imm["samples"][0]["key"] == "n2"
    # The inspection opens no window: the heal is still the restart's end.
    assert v.evidence["healed_at"] == 2.1


def test_a_key_written_without_a_timeout_is_not_judged_and_nothing_read_leaves_it_out() -> None:
    h = run(op("set", "n1", True, at=3.2, value="v"))
    v = check(_inspect(h, {"n1": -1}))
    assert v.verdict == "holds" and v.evidence["immortal"]["judged"] == 0
    assert "immortal" not in check(run()).evidence


def test_a_request_unanswered_for_the_whole_request_timeout_stalled_its_worker() -> None:
    held = op("get", "a1", None, at=1.2, end=1.2 + REQUEST_TIMEOUT, pid=B, type="info",
              answered=False, error="TimeoutError: timed out")
    v = check(run(held))
    assert v.verdict == "stalled", v.evidence
    assert v.evidence["stalled"]["count"] == 1
    assert v.evidence["stalled"]["longest"] >= REQUEST_TIMEOUT
    # A slow request that was answered in the end did not stall it.
    slow = op("get", "a1", None, at=1.2, end=1.2 + REQUEST_TIMEOUT, pid=A, type="ok")
    assert check(run(slow)).evidence["stalled"]["count"] == 0


def test_unrecovered_outranks_stalled_which_outranks_duplicated() -> None:
    held = op("get", "a1", None, at=1.2, end=1.2 + REQUEST_TIMEOUT, pid=A, type="info",
              answered=False, error="timed out")
    v = check(run(held, *counter(inc(3.5, 5), final=5)))
    assert v.evidence["findings"] == ["stalled", "duplicated"] and v.verdict == "stalled"
    v = check(run(held, b_after=False))
    assert v.verdict == "unrecovered" and "stalled" in v.evidence["findings"]


def test_workers_that_never_recovered_and_could_not_read_at_the_end_are_unrecovered() -> None:
    # A client that raises until after the run (pylibmc skipping a server it found
    # dead) leaves no ok final read to judge lost writes on: unrecovered, not unknown.
    h = History()
    h.add(op("set", "a0", True, at=0.0, value="a0-1"))
    h.add(op("get", "a0", "a0-1", at=0.2, pid=B))
    h.fault(Fault(f="blackhole", target="proxy :1", start=1.0, end=1.1))
    h.fault(Fault(f="heal", target="proxy :1", start=2.0, end=2.1))
    for pid in (A, B):
        h.add(op("get", "a0", None, at=3.0, pid=pid, type="info", error="HTTP 500: ServerDown"))
        h.add(op("get", "a0", None, at=8.0, pid=pid, type="info", error="HTTP 500: ServerDown",
                 phase=Phase.FINAL))
    v = check(h)
    assert v.verdict == "unrecovered", v.evidence
    assert v.evidence["recovery"]["unrecovered"] == [A, B]
    assert "lost_writes" not in v.evidence
