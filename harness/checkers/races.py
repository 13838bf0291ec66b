"""Verdicts of the concurrent scenarios: counts and linearizability together.

:mod:`.concurrency` counts what went wrong (double ``add`` winners, lost
``inc`` updates); :mod:`.linearizable` decides whether any single-copy
order explains the history.  Each scenario's verdict here is:

* ``none``       no read ever returned a stored value (NullCache): there
  is no shared state to race on;
* ``holds``      the counts are clean and the history is linearizable;
* ``per-worker`` violated across workers but linearizable (and counted
  clean) for each worker alone: one store per worker (SimpleCache);
* ``violated``   the counts or the linearizability search prove it;
* ``unknown``    the search ran out of budget without a violation.

Operations that are not ok are weighed as Jepsen does: ``fail`` is
dropped, ``info`` may or may not have happened, and a violation is never
built on an ``info`` op; :mod:`harness.checkers` then weighs how many
there were.
"""

from __future__ import annotations

from typing import Any

from ..history.ops import History
from ..verdict import Conclusion, Verdict
from . import Facts, concurrency, linearizable, observing, register

#: Linearizability budget per scenario: far above what a clean history
#: needs (see bench/README.md), small enough to end in seconds.
MAX_STEPS = 2_000_000
DEADLINE_S = 20.0


def _nothing_stored(history: History) -> bool:
    gets = [op for op in history if op.f == "get" and op.type == "ok"]
    return bool(gets) and all(op.value is None for op in gets)


def _summary(v: Verdict) -> dict[str, Any]:
    return {"verdict": v.verdict, **v.evidence}


def _linearizability(history: History) -> Verdict:
    return linearizable.classify(register.MODEL, history, max_steps=MAX_STEPS,
                                 deadline_s=DEADLINE_S)


@observing
def check_add_race(history: History, facts: Facts) -> Verdict:
    winner = concurrency.check_unique_winner(history)
    evidence: dict[str, Any] = {"unique_winner": _summary(winner), "run": history.notes}
    if _nothing_stored(history):
        if winner.evidence.get("winners", {}).get("0") == winner.evidence["trials"]:
            # NullCache lets every add win; no winner on any fresh key is a
            # backend refusing writes (a dead memcached answers add -> False).
            evidence["reason"] = ("no add won on any fresh key and nothing was read back: "
                                  "the backend refused every write")
            return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    lin = _linearizability(history)
    evidence["linearizability"] = _summary(lin)
    if lin.verdict == Conclusion.PER_WORKER:
        per_pid = [concurrency.check_unique_winner(History(ops=[o for o in history
                                                               if o.pid == pid]))
                   for pid in sorted({o.pid for o in history})]
        if all(v.verdict == Conclusion.HOLDS for v in per_pid):
            return Verdict(verdict=Conclusion.PER_WORKER, evidence=evidence)
    if Conclusion.VIOLATED in (winner.verdict, lin.verdict):
        return Verdict(verdict=Conclusion.VIOLATED, evidence=evidence)
    return Verdict(verdict=lin.verdict if lin.verdict != Conclusion.PER_WORKER
                   else Conclusion.VIOLATED, evidence=evidence)


@observing
def check_inc_race(history: History, facts: Facts) -> Verdict:
    counter = concurrency.classify_counter(history)
    evidence: dict[str, Any] = {**counter.evidence, "run": history.notes}
    if _nothing_stored(history):
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    return Verdict(verdict=counter.verdict, evidence=evidence)


@observing
def check_register(history: History, facts: Facts) -> Verdict:
    evidence: dict[str, Any] = {"run": history.notes, "ops": len(history)}
    if _nothing_stored(history):
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    lin = _linearizability(history)
    return Verdict(verdict=lin.verdict, evidence={**evidence, **lin.evidence})
