"""The delete, clear and ttl checkers on hand-built histories: each can fail."""

from __future__ import annotations

from histories import Ops

from harness.checkers import Facts
from harness.checkers.keyops import check_clear, check_delete, check_ttl
from harness.history.ops import History

FACTS = Facts(pids=(100, 101))


#: Worker ``process`` has pid 100 + process.
op = Ops(pids=range(100, 110))

def _delete_history(stale_reader: int | None, *, late: bool = False) -> History:
    h = History()
    h.add(op("set", "k", True, process=0, at=1.0, value="v"))
    for r in range(2):
        h.add(op("get", "k", "v", process=r, at=1.1 + r / 100, warm=True))
    h.add(op("delete", "k", True, process=1, at=1.2))
    for r in range(2):
        h.add(op("get", "k", "v" if r == stale_reader else None, process=r, at=1.3 + r / 100))
    if late and stale_reader is not None:
        h.add(op("get", "k", None, process=stale_reader, at=1.6, poll=True))
    return h


def test_delete_holds_when_nobody_reads_the_value() -> None:
    v = check_delete(_delete_history(None), FACTS)
    assert v.verdict == "holds"
    assert v.evidence["values_visible_before"] == 2


def test_delete_ignored_by_one_worker_is_violated() -> None:
    v = check_delete(_delete_history(0), FACTS)
    assert v.verdict == "violated"
    assert v.evidence["stale_samples"][0]["reader_pid"] == 100


def test_delete_seen_late_holds_and_counts_the_late_invalidation() -> None:
    v = check_delete(_delete_history(0, late=True), FACTS)
    assert (v.verdict, v.evidence["late_invalidations"]) == ("holds", 1)


def test_a_later_clear_does_not_excuse_a_stale_read() -> None:
    h = History()
    h.add(op("set", "a", True, process=0, at=1.0, value="va"))
    h.add(op("clear", None, True, process=1, at=1.1))
    h.add(op("get", "a", "va", process=0, at=1.2))       # survived the first clear
    h.add(op("set", "b", True, process=0, at=1.3, value="vb"))
    h.add(op("clear", None, True, process=0, at=1.4))    # the writer's own clear
    h.add(op("get", "b", None, process=0, at=1.5))
    h.add(op("get", "a", None, process=0, at=1.6, poll=True))  # gone only because of clear #2
    v = check_clear(h, FACTS)
    assert v.verdict == "violated"
    assert v.evidence["stale_reads"] == 1


def _ttl_history(before: object, after: object) -> History:
    h = History()
    h.add(op("set", "k", True, process=0, at=1.0, value="v", timeout=2))
    h.add(op("get", "k", before, process=1, at=1.1, phase="before"))
    h.add(op("get", "k", after, process=1, at=4.1, phase="after"))
    return h


def test_ttl_holds_when_visible_then_gone() -> None:
    v = check_ttl(_ttl_history("v", None), FACTS)
    assert v.verdict == "holds"
    assert v.evidence["waited_s"] == 3.09


def test_ttl_violated_when_key_outlives_expiry() -> None:
    v = check_ttl(_ttl_history("v", "v"), FACTS)
    assert (v.verdict, v.evidence["present_after_expiry"]) == ("violated", 1)


def test_ttl_violated_when_not_visible_before_expiry() -> None:
    v = check_ttl(_ttl_history(None, None), FACTS)
    assert (v.verdict, v.evidence["missing_before_expiry"]) == ("violated", 1)
