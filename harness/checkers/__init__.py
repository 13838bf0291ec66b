"""Checkers: judge a history against the run's topology facts and return a verdict.

Every scenario checker is a :class:`Checker`, ``check(history, facts) ->
Verdict``: it reads only the history and the :class:`Facts`, so the same
inputs always give the same verdict.  Scenarios call it through
:func:`safely`, which turns a crash into ``unknown``.
:mod:`.linearizable` and :mod:`.concurrency` are building blocks with
their own arguments; :mod:`.races` wraps them as checkers.

Every checker but :mod:`.safety` (whose docstring says why) is wrapped by
:func:`observing`, which applies the one rule on operations that are not
``ok`` (see :mod:`harness.history.ops` for what ``fail`` and ``info`` promise):

1. Checkers build their conclusion from ``ok`` operations only, and drop
   every trial a non-ok operation touches, so that a ``violated`` never
   rests on an operation that may not have happened.
2. A proven ``violated`` stands whatever else failed: invalid beats
   unknown.
3. ``none`` (nothing was stored) while writes were refused is ``error``:
   it describes the refusals, not the backend.
4. A run in which no operation was ``ok`` observed nothing: ``error``.
5. An operation kind sent at least :data:`BROKEN_MIN` times that the app
   answered with a server error (HTTP 5xx) at least :data:`BROKEN_SHARE` of
   the time is ``broken``: the feature raises on this backend, which the
   replies alone prove (a healthy run answers no 5xx at all).
6. Otherwise, when more than :data:`MAX_NON_OK_SHARE` of the operations
   are not ``ok``, a would-be pass (``holds`` or any sharing verdict) is
   ``unknown``: a clean pass needs a run that was actually exercised.
7. In a history with faults (``History.faults``), the rule weighs only the
   :func:`steady` operations: an op that failed while a fault was in force,
   or before its worker answered ``ok`` again after one, is the fault's
   doing, and the fault checker (:mod:`.faults`) counts it.

The counts of ok, fail, info and unanswered ops go into the evidence of
every verdict reached with any non-ok op.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload

from .. import observe
from ..history.names import OPS
from ..history.ops import History, Op
from ..verdict import INCONCLUSIVE, PROVEN, Conclusion, Verdict

#: Failed operations quoted in an ``error`` verdict's evidence.
MAX_SAMPLES = 5

#: The largest share of non-ok (fail + info) operations a passing verdict
#: may rest on.  A clean run on a live backend has none, so any share is a
#: fault; 1 % lets a register run (1200 ops) absorb a dozen timeouts on a
#: loaded machine, while a server that died for even a few seconds of it
#: (the 402 of 1200 of a killed redis-server) is far beyond it.  The small
#: workloads (visibility: about 50 ops) pass only with no non-ok op at all.
MAX_NON_OK_SHARE = 0.01

#: How many attempts of one operation, and what share of them answered
#: with HTTP 5xx, prove that the feature raises as a rule, not now and then.
#: Not "every time": on Redis Cluster, delete_memoized of a method raised on
#: 11 of 12 attempts in one run, so an all-or-nothing rule flipped.
BROKEN_MIN = 3
BROKEN_SHARE = 0.5

class HasPid(Protocol):
    @property
    def pid(self) -> int: ...


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What the topology knew about the run, beside the history.

    ``pids[i]`` is the pid of worker index ``i`` (the op's ``process``);
    ``instances[i]``, when several gunicorn instances ran, is its instance.
    """

    pids: tuple[int, ...]
    instances: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.instances is not None and len(self.instances) != len(self.pids):
            raise ValueError(f"instances {self.instances!r} must name one instance per pid "
                             f"in {self.pids!r}")

    @property
    def workers(self) -> int:
        return len(self.pids)

    @classmethod
    def of(cls, workers: Iterable[HasPid], *, instances: Sequence[int] | None = None) -> Facts:
        """The facts of these workers, in index order."""
        return cls(pids=tuple(w.pid for w in workers),
                   instances=tuple(instances) if instances is not None else None)


class Checker(Protocol):
    """Judge a history with the run's facts."""

    def __call__(self, history: History, facts: Facts, /) -> Verdict: ...


def describe(op: Op) -> dict[str, Any]:
    """An op as quoted in evidence."""
    return {"pid": op.pid, "f": op.f, "key": op.key, "type": op.type, "error": op.error}


def op_line(index: int, op: Op) -> str:
    """An op as one line of a counterexample: index, who, call, answer and interval."""
    args = "" if op.key is None else repr(op.key)
    if op.f in ("set", "add"):
        args += f", {op.args.get('value')!r}"
    elif op.f == "inc":
        args += f", {op.args.get('delta', 1)!r}"
    answer = "?" if op.type == "info" and not op.answered else repr(op.value)
    note = "" if op.type == "ok" else f" ({op.type}{': ' + op.error if op.error else ''})"
    client = "" if op.meta.client is None else f" client {op.meta.client}"
    return (f"#{index} process {op.process}{client} pid {op.pid}: {op.f}({args}) -> "
            f"{answer}{note} [{op.start:.4f}, {op.end:.4f}]")


def not_ok_keys(history: History, f: Callable[[Op], bool] = lambda _op: True) -> set[str | None]:
    """Keys of the non-ok ops matching ``f``: the trials rule 1 drops."""
    return {op.key for op in history if op.type != "ok" and f(op)}


