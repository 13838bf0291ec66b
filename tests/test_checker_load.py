"""The load checker on hand-built records: each verdict can be reached, and a run that
failed or could not show sharing never passes."""

from __future__ import annotations

from typing import Any

import pytest
from histories import Ops

from harness.checkers import Facts
from harness.checkers import load as checker
from harness.checkers.load import Call, classify
from harness.history.names import FIRST_HIT, PROBE, READ_BACK, SLOW_CALL
from harness.history.ops import History
from harness.workloads.load import record_key

PIDS = (201, 202)
op = Ops(pids=PIDS)
FACTS = Facts(pids=PIDS)
PREFIX = "p"
TIMEOUT = 10.0
WRK = {"requests": 100, "duration_s": 1.0, "requests_per_s": 100.0,
       "latency_ms": {"avg": 2.0, "stdev": 1.0, "max": 60.0, "p50": 1.0, "p75": 2.0,
                      "p90": 3.0, "p99": 55.0},
       "errors": 0, "socket_errors": {}, "non_2xx": 0, "statuses": {"200": 100},
       "cache": {"hit": 98, "miss": 2}, "hit_ratio": 0.98}


def _history(calls: list[tuple[int, int, float, float]], first_hits: list[tuple[int, int, float]],
             served: dict[int, dict[int, int]], *, wrk: dict[str, Any] | None = None,
             read_back: str = "ok") -> History:
    """Records of keys ``n`` (wrk's numbering): slow calls, first hits and served counts.

    Each worker also got one probe per key it served in ``served``.
    """
    h = History()
    h.notes.append({"wrk": WRK if wrk is None else wrk, "prefix": PREFIX, "keys": 2})
    for pid, per_key in served.items():
        for n in per_key:
            h.add(op(PROBE, record_key(PREFIX, n), pid=pid, at=50.0, end=50.001))
    for pid in PIDS:
        h.add(op(READ_BACK, PREFIX, pid=pid, at=0.0, end=0.0, type=read_back,
                 error=None if read_back == "ok" else "HTTP 500"))
    for pid, n, start, end in calls:
        h.add(op(SLOW_CALL, record_key(PREFIX, n), pid=pid, at=start, end=end))
    for pid, n, at in first_hits:
        h.add(op(FIRST_HIT, record_key(PREFIX, n), pid=pid, at=at, end=at))
    for pid, per_key in served.items():
        computed = {n: sum(1 for c in calls if c[0] == pid and c[1] == n) for n in per_key}
        h.notes.append({"worker": pid, "timeout_s": TIMEOUT, "slow_call_s": 0.05,
                        "served": {record_key(PREFIX, n): c for n, c in per_key.items()},
                        "hits": {record_key(PREFIX, n): c - computed[n]
                                 for n, c in per_key.items()}})
    return h


def test_classify_tells_cold_stampede_expired_and_redundant_apart() -> None:
    calls = [Call(pid=1, key="k", start=0.0, end=0.05),     # cold
             Call(pid=2, key="k", start=0.01, end=0.06),    # began while the first ran
             Call(pid=2, key="k", start=1.0, end=1.05),     # the first's entry was live
             # After the last entry's timeout, less the second of 1 s expiry granularity.
             Call(pid=1, key="k", start=1.05 + TIMEOUT - 0.5, end=10.6)]
    assert classify(calls, timeout_s=TIMEOUT, domain=lambda c: 0) == {
        "cold": 1, "stampede": 1, "expired": 1, "redundant": 1}
    # One worker at a time: pid 2 missed its own live entry; pid 1's entry had expired.
    assert classify(calls, timeout_s=TIMEOUT, domain=lambda c: c.pid) == {
        "cold": 2, "stampede": 0, "expired": 1, "redundant": 1}


def test_shared_one_call_per_key_and_hits_across_workers() -> None:
    h = _history(calls=[(201, 0, 0.0, 0.05), (202, 1, 0.0, 0.05)],
                 first_hits=[(202, 0, 0.2), (201, 1, 0.3), (201, 0, 0.1)],
                 served={201: {0: 30, 1: 20}, 202: {0: 25, 1: 29}})
    v = checker.check(h, FACTS)
    assert v.verdict == "shared", v.evidence
    assert v.evidence["slow_calls_per_key"] == {"min": 1, "median": 1.0, "max": 1}
    assert v.evidence["cross_worker_hits"] == 2
    # wrk's traffic alone, the two probes per worker taken out.
    assert v.evidence["spread"] == {"201": 48, "202": 52} and v.evidence["served"] == 100
    assert v.evidence["requests_per_s"] == 100.0 and v.evidence["latency_ms"]["p99"] == 55.0


