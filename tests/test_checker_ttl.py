"""The ttl-zero, ttl-inc and ttl-rounding checkers on hand-built histories: each can fail."""

from __future__ import annotations

import pytest
from histories import Ops

from harness.checkers import Facts, safely
from harness.checkers.ttl import SLACK, check_inc, check_rounding, check_zero
from harness.history.names import Phase
from harness.history.ops import History

FACTS = Facts(pids=(100, 101))
#: Worker ``process`` has pid 100 + process.
op = Ops(pids=range(100, 110), took=0.005)


def _zero(*, after_prune: str | None = "z", control_after: str | None = None,
          shared: bool = True, default_expired: bool = True) -> History:
    """Worker 0 writes a timeout=0 key and a default-timeout control key; both workers read."""
    h = History()
    h.add(op("set", "z", True, process=0, at=1.0, value="z", timeout=0, phase=Phase.WRITE))
    h.add(op("set", "c", True, process=0, at=1.01, value="c", phase=Phase.WRITE))
    for key in ("z", "c"):
        for r in range(2):
            seen = key if shared or r == 0 else None
            h.add(op("get", key, seen, process=r, at=1.1 + r / 100, phase=Phase.BEFORE))
    for r in range(2):
        h.add(op("get", "z", "z", process=r, at=3.5 + r / 100, phase=Phase.AFTER))
        h.add(op("get", "c", control_after if default_expired else "c", process=r,
                 at=3.6 + r / 100, phase=Phase.AFTER))
    for n in range(3):
        h.add(op("set", f"f{n}", True, process=1, at=3.7 + n / 100, value="f", timeout=600,
                 phase=Phase.PRUNE))
    for r in range(2):
        h.add(op("get", "z", after_prune, process=r, at=4.0 + r / 100, phase=Phase.FINAL))
    return h


def test_zero_holds_when_the_key_outlives_the_default_timeout_and_the_prune() -> None:
    v = check_zero(_zero(), FACTS)
    assert v.verdict == "holds"
    assert (v.evidence["zero_reads_judged"], v.evidence["control_keys_expired"],
            v.evidence["prune_writes"]) == (2, 2, 3)


def test_zero_pruned_is_violated() -> None:
    v = check_zero(_zero(after_prune=None), FACTS)
    assert (v.verdict, v.evidence["lost_after_prune"]) == ("violated", 2)


def test_zero_is_judged_only_where_it_was_seen() -> None:
    # A per-worker store: worker 1 never held the key, so only worker 0 counts.
    v = check_zero(_zero(shared=False, after_prune=None), FACTS)
    assert (v.verdict, v.evidence["zero_reads_judged"]) == ("violated", 1)


def test_zero_without_an_expired_control_key_proves_nothing() -> None:
    h = _zero(default_expired=False)
    with pytest.raises(ValueError, match="CACHE_DEFAULT_TIMEOUT was not in force"):
        check_zero(h, FACTS)
    assert safely(check_zero, h, FACTS).verdict == "unknown"


def test_zero_nothing_read_back_is_none() -> None:
    h = History()
    h.add(op("set", "z", True, process=0, at=1.0, value="z", timeout=0, phase=Phase.WRITE))
    h.add(op("get", "z", None, process=0, at=1.1, phase=Phase.BEFORE))
    assert check_zero(h, FACTS).verdict == "none"


def _inc(t: int, *, after_at: float, present: bool) -> History:
    h = History()
    h.add(op("set", "k", True, process=0, at=1.0, value=0, timeout=t, phase=Phase.WRITE))
    h.add(op("inc", "k", 1, process=0, at=1.01, delta=1, phase=Phase.WRITE))
    h.add(op("get", "k", 1, process=1, at=1.02, phase=Phase.BEFORE))
    h.add(op("get", "k", 1 if present else None, process=1, at=after_at, phase=Phase.AFTER))
    return h


@pytest.mark.parametrize(("t", "present", "verdict"), [
    (5, True, "holds"), (5, False, "violated"),   # inc gave it a shorter timeout
    (0, True, "holds"), (0, False, "violated"),   # a key set with 0 lost "forever"
    (1, False, "holds"), (1, True, "violated"),   # inc made it outlive its timeout
])
def test_inc_keeps_the_set_timeout(t: int, present: bool, verdict: str) -> None:
    assert check_inc(_inc(t, after_at=3.4, present=present), FACTS).verdict == verdict


def test_inc_read_where_whole_seconds_leave_either_answer_is_not_judged() -> None:
    # 2.4 s after a 2 s set: alive and gone are both possible (2 +- 1 s).
    with pytest.raises(ValueError, match="one answer"):
        check_inc(_inc(2, after_at=3.4, present=True), FACTS)


def _rounding(lifetimes: list[tuple[int, float]], *, reader: int = 1) -> History:
    """One key per (timeout, lifetime), polled every 20 ms on ``reader`` until gone."""
    h = History()
    for i, (t, life) in enumerate(lifetimes):
        at = 10.0 * i
        key, value = f"k{i}", f"v{i}"
        h.add(op("set", key, True, process=0, at=at, value=value, timeout=t, trial=i))
        s = at + 0.005
        poll = s + 0.001
        while True:
            alive = poll + 0.005 <= s + life
            h.add(op("get", key, value if alive else None, process=reader, at=poll, trial=i))
            if not alive:
                break
            poll += 0.02
    return h


def test_rounding_exact_expiry_holds_and_reports_the_distribution() -> None:
    v = check_rounding(_rounding([(1, 1.0), (1, 1.01), (2, 2.0), (2, 2.005)]), FACTS)
    assert v.verdict == "holds"
    one = v.evidence["lifetimes_s"]["1"]
    assert one["trials"] == 2 and abs(one["median"] - 1.0) < 0.05
    assert v.evidence["measured_across_workers"] == 4


def test_rounding_whole_second_floor_is_violated_early() -> None:
    v = check_rounding(_rounding([(1, 0.4), (1, 0.95), (2, 1.3), (2, 1.9)]), FACTS)
    assert (v.verdict, v.evidence["early"], v.evidence["late"]) == ("violated", 2, 0)


def test_rounding_a_late_expiry_is_violated() -> None:
    v = check_rounding(_rounding([(1, 1.0 + SLACK + 0.3)]), FACTS)
    assert (v.verdict, v.evidence["late"]) == ("violated", 1)


def test_rounding_measured_on_the_writer_alone_counts_as_not_across() -> None:
    v = check_rounding(_rounding([(1, 1.0)], reader=0), FACTS)
    assert (v.verdict, v.evidence["measured_across_workers"]) == ("holds", 0)


def test_rounding_nothing_ever_seen_is_none() -> None:
    h = History()
    h.add(op("set", "k", True, process=0, at=1.0, value="v", timeout=1))
    h.add(op("get", "k", None, process=1, at=1.01))
    assert check_rounding(h, FACTS).verdict == "none"
