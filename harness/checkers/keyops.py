"""Property checkers for delete, clear and ttl.

Each answers ``holds`` or ``violated`` with counts.  A key whose write or
invalidation was not ok is dropped (a stale read after a delete that may
not have happened proves nothing), and so are reads that were not ok;
:mod:`harness.checkers` then weighs what was dropped.  A property over
zero observations is never claimed: the evidence always states how many
trials stood behind the verdict, and how many values were visible before
the invalidation (zero on NullCache, where "nothing is read after delete"
holds only vacuously).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..history.names import Phase
from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, not_ok_keys, observing

_MAX_SAMPLES = 5


def _invalidated(history: History, invalidations: dict[str, Op], label: str,
                 horizons: dict[str, float] | None = None) -> Verdict:
    """Shared by delete and clear: after the invalidation, no worker reads the value.

    ``horizons`` bounds the reads that count for a key: a later clear would
    also remove a stale value, and must not pass for a late invalidation.
    """
    values = {op.key: op.args.get("value") for op in history if op.f == "set"}
    warm_seen = 0
    after: dict[tuple[str, int], list[Op]] = defaultdict(list)
    for op in history:
        if op.f != "get" or op.type != "ok" or op.key not in invalidations:
            continue
        inv = invalidations[op.key]
        if op.end <= inv.start and op.value == values[op.key]:
            warm_seen += 1
        elif op.start >= inv.end and op.end <= (horizons or {}).get(op.key, float("inf")):
            after[(op.key, op.process)].append(op)
    if not after:
        raise ValueError(f"no read followed any {label}")
    stale, late = 0, 0
    samples: list[dict[str, Any]] = []
    for (key, _), ops in after.items():
        if ops[0].value is None:
            continue
        if ops[-1].value is None:
            late += 1
            continue
        stale += 1
        if len(samples) < _MAX_SAMPLES:
            samples.append({"key": key, f"{label}_pid": invalidations[key].pid,
                            "reader_pid": ops[0].pid, "read": ops[0].value})
    evidence: dict[str, Any] = {
        f"{label}s": len({id(op) for op in invalidations.values()}),
        "keys": len(invalidations),
        "reads_after": len(after),
        "stale_reads": stale,
        "late_invalidations": late,
        "values_visible_before": warm_seen,
    }
    if samples:
        evidence["stale_samples"] = samples
    verdict = Conclusion.VIOLATED if stale else Conclusion.HOLDS
    return Verdict(verdict=verdict, evidence=evidence)


def _unwritten(history: History) -> set[str | None]:
    """Keys with a set that was not ok: what they held is unknown."""
    return not_ok_keys(history, lambda op: op.f == "set")


@observing
def check_delete(history: History, facts: Facts) -> Verdict:
    dropped = _unwritten(history) | not_ok_keys(history, lambda op: op.f == "delete")
    deletes = {op.key: op for op in history
               if op.f == "delete" and op.key is not None and op.key not in dropped}
    return _invalidated(history, deletes, "delete")


@observing
def check_clear(history: History, facts: Facts) -> Verdict:
    # Every clear bounds the reads, ok or not: one that may have happened may
    # also have removed a stale value, and must not pass for a late one.
    clears = [op for op in history if op.f == "clear"]
    unwritten = _unwritten(history)
    by_key: dict[str, Op] = {}
    horizons: dict[str, float] = {}
    for op in history:
        if op.f == "set" and op.key is not None and op.key not in unwritten:
            following = [c for c in clears if c.start >= op.end]
            if following and following[0].type == "ok":
                by_key[op.key] = following[0]
                if len(following) > 1:
                    horizons[op.key] = following[1].start
    return _invalidated(history, by_key, "clear", horizons)


@observing
def check_ttl(history: History, facts: Facts) -> Verdict:
    """Visible on every worker before expiry, gone on every worker after it."""
    unwritten = _unwritten(history)
    values = {op.key: op.args.get("value") for op in history
              if op.f == "set" and op.key not in unwritten}
    reads = [op for op in history if op.f == "get" and op.type == "ok" and op.key in values]
    before = [op for op in reads if op.meta.phase == Phase.BEFORE]
    after = [op for op in reads if op.meta.phase == Phase.AFTER]
    if not before or not after:
        raise ValueError("ttl history lacks reads before or after expiry")
    missing_before = [op for op in before if op.value != values[op.key]]
    present_after = [op for op in after if op.value is not None]
    sets = [op for op in history if op.f == "set" and op.key in values]
    evidence: dict[str, Any] = {
        "keys": len(values),
        "ttl_s": sets[0].args.get("timeout"),
        "reads_before": len(before),
        "reads_after": len(after),
        "missing_before_expiry": len(missing_before),
        "present_after_expiry": len(present_after),
        "waited_s": round(min(op.start for op in after) - max(op.end for op in sets), 2),
        "workers": facts.workers,
    }
    if missing_before:
        evidence["missing_samples"] = [{"key": op.key, "reader_pid": op.pid}
                                       for op in missing_before[:_MAX_SAMPLES]]
    if present_after:
        evidence["present_samples"] = [{"key": op.key, "reader_pid": op.pid, "read": op.value}
                                       for op in present_after[:_MAX_SAMPLES]]
    violated = missing_before or present_after
    return Verdict(verdict=Conclusion.VIOLATED if violated else Conclusion.HOLDS,
                   evidence=evidence)
