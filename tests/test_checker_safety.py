"""The failure-safety checker's answers and verdicts, on histories shaped as the workload records.

Each history is two instances (CACHE_IGNORE_ERRORS false and true) of two
workers each, going through the workload's phases: a healthy round, a kill
at t=1, the probes of the outage, a restart ending at t=3 and recovery
rounds.  Replies carry the values and errors real runs recorded (Redis
raising ``ConnectionError``, python-memcached answering None and False).
Each test changes one thing from a backend that fails safe.
"""

from __future__ import annotations

from typing import Any

from histories import Ops

from harness.checkers import Facts, safely, safety
from harness.history.faults import Fault
from harness.history.names import VIEW_COMPUTE, VIEW_READ, OpType, Phase
from harness.history.ops import History, Op

SETTINGS = ["CACHE_IGNORE_ERRORS=false", "CACHE_IGNORE_ERRORS=true"]
PIDS = (11, 12, 21, 22)
FACTS = Facts(pids=PIDS, instances=(0, 0, 1, 1))
HEALED = 3.0
#: As a real RedisCache run recorded them.
RAISED = "HTTP 500: ConnectionError: Error 111 connecting to 127.0.0.1:59851. Connection refused."
REFUSED = "set answered False: the backend refused it"

#: A probe's answer: (type, value, error, answered).
Answer = tuple[OpType, Any, str | None, bool]
SAFE: dict[str, Answer] = {"view": ("ok", "fresh", None, True), "get": ("ok", None, None, True),
                           "set": ("info", False, REFUSED, True)}


op = Ops(pids=PIDS)


def _probe(pid: int, f: str, key: str, at: float, answer: Answer, phase: Phase,
           trial: int = 0, **args: Any) -> Op:
    """A probe of worker ``pid`` that answered ``answer``."""
    kind, value, error, answered = answer
    return op(f, key, value, pid=pid, at=at, type=kind, error=error, answered=answered,
              phase=phase, trial=trial, **args)


def history(down: dict[int, dict[str, Answer]] | None = None, *,
            recovers_at: dict[int, int | None] | None = None,
            baseline_set: bool = True) -> History:
    """Every worker fails safe and recovers in round 0, except as ``down`` / ``recovers_at`` say.

    ``down[pid][f]`` replaces that worker's answer to probe ``f`` (view, get,
    set); ``recovers_at[pid]`` is its first recovery round that works (None:
    none of its 3 rounds does).
    """
    h = History()
    for pid in PIDS:
        t = pid / 100
        h.add(_probe(pid, "set", f"k{pid}", t, ("ok", baseline_set, None, True), Phase.BEFORE,
                     value=f"v{pid}"))
        h.add(_probe(pid, "get", f"k{pid}", t + 0.02, ("ok", f"v{pid}", None, True), Phase.BEFORE))
        h.add(_probe(pid, VIEW_COMPUTE, f"n{pid}", t + 0.04, ("ok", f"g{pid}", None, True),
                     Phase.BEFORE))
        h.add(_probe(pid, VIEW_READ, f"n{pid}", t + 0.06, ("ok", f"g{pid}", None, True),
                     Phase.BEFORE))
    h.fault(Fault(f="kill", target="redis-server master :7000", start=1.0, end=1.01))
    for pid in PIDS:
        answers = {**SAFE, **(down or {}).get(pid, {})}
        for r in range(2):
            t = 1.1 + pid / 100 + r / 10
            view = answers["view"]
            if view[1] == "fresh":
                view = (view[0], f"g{pid}-down{r}", *view[2:])
            h.add(_probe(pid, VIEW_READ, f"n{pid}", t, view, Phase.DOWN, r))
            h.add(_probe(pid, "get", f"k{pid}", t + 0.02, answers["get"], Phase.DOWN, r))
            h.add(_probe(pid, "set", f"d{pid}{r}", t + 0.04, answers["set"], Phase.DOWN, r,
                         value="x"))
    h.fault(Fault(f="restart", target="redis-server master :7000", start=2.9, end=HEALED))
    for pid in PIDS:
        works = (recovers_at or {}).get(pid, 0)
        for r in range(3):
            t = HEALED + 0.1 + r / 2 + pid / 1000
            ok = works is not None and r >= works
            key, value = f"a{pid}{r}", f"av{pid}{r}"
            h.add(_probe(pid, "set", key, t, ("ok", True, None, True) if ok
                         else ("info", False, REFUSED, True), Phase.AFTER, r, value=value))
            h.add(_probe(pid, "get", key, t + 0.02, ("ok", value if ok else None, None, True),
                         Phase.AFTER, r))
            h.add(_probe(pid, VIEW_COMPUTE, f"m{pid}{r}", t + 0.04,
                            ("ok", f"c{pid}{r}", None, True), Phase.AFTER, r))
            h.add(_probe(pid, VIEW_READ, f"m{pid}{r}", t + 0.06,
                         ("ok", f"c{pid}{r}" if ok else f"c{pid}{r}'", None, True), Phase.AFTER, r))
            if ok:
                break
    return h


def check(h: History) -> Any:
    return safely(safety.checker(SETTINGS), h, FACTS)


