"""Are decorator-cached results, template fragments and their invalidations seen across workers?

Judges the histories of :mod:`harness.workloads.features`.  Each feature
gives one or two N x N matrices, row *i* = the worker that computed (or
invalidated), column *j* = the worker that read:

* a **hit matrix**: did *j*'s read return the generation id computed on *i*?
  All cells hit: ``shared``; only the diagonal: ``per-worker``; not even
  the diagonal: ``none``; anything else: ``partial``.
* a **forget matrix**: after *i* invalidated, did *j* stop returning what
  it had cached?  A cell where *j* had nothing cached (two reads gave two
  ids) is *vacuous*.  All cells cleared: ``shared``; only the diagonal,
  the rest stale: ``per-worker``; all vacuous: ``none``; else ``partial``.

The scenario's verdict is the class every matrix agrees on, and
``partial`` when they disagree or when a property that does not depend on
sharing failed: ``unless`` must bypass, a different POST body must miss, a
CachedResponse must expire on every worker, a fragment with another
vary-on value must render afresh.  A trial (one fresh key) with any op
that was not ok is dropped whole, so an unsure invalidation never shows
as a stale cell.  The default-``repr`` memoize routes are reported but never
judged: their keys hold memory addresses, an accident of allocation rather
than a property of the backend.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..history.names import Feature
from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, not_ok_keys, observing

_MAX_SAMPLES = 5

F = Feature
CACHED_VIEW_MATRICES = (F.VIEW, F.PLUGGABLE, F.HELPER, F.POST_BODY, F.UNLESS)
CACHED_VIEW_FORGETS = (F.VIEW,)
MEMOIZE_MATRICES = (F.FUNCTION, F.FUNCTION_ALL, F.ITEM, F.CLASSMETHOD)
MEMOIZE_FORGETS = MEMOIZE_MATRICES
DEFAULT_REPR = (F.SINGLETON, F.PER_REQUEST)
TEMPLATE_FRAGMENT_MATRICES = (F.FRAGMENT_DEFAULT, F.FRAGMENT_NAMED, F.FRAGMENT_NONE)
TEMPLATE_FRAGMENT_FORGETS = (F.FRAGMENT_NAMED, F.FRAGMENT_DEL)

@dataclass
class _Cell:
    yes: int = 0
    no: int = 0
    skipped: int = 0

    def mark(self, yes: str, no: str) -> str:
        judged = self.yes + self.no
        if judged == 0:
            return "." if self.skipped else "?"
        if self.no == 0:
            return yes
        if self.yes == 0:
            return no
        return f"{self.yes}/{judged}"


class _Matrix:
    def __init__(self, n: int) -> None:
        self.n = n
        self.cells = [[_Cell() for _ in range(n)] for _ in range(n)]

    def diagonal(self) -> list[_Cell]:
        return [self.cells[i][i] for i in range(self.n)]

    def off(self) -> list[_Cell]:
        return [self.cells[i][j] for i in range(self.n) for j in range(self.n) if i != j]

    def all(self) -> list[_Cell]:
        return [c for row in self.cells for c in row]

    def require_complete(self, what: str) -> None:
        for i, row in enumerate(self.cells):
            for j, c in enumerate(row):
                if c.yes + c.no + c.skipped == 0:
                    raise ValueError(f"{what}: no observation for worker {i} -> worker {j}")

    def sharing(self) -> Conclusion:
        cells = self.all()
        if any(c.skipped for c in cells):
            # Some observations could not be judged: only "nothing at all was
            # cached" is a clean answer, anything mixed is partial.
            return Conclusion.NONE if all(c.yes + c.no == 0 for c in cells) else Conclusion.PARTIAL
        if all(c.no == 0 for c in cells):
            return Conclusion.SHARED
        if all(c.no == 0 for c in self.diagonal()) and all(c.yes == 0 for c in self.off()):
            return Conclusion.PER_WORKER
        if all(c.yes == 0 for c in cells):
            return Conclusion.NONE
        return Conclusion.PARTIAL


def _by(history: History, f: str) -> list[Op]:
    return [op for op in history if op.f == f]


def _computes(history: History, feature: str) -> dict[str | None, Op]:
    computes = {op.key: op for op in _by(history, f"{feature}:compute")}
    if not computes:
        raise ValueError(f"no {feature!r} computations in the history")
    return computes


def hit_matrix(history: History, feature: str, n: int) -> tuple[str, dict[str, Any]]:
    """Whose computed result did each worker's read return?"""
    computes = _computes(history, feature)
    m = _Matrix(n)
    reads = 0
    for op in _by(history, f"{feature}:read"):
        origin = computes[op.key]
        cell = m.cells[origin.process][op.process]
        reads += 1
        if op.value == origin.value:
            cell.yes += 1
        else:
            cell.no += 1
    m.require_complete(f"{feature} reads")
    off = m.off()
    return m.sharing(), {
        "matrix": [[c.mark("Y", "-") for c in row] for row in m.cells],
        "computes": len(computes),
        "reads": reads,
        "same_worker_hits": sum(c.yes for c in m.diagonal()),
        "same_worker_reads": sum(c.yes + c.no for c in m.diagonal()),
        "cross_worker_hits": sum(c.yes for c in off),
        "cross_worker_reads": sum(c.yes + c.no for c in off),
    }


