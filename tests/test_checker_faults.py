"""The fault checker's numbers and verdicts, on hand-built histories.

Every history has the shape a fault scenario records: workers ``A`` and
``B`` write and read before the fault, a kill at t=1 and a restart ending
at t=2.1 make one window, ops fail in it, and both workers write, read and
end with a final read pass after it.  Each test changes one thing.
"""

from __future__ import annotations

from typing import Any

import pytest
from histories import Ops

from harness.checkers import Facts, faults, safely
from harness.history.faults import Fault
from harness.history.names import OpType, Phase
from harness.history.ops import History, Op

A, B = 101, 102
FACTS = Facts(pids=(A, B))
HEALED = 2.1


op = Ops(pids=(A, B), took=0.1)


def run(*extra: Op, before: bool = True, b_after: bool = True) -> History:
    """The clean run, plus ``extra``; ``b_after=False`` leaves B failing after the fault."""
    h = History()
    if before:
        h.add(op("set", "a0", True, at=0.0, value="a0-1"))
        h.add(op("get", "a0", "a0-1", at=0.2, pid=B))
    h.fault(Fault(f="kill", target="server :7000", start=1.0, end=1.1))
    h.add(op("set", "a1", None, at=1.2, value="x", type="fail", error="not sent"))
    h.add(op("get", "a1", None, at=1.4, pid=B, type="info", answered=False, error="timeout"))
    h.fault(Fault(f="restart", target="server :7000", start=2.0, end=HEALED))
    for n, pid in enumerate((A, B)):
        t = 3.0 + n
        ok: OpType = "ok" if pid == A or b_after else "fail"
        h.add(op("set", f"p{n}", True if ok == "ok" else None, at=t, pid=pid, type=ok,
                 value=f"p{n}-1"))
        h.add(op("get", f"p{n}", f"p{n}-1" if ok == "ok" else None, at=t + 0.2, pid=pid, type=ok))
    for o in extra:
        h.add(o)
    for n, pid in enumerate((A, B)):
        ok = "ok" if pid == A or b_after else "fail"
        h.add(op("get", "a0", "a0-1" if ok == "ok" else None, at=8.0 + n, pid=pid, type=ok,
                 phase=Phase.FINAL))
    return h


def check(h: History) -> Any:
    return safely(faults.check, h, FACTS)


def test_a_clean_recovery_holds_with_its_numbers() -> None:
    v = check(run())
    assert v.verdict == "holds", v.evidence
    ev = v.evidence
    assert ev["windows"] == [{"fault": "kill", "target": "server :7000", "start": 1.0,
                              "end": HEALED, "closed": True}]
    assert ev["lost_writes"] == {"count": 0, "acked": 1, "percent": 0.0, "unjudged": 0,
                                 "samples": []}
    assert ev["stale_reads"]["count"] == 0
    assert ev["failed_during_fault"] == 2
    assert ev["failed_by_worker"] == {str(A): {"fail": 1, "info": 0},
                                      str(B): {"fail": 0, "info": 1}}
    rec = ev["recovery"]
    assert rec["per_worker"][str(A)] == {"read": pytest.approx(1.2), "write": pytest.approx(1.0)}
    assert rec["max_read"] == pytest.approx(2.2) and rec["unrecovered"] == []
    assert ev["silent_after_recovery"]["count"] == 0
    assert ev["silent_after_recovery"]["judged"] == 2
    # The failures inside the window do not count against the share rule.
    assert "op_counts" not in ev


def test_a_write_gone_after_the_restart_is_lost_but_not_the_verdict() -> None:
    h = run()
    for n in (-2, -1):
        h.ops[n] = op("get", "a0", None, at=h.ops[n].start, pid=h.ops[n].pid, phase=Phase.FINAL)
    v = check(h)
    assert v.verdict == "holds"
    lost = v.evidence["lost_writes"]
    assert (lost["count"], lost["acked"], lost["percent"]) == (1, 1, 100.0)
    assert lost["samples"][0]["culprits"] == [0]


def test_a_newer_write_in_the_final_pass_keeps_the_older_one() -> None:
    h = run(op("set", "a0", True, at=5.0, pid=B, value="a0-2"))
    for n in (-2, -1):
        h.ops[n] = op("get", "a0", "a0-2", at=h.ops[n].start, pid=h.ops[n].pid, phase=Phase.FINAL)
    assert check(h).evidence["lost_writes"]["count"] == 0


def test_a_delete_after_the_write_explains_a_final_miss() -> None:
    h = run(op("delete", "a0", True, at=5.0, pid=B))
    for n in (-2, -1):
        h.ops[n] = op("get", "a0", None, at=h.ops[n].start, pid=h.ops[n].pid, phase=Phase.FINAL)
    assert check(h).evidence["lost_writes"]["count"] == 0