def test_a_concurrent_cold_miss_is_a_stampede_not_a_loss_of_sharing() -> None:
    h = _history(calls=[(201, 0, 0.0, 0.05), (202, 0, 0.02, 0.07)],
                 first_hits=[(202, 0, 0.5), (201, 1, 0.3)],
                 served={201: {0: 30, 1: 20}, 202: {0: 25, 1: 29}})
    v = checker.check(h, FACTS)
    assert v.verdict == "shared"
    assert v.evidence["misses"]["stampede"] == 1 and v.evidence["misses"]["redundant"] == 0


def test_per_worker_one_call_per_key_per_worker() -> None:
    h = _history(calls=[(201, 0, 0.0, 0.05), (202, 0, 1.0, 1.05),
                        (201, 1, 0.1, 0.15), (202, 1, 1.1, 1.15)],
                 first_hits=[(201, 0, 0.2), (202, 0, 1.2)],
                 served={201: {0: 30, 1: 20}, 202: {0: 25, 1: 29}})
    v = checker.check(h, FACTS)
    assert v.verdict == "per-worker"
    assert v.evidence["slow_calls_by_key"] == {"0": {"201": 1, "202": 1},
                                               "1": {"201": 1, "202": 1}}
    assert v.evidence["redundant_within_workers"] == 0 and v.evidence["cross_worker_hits"] == 0


def test_a_worker_missing_its_own_live_entry_is_partial() -> None:
    h = _history(calls=[(201, 0, 0.0, 0.05), (201, 0, 2.0, 2.05), (202, 1, 0.0, 0.05)],
                 first_hits=[(202, 0, 0.5)],
                 served={201: {0: 30, 1: 20}, 202: {0: 25, 1: 29}})
    assert checker.check(h, FACTS).verdict == "partial"


def test_every_request_computing_is_none() -> None:
    calls = [(pid, n, 0.1 * i, 0.1 * i + 0.05) for i, (pid, n) in
             enumerate([(201, 0), (201, 0), (202, 1), (202, 1)])]
    h = _history(calls=calls, first_hits=[], served={201: {0: 2}, 202: {1: 2}},
                 wrk={**WRK, "requests": 2, "cache": {"miss": 2}, "hit_ratio": 0.0})
    assert checker.check(h, FACTS).verdict == "none"


def test_no_hit_across_workers_cannot_show_sharing() -> None:
    """All traffic on one worker: nothing redundant, but nothing proves a shared cache."""
    h = _history(calls=[(201, 0, 0.0, 0.05), (201, 1, 0.0, 0.05)],
                 first_hits=[(201, 0, 0.2), (201, 1, 0.3)],
                 served={201: {0: 50, 1: 50}})
    v = checker.check(h, FACTS)
    assert v.verdict == "unknown" and "never showed" in v.evidence["reason"]


def test_too_many_failed_requests_is_unknown() -> None:
    h = _history(calls=[(201, 0, 0.0, 0.05), (202, 1, 0.0, 0.05)],
                 first_hits=[(202, 0, 0.2), (201, 1, 0.3)],
                 served={201: {0: 30, 1: 20}, 202: {0: 25, 1: 29}},
                 wrk={**WRK, "errors": 5, "non_2xx": 5})
    v = checker.check(h, FACTS)
    assert v.verdict == "unknown" and v.evidence["would_be"] == "shared"


def test_records_short_of_wrks_count_is_unknown() -> None:
    h = _history(calls=[(201, 0, 0.0, 0.05), (202, 1, 0.0, 0.05)],
                 first_hits=[(202, 0, 0.2), (201, 1, 0.3)],
                 served={201: {0: 10, 1: 10}, 202: {0: 10, 1: 10}})
    v = checker.check(h, FACTS)
    assert v.verdict == "unknown" and "record" in v.evidence["reason"]


@pytest.mark.parametrize("wrk, read_back, says", [
    ({"error": "wrk exited 1: unable to connect"}, "ok", "unable to connect"),
    (WRK, "info", "HTTP 500"),
    ({**WRK, "requests": 0}, "ok", "no request"),
])
def test_a_failed_measurement_is_an_error(wrk: dict[str, Any], read_back: str,
                                          says: str) -> None:
    h = _history(calls=[(201, 0, 0.0, 0.05)], first_hits=[(202, 0, 0.2)],
                 served={201: {0: 0}, 202: {0: 0}}, wrk=wrk, read_back=read_back)
    v = checker.check(h, FACTS)
    assert v.verdict == "error"
    assert says in str(v.evidence)
