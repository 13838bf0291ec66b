"""What a fault did to the effects of operations: applied twice, left without expiry, stalled.

The fault checker (:mod:`.faults`) adds these findings to its own; each
reads only the history.

``duplicated``: ``count``, ``counters``, ``samples``
    Counters (keys set to an integer, then only incremented) that ended
    above anything the increments asked for could make: the set value plus
    the delta of every ``inc`` on the key started after it, whether it
    answered ok, failed or was left unknown.  The final read pass
    (``Phase.FINAL``) gives the end value, and an ``inc`` that answered a
    value above what the increments started before it ended could make
    counts too.  ``count`` is the excess summed over the counters, and
    ``counters`` how many were judged.  A client that retried an increment
    the server had already applied (its reply lost or late) makes this.
``immortal``: ``count``, ``judged``, ``samples``
    Keys written only with a positive ``timeout`` (``add``, ``set``) that the
    nemesis's ``inspect`` action, reading the storage past any proxy, found
    held with no expiry at all (Redis ``TTL`` -1).  ``judged`` counts the
    keys it found stored; absent when nothing was inspected (a store whose
    expiry the harness cannot read).  A write made of two commands
    (``SETNX``, then ``EXPIRE``) that stopped half way makes this.
``stalled``: ``count``, ``longest``, ``samples``
    Requests the worker did not answer within the harness's request
    timeout (:data:`~harness.history.ops.REQUEST_TIMEOUT`): a worker held
    by its client library's retries or waits.  ``longest`` is the longest
    span of any request, answered or not.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..history.faults import INSPECT
from ..history.names import OPS, Phase
from ..history.ops import REQUEST_TIMEOUT, History
from ..verdict import Conclusion
from . import op_line
from .evidence import Duplicated, Immortal, Stalled

_MAX_SAMPLES = 5
#: A request's span measures its timeout to within scheduling noise.
_STALL_SLACK = 0.99


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (str, bytes)):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _mutates(f: str) -> bool:
    return (kind := OPS.get(f)) is not None and kind.mutates


def _describe(history: History, ops: list[int]) -> list[str]:
    return [op_line(i, history.ops[i]) for i in ops]


def duplicated(history: History) -> Duplicated:
    """Counters above what their increments could make; see the module docstring."""
    ops = history.ops
    keyed: dict[str, list[int]] = defaultdict(list)
    for i, op in enumerate(ops):
        if op.key is not None:
            keyed[op.key].append(i)
    excess, judged = 0, 0
    samples: list[dict[str, Any]] = []
    for key, indices in keyed.items():
        writes = [i for i in indices if _mutates(ops[i].f)]
        incs = [i for i in writes if ops[i].f == "inc"]
        base_ops = [i for i in writes if ops[i].f == "set"]
        if not incs or len(base_ops) != 1 or len(writes) != len(incs) + 1:
            continue
        base = ops[base_ops[0]]
        start = _int(base.args.get("value"))
        if base.type != "ok" or base.value is not True or start is None \
                or any(ops[i].start < base.end for i in incs):
            continue
        judged += 1
        deltas = sorted((ops[i].start, int(ops[i].args.get("delta", 1))) for i in incs)
        most = start + sum(d for _, d in deltas)
        seen: list[tuple[int, int]] = []
        for i in incs:
            got = _int(ops[i].value) if ops[i].type == "ok" else None
            if got is not None:
                could = start + sum(d for t, d in deltas if t <= ops[i].end)
                if got > could:
                    seen.append((got - could, i))
        finals = [(v, i) for i in indices if ops[i].f == "get" and ops[i].type == "ok"
                  and ops[i].meta.phase == Phase.FINAL
                  and (v := _int(ops[i].value)) is not None]
        over = max([v - most for v, _ in finals] + [e for e, _ in seen] + [0])
        if over > 0:
            excess += over
            culprits = [i for _, i in seen][:3] + [i for v, i in finals if v > most][:1]
            samples.append({"key": key, "set_to": start, "increments": len(incs),
                            "at_most": most, "over_by": over,
                            "ops": culprits, "describe": _describe(history, culprits)})
    return {"count": excess, "counters": judged, "samples": samples[:_MAX_SAMPLES]}


def immortal(history: History) -> Immortal | None:
    """Keys written with a timeout that the storage holds without one; None if not read."""
    ttls: dict[str, Any] = {}
    for f in history.faults:
        if f.f == INSPECT.name and isinstance(f.value, dict):
            ttls.update(f.value.get("ttl") or {})
    if not ttls:
        return None
    writers: dict[str, list[int]] = defaultdict(list)
    for i, op in enumerate(history.ops):
        if op.key is not None and _mutates(op.f):
            writers[op.key].append(i)
    judged, found = 0, []
    for key, ttl in sorted(ttls.items()):
        ws = writers.get(key, [])
        # Every write of the key stored the value it sent, with a positive timeout.
        timed = ws and all((kind := OPS.get(history.ops[i].f)) is not None and kind.stores_arg
                           and (_int(history.ops[i].args.get("timeout")) or 0) > 0 for i in ws)
        if not timed or ttl is None or ttl == -2:
            continue
        judged += 1
        if ttl == -1:
            found.append((key, ws))
    return {"count": len(found), "judged": judged,
            "samples": [{"key": k, "ttl": -1, "ops": ws[:3],
                         "describe": _describe(history, ws[:3])}
                        for k, ws in found[:_MAX_SAMPLES]]}


def stalled(history: History) -> Stalled:
    """Requests left unanswered for the whole request timeout."""
    ops = history.ops
    held = [i for i, op in enumerate(ops)
            if not op.answered and op.end - op.start >= _STALL_SLACK * REQUEST_TIMEOUT]
    return {"count": len(held),
            "longest": round(max((op.end - op.start for op in ops), default=0.0), 4),
            "samples": [{"key": ops[i].key, "ops": [i], "describe": _describe(history, [i])}
                        for i in held[:_MAX_SAMPLES]]}


def judge(history: History) -> tuple[dict[str, Any], dict[Conclusion, bool]]:
    """The evidence of all three, and which of them were found."""
    evidence: dict[str, Any] = {"duplicated": (dup := duplicated(history)),
                                "stalled": (stall := stalled(history))}
    if (imm := immortal(history)) is not None:
        evidence["immortal"] = imm
    return evidence, {Conclusion.DUPLICATED: dup["count"] > 0,
                      Conclusion.IMMORTAL: imm is not None and imm["count"] > 0,
                      Conclusion.STALLED: stall["count"] > 0}