def test_reads_of_overwritten_values_are_stale_with_their_age() -> None:
    h = run(op("set", "p0", True, at=5.0, value="p0-2"),
            op("get", "p0", "p0-1", at=5.5, pid=B),
            op("get", "p0", "p0-1", at=6.0, pid=B),
            op("get", "p0", "p0-1", at=7.0, pid=B))
    v = check(h)
    assert v.verdict == "stale"
    st = v.evidence["stale_reads"]
    # Overwrite ended at 5.1: ages 0.4, 0.9 and 1.9 seconds.
    assert st["count"] == 3
    assert (st["age_p50"], st["age_p99"], st["age_max"]) == (0.9, 1.9, 1.9)
    assert v.evidence["counterexample"]["ops"] == [4, 8, 9]  # source, overwrite, read
    assert v.evidence["findings"] == ["stale"]


def test_a_read_overlapping_the_overwrite_is_not_stale() -> None:
    h = run(op("set", "p0", True, at=5.0, value="p0-2"), op("get", "p0", "p0-1", at=5.05, pid=B))
    assert check(h).evidence["stale_reads"]["count"] == 0


def test_a_read_of_a_deleted_value_is_stale() -> None:
    h = run(op("delete", "p0", True, at=5.0, pid=B), op("get", "p0", "p0-1", at=6.0, pid=B))
    assert check(h).verdict == "stale"


def test_a_worker_that_never_succeeds_again_is_unrecovered() -> None:
    v = check(run(b_after=False))
    assert v.verdict == "unrecovered"
    rec = v.evidence["recovery"]
    assert rec["unrecovered"] == [B]
    assert rec["per_worker"][str(B)] == {"read": None, "write": None}
    # B's failures after the heal are the fault's, not the share rule's.
    assert "op_counts" not in v.evidence


def test_a_miss_is_not_a_recovered_read() -> None:
    h = run()
    h.ops[7] = op("get", "p1", None, at=h.ops[7].start, pid=B)  # B's read after the heal
    h.ops[-1] = op("get", "a0", None, at=h.ops[-1].start, pid=B, phase=Phase.FINAL)
    v = check(h)
    assert v.verdict == "unrecovered" and v.evidence["recovery"]["unrecovered"] == [B]


def test_an_acknowledged_write_its_worker_never_reads_back_is_silent() -> None:
    h = run(op("set", "s", True, at=5.0, value="s-1"), op("get", "s", None, at=5.5),
            op("get", "s", None, at=6.0))
    v = check(h)
    assert v.verdict == "silent"
    sil = v.evidence["silent_after_recovery"]
    assert sil["count"] == 1 and sil["window"] == [5.1, 5.1]
    assert v.evidence["counterexample"]["culprits"] == [8]


def test_another_write_in_between_excuses_the_miss() -> None:
    h = run(op("set", "s", True, at=5.0, value="s-1"), op("delete", "s", True, at=5.2, pid=B),
            op("get", "s", None, at=5.5))
    assert check(h).evidence["silent_after_recovery"]["count"] == 0


def test_the_worst_finding_wins() -> None:
    h = run(op("set", "p0", True, at=5.0, value="p0-2"), op("get", "p0", "p0-1", at=6.0, pid=B),
            op("set", "s", True, at=5.0, value="s-1"), op("get", "s", None, at=5.5),
            b_after=False)
    v = check(h)
    assert v.verdict == "unrecovered"
    assert v.evidence["findings"] == ["unrecovered", "silent", "stale"]


def test_nothing_ever_read_back_is_none() -> None:
    h = run()
    h.ops = [o if o.f != "get" else
             op("get", o.key or "", None, at=o.start, pid=o.pid, type=o.type,
                phase=Phase.FINAL if o.meta.phase == Phase.FINAL else None)
             for o in h.ops]
    assert check(h).verdict == "none"


def test_failures_outside_the_fault_make_a_pass_unknown() -> None:
    h = run(*[op("get", "p0", None, at=5.0 + n / 10, type="fail", error="not sent")
              for n in range(3)])
    v = check(h)
    assert v.verdict == "unknown"
    assert v.evidence["op_counts"]["fault_ops_not_weighed"] == 2


@pytest.mark.parametrize(("faults_", "reason"), [
    ([], "no fault window"),
    ([Fault(f="pause", target="server :7000", start=1.0, end=1.1)], "never healed"),
])
def test_without_a_healed_fault_the_verdict_is_unknown(faults_: list[Fault],
                                                       reason: str) -> None:
    h = run()
    h.faults = faults_
    v = check(h)
    assert v.verdict == "unknown" and reason in v.evidence["checker_error"]


def test_without_a_final_read_pass_the_verdict_is_unknown() -> None:
    h = run()
    h.ops = [o for o in h.ops if o.meta.phase != Phase.FINAL]
    v = check(h)
    assert v.verdict == "unknown" and "final read pass" in v.evidence["checker_error"]


def test_a_checker_crash_is_unknown() -> None:
    h = run()
    h.ops[1] = op("get", "a0", object(), at=0.2, pid=B)
    v = check(h)
    assert v.verdict == "unknown" and "TypeError" in v.evidence["checker_error"]


