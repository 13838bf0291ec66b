"""Read-your-writes and monotonic reads, on hand-built histories and on the visibility workload.

Each history is the smallest one that shows a rule: ``A`` and ``B`` are two
worker pids, times are seconds on one clock, and every value is written
once, so a read names its write.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from histories import Ops, history

from harness.checkers import Facts, safely, session, visibility
from harness.history.ops import History, Meta, Op
from harness.workloads import visibility as workload

A, B = 101, 102
FACTS = Facts(pids=(A, B))


#: An op of ``client`` (0 unless given) on worker ``pid``, running from ``at`` for 0.1 s.
op = Ops(pids=(A, B), took=0.1, meta=Meta(client=0))


def padded(*ops: Op) -> History:
    """``ops`` plus 100 clean ops elsewhere, so one info op stays under the share rule."""
    quiet = [op(f, f"q{n}", True if f == "set" else f"q{n}", at=10 + n, pid=B, client=9,
                **{"value": f"q{n}"} if f == "set" else {})
             for n in range(50) for f in ("set", "get")]
    return History(ops=[*ops, *quiet])


def ryw(h: History) -> Any:
    return safely(session.check_read_your_writes, h, FACTS)


def mono(h: History) -> Any:
    return safely(session.check_monotonic_reads, h, FACTS)


# --- read-your-writes ------------------------------------------------------

def test_reading_back_your_own_writes_everywhere_holds() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("get", "k", "v1", at=1),
                op("get", "k", "v1", at=2, pid=B), op("set", "k", True, at=3, pid=B, value="v2"),
                op("get", "k", "v2", at=4))
    v = ryw(h)
    assert v.verdict == "holds"
    assert v.evidence["per_client"]["reads_checked"] == 3
    assert v.evidence["per_client"]["violations"] == 0


def test_reading_a_value_older_than_your_own_write_is_violated() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("set", "k", True, at=1, value="v2"),
                op("get", "k", "v1", at=2))
    v = ryw(h)
    assert v.verdict == "violated"
    cx = v.evidence["counterexample"]
    assert cx["kind"] == "older" and cx["ops"] == [0, 1, 2] and cx["culprits"] == [2]
    assert cx["describe"][2].startswith("#2 process 0 client 0 pid 101: get('k') -> 'v1'")
    assert v.evidence["per_worker"]["by_session"][str(A)] == {"reads_checked": 1,
                                                             "violations": 1}


def test_a_deleted_value_read_back_by_the_deleter_is_violated() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("delete", "k", True, at=1),
                op("get", "k", "v1", at=2))
    assert ryw(h).verdict == "violated"


def test_an_older_value_on_another_worker_is_per_worker() -> None:
    """A store per worker: the client's overwrite went to B, its next read to A."""
    h = history(op("set", "k", True, at=0, value="v1"),
                op("set", "k", True, at=1, pid=B, value="v2"),
                op("get", "k", "v1", at=2), op("get", "k", "v2", at=3, pid=B))
    v = ryw(h)
    assert v.verdict == "per-worker"
    assert v.evidence["per_client"]["older"] == 1
    assert v.evidence["per_worker"]["violations"] == 0
    assert v.evidence["counterexample"]["ops"] == [0, 1, 2]


def test_a_miss_then_your_own_value_is_violated() -> None:
    """The value was there before and after the miss: the read lagged behind the write."""
    h = history(op("set", "k", True, at=0, value="v1"), op("get", "k", None, at=1),
                op("get", "k", "v1", at=2))
    v = ryw(h)
    assert v.verdict == "violated"
    assert v.evidence["per_worker"]["missed_then_seen"] == 1
    assert v.evidence["counterexample"]["culprits"] == [1]


def test_a_miss_alone_is_forgetting_not_a_violation() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("get", "k", "v1", at=1),
                op("get", "k", None, at=2), op("get", "k", None, at=3))
    v = ryw(h)
    assert v.verdict == "holds"
    assert v.evidence["per_client"]["misses"] == 2


