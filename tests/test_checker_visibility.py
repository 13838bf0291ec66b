"""The visibility checker's verdicts, on hand-built histories."""

from __future__ import annotations

from histories import Ops

from harness.checkers import Facts, safely
from harness.checkers.visibility import check
from harness.history.ops import History

PIDS = [101, 102, 103]
FACTS = Facts(pids=tuple(PIDS))
op = Ops(pids=PIDS)


def _history(seen: dict[tuple[int, int], str], late: set[tuple[int, int]] = frozenset(),
             fail: bool = False) -> History:
    """One write per worker; ``seen[(w, r)]`` is what reader r first returned."""
    h = History()
    for w in range(3):
        key, value = f"k{w}", f"v{w}"
        h.add(op("set", key, True, process=w, at=0.0, end=1.0, value=value,
                 type="fail" if fail and w == 1 else "ok"))
        for r in range(3):
            h.add(op("get", key, seen.get((w, r)), process=r, at=1.05, end=1.1))
    for w, r in late:
        h.add(op("get", f"k{w}", f"v{w}", process=r, at=1.4, end=1.5, args={"poll": True}))
    return h


def _all() -> dict[tuple[int, int], str]:
    return {(w, r): f"v{w}" for w in range(3) for r in range(3)}


def test_everyone_sees_everything_is_shared() -> None:
    assert check(_history(_all()), FACTS).verdict == "shared"


def test_only_the_writer_sees_is_per_worker() -> None:
    v = check(_history({(w, w): f"v{w}" for w in range(3)}), FACTS)
    assert v.verdict == "per-worker"
    assert v.evidence["matrix"] == [["Y", "-", "-"], ["-", "Y", "-"], ["-", "-", "Y"]]
    assert v.evidence["pids"] == PIDS


def test_nobody_sees_is_none() -> None:
    assert check(_history({}), FACTS).verdict == "none"


def test_late_arrival_is_eventual_with_lag() -> None:
    seen = _all()
    del seen[(0, 2)]
    v = check(_history(seen, late={(0, 2)}), FACTS)
    assert v.verdict == "eventual"
    assert v.evidence["max_lag_s"] == 0.5


def test_one_missing_cell_is_partial() -> None:
    seen = _all()
    del seen[(0, 2)]
    v = check(_history(seen), FACTS)
    assert v.verdict == "partial"
    assert v.evidence["miss_samples"][0]["reader_pid"] == 103


def test_a_refused_write_is_dropped_and_the_would_be_pass_is_unknown() -> None:
    v = check(_history(_all(), fail=True), FACTS)
    assert v.verdict == "unknown"
    assert (v.evidence["would_be"], v.evidence["writes"]) == ("shared", 2)
    assert v.evidence["op_counts"]["fail"] == 1


def test_crashing_checker_is_unknown() -> None:
    h = _history(_all())
    v = safely(check, h, Facts(pids=(1,)))  # too few pids: IndexError
    assert v.verdict == "unknown"
    assert "checker_error" in v.evidence
