"""Linearizability of a cache history, partition by partition: the verdict and its evidence.

The model is passed in (:mod:`.register` is the model of one cache key, and
its docstring says how it follows cachelib).  It splits the history into
independent partitions (P-compositionality: one per key), each of which
:mod:`.wgl` searches on its own; a violated one is shrunk to a small
counterexample by :mod:`.shrink`.  This module compiles the ops, spends the
budgets, and assembles what the report reads.

Jepsen's completion types carry over: ``fail`` did not happen and is
dropped; ``info`` without a reply may take effect at any instant after it
started, or never; ``info`` with a reply, like a write answering False, took
effect within its own interval or not at all.  The search has a step
budget, and a history it could not finish is ``unknown``, never ``holds``.
A counterexample is shown only once re-checked on its own (``verified``).

:func:`classify` runs the search twice, once over all workers and once per
worker, which is how a cache with one private store per worker
(SimpleCache) reads as ``per-worker`` rather than broken.
"""

from __future__ import annotations

import time
from typing import Any

from ..history.ops import History, is_negative
from ..verdict import Verdict
from .model import Model, Part
from .shrink import Shrinker
from .wgl import INF, Answer, Budget, Call

_MAX_SAMPLES = 5


def _partitions(history: History, model: Model, by_worker: bool
                ) -> tuple[dict[Part, list[Call]], dict[str, int]]:
    """The model's partitions of the compiled ops, and counts of the ops by kind.

    Whether an answer is negative is a fact of the op, of the cache's
    vocabulary, whatever the model; so is how :func:`_describe` shows it.
    """
    counts = {"ops": 0, "info_ops": 0, "answered_info_ops": 0, "negative_answers": 0,
              "failed_ops_dropped": 0}
    compiled: dict[int, Call] = {}
    for index, op in enumerate(history.ops):
        spec = model.compile(index, op)
        if op.type == "fail":
            counts["failed_ops_dropped"] += 1
        if spec is None:
            continue
        compiled[index] = Call(index=index, inp=spec.input, out=spec.output, start=op.start,
                               end=op.end if spec.bounded else INF, mutates=spec.mutates)
        counts["ops"] += 1
        counts["info_ops"] += op.type == "info"
        counts["answered_info_ops"] += op.type == "info" and op.answered
        counts["negative_answers"] += is_negative(op)
    parts = {name: [compiled[i] for i in indices if i in compiled]
             for name, indices in model.partition(history, by_worker=by_worker).items()}
    return {name: calls for name, calls in parts.items() if calls}, counts


def _describe(history: History, call: Call) -> str:
    """One line for one op of a counterexample: what was asked, the answer, the interval."""
    op = history.ops[call.index]
    args = "" if op.f == "clear" else repr(op.key)
    if op.f in ("set", "add"):
        args += f", {op.args.get('value')!r}"
    elif op.f == "inc":
        args += f", {op.args.get('delta', 1)!r}"
    end = f"{op.end:.4f}"
    if op.type == "info" and not op.answered:
        result, end = "? (info, no reply: any time after its start, or never)", "..."
    elif op.type == "info":
        result = (f"{op.value!r} (info: answered, but took effect by its end "
                  "or not at all)")
    else:
        result = repr(op.value)
        if is_negative(op):
            result += " (refused: took effect by its end or not at all)"
        if call.cut:
            result += " (still running when the culprit returned: may not have happened)"
    return (f"#{call.index} process {op.process} pid {op.pid}: {op.f}({args}) -> {result} "
            f"[{op.start:.4f}, {end}]")


def _name(name: Part) -> dict[str, Any]:
    pid, key = name
    return {"key": key} if pid is None else {"key": key, "pid": pid}