def apply_share_rule(history: History, verdict: Verdict) -> Verdict:
    """The rule in this module's docstring, applied to ``verdict`` reached on ``history``."""
    counts = history.counts()
    non_ok = counts["ops"] - counts["ok"]
    if non_ok == 0:
        return verdict
    share = non_ok / counts["ops"]
    failures = history.failures()
    evidence = {**verdict.evidence, "op_counts": {
        **counts, "non_ok_share": round(share, 4), "max_non_ok_share": MAX_NON_OK_SHARE,
        "samples": [describe(op) for op in failures[:MAX_SAMPLES]]}}
    refused = [op for op in failures if (kind := OPS.get(op.f)) and kind.refusal_voids_none]
    if counts["ok"] == 0:
        evidence.update(reason="no operation completed ok: the run observed nothing")
        return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
    if verdict.verdict in PROVEN:
        return Verdict(verdict=verdict.verdict, evidence=evidence)
    broken = _broken(history)
    if broken:
        evidence.update(would_be=verdict.verdict, raised=broken, reason=(
            "the app answered a server error to most attempts of "
            f"{', '.join(sorted(broken))}: the feature raises on this backend"))
        return Verdict(verdict=Conclusion.BROKEN, evidence=evidence)
    if verdict.verdict in INCONCLUSIVE:
        return Verdict(verdict=verdict.verdict, evidence=evidence)
    if verdict.verdict == Conclusion.NONE and refused:
        by_f = {f: sum(op.f == f for op in refused) for f in sorted({op.f for op in refused})}
        evidence.update(would_be=verdict.verdict, writes_refused=by_f, reason=(
            f"{len(refused)} writes were refused or failed ({by_f}): 'none' would describe "
            "the refusals, not the backend"))
        return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
    if share > MAX_NON_OK_SHARE:
        evidence.update(would_be=verdict.verdict, reason=(
            f"{non_ok} of {counts['ops']} ops were not ok ({share:.1%}, more than "
            f"{MAX_NON_OK_SHARE:.0%}): the run was not exercised enough to pass"))
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    return Verdict(verdict=verdict.verdict, evidence=evidence)


def _broken(history: History) -> dict[str, dict[str, Any]]:
    """Operation kinds sent at least BROKEN_MIN times and answered 5xx at least BROKEN_SHARE."""
    by_f: dict[str, list[Op]] = {}
    for op in history:
        by_f.setdefault(op.f, []).append(op)
    found: dict[str, dict[str, Any]] = {}
    for f, ops in by_f.items():
        raised = [op for op in ops if op.type == "info" and op.answered
                  and (op.error or "").startswith("HTTP 5")]
        if len(ops) >= BROKEN_MIN and len(raised) >= BROKEN_SHARE * len(ops):
            found[f] = {"attempts": len(ops), "raised": len(raised),
                        "sample": (raised[0].error or "")[:200]}
    return found


def steady(history: History) -> History:
    """The ops rules 3 to 6 weigh (rule 7): those no fault explains, or the whole history.

    An op is the fault's when it overlaps a fault window, or when its worker
    (pid) has not completed an ``ok`` op on its key since a window closed:
    reconnecting after a fault is part of it, and so is a client that
    skips one node of several for a while after it failed (libmemcached's
    ``retry_timeout``) while the others answer.  A worker that never answers
    ``ok`` again on a key keeps every later op on it out; :mod:`.faults`
    calls it unrecovered (its final reads fail).
    """
    if not history.faults:
        return history
    windows = history.windows()
    ends = sorted({w.end for w in windows})
    # (window end, pid, key) -> when that worker's first ok op on the key after it started.
    back: dict[tuple[float, int, str | None], float] = {}
    for op in sorted(history, key=lambda o: o.start):
        if op.type == "ok":
            for end in ends:
                if op.start >= end:
                    back.setdefault((end, op.pid, op.key), op.start)

    def faulted(op: Op) -> bool:
        return any(w.start <= op.end and op.start <= w.end for w in windows) or any(
            end <= op.start < back.get((end, op.pid, op.key), float("inf")) for end in ends)

    return History(ops=[op for op in history if not faulted(op)], notes=history.notes)


def observing(check: Callable[[History, Facts], Verdict]) -> Checker:
    """Make ``check`` a :class:`Checker` that obeys the rule on non-ok operations."""

    @functools.wraps(check)
    def run(history: History, facts: Facts, /) -> Verdict:
        weighed = steady(history)
        if weighed.ops and not any(op.type == "ok" for op in weighed):
            # Rule 4 before the checker, which would only complain of missing data.
            return apply_share_rule(weighed, Verdict(verdict=Conclusion.UNKNOWN))
        if _broken(weighed):
            # Rule 5 before the checker, which may not cope with a step that never ran.
            return apply_share_rule(weighed, Verdict(verdict=Conclusion.UNKNOWN))
        verdict = apply_share_rule(weighed, check(history, facts))
        if "op_counts" in verdict.evidence and len(weighed) != len(history):
            verdict.evidence["op_counts"]["fault_ops_not_weighed"] = len(history) - len(weighed)
        return verdict

    return run


@overload
def safely(check: Callable[[History, Facts], Verdict], history: History,
           facts: Facts) -> Verdict: ...
@overload
def safely(check: Callable[[History], Verdict], history: History) -> Verdict: ...


def safely(check: Callable[..., Verdict], history: History, facts: Facts | None = None
           ) -> Verdict:
    """Run a checker; a checker that crashes says ``unknown``, never a pass.

    Scenarios pass a :class:`~harness.checkers.Checker` and the run's facts;
    a building block that needs no facts (``linearizable.check``) may be
    run alone.
    """
    try:
        with observe.span(observe.Step.CHECKER):
            return check(history) if facts is None else check(history, facts)
    except Exception as exc:  # noqa: BLE001 - any checker bug must become 'unknown'
        error = f"{type(exc).__name__}: {exc}"
        evidence: dict[str, Any] = {"checker_error": error}
        counts = history.counts()
        if counts["ok"] != counts["ops"]:
            evidence["op_counts"] = counts
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
