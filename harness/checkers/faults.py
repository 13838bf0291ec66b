"""What a fault did to the clients: the verdict and numbers of a fault scenario.

The history holds the workers' ops and the nemesis's actions
(``History.faults``), paired into fault windows; *healed* is the end of the
last window.  The workload writes unique values, reads and writes from
every worker during and after the fault, and ends with a final read pass
(``Meta.phase`` :attr:`~harness.history.names.Phase.FINAL`).  Sources,
"surely before" and acknowledged ops are defined in :mod:`.versions`.
The numbers, under these evidence keys:

``windows``
    Each fault window: ``fault``, ``target``, ``start``, ``end``, ``closed``;
    and ``healed_at``, the end of the last one.
``lost_writes``: ``count``, ``acked``, ``percent``, ``unjudged``, ``samples``
    Writes acknowledged before the heal whose value is gone: no final read
    of the key returned it, nor the value of a write not surely before it,
    nor a miss that a ``delete`` or ``clear`` after it explains.  ``acked``
    counts the writes a final read could judge, ``percent`` is of those,
    ``unjudged`` the rest.  A store that loses everything when it dies
    loses these, which a cache may do: the number is reported, not judged,
    unless every fault left the storage alone
    (``spares_storage`` in :data:`~harness.history.faults.ACTIONS`: the workers were replaced,
    no server was touched), when a loss is the backend's own (``lost``).
``stale_reads``: ``count``, ``reads``, ``age_p50``, ``age_p99``, ``age_max``, ``samples``
    Reads (of ``reads`` with a source) that returned a value already
    overwritten or removed by an acknowledged op that completed before the
    read began, its source surely before that op.  Age, in seconds, is the
    read's start minus the end of the earliest such op.
``failed_during_fault``, and ``failed_by_worker``: pid -> ``fail``, ``info``
    How many ops were not ``ok`` and overlapped a fault window, leaving out
    those ``worker_gone`` counts.
``worker_gone``: ``count``, ``by_worker`` (pid -> count); only when a fault replaced workers
    Requests that never reached a worker because the nemesis had just
    retired it (the pids in a fault's ``value["retired"]``): refused before
    anything was sent, or closed unanswered by a worker on its way out.
    They say the harness aimed at a worker that no longer serves, nothing
    about the cache, so they are counted apart from the failures above.
``recovery``: ``max_read``, ``max_write``, ``per_worker``, ``unrecovered``
    Per worker pid asked anything after the heal, seconds from the heal to
    the end of its first ``ok`` read that returned a stored value (a miss
    does not count: some client libraries answer one for a server they
    cannot reach) and of its first ``ok`` write or delete; None when the
    worker tried none.  ``unrecovered`` lists the workers that tried and
    never succeeded, or whose final reads failed; ``not_asked``, the run's
    workers with no op after the heal (not judged).
``silent_after_recovery``: ``count``, ``judged``, ``window``, ``samples``
    Writes acknowledged after the heal that the same worker never read
    back, though it read the key later with nothing else able to change it
    in between (``judged`` such writes): a client quietly writing where it
    no longer reads.  ``window`` is [first, last] end of those writes, or
    None.

**Verdict**, the worst that applies: ``unrecovered`` (a worker never
succeeded again), ``stalled``, ``silent`` (acknowledged writes had no effect
after recovery), ``duplicated``, ``lost`` (only after faults that spare the
storage), ``immortal``, ``stale`` (:mod:`.effects` finds the other three),
else ``holds``; ``none`` when no read in the whole
history returned a stored value.  ``findings`` lists every one that
applies.  A history without a closed fault window, or with no op after
the heal, raises (:func:`harness.checkers.safely` makes it ``unknown``), and
the share rule of :mod:`harness.checkers` weighs only the ops no fault
explains.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict

from ..history.faults import ACTIONS
from ..history.names import Phase
from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, effects, observing, op_line
from .evidence import (
    Counterexample,
    FaultEvidence,
    LostWrites,
    Recovery,
    SilentAfterRecovery,
    StaleReads,
)
from .failures import failed_during, worker_gone
from .versions import (
    Removals,
    Sources,
    acknowledged,
    changes,
    effect_end,
    sets_key,
    stores,
    surely_before,
)

_MAX_SAMPLES = 5
#: Worst first: the verdict is the first that applies.
_SEVERITY = (Conclusion.UNRECOVERED, Conclusion.STALLED, Conclusion.SILENT,
             Conclusion.DUPLICATED, Conclusion.LOST, Conclusion.IMMORTAL, Conclusion.STALE)


def _sample(history: History, ops: list[int], *, culprits: list[int],
            age: float | None = None) -> Counterexample:
    ordered = sorted(set(ops), key=lambda i: (history.ops[i].start, i))
    sample: Counterexample = {"ops": ordered,
                              "describe": [op_line(i, history.ops[i]) for i in ordered],
                              "culprits": culprits}
    if age is not None:
        sample["age"] = age
    return sample


def _secs(t: float) -> float:
    return round(t, 4)


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of a non-empty sorted list."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def _by_key(history: History) -> dict[str | None, list[int]]:
    """Op indices per key; clears under None."""
    keyed: dict[str | None, list[int]] = defaultdict(list)
    for i, op in enumerate(history.ops):
        keyed[None if op.f == "clear" else op.key].append(i)
    return keyed


def stale_reads(history: History, sources: Sources) -> StaleReads:
    """Reads of a value surely overwritten or removed before they began; see the docstring."""
    ops = history.ops
    keyed = _by_key(history)
    reads = 0
    found: list[tuple[float, int, int, int]] = []
    for key, indices in keyed.items():
        if key is None:
            continue
        acked = sorted((i for i in (*indices, *keyed.get(None, ()))
                        if acknowledged(ops[i]) and changes(ops[i], key)),
                       key=lambda i: ops[i].start)
        starts = [ops[i].start for i in acked]
        # From each position on, the acknowledged op that ended first.
        first_end: list[int] = [0] * len(acked)
        for n in range(len(acked) - 1, -1, -1):
            i = acked[n]
            later = first_end[n + 1] if n + 1 < len(acked) else None
            first_end[n] = i if later is None or ops[i].end < ops[later].end else later
        for r in indices:
            read = ops[r]
            if read.f != "get" or read.type != "ok" or (s := sources.of(read)) is None:
                continue
            reads += 1
            pos = bisect_right(starts, effect_end(ops[s]))
            if pos == len(acked):
                continue
            x = first_end[pos]
            if ops[x].end < read.start:
                found.append((read.start - ops[x].end, s, x, r))
    found.sort(key=lambda t: t[3])
    ages = sorted(age for age, *_ in found)
    out: StaleReads = {"count": len(found), "reads": reads}
    if ages:
        out["age_p50"] = _secs(_quantile(ages, 0.5))
        out["age_p99"] = _secs(_quantile(ages, 0.99))
        out["age_max"] = _secs(ages[-1])
    out["samples"] = [_sample(history, [s, x, r], culprits=[r], age=_secs(age))
                      for age, s, x, r in found[:_MAX_SAMPLES]]
    return out


def lost_writes(history: History, sources: Sources, healed: float) -> LostWrites:
    """Writes acknowledged before the heal that the final read pass no longer finds."""
    ops = history.ops
    finals: dict[str | None, list[int]] = defaultdict(list)
    for i, op in enumerate(ops):
        if op.f == "get" and op.type == "ok" and op.meta.phase == Phase.FINAL:
            finals[op.key].append(i)
    if not finals:
        raise ValueError(f"no ok read with phase {Phase.FINAL.value!r}: the workload must end "
                         "with a final read pass to judge lost writes")
    removals = Removals(history)

    def keeps(w: Op, r: Op) -> bool:
        if r.value is None:
            return removals.between(w.key, w.start, r.end)
        s = sources.of(r)
        # A value naming no single write might be a newer one: not counted lost.
        return s is None or not surely_before(ops[s], w)

    acked = [i for i, op in enumerate(ops)
             if stores(op) and acknowledged(op) and op.end <= healed]
    judged = [i for i in acked if finals.get(ops[i].key)]
    lost = [i for i in judged if not any(keeps(ops[i], ops[r]) for r in finals[ops[i].key])]
    return {
        "count": len(lost), "acked": len(judged),
        "percent": round(100 * len(lost) / len(judged), 2) if judged else None,
        "unjudged": len(acked) - len(judged),
        "samples": [_sample(history, [w, *finals[ops[w].key][:3]], culprits=[w])
                    for w in lost[:_MAX_SAMPLES]],
    }


def _hit(op: Op) -> bool:
    return op.type == "ok" and op.value is not None


def _done(op: Op) -> bool:
    return op.type == "ok"


def recovery(history: History, facts: Facts, healed: float) -> Recovery:
    """Per worker, seconds from the heal to its first good read and write."""
    after: dict[int, list[Op]] = defaultdict(list)
    for op in sorted(history, key=lambda o: o.start):
        if op.start >= healed:
            after[op.pid].append(op)
    if not after:
        raise ValueError(f"no operation started after the last fault window closed at "
                         f"{healed:.4f}: recovery cannot be judged")
    per_worker: dict[str, dict[str, float | None]] = {}
    # A worker whose final reads fail has not recovered, whatever else it answered.
    unrecovered: list[int] = sorted({op.pid for op in history if op.meta.phase == Phase.FINAL
                                     and op.type != "ok"})
    for pid in sorted(after):
        times: dict[str, float | None] = {}
        for what, attempts, good in (
                ("read", [o for o in after[pid] if o.f == "get"], _hit),
                ("write", [o for o in after[pid] if sets_key(o)], _done)):
            first = next((o for o in attempts if good(o)), None)
            times[what] = None if first is None else _secs(first.end - healed)
            if attempts and first is None and pid not in unrecovered:
                unrecovered.append(pid)
        per_worker[str(pid)] = times
    reads = [t["read"] for t in per_worker.values() if t["read"] is not None]
    writes = [t["write"] for t in per_worker.values() if t["write"] is not None]
    out: Recovery = {"max_read": max(reads, default=None),
                     "max_write": max(writes, default=None),
                     "per_worker": per_worker, "unrecovered": unrecovered}
    if missing := [pid for pid in facts.pids if pid not in after]:
        out["not_asked"] = missing
    return out


def _quiet_until(ops: list[Op], changers: list[int]) -> dict[int, float]:
    """For each changer ``w``: when something else may next change the key after it started.

    That is the earliest start of another changer that may take effect after
    ``w`` started; a read ending by then cannot have missed ``w`` because of it.
    """
    by_effect = sorted(changers, key=lambda i: effect_end(ops[i]))
    effects = [effect_end(ops[i]) for i in by_effect]
    # From each position on, the two changers that start first.
    firsts: list[tuple[int | None, int | None]] = [(None, None)] * (len(by_effect) + 1)
    for n in range(len(by_effect) - 1, -1, -1):
        a, b = firsts[n + 1]
        i = by_effect[n]
        if a is None or ops[i].start < ops[a].start:
            a, b = i, a
        elif b is None or ops[i].start < ops[b].start:
            b = i
        firsts[n] = (a, b)
    out: dict[int, float] = {}
    for w in changers:
        a, b = firsts[bisect_right(effects, ops[w].start)]
        other = b if a == w else a
        out[w] = math.inf if other is None else ops[other].start
    return out


def silent_after(history: History, sources: Sources, healed: float) -> SilentAfterRecovery:
    """Writes acknowledged after the heal that their worker never reads back."""
    ops = history.ops
    keyed = _by_key(history)
    silent: list[tuple[int, list[int]]] = []
    judged = 0
    for key, indices in keyed.items():
        if key is None:
            continue
        changers = [i for i in (*indices, *keyed.get(None, ())) if changes(ops[i], key)]
        quiet = _quiet_until(ops, changers)
        reads: dict[int, list[int]] = defaultdict(list)
        for r in sorted(indices, key=lambda i: ops[i].start):
            if ops[r].f == "get" and ops[r].type == "ok":
                reads[ops[r].pid].append(r)
        starts = {pid: [ops[r].start for r in rs] for pid, rs in reads.items()}
        for w in indices:
            write = ops[w]
            if not stores(write) or not acknowledged(write) or write.start < healed:
                continue
            until, after = quiet[w], starts.get(write.pid, [])
            looks = [r for r in reads[write.pid][bisect_right(after, write.end):
                                                 bisect_left(after, until)]
                     if ops[r].end <= until]
            if not looks:
                continue
            judged += 1
            if all(sources.of(ops[r]) != w for r in looks):
                silent.append((w, looks))
    silent.sort()
    acks = [ops[w].end for w, _ in silent]
    return {"count": len(silent), "judged": judged,
            "window": [_secs(min(acks)), _secs(max(acks))] if acks else None,
            "samples": [_sample(history, [w, *looks[:3]], culprits=[w])
                        for w, looks in silent[:_MAX_SAMPLES]]}


@observing
def check(history: History, facts: Facts) -> Verdict:
    """The fault verdict and its numbers; see the module docstring."""
    windows = history.windows()
    if not windows:
        raise ValueError("the history has no fault window: the nemesis did nothing to judge")
    if not all(w.closed for w in windows):
        opened = [f"{w.fault} {w.target}" for w in windows if not w.closed]
        raise ValueError(f"fault never healed ({', '.join(opened)}): recovery cannot be judged")
    healed = max(w.end for w in windows)
    sources = Sources(history)
    evidence: FaultEvidence = {
        "windows": [{"fault": w.fault, "target": w.target, "start": _secs(w.start),
                     "end": _secs(w.end), "closed": w.closed} for w in windows],
        "healed_at": _secs(healed),
    }
    if not any(op.f == "get" and op.type == "ok" and op.value is not None for op in history):
        evidence["finding"] = "no read returned a stored value: nothing was kept to lose"
        return Verdict(verdict=Conclusion.NONE, evidence=dict(evidence))
    failed = failed_during(history)
    evidence["failed_during_fault"] = sum(sum(n.values()) for n in failed.values())
    evidence["failed_by_worker"] = failed
    back = evidence["recovery"] = recovery(history, facts, healed)
    if back["unrecovered"] and not any(op.f == "get" and op.type == "ok"
                                       and op.meta.phase == Phase.FINAL for op in history):
        # Nothing to judge lost writes on, because the workers never came back.
        evidence["finding"] = "no final read answered: the workers had not recovered"
        evidence["findings"] = [str(Conclusion.UNRECOVERED)]
        return Verdict(verdict=Conclusion.UNRECOVERED, evidence=dict(evidence))
    lost = evidence["lost_writes"] = lost_writes(history, sources, healed)
    stale = evidence["stale_reads"] = stale_reads(history, sources)
    silent = evidence["silent_after_recovery"] = silent_after(history, sources, healed)
    if (addressing := worker_gone(history)) is not None:
        evidence["worker_gone"] = addressing
    spared = all((a := ACTIONS.get(w.fault)) is not None and a.spares_storage
                  for w in windows)
    more, found = effects.judge(history)
    evidence.update(more)  # type: ignore[typeddict-item]
    found |= {
        Conclusion.UNRECOVERED: bool(back.get("unrecovered")),
        Conclusion.SILENT: silent["count"] > 0,
        Conclusion.LOST: spared and lost["count"] > 0,
        Conclusion.STALE: stale.get("count", 0) > 0,
    }
    findings = [c for c in _SEVERITY if found[c]]
    evidence["findings"] = [str(c) for c in findings]
    for finding, samples in ((Conclusion.STALLED, more["stalled"]["samples"]),
                             (Conclusion.SILENT, silent["samples"]),
                             (Conclusion.DUPLICATED, more["duplicated"]["samples"]),
                             (Conclusion.LOST, lost["samples"]),
                             (Conclusion.IMMORTAL, more.get("immortal", {}).get("samples", [])),
                             (Conclusion.STALE, stale.get("samples", []))):
        if found[finding] and samples:
            evidence["counterexample"] = samples[0]
            break
    return Verdict(verdict=findings[0] if findings else Conclusion.HOLDS,
                   evidence=dict(evidence))