def test_a_miss_that_a_delete_may_explain_is_not_a_violation() -> None:
    """Another client's delete, unanswered, may have landed before the miss."""
    h = padded(op("set", "k", True, at=0, value="v1"),
               op("delete", "k", at=0.5, client=1, pid=B, type="info", answered=False),
               op("get", "k", None, at=1), op("get", "k", "v1", at=2))
    assert ryw(h).verdict == "holds"


def test_an_unacknowledged_write_promises_nothing() -> None:
    """set -> False (info): the read of the older value is not held against it."""
    h = padded(op("set", "k", True, at=0, value="v1"),
               op("set", "k", False, at=1, value="v2", type="info"), op("get", "k", "v1", at=2))
    assert ryw(h).verdict == "holds"


def test_an_add_that_lost_is_not_a_write_of_the_session() -> None:
    """add -> False: the key held v1 already, so reading v1 afterwards is right."""
    h = history(op("set", "k", True, at=0, client=1, pid=B, value="v1"),
                op("add", "k", False, at=1, value="v2"), op("get", "k", "v1", at=2),
                op("set", "k", True, at=3, value="v3"), op("get", "k", "v3", at=4))
    assert ryw(h).verdict == "holds"


def test_a_source_without_a_reply_is_never_surely_older() -> None:
    """Another client's unanswered set may land after our write, so reading it is fine."""
    h = padded(op("set", "k", None, at=0, client=1, pid=B, value="v0", type="info", answered=False),
               op("set", "k", True, at=1, value="v1"), op("get", "k", "v0", at=2))
    assert ryw(h).verdict == "holds"


def test_a_cache_that_stores_nothing_is_none() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("get", "k", None, at=1),
                op("set", "j", True, at=2, value="v2"), op("get", "j", None, at=3))
    assert ryw(h).verdict == "none"
    assert mono(h).verdict == "none"


def test_nothing_to_check_is_unknown_not_holds() -> None:
    """Every read is of another client's key: read-your-writes was never exercised."""
    h = history(op("set", "k", True, at=0, value="v1"),
                op("get", "k", "v1", at=1, client=1, pid=B))
    v = ryw(h)
    assert v.verdict == "unknown"
    assert "nothing to check" in v.evidence["checker_error"]


def test_a_checker_crash_is_unknown() -> None:
    h = history(op("set", "k", True, at=0, value={"not": "hashable"}), op("get", "k", "x", at=1))
    h.ops[1] = op("get", "k", object(), at=1)
    v = ryw(h)
    assert v.verdict == "unknown" and "TypeError" in v.evidence["checker_error"]


# --- monotonic reads -------------------------------------------------------

def test_reads_moving_forward_hold() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("get", "k", "v1", at=1, client=1),
                op("set", "k", True, at=2, value="v2"), op("get", "k", "v2", at=3, client=1),
                op("get", "k", "v2", at=4, client=1, pid=B))
    v = mono(h)
    assert v.verdict == "holds"
    assert v.evidence["per_client"]["reads_checked"] == 2


def test_a_newer_value_then_an_older_one_across_workers_is_per_worker() -> None:
    h = history(op("set", "k", True, at=0, value="v1"),
                op("set", "k", True, at=1, pid=B, value="v2"),
                op("get", "k", "v2", at=2, pid=B, client=1), op("get", "k", "v1", at=3, client=1))
    v = mono(h)
    assert v.verdict == "per-worker"
    cx = v.evidence["counterexample"]
    assert cx["kind"] == "reversed" and cx["ops"] == [0, 1, 2, 3] and cx["culprits"] == [3]


def test_a_newer_value_then_an_older_one_on_one_worker_is_violated() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("set", "k", True, at=1, value="v2"),
                op("get", "k", "v2", at=2, client=1), op("get", "k", "v1", at=3, client=2),
                op("get", "k", "v1", at=4, client=1))
    v = mono(h)
    assert v.verdict == "violated"
    assert v.evidence["per_worker"]["reversed"] == 2  # reads 3 and 4 on worker A
    assert v.evidence["per_client"]["by_session"]["1"]["violations"] == 1