def forget_matrix(history: History, feature: str, n: int) -> tuple[str, dict[str, Any]]:
    """After worker *i* invalidated, which workers stopped serving their copy?"""
    forgets = {op.key: op for op in _by(history, f"{feature}:forget")}
    if not forgets:
        raise ValueError(f"no {feature!r} invalidations in the history")
    held = {(op.key, op.process): op.value for op in _by(history, f"{feature}:held")}
    first: dict[tuple[str | None, int], Any] = {}
    for op in _by(history, f"{feature}:read"):
        first.setdefault((op.key, op.process), op.value)
    m = _Matrix(n)
    stale: list[dict[str, Any]] = []
    for op in _by(history, f"{feature}:after"):
        if op.key not in forgets:
            continue
        origin = forgets[op.key]
        cell = m.cells[origin.process][op.process]
        before = held.get((op.key, op.process))
        if before is None or before != first.get((op.key, op.process)):
            cell.skipped += 1  # j recomputed between two reads: nothing cached to forget
        elif op.value == before:
            cell.no += 1
            if len(stale) < _MAX_SAMPLES:
                stale.append({"key": op.key, "forgot_on_pid": origin.pid,
                              "stale_on_pid": op.pid, "value": op.value})
        else:
            cell.yes += 1
    m.require_complete(f"{feature} invalidations")
    cls = m.sharing()
    evidence: dict[str, Any] = {
        # x: always cleared, S: always stale, .: nothing was cached to clear.
        "matrix": [[c.mark("x", "S") for c in row] for row in m.cells],
        "invalidations": len(forgets),
        "cleared": sum(c.yes for c in m.all()),
        "stale": sum(c.no for c in m.all()),
        "vacuous": sum(c.skipped for c in m.all()),
    }
    how = [op.meta.how for op in forgets.values() if op.meta.how]
    if how:
        evidence["how"] = {h: how.count(h) for h in sorted(set(how))}
    if stale:
        evidence["stale_samples"] = stale
    return cls, evidence


def _fresh(history: History, f: str) -> dict[str, Any]:
    """Ops named ``f`` must return an id no earlier op returned: the body ran."""
    seen: set[Any] = set()
    checked = fresh = 0
    samples: list[dict[str, Any]] = []
    for op in history:
        if op.f == f:
            checked += 1
            if op.value in seen:
                if len(samples) < _MAX_SAMPLES:
                    samples.append({"key": op.key, "pid": op.pid, "value": op.value})
            else:
                fresh += 1
        if isinstance(op.value, str):
            seen.add(op.value)
    if checked == 0:
        raise ValueError(f"no {f!r} operations in the history")
    out: dict[str, Any] = {"checked": checked, "fresh": fresh}
    if samples:
        out["cached_samples"] = samples
    return out


def _expiry(history: History, feature: str, n: int) -> dict[str, Any]:
    """Did every worker recompute once the CachedResponse TTL had passed?"""
    _, before = hit_matrix(history, feature, n)
    prior: dict[str | None, set[Any]] = defaultdict(set)
    last = 0.0
    ttl = 0.0
    for op in history:
        if op.f in (f"{feature}:compute", f"{feature}:read"):
            prior[op.key].add(op.value)
            last = max(last, op.end)
            observed = op.meta.observed or {}
            if isinstance(observed.get("ttl"), int | float):
                ttl = max(ttl, float(observed["ttl"]))
    expired_ops = _by(history, f"{feature}:expired")
    if not expired_ops:
        raise ValueError(f"no {feature!r} reads after the TTL")
    waited = min(op.start for op in expired_ops) - last
    if waited < ttl:
        raise ValueError(f"re-read {waited:.2f}s after the last write, before the "
                         f"{ttl:g}s TTL had passed: expiry cannot be judged")
    expired = sum(op.value not in prior[op.key] for op in expired_ops)
    # Entries with a 1 s TTL may expire between compute and read on backends
    # with whole-second expiry, so this matrix is evidence, not a verdict.
    return {"ttl_s": ttl, "matrix_before_expiry": before["matrix"],
            "expiry_reads": len(expired_ops), "expired": expired,
            "waited_s": round(waited, 2)}