# --- a worker recycle: the nemesis replaced A by C; no server was touched ----

C = 103
#: Errors recorded for requests to a worker gunicorn had just retired, as a
#: real worker-recycle run on SimpleCache gave them.
GONE = "not sent: FileNotFoundError: [Errno 2] No such file or directory"
RESET = "ConnectionResetError: [Errno 104] Connection reset by peer"


def recycled(*extra: Op, witness_kept: bool = True) -> History:
    """A writes a witness and traffic, HUP at t=1 retires A for C (window to 2.1), all read it."""
    h = History()
    h.add(op("set", "w", True, at=0.0, value="w-1"))
    h.add(op("set", "a0", True, at=0.2, value="a0-1"))
    h.add(op("get", "a0", "a0-1", at=0.4, pid=B))
    h.fault(Fault(f="worker-recycle", target="gunicorn master pid 100: HUP", start=1.0,
                  end=HEALED, value={"signal": "HUP", "retired": [A], "new": [C]}))
    h.add(op("set", "a0", None, at=1.3, value="a0-x", type="fail", error=GONE))
    h.add(op("get", "a0", None, at=1.5, type="info", answered=False, error=RESET))
    for o in extra:
        h.add(o)
    for pid in (C, B):
        process = 0 if pid == C else 1
        h.add(op("set", "p", True, pid=pid, process=process, at=3.0 + pid / 1000,
                 end=3.05 + pid / 1000, value=f"p{pid}"))
        h.add(op("get", "p", f"p{pid}", pid=pid, process=process, at=3.2 + pid / 1000,
                 end=3.25 + pid / 1000))
    for n, pid in enumerate((C, B)):
        for key, seen in (("a0", "a0-1"), ("w", "w-1" if witness_kept else None)):
            h.add(op("get", key, seen, pid=pid, process=n, at=8.0 + n, end=8.1 + n,
                     phase=Phase.FINAL))
    return h


FACTS_AFTER = Facts(pids=(C, B))


def test_requests_to_a_retired_worker_are_the_harness_s_not_the_cache_s() -> None:
    v = safely(faults.check, recycled(op("get", "a0", None, at=1.6, pid=B, type="info",
                                         error="HTTP 500: ConnectionError")), FACTS_AFTER)
    assert v.verdict == "holds", v.evidence
    assert v.evidence["worker_gone"] == {"count": 2, "by_worker": {str(A): 2}}
    # Only B's 500 is a failure of the cache during the fault.
    assert v.evidence["failed_during_fault"] == 1
    assert v.evidence["failed_by_worker"] == {str(B): {"fail": 0, "info": 1}}
    assert set(v.evidence["recovery"]["per_worker"]) == {str(B), str(C)}


def test_without_a_retired_worker_a_refused_request_is_a_failure() -> None:
    h = recycled()
    h.faults[0] = Fault(f="worker-recycle", target="gunicorn master pid 100: HUP",
                        start=1.0, end=HEALED, value={"signal": "HUP", "retired": [C]})
    v = safely(faults.check, h, FACTS_AFTER)
    assert v.evidence["worker_gone"]["count"] == 0
    assert v.evidence["failed_during_fault"] == 2


def test_a_write_gone_after_a_worker_recycle_is_lost() -> None:
    v = safely(faults.check, recycled(witness_kept=False), FACTS_AFTER)
    assert v.verdict == "lost"
    assert v.evidence["findings"] == ["lost"]
    lost = v.evidence["lost_writes"]
    assert (lost["count"], lost["acked"]) == (1, 2)
    assert v.evidence["counterexample"]["culprits"] == [0]


def test_the_same_loss_after_a_kill_is_reported_not_judged() -> None:
    h = recycled(witness_kept=False)
    h.faults = [Fault(f="kill", target="server :7000", start=1.0, end=1.1),
                Fault(f="restart", target="server :7000", start=2.0, end=HEALED)]
    v = safely(faults.check, h, FACTS_AFTER)
    assert v.verdict == "holds"
    assert v.evidence["lost_writes"]["count"] == 1
    assert "worker_gone" not in v.evidence


def test_lost_ranks_above_stale_and_below_silent() -> None:
    stale = (op("set", "p", True, at=4.0, pid=B, value="p-2"),
             op("get", "p", f"p{C}", pid=C, process=0, at=5.0, end=5.1))
    v = safely(faults.check, recycled(*stale, witness_kept=False), FACTS_AFTER)
    assert v.verdict == "lost" and v.evidence["findings"] == ["lost", "stale"]
    silent = (op("set", "s", True, pid=C, process=0, at=5.5, end=5.6, value="s-1"),
              op("get", "s", None, pid=C, process=0, at=6.0, end=6.1))
    v = safely(faults.check, recycled(*stale, *silent, witness_kept=False), FACTS_AFTER)
    assert v.evidence["findings"] == ["silent", "lost", "stale"]