def test_overlapping_writes_may_be_read_in_either_order() -> None:
    h = history(op("set", "k", True, at=0, value="v1"),
                op("set", "k", True, at=0.05, value="v2", pid=B),
                op("get", "k", "v2", at=1, client=1), op("get", "k", "v1", at=2, client=1))
    assert mono(h).verdict == "holds"


def test_forgetting_after_a_value_is_not_a_reversal() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("get", "k", "v1", at=1, client=1),
                op("get", "k", None, at=2, client=1), op("get", "k", "v1", at=3, client=1))
    assert mono(h).verdict == "holds"


def test_no_key_read_twice_is_unknown_not_holds() -> None:
    h = history(op("set", "k", True, at=0, value="v1"), op("get", "k", "v1", at=1))
    assert mono(h).verdict == "unknown"


# --- the visibility workload, against stores of each shape -----------------

class _Worker:
    """A worker answering from a dict: the one shared dict, its own, or none at all."""

    def __init__(self, index: int, store: dict[str, Any] | None) -> None:
        self.index, self.pid, self.store = index, 1000 + index, store

    def op(self, f: str, key: str | None = None, *, meta: Meta | None = None,
           **args: Any) -> Op:
        start = time.monotonic()
        if f == "set":
            if self.store is not None:
                self.store[str(key)] = args["value"]
            value: Any = True
        else:
            value = None if self.store is None else self.store.get(str(key))
        return Op(process=self.index, pid=self.pid, f=f, key=key, args=args,
                  meta=meta or Meta(), type="ok", value=value, start=start,
                  end=time.monotonic())


class _Lagging(_Worker):
    """Writes go to one store, reads to a copy that applies each write only at the next one."""

    def __init__(self, index: int, primary: dict[str, Any], copy: dict[str, Any],
                 pending: list[tuple[str, Any]]) -> None:
        super().__init__(index, primary)
        self.copy, self.pending = copy, pending

    def op(self, f: str, key: str | None = None, *, meta: Meta | None = None,
           **args: Any) -> Op:
        done = super().op(f, key, meta=meta, **args)
        if f == "set":
            self.copy.update(self.pending)
            self.pending[:] = [(str(key), args["value"])]
            return done
        return replace(done, value=self.copy.get(str(key)))


def test_reads_from_a_copy_one_write_behind_break_read_your_writes_only() -> None:
    """The copy never goes back in time, so monotonic reads hold; reading your writes does not."""
    primary: dict[str, Any] = {}
    copy: dict[str, Any] = {}
    pending: list[tuple[str, Any]] = []
    workers = [_Lagging(i, primary, copy, pending) for i in range(4)]
    h = workload.run(workers, settle_window=0)  # type: ignore[arg-type]
    facts = Facts(pids=tuple(w.pid for w in workers))
    v = safely(session.check_read_your_writes, h, facts)
    assert v.verdict == "violated"
    assert v.evidence["per_worker"]["older"] > 0
    assert safely(session.check_monotonic_reads, h, facts).verdict == "holds"


@pytest.mark.parametrize(("shape", "sharing", "guarantee"), [
    ("shared", "shared", "holds"),
    ("per-worker", "per-worker", "per-worker"),
    ("nothing", "none", "none"),
])
def test_visibility_workload_gives_each_store_its_verdicts(shape: str, sharing: str,
                                                           guarantee: str) -> None:
    shared: dict[str, Any] = {}
    workers = [_Worker(i, shared if shape == "shared" else {} if shape == "per-worker"
                       else None) for i in range(4)]
    h = workload.run(workers, settle_window=0)  # type: ignore[arg-type]
    facts = Facts(pids=tuple(w.pid for w in workers))
    assert safely(visibility.check, h, facts).verdict == sharing
    assert safely(session.check_read_your_writes, h, facts).verdict == guarantee
    assert safely(session.check_monotonic_reads, h, facts).verdict == guarantee
    # 3 rounds of 4 writes and 16 reads, then 4 overwrites and 16 reads.
    assert sum(op.f == "set" for op in h) == 16 and sum(op.f == "get" for op in h) == 64
