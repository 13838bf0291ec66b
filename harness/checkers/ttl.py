"""Checkers for ``ttl-zero``, ``ttl-inc`` and ``ttl-rounding``: what a timeout means.

Each judges a key on the workers that read it back right after it was
written: a per-worker store (SimpleCache) is judged on its writer, and a
store that keeps nothing (NullCache) answers ``none``.  Times come from the
ops' own intervals, so every bound is sound however late a request ran: a
key read at ``[start, end]`` was there (or not) at some moment inside it.

* ``ttl-zero``: a ``timeout=0`` key must still be there after the default
  timeout has expired the control keys, and after other writes went past
  the threshold.
* ``ttl-inc``: after ``inc``, a key keeps the timeout it was set with.  A
  read counts where whole-second expiry (up to :data:`WHOLE_SECOND` either
  way) leaves one answer: surely alive, or surely gone.
* ``ttl-rounding``: a ``timeout=t`` key lives ``t`` seconds, within
  :data:`SLACK`: proven early when the first read that missed it ended
  before ``t - SLACK``, late when a read that saw it started after
  ``t + SLACK``.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from ..history.names import Phase
from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, observing

#: How far whole-second expiry (``int(time()) + t``, memcached's 1 s clock)
#: may move an expiry either way.
WHOLE_SECOND = 1.0
#: How far from its timeout a lifetime may be and still count as that timeout:
#: many loopback round trips and Redis's millisecond expiry, a fifth of the
#: second that whole-second rounding can cost.
SLACK = 0.2
_MAX_SAMPLES = 5

Reads = dict[tuple[str, int], list[Op]]


def _ok_sets(history: History) -> dict[str, Op]:
    """Each key's ok set, where the key had exactly one set and it was ok."""
    sets: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        if op.f == "set" and op.key is not None:
            sets[op.key].append(op)
    return {k: ops[0] for k, ops in sets.items() if len(ops) == 1 and ops[0].type == "ok"}


def _reads(history: History, phase: str | None = None) -> Reads:
    """Ok gets by (key, pid), in order; only ``phase``'s when given."""
    found: Reads = defaultdict(list)
    for op in history:
        if op.f == "get" and op.type == "ok" and op.key is not None and \
                (phase is None or op.meta.phase == phase):
            found[op.key, op.pid].append(op)
    return found


def _sample(key: str, op: Op, **more: Any) -> dict[str, Any]:
    return {"key": key, "reader_pid": op.pid, "read": op.value,
            "at_s": round(op.start, 3), **more}


def _alive_or_gone(written: Op, t: float, read: Op) -> str | None:
    """What a key set by ``written`` with timeout ``t`` must be at ``read``, if settled."""
    if t == 0 or read.end - written.start < t - WHOLE_SECOND:
        return "alive"
    if read.start - written.end > t + WHOLE_SECOND:
        return "gone"
    return None


@observing
def check_zero(history: History, facts: Facts) -> Verdict:
    """``timeout=0`` keys outlive the default timeout and a threshold prune."""
    sets = _ok_sets(history)
    written = {k: op for k, op in sets.items() if op.meta.phase == Phase.WRITE}
    zero = {k: op for k, op in written.items() if op.args.get("timeout") == 0}
    control = {k: op for k, op in written.items() if "timeout" not in op.args}
    before, after, final = (_reads(history, p) for p in (Phase.BEFORE, Phase.AFTER, Phase.FINAL))
    seen = {(k, pid) for (k, pid), ops in before.items()
            if k in written and any(op.value == written[k].args.get("value") for op in ops)}
    zero_seen = {kp for kp in seen if kp[0] in zero}
    if not zero_seen:
        return Verdict(verdict=Conclusion.NONE, evidence={
            "zero_keys": len(zero), "reads_before": sum(map(len, before.values())),
            "reason": "no worker read back any key it had just written"})
    control_seen = [kp for kp in seen if kp[0] in control and after.get(kp)]
    if not control_seen:
        raise ValueError("no control key was read back and read again after the default "
                         "timeout: nothing shows the default timeout was in force")
    control_kept = [kp for kp in control_seen if after[kp][0].value is not None]
    if control_kept:
        raise ValueError(f"{len(control_kept)} control keys set with the default timeout "
                         "were still there after it: the run's CACHE_DEFAULT_TIMEOUT was "
                         "not in force, so surviving it proves nothing")
    lost_default, lost_prune, judged_prune = [], [], 0
    for kp in sorted(zero_seen):
        want = zero[kp[0]].args.get("value")
        if not after.get(kp):
            continue
        if after[kp][0].value != want:
            lost_default.append(_sample(kp[0], after[kp][0]))
        elif final.get(kp):
            judged_prune += 1
            if final[kp][0].value != want:
                lost_prune.append(_sample(kp[0], final[kp][0]))
    prune_writes = sum(op.f == "set" and op.meta.phase == Phase.PRUNE for op in history)
    evidence: dict[str, Any] = {
        "zero_keys": len(zero), "zero_reads_judged": len(zero_seen),
        "control_keys_expired": len(control_seen), "prune_writes": prune_writes,
        "lost_after_default_timeout": len(lost_default), "zero_reads_after_prune": judged_prune,
        "lost_after_prune": len(lost_prune), "workers": facts.workers,
    }
    if not judged_prune:
        raise ValueError("no timeout=0 key was read after the prune writes")
    if lost_default or lost_prune:
        evidence["lost_samples"] = (lost_default + lost_prune)[:_MAX_SAMPLES]
    violated = bool(lost_default or lost_prune)
    return Verdict(verdict=Conclusion.VIOLATED if violated else Conclusion.HOLDS,
                   evidence=evidence)


