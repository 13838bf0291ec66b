"""Verdict of ``invalidation-race``: does any read after an invalidation return an older value?

The property: once an invalidation has returned (its op's ``end``), no read
that started after that end, on any worker, may return a token whose body
started before the invalidation started.  Token stamps are the worker's
wall clock; op times the controller's monotonic clock.  The workload's
clock pair (wall minus monotonic, read before and after the run) maps one
onto the other, and every reply's own ``now`` must fall inside its op's
[start, end] once mapped: the largest miss plus the pair's drift is the
error ``bound``; past :data:`CLOCK_TOLERANCE` the run is ``unknown``.  A
token is stale only when it started more than ``bound`` before the
invalidation did.

* ``violated``  a read returned a token no computation of that trial
  produced, or with a stamp other than the one it was computed with;
* ``stale``     some read after an invalidation returned an older token:
  the first such invalidation, read and token are the counterexample;
* ``none``      no read was ever served from the cache (NullCache): there
  was nothing to invalidate;
* ``holds``     reads were served from the cache and none was stale;
* ``unknown``   no trial could be judged, the invalidation never landed
  inside a computation, or the clocks could not be matched.

A trial touched by an op that is not ``ok`` is dropped, as everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..history.names import Race
from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, observing

#: The largest clock error the verdict accepts (seconds): the same host's
#: CLOCK_REALTIME read in two processes differs by scheduling only.
CLOCK_TOLERANCE = 0.005


def _seen(op: Op, name: str) -> Any:
    return (op.meta.observed or {}).get(name)


def _brief(op: Op) -> dict[str, Any]:
    return {"f": op.f, "process": op.process, "pid": op.pid, "key": op.key,
            "how": op.meta.how, "start": round(op.start, 6), "end": round(op.end, 6),
            "value": op.value}


def _clock_bound(history: History, offset: float, drift: float) -> float:
    worst = 0.0
    for op in history:
        now = _seen(op, "now")
        if op.type != "ok" or not isinstance(now, (int, float)):
            continue
        mono = now - offset
        worst = max(worst, op.start - mono, mono - op.end)
    return worst + drift


@observing
def check(history: History, facts: Facts) -> Verdict:
    if not history.notes:
        raise ValueError("the history has no run note: no clock pair to judge it by")
    note = history.notes[0]
    if "error" in note:
        raise ValueError(note["error"])
    offset = float(note["clock_pair_before"])
    drift = abs(float(note.get("clock_pair_after", offset)) - offset)
    bound = _clock_bound(history, offset, drift)
    by_trial: dict[int, list[Op]] = defaultdict(list)
    for op in history:
        if op.meta.trial is not None:
            by_trial[op.meta.trial].append(op)
    touched = {t for t, ops in by_trial.items() if any(op.type != "ok" for op in ops)}
    failed: dict[str, int] = defaultdict(int)
    for op in history:
        if op.type != "ok":
            failed[f"{op.f} {op.meta.how}"] += 1
    judged = [t for t in sorted(by_trial) if t not in touched]
    per_how: dict[str, dict[str, int]] = defaultdict(
        lambda: {"trials": 0, "raced": 0, "stale_trials": 0, "stale_reads": 0})
    wrong: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    raced = hits = 0
    for t in judged:
        ops = by_trial[t]
        forgets = [op for op in ops if op.f == Race.FORGET]
        reads = [op for op in ops if op.f in (Race.READ, Race.AFTER)]
        if len(forgets) != 1 or not reads:
            raise ValueError(f"trial {t} has {len(forgets)} invalidations and {len(reads)} "
                             "reads; the workload makes one and several")
        forget = forgets[0]
        counts = per_how[str(forget.meta.how)]
        counts["trials"] += 1
        made = {op.value: (_seen(op, "started"), _seen(op, "pid"), _seen(op, "x"))
                for op in reads if _seen(op, "fresh") is True}
        racing = [op for op in reads if op.f == Race.READ]
        if any(isinstance(_seen(op, "started"), (int, float))
               and _seen(op, "started") - offset < forget.start for op in racing):
            raced += 1
            counts["raced"] += 1
        trial_stale = 0
        for op in reads:
            stamp = (_seen(op, "started"), _seen(op, "pid"), _seen(op, "x"))
            if made.get(op.value) != stamp or stamp[2] != op.key:
                wrong.append({"read": _brief(op), "token": dict(zip(
                    ("started", "pid", "x"), stamp, strict=True)),
                    "computed_in_trial": sorted(map(str, made))})
                continue
            if _seen(op, "fresh") is not True:
                hits += 1
            if op.f != Race.AFTER or op.start <= forget.end:
                continue
            started = float(stamp[0]) - offset
            if started + bound < forget.start:
                trial_stale += 1
                stale.append({"invalidation": _brief(forget), "read": _brief(op),
                              "token": {"gen": op.value, "started_wall": stamp[0],
                                        "started": round(started, 6), "pid": stamp[1]},
                              "token_before_invalidation_s": round(forget.start - started, 6)})
        counts["stale_reads"] += trial_stale
        counts["stale_trials"] += trial_stale > 0
    evidence: dict[str, Any] = {
        "trials": len(by_trial), "judged": len(judged), "dropped": len(touched),
        "raced_trials": raced, "served_from_cache": hits,
        "stale_reads": len(stale), "stale_trials": sum(c["stale_trials"]
                                                        for c in per_how.values()),
        "per_invalidation": dict(per_how), "clock_bound_s": round(bound, 6),
        "clock_tolerance_s": CLOCK_TOLERANCE, "never_computed": len(wrong),
        "failed_ops": dict(failed),
        "delete_cached": note.get("delete_cached"), "run": history.notes,
    }
    if wrong:
        evidence["counterexample"] = wrong[0]
        return Verdict(verdict=Conclusion.VIOLATED, evidence=evidence)
    if bound > CLOCK_TOLERANCE:
        evidence["reason"] = (f"worker and controller clocks differ by up to {bound:.4f} s, "
                              f"past {CLOCK_TOLERANCE} s: token stamps cannot be ordered")
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    if not judged:
        evidence["reason"] = "every trial was touched by a failed request: nothing to judge"
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    if stale:
        evidence["counterexample"] = stale[0]
        return Verdict(verdict=Conclusion.STALE, evidence=evidence)
    if hits == 0:
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    if raced == 0:
        evidence["reason"] = "no invalidation started while its trial's read computed"
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    return Verdict(verdict=Conclusion.HOLDS, evidence=evidence)
