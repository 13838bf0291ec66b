"""Verdict of the stampede scenarios: how many slow calls K concurrent misses of one key cost.

Each slow call returns a fresh generation id, and every request that ran
one returns its own id, so a trial's distinct ids among the concurrent
replies are exactly its slow calls; an id's pid prefix names the worker
that ran it.  The verdict:

* ``none``      no sequential read after a wave returned an id computed
  before it: nothing is stored, so every request computes, then and later.
  That is no cache at all (NullCache), not a stampede, which is a cache
  failing to spare the database during one window;
* ``holds``     every judged trial ran exactly one slow call;
* ``violated``  some trial ran more; the evidence has the count per trial;
* ``unknown``   no trial could be judged.

As everywhere (:mod:`harness.checkers`), a trial touched by an op that is
not ``ok`` is dropped rather than judged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ..history.names import Phase
from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, observing
from .evidence import spread


def _computed_on(gen: Any) -> int | None:
    """The pid in a generation id ``<pid>-<n>-<random>``."""
    head = str(gen).split("-", 1)[0]
    return int(head) if head.isdigit() else None


@observing
def check(history: History, facts: Facts) -> Verdict:
    waves: dict[int, list[Op]] = defaultdict(list)
    after: dict[int, list[Op]] = defaultdict(list)
    for op in history:
        if op.meta.warm or op.meta.trial is None or op.meta.trial < 0:
            continue
        (after if op.meta.phase == Phase.AFTER else waves)[op.meta.trial].append(op)
    touched = {op.meta.trial for op in history if op.type != "ok"}
    judged = [t for t in sorted(waves) if t not in touched]
    per_trial: list[int] = []
    per_worker_max = 0
    stored = reads_after = 0
    for t in judged:
        gens = {op.value for op in waves[t]}
        per_trial.append(len(gens))
        on = Counter(_computed_on(g) for g in gens)
        per_worker_max = max(per_worker_max, *on.values())
        for op in after[t]:
            reads_after += 1
            stored += op.value in gens
    evidence: dict[str, Any] = {
        "trials": len(waves), "judged": len(judged), "dropped": len(waves) - len(judged),
        "slow_calls_per_trial": per_trial,
        "slow_calls": spread(per_trial),
        "histogram": {str(n): c for n, c in sorted(Counter(per_trial).items())},
        "max_per_worker": per_worker_max,
        "reads_after": reads_after, "reads_after_stored": stored,
        "run": history.notes,
    }
    if not judged:
        evidence["reason"] = "every trial was touched by a failed request: nothing to judge"
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    if reads_after and stored == 0:
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    if any(n > 1 for n in per_trial):
        return Verdict(verdict=Conclusion.VIOLATED, evidence=evidence)
    return Verdict(verdict=Conclusion.HOLDS, evidence=evidence)