def _default_repr(history: History, feature: str, n: int) -> dict[str, Any]:
    """How the memoized method of a default-repr class behaved, with the reprs seen."""
    cls, evidence = hit_matrix(history, feature, n)
    callers: dict[int, set[str]] = defaultdict(set)
    for op in _by(history, f"{feature}:compute") + _by(history, f"{feature}:read"):
        caller = (op.meta.observed or {}).get("caller")
        if isinstance(caller, str):
            callers[op.pid].add(caller)
    distinct = sorted({a for c in callers.values() for a in c})
    return {**evidence, "pattern": cls,
            "instances_per_worker": {str(pid): len(c) for pid, c in sorted(callers.items())},
            "distinct_instance_reprs": len(distinct),
            "same_repr_in_all_workers": len(distinct) == 1,
            "repr_samples": distinct[:_MAX_SAMPLES]}


def _judge(sharing: dict[str, str], violations: Iterable[str]) -> Conclusion:
    if list(violations):
        return Conclusion.PARTIAL
    classes = set(sharing.values())
    return Conclusion(classes.pop()) if len(classes) == 1 else Conclusion.PARTIAL


def _complete_trials(history: History) -> History:
    """The history without the trials that have an op that was not ok."""
    dropped = not_ok_keys(history)
    return History(ops=[op for op in history if op.key not in dropped], notes=history.notes)


def _begin(history: History, facts: Facts, matrices: Iterable[str], forgets: Iterable[str]
           ) -> tuple[History, int, dict[str, Any], dict[str, str]]:
    """The complete trials, the worker count, the evidence so far and each feature's sharing."""
    history, pids = _complete_trials(history), list(facts.pids)
    evidence: dict[str, Any] = {"pids": pids}
    return history, len(pids), evidence, _sharing(history, len(pids), matrices, forgets, evidence)


def _sharing(history: History, n: int, matrices: Iterable[str], forgets: Iterable[str],
             evidence: dict[str, Any]) -> dict[str, str]:
    sharing: dict[str, str] = {}
    for feature in matrices:
        sharing[feature], evidence[feature] = hit_matrix(history, feature, n)
    for feature in forgets:
        sharing[f"{feature}:forget"], evidence[f"{feature}:forget"] = \
            forget_matrix(history, feature, n)
    return sharing


def _conclude(sharing: dict[str, str], violations: list[str], evidence: dict[str, Any],
              trials_feature: str) -> Verdict:
    """The verdict every feature checker ends with, from its matrices and violations."""
    evidence["sharing"] = sharing
    if violations:
        evidence["violations"] = violations
    evidence["trials_per_feature"] = evidence[trials_feature]["computes"]
    return Verdict(verdict=_judge(sharing, violations), evidence=evidence)


def _all_fresh(counts: dict[str, Any]) -> bool:
    return bool(counts["fresh"] == counts["checked"])


@observing
def check_cached_view(history: History, facts: Facts) -> Verdict:
    history, n, evidence, sharing = _begin(history, facts, CACHED_VIEW_MATRICES,
                                           CACHED_VIEW_FORGETS)
    evidence["unless"]["bypass"] = _fresh(history, "unless:bypass")
    evidence["post-body"]["other_body"] = _fresh(history, "post-body:other")
    expiry = _expiry(history, "cached-response", n)
    evidence["waited_s"] = expiry.pop("waited_s")
    evidence["cached-response"] = expiry
    violations = [
        name for name, ok in (
            ("unless did not bypass the cache", _all_fresh(evidence["unless"]["bypass"])),
            ("a different POST body was served from cache",
             _all_fresh(evidence["post-body"]["other_body"])),
            ("a CachedResponse outlived its TTL",
             expiry["expired"] == expiry["expiry_reads"]),
        ) if not ok
    ]
    return _conclude(sharing, violations, evidence, "view")


@observing
def check_memoize(history: History, facts: Facts) -> Verdict:
    history, n, evidence, sharing = _begin(history, facts, MEMOIZE_MATRICES, MEMOIZE_FORGETS)
    evidence["default_repr"] = {f: _default_repr(history, f, n) for f in DEFAULT_REPR}
    return _conclude(sharing, [], evidence, "function")


@observing
def check_template_fragment(history: History, facts: Facts) -> Verdict:
    history, n, evidence, sharing = _begin(history, facts, TEMPLATE_FRAGMENT_MATRICES,
                                           TEMPLATE_FRAGMENT_FORGETS)
    other = evidence["fragment-named"]["other_vary_on"] = _fresh(history, "fragment-named:other")
    violations = ([] if _all_fresh(other)
                  else ["a fragment with another vary-on value was served from cache"])
    keys = {(op.meta.observed or {}).get("key")
            for op in _by(history, "fragment-default:reset")}
    evidence["fragment-default"]["cache_keys"] = sorted(str(k) for k in keys)
    return _conclude(sharing, violations, evidence, "fragment-named")
