"""Failure safety: did the app fail safe on every worker while its cache server was down?

Judges the history of :mod:`harness.workloads.safety` against Rails'
failure-safety contract: with the server down a read returns the default,
a write reports failure, nothing raises, and the store works again once
the server is back.  Each instance (one ``CACHE_IGNORE_ERRORS`` setting,
named by ``settings[facts.instances[op.process]]``) gets, under
``settings.<name>``, one entry per question with ``answer``, the count of
each ``outcomes`` over its workers, and the same ``per_worker`` (pid):

``view_computes`` (ops ``view:read`` of phase ``down``)
    ``computed``: 200 with a generation no earlier request of that view
    returned, so the view's body ran; ``served``: 200 with one returned
    before, from a cache that should be out of reach; ``raised``: HTTP 5xx.
``get_default`` (``get``, phase ``down``)
    ``default``: 200 and None; ``value``: 200 and a stored value; ``raised``.
``set_fails`` (``set``, phase ``down``)
    ``false``: 200 and False; ``true``: 200 and True, a write claimed
    while nothing could store it; ``raised``.
``recovered`` (phase ``after``)
    Per worker, seconds from the restart (the end of the last fault
    window) to the end of its first round that worked end to end: ``set``
    answered True, ``get`` returned that value, and a view computed once
    was served again from the cache; None when no round did.
    ``acked_unread`` counts, per worker, the rounds in which ``set``
    answered True and the ``get`` just after it did not return the value:
    writes acknowledged by a cache that cannot yet read them back (a
    replica still resynchronising), the price of the wait.

Any other completion (a timeout, no reply) is ``no answer``.  A question's
``answer`` is ``yes`` when every probe gave the safe outcome (computed,
default, false; every worker recovered), ``no`` when one gave an unsafe
answer that did not raise (served, value, true; a worker never recovered),
``raises`` when one raised and none was unsafe, and ``unknown`` when one
got no answer and none of the above decides it.  ``raised_sample`` quotes
one raise; ``down_latency_max_s`` is the slowest probe of each kind.
``differs_by_setting`` lists the questions whose answer is not the same
in every instance.

**Verdict**, the worst that applies over every instance: ``lies`` (an
unsafe answer that did not raise: the app would believe a write or a read
the cache could not have made), ``unrecovered``, ``raises``, else
``holds``; ``unknown`` when a probe got no answer and nothing worse was
found; ``error`` when the cache did not work before the outage on some
worker (``baseline_failed``: nothing to compare the outage with).

Not wrapped by :func:`~harness.checkers.observing`: here every failure
is the answer to one of the questions, not noise around a property, and
a view answers 200 while its cache is still unreachable, so "its worker
answered ok again" (the rule's sign of recovery) does not hold.  Each op
is classified above, and the op counts are in the evidence.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from ..history.names import VIEW_COMPUTE, VIEW_READ, Phase, swallowed
from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Checker, Facts

#: Question -> (the op it asks, the safe outcome, the unsafe one that does not raise).
QUESTIONS: dict[str, tuple[str, str, str]] = {
    "view_computes": (VIEW_READ, "computed", "served"),
    "get_default": ("get", "default", "value"),
    "set_fails": ("set", "false", "true"),
}
RAISED = "raised"
NO_ANSWER = "no answer"


def _raised(op: Op) -> bool:
    return op.type == "info" and op.answered and (op.error or "").startswith("HTTP 5")


def _replied(op: Op) -> bool:
    """A 200 from the worker asked: ``ok``, or ``info`` for a result that says "refused"."""
    return op.type == "ok" or (op.type == "info" and op.answered and not _raised(op)
                               and swallowed(op.f, op.value))


def outcome(op: Op, earlier: set[Any]) -> str:
    """What a probe of the outage answered; ``earlier``: generations its view returned before."""
    if _raised(op):
        return RAISED
    if not _replied(op):
        return NO_ANSWER
    if op.f == VIEW_READ:
        return "served" if op.value in earlier else "computed"
    if op.f == "get":
        return "default" if op.value is None else "value"
    if op.f == "set":
        return "true" if op.value is True else "false" if op.value is False else NO_ANSWER
    raise ValueError(f"op {op.f!r} answers no failure-safety question")


def _answer(outcomes: Counter[str], safe: str, unsafe: str) -> str:
    if outcomes[unsafe]:
        return "no"
    if outcomes[RAISED]:
        return "raises"
    if outcomes[NO_ANSWER] or not outcomes:
        return "unknown"
    return "yes" if set(outcomes) == {safe} else "unknown"


def _baseline(ops: list[Op]) -> str | None:
    """None when the healthy phase shows a working cache on this worker, else what failed."""
    by_f = {op.f: op for op in ops}
    wrote, read = by_f.get("set"), by_f.get("get")
    computed, again = by_f.get(VIEW_COMPUTE), by_f.get(VIEW_READ)
    if wrote is None or wrote.type != "ok" or wrote.value is not True:
        return "set did not answer True"
    if read is None or read.type != "ok" or read.value != wrote.args.get("value"):
        return "get did not return the value just set"
    if (computed is None or again is None or computed.type != "ok" or again.type != "ok"
            or again.value != computed.value):
        return "a cached view computed once was not served from the cache"
    return None


def _round_worked(ops: list[Op]) -> bool:
    by_f = {op.f: op for op in ops}
    wrote, read = by_f.get("set"), by_f.get("get")
    computed, again = by_f.get(VIEW_COMPUTE), by_f.get(VIEW_READ)
    return (wrote is not None and wrote.type == "ok" and wrote.value is True
            and read is not None and read.type == "ok" and read.value == wrote.args.get("value")
            and computed is not None and again is not None
            and computed.type == again.type == "ok" and again.value == computed.value)


def _recovered(ops: list[Op], healed: float) -> float | None:
    rounds: dict[int, list[Op]] = defaultdict(list)
    for op in ops:
        rounds[op.meta.trial or 0].append(op)
    for trial in sorted(rounds):
        if _round_worked(rounds[trial]):
            return round(max(op.end for op in rounds[trial]) - healed, 4)
    return None


def _acked_unread(ops: list[Op]) -> int:
    rounds: dict[int, dict[str, Op]] = defaultdict(dict)
    for op in ops:
        rounds[op.meta.trial or 0][op.f] = op
    return sum(1 for r in rounds.values()
               if (w := r.get("set")) is not None and w.type == "ok" and w.value is True
               and (g := r.get("get")) is not None and g.value != w.args.get("value"))


def _instance(history: History, ops: list[Op], healed: float) -> dict[str, Any]:
    """The four questions' answers for one instance's ops."""
    by_pid: dict[int, dict[str, list[Op]]] = defaultdict(lambda: defaultdict(list))
    for op in ops:
        by_pid[op.pid][op.meta.phase or ""].append(op)
    views: dict[str | None, list[Op]] = defaultdict(list)
    for op in sorted(history, key=lambda o: o.end):
        if op.f in (VIEW_COMPUTE, VIEW_READ) and op.type == "ok":
            views[op.key].append(op)
    out: dict[str, Any] = {}
    raised: str | None = None
    latency: dict[str, float] = {}
    for question, (f, safe, unsafe) in QUESTIONS.items():
        per_worker: dict[str, dict[str, int]] = {}
        total: Counter[str] = Counter()
        for pid in sorted(by_pid):
            probes = [op for op in by_pid[pid][Phase.DOWN] if op.f == f]
            if not probes:
                raise ValueError(f"worker pid {pid} made no {f} probe while the servers were "
                                 "down: the question cannot be answered for it")
            seen: Counter[str] = Counter()
            for op in probes:
                earlier = {v.value for v in views[op.key] if v.end < op.start}
                seen[outcome(op, earlier)] += 1
                if raised is None and _raised(op):
                    raised = op.error
                latency[f] = max(latency.get(f, 0.0), round(op.end - op.start, 4))
            per_worker[str(pid)] = dict(seen)
            total += seen
        out[question] = {"answer": _answer(total, safe, unsafe), "outcomes": dict(total),
                         "per_worker": per_worker}
    times = {str(pid): _recovered(by_pid[pid][Phase.AFTER], healed) for pid in sorted(by_pid)}
    done = [t for t in times.values() if t is not None]
    out["recovered"] = {"answer": "yes" if len(done) == len(times) else "no",
                        "max_s": max(done, default=None), "per_worker": times,
                        "acked_unread": {str(pid): _acked_unread(by_pid[pid][Phase.AFTER])
                                         for pid in sorted(by_pid)}}
    out["down_latency_max_s"] = latency
    if raised is not None:
        out["raised_sample"] = raised[:200]
    return out


def checker(settings: Sequence[str]) -> Checker:
    """The failure-safety checker; ``settings[i]`` names instance ``i`` of ``facts.instances``."""

    def check(history: History, facts: Facts) -> Verdict:
        windows = history.windows()
        if not windows or not all(w.closed for w in windows):
            raise ValueError("the history has no closed fault window: the servers were never "
                             "taken down and brought back")
        healed = max(w.end for w in windows)
        instances = facts.instances or (0,) * facts.workers
        if len(set(instances)) != len(settings):
            raise ValueError(f"facts name {len(set(instances))} instances but settings "
                             f"{list(settings)!r} name {len(settings)}")
        by_instance: dict[int, list[Op]] = defaultdict(list)
        for op in history:
            by_instance[instances[op.process]].append(op)
        evidence: dict[str, Any] = {"healed_at": round(healed, 4), "op_counts": history.counts()}
        failed = {}
        for n, name in enumerate(settings):
            for pid in sorted({op.pid for op in by_instance[n]}):
                problem = _baseline([op for op in by_instance[n]
                                     if op.pid == pid and op.meta.phase == Phase.BEFORE])
                if problem is not None:
                    failed[f"{name} pid {pid}"] = problem
        if failed:
            evidence.update(baseline_failed=failed, reason=(
                "the cache did not work before the outage, so the outage's answers "
                "cannot be told from the cache's"))
            return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
        per_setting = {name: _instance(history, by_instance[n], healed)
                       for n, name in enumerate(settings)}
        evidence["settings"] = per_setting
        answers = [a for s in per_setting.values() for q, a in _answers(s).items()
                   if q != "recovered"]
        evidence["differs_by_setting"] = [
            q for q in (*QUESTIONS, "recovered")
            if len({_answers(s)[q] for s in per_setting.values()}) > 1]
        found = {
            Conclusion.LIES: "no" in answers,
            Conclusion.UNRECOVERED: any(s["recovered"]["answer"] == "no"
                                        for s in per_setting.values()),
            Conclusion.RAISES: "raises" in answers,
        }
        findings = [c for c, hit in found.items() if hit]
        evidence["findings"] = [str(c) for c in findings]
        if findings:
            return Verdict(verdict=findings[0], evidence=evidence)
        if "unknown" in answers:
            evidence["reason"] = "a probe of the outage got no answer, so a question is open"
            return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
        return Verdict(verdict=Conclusion.HOLDS, evidence=evidence)

    return check


def _answers(setting: dict[str, Any]) -> dict[str, str]:
    return {q: setting[q]["answer"] for q in (*QUESTIONS, "recovered")}
