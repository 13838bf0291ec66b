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
"""

from __future__ import annotations

from typing import Any

from ..history import History
from ..verdict import Verdict
from . import concurrency, linearizable

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
    return linearizable.classify(history, max_steps=MAX_STEPS, deadline_s=DEADLINE_S)


def check_add_race(history: History) -> Verdict:
    winner = concurrency.check_unique_winner(history)
    evidence: dict[str, Any] = {"unique_winner": _summary(winner), "run": history.notes}
    if _nothing_stored(history):
        return Verdict(verdict="none", evidence=evidence)
    lin = _linearizability(history)
    evidence["linearizability"] = _summary(lin)
    if lin.verdict == "per-worker":
        per_pid = [concurrency.check_unique_winner(History(ops=[o for o in history
                                                               if o.pid == pid]))
                   for pid in sorted({o.pid for o in history})]
        if all(v.verdict == "holds" for v in per_pid):
            return Verdict(verdict="per-worker", evidence=evidence)
    if "violated" in (winner.verdict, lin.verdict):
        return Verdict(verdict="violated", evidence=evidence)
    return Verdict(verdict=lin.verdict if lin.verdict != "per-worker" else "violated",
                   evidence=evidence)


def check_inc_race(history: History) -> Verdict:
    counter = concurrency.classify_counter(history)
    evidence: dict[str, Any] = {**counter.evidence, "run": history.notes}
    if _nothing_stored(history):
        return Verdict(verdict="none", evidence=evidence)
    return Verdict(verdict=counter.verdict, evidence=evidence)


def check_register(history: History) -> Verdict:
    evidence: dict[str, Any] = {"run": history.notes, "ops": len(history)}
    if _nothing_stored(history):
        return Verdict(verdict="none", evidence=evidence)
    lin = _linearizability(history)
    return Verdict(verdict=lin.verdict, evidence={**evidence, **lin.evidence})