def check(model: Model, history: History, *, by_worker: bool = False,
          max_steps: int = 2_000_000, max_steps_per_key: int = 500_000,
          shrink_steps: int = 200_000, deadline_s: float | None = None) -> Verdict:
    """Whether ``history`` is linearizable, one ``model`` per key (per worker and key).

    ``holds`` only when every key's search finished; a key whose search ran
    out of ``max_steps_per_key``, ``max_steps`` in all or ``deadline_s``
    makes the verdict ``unknown`` unless another key is ``violated``.  A
    violation comes with a counterexample, shrunk within ``shrink_steps`` and
    re-checked within as many steps again (the re-check ignores the deadline).
    """
    started = time.monotonic()
    deadline = None if deadline_s is None else started + deadline_s
    parts, counts = _partitions(history, model, by_worker)
    evidence: dict[str, Any] = {
        "model": f"one {model.name} per {'worker and key' if by_worker else 'key'}",
        **counts,
        "keys": len({key for _, key in parts}),
        "partitions": len(parts),
    }
    if not parts:
        evidence["reason"] = "no ok or info operation on any key: nothing to judge"
        return Verdict(verdict="unknown", evidence=evidence)
    budget = Budget(model, max_steps, deadline)
    violated: list[Part] = []
    unknown: list[Part] = []
    frontiers: dict[Part, float] = {}
    # Small keys first, so one pathological key cannot starve the others.
    for name in sorted(parts, key=lambda n: (len(parts[n]), repr(n))):
        result = budget.search(parts[name], model.init(), cap=max_steps_per_key)
        if result is Answer.UNKNOWN:
            unknown.append(name)
        elif result is Answer.ILLEGAL:
            violated.append(name)
            frontiers[name] = budget.frontier
    evidence.update(steps=budget.used, violated_keys=len(violated), unknown_keys=len(unknown))
    if violated:
        shrinker = Shrinker(model, Budget(model, shrink_steps, deadline),
                            Budget(model, shrink_steps, None))
        window = shrinker.shrink(parts[violated[0]], frontiers[violated[0]])
        evidence["counterexample"] = {
            **_name(violated[0]),
            "ops": [c.index for c in window.calls],
            "culprits": window.culprits,
            "describe": [_describe(history, c) for c in window.calls],
            "size": len(window.calls),
            # "any": fails whatever the key held before the window; "absent":
            # fails only because the key started absent.
            "initial": window.initial,
            "minimal": window.minimal,
            # Ops answered after the window's edge, treated as unanswered.
            "cut": [c.index for c in window.calls if c.cut],
            # Writes added to show where a culprit's value came from.
            "sources": window.sources,
            "verified": window.verified,
            "verification": window.verification,
        }
        evidence["violated_samples"] = [_name(n) for n in violated[:_MAX_SAMPLES]]
        evidence["shrink_steps"] = shrinker.budget.used
        evidence["verify_steps"] = shrinker.verify.used
    if unknown:
        evidence["unknown_samples"] = [_name(n) for n in unknown[:_MAX_SAMPLES]]
        evidence["reason"] = (f"search budget spent on {len(unknown)} of {len(parts)} partitions "
                              f"(max_steps={max_steps}, max_steps_per_key={max_steps_per_key}, "
                              f"deadline_s={deadline_s})")
    evidence["seconds"] = round(time.monotonic() - started, 3)
    verdict = "violated" if violated else "unknown" if unknown else "holds"
    return Verdict(verdict=verdict, evidence=evidence)


def classify(model: Model, history: History, *, max_steps: int = 2_000_000,
             max_steps_per_key: int = 500_000, deadline_s: float | None = None) -> Verdict:
    """``holds``, ``per-worker``, ``violated`` or ``unknown``: how far linearizability reaches.

    A cache with one store per worker fails the global check but passes the
    per-worker one, and that is a sharing finding, not a bug.  A proven
    global violation stands when the per-worker search is undecided
    (Jepsen's rule); an undecided global search is ``unknown`` whatever the
    per-worker one says, since the history might yet be linearizable.
    """
    budget: dict[str, Any] = {"max_steps": max_steps, "max_steps_per_key": max_steps_per_key,
                              "deadline_s": deadline_s}
    whole = check(model, history, **budget)
    if whole.verdict != "violated":
        return Verdict(verdict=whole.verdict, evidence={"global": whole.evidence})
    each = check(model, history, by_worker=True, **budget)
    evidence: dict[str, Any] = {"global": whole.evidence, "per_worker": each.evidence}
    if each.verdict == "holds":
        evidence["finding"] = f"per-worker linearizable: each worker has its own {model.name}"
        return Verdict(verdict="per-worker", evidence=evidence)
    if each.verdict == "unknown":
        evidence["finding"] = "not linearizable; whether per worker is undecided"
    return Verdict(verdict="violated", evidence=evidence)