@observing
def check_inc(history: History, facts: Facts) -> Verdict:
    """After ``inc``, a key is alive and gone exactly when its set's timeout says."""
    sets = _ok_sets(history)
    incs = {op.key: op for op in history if op.f == "inc" and op.type == "ok"}
    keys = {k: s for k, s in sets.items() if k in incs and incs[k].start >= s.end}
    before, after = _reads(history, Phase.BEFORE), _reads(history, Phase.AFTER)
    seen = [(k, pid) for (k, pid), ops in before.items()
            if k in keys and any(op.value == incs[k].value for op in ops)]
    if not seen:
        return Verdict(verdict=Conclusion.NONE, evidence={
            "inc_keys": len(keys), "reason": "no worker read back any count it had just made"})
    by_timeout: dict[str, dict[str, int]] = {}
    shortened, lengthened, unsettled = [], [], 0
    for k, pid in sorted(seen):
        t = float(keys[k].args.get("timeout", 0))
        row = by_timeout.setdefault(f"{t:g}", {"reads": 0, "as_set": 0})
        for read in after.get((k, pid), []):
            must = _alive_or_gone(keys[k], t, read)
            if must is None:
                unsettled += 1
                continue
            row["reads"] += 1
            present = read.value == incs[k].value
            if must == "alive" and not present:
                shortened.append(_sample(k, read, timeout=t))
            elif must == "gone" and read.value is not None:
                lengthened.append(_sample(k, read, timeout=t))
            else:
                row["as_set"] += 1
    judged = sum(r["reads"] for r in by_timeout.values())
    if not judged:
        raise ValueError("no read after inc fell where the timeout leaves one answer")
    evidence: dict[str, Any] = {
        "inc_keys": len(keys), "reads_judged": judged, "by_timeout_s": by_timeout,
        "expired_early": len(shortened), "outlived_timeout": len(lengthened),
        "unsettled_reads": unsettled, "workers": facts.workers,
    }
    if shortened or lengthened:
        evidence["samples"] = (shortened + lengthened)[:_MAX_SAMPLES]
    violated = bool(shortened or lengthened)
    return Verdict(verdict=Conclusion.VIOLATED if violated else Conclusion.HOLDS,
                   evidence=evidence)


def _lifetime(written: Op, reads: list[Op]) -> tuple[float, float] | None:
    """Bounds on a key's lifetime from one worker's reads: None unless they settle it.

    Settled when a read that saw it is followed by one that did not, or when
    a read that saw it started past the timeout plus :data:`SLACK`.
    """
    want = written.args.get("value")
    last_seen: Op | None = None
    for op in reads:
        if op.value == want:
            last_seen = op
        elif last_seen is not None:
            return last_seen.start - written.end, op.end - written.start
    t = float(written.args["timeout"])
    if last_seen is not None and last_seen.start - written.end > t + SLACK:
        return last_seen.start - written.end, math.inf
    return None


@observing
def check_rounding(history: History, facts: Facts) -> Verdict:
    """Every measured lifetime of a ``timeout=t`` key lies within ``t`` ± :data:`SLACK`."""
    sets = {k: s for k, s in _ok_sets(history).items() if s.args.get("timeout")}
    reads = _reads(history)
    measured: dict[float, list[tuple[float, float]]] = defaultdict(list)
    early, late = [], []
    never_seen, across = 0, 0
    for key, written in sets.items():
        t = float(written.args["timeout"])
        bounds = [(pid, b) for (k, pid), ops in reads.items() if k == key
                  if (b := _lifetime(written, ops)) is not None]
        if not bounds:
            never_seen += not any(op.value == written.args.get("value")
                                  for (k, _), ops in reads.items() if k == key for op in ops)
            continue
        # One measurement per key: another worker's where there is one.
        pid, (lo, hi) = min(bounds, key=lambda b: b[0] == written.pid)
        across += pid != written.pid
        measured[t].append((lo, hi))
        if hi < t - SLACK:
            early.append({"key": key, "timeout_s": t, "gone_by_s": round(hi, 3)})
        elif lo > t + SLACK:
            late.append({"key": key, "timeout_s": t, "alive_at_s": round(lo, 3)})
    if not measured:
        if never_seen == len(sets) and sets:
            return Verdict(verdict=Conclusion.NONE, evidence={
                "keys": len(sets), "reason": "no worker ever read back a key just written"})
        raise ValueError("no lifetime was measured: no key was seen, then missed")
    evidence: dict[str, Any] = {
        "slack_s": SLACK, "keys": len(sets), "measured": sum(map(len, measured.values())),
        "measured_across_workers": across, "never_seen": never_seen,
        "lifetimes_s": {f"{t:g}": _distribution(b) for t, b in sorted(measured.items())},
        "early": len(early), "late": len(late), "workers": facts.workers,
    }
    if early or late:
        evidence["samples"] = (early + late)[:_MAX_SAMPLES]
    violated = bool(early or late)
    return Verdict(verdict=Conclusion.VIOLATED if violated else Conclusion.HOLDS,
                   evidence=evidence)


def _distribution(bounds: list[tuple[float, float]]) -> dict[str, Any]:
    """min/median/max of the lifetimes' midpoints, and the widest bound."""
    closed = [(lo, hi) for lo, hi in bounds if math.isfinite(hi)]
    mids = sorted((lo + hi) / 2 for lo, hi in closed)
    out: dict[str, Any] = {"trials": len(bounds), "still_alive_at_bound": len(bounds) - len(closed)}
    if mids:
        out.update(min=round(mids[0], 3), median=round(statistics.median(mids), 3),
                   max=round(mids[-1], 3),
                   widest_bound=round(max(hi - lo for lo, hi in closed), 3))
    return out