def test_a_backend_that_fails_safe_and_recovers_holds() -> None:
    v = check(history())
    assert v.verdict == "holds", v.evidence
    s = v.evidence["settings"]["CACHE_IGNORE_ERRORS=true"]
    assert s["view_computes"] == {"answer": "yes", "outcomes": {"computed": 4},
                                  "per_worker": {"21": {"computed": 2}, "22": {"computed": 2}}}
    assert s["get_default"]["answer"] == s["set_fails"]["answer"] == "yes"
    assert s["recovered"]["answer"] == "yes"
    # Each round ends 0.17 s plus pid/1000 after the heal, half a second apart.
    assert s["recovered"]["per_worker"] == {"21": 0.191, "22": 0.192}
    assert v.evidence["differs_by_setting"] == [] and v.evidence["findings"] == []


def test_get_and_set_raising_is_raises_with_a_sample() -> None:
    raising: Answer = ("info", None, RAISED, True)
    v = check(history({pid: {"get": raising, "set": raising} for pid in PIDS}))
    assert v.verdict == "raises"
    s = v.evidence["settings"]["CACHE_IGNORE_ERRORS=false"]
    assert s["get_default"]["answer"] == s["set_fails"]["answer"] == "raises"
    assert s["get_default"]["per_worker"]["11"] == {"raised": 2}
    assert s["view_computes"]["answer"] == "yes"
    assert s["raised_sample"] == RAISED


def test_a_set_claimed_while_the_server_is_down_is_a_lie_worse_than_unrecovered() -> None:
    v = check(history({21: {"set": ("ok", True, None, True)}}, recovers_at={12: None}))
    assert v.verdict == "lies"
    assert v.evidence["findings"] == ["lies", "unrecovered"]
    s = v.evidence["settings"]["CACHE_IGNORE_ERRORS=true"]["set_fails"]
    assert s["answer"] == "no" and s["per_worker"]["21"] == {"true": 2}
    assert v.evidence["differs_by_setting"] == ["set_fails", "recovered"]


def test_a_view_served_the_generation_cached_before_the_outage_is_a_lie() -> None:
    v = check(history({11: {"view": ("ok", "g11", None, True)}}))
    assert v.verdict == "lies"
    assert v.evidence["settings"]["CACHE_IGNORE_ERRORS=false"]["view_computes"]["outcomes"] \
        == {"served": 2, "computed": 2}


def test_a_worker_that_never_works_again_is_unrecovered() -> None:
    v = check(history(recovers_at={22: None, 21: 2}))
    assert v.verdict == "unrecovered"
    rec = v.evidence["settings"]["CACHE_IGNORE_ERRORS=true"]["recovered"]
    assert rec["per_worker"]["22"] is None and rec["per_worker"]["21"] == 1.191
    assert rec["answer"] == "no" and rec["max_s"] == 1.191


def test_an_acknowledged_write_read_back_as_a_miss_is_counted_before_recovery() -> None:
    h = history(recovers_at={11: 1})
    # Round 0 of worker 11: the set was acknowledged, the get just after missed.
    i = next(n for n, o in enumerate(h.ops) if o.pid == 11 and o.meta.phase == Phase.AFTER)
    h.ops[i] = _probe(11, "set", "a110", h.ops[i].start, ("ok", True, None, True), Phase.AFTER,
                      value="av110")
    v = check(h)
    rec = v.evidence["settings"]["CACHE_IGNORE_ERRORS=false"]["recovered"]
    assert rec["acked_unread"] == {"11": 1, "12": 0}
    assert rec["per_worker"]["11"] == 0.681 and v.verdict == "holds"


def test_a_probe_without_an_answer_leaves_the_question_open() -> None:
    timeout: Answer = ("info", None, "TimeoutError: timed out", False)
    v = check(history({12: {"get": timeout}}))
    assert v.verdict == "unknown"
    assert v.evidence["settings"]["CACHE_IGNORE_ERRORS=false"]["get_default"]["answer"] \
        == "unknown"


def test_a_proven_finding_stands_beside_an_open_question() -> None:
    timeout: Answer = ("info", None, "TimeoutError: timed out", False)
    v = check(history({12: {"get": timeout}, 21: {"set": ("info", None, RAISED, True)}}))
    assert v.verdict == "raises"


def test_a_cache_that_did_not_work_before_the_outage_is_an_error() -> None:
    v = check(history(baseline_set=False))
    assert v.verdict == "error"
    assert v.evidence["baseline_failed"]["CACHE_IGNORE_ERRORS=false pid 11"] == \
        "set did not answer True"


def test_without_the_restart_the_verdict_is_unknown() -> None:
    h = history()
    h.faults = h.faults[:1]
    v = check(h)
    assert v.verdict == "unknown" and "closed fault window" in v.evidence["checker_error"]


def test_a_worker_with_no_probe_of_the_outage_is_unknown() -> None:
    h = history()
    h.ops = [o for o in h.ops if not (o.pid == 22 and o.meta.phase == Phase.DOWN)]
    v = check(h)
    assert v.verdict == "unknown" and "pid 22" in v.evidence["checker_error"]
