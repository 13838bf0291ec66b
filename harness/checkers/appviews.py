"""app-views: is each of the app's own cached views and memoized functions shared, and forgotten?

Judges the steps of :mod:`harness.workloads.appviews`, per target, by how
often its undecorated function ran in each worker:

* every other worker, holding no copy of its own, served worker 0's fresh
  result without computing: ``shared``;
  none did, and worker 0 kept its own: ``per-worker``; none did, and worker
  0 computed again too: ``none``; some did: ``partial``;
* then, for a ``shared`` or ``partial`` target, after worker 0 invalidated
  it the app's way, a worker that had served worker 0's entry and did not
  compute afresh served a copy the invalidation never reached: ``stale``
  (so is a worker 0 that served its old copy right after its own
  invalidation).  A worker that computed an entry of its own (a
  ``per-worker`` target, or the unshared workers of a ``partial`` one)
  keeps it by construction: that is its sharing verdict, not staleness.

The row takes the worst target, in :data:`RANK` order.  A target whose
call raised, answered an error status (it needs a database row, a
logged-in user) or could not be set up (no ``self``, no arguments) is
listed as not computed with the reason, never a pass; a ``--memoized``
target the user named that was not computed makes the row ``error``, as
does any reply the harness could not read, and a row with no target
computed at all is ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..verdict import Conclusion, Verdict

#: Best first: the row's verdict is the target verdict latest in this order.
RANK = (Conclusion.SHARED, Conclusion.NONE, Conclusion.PARTIAL, Conclusion.PER_WORKER,
        Conclusion.STALE)


def check(run: Mapping[str, Any]) -> Verdict:
    """``run`` is :func:`harness.workloads.appviews.run`'s answer."""
    try:
        return _check(run)
    except Exception as exc:  # noqa: BLE001 - a checker that crashes says unknown
        return Verdict(verdict=Conclusion.UNKNOWN,
                       evidence={"checker_error": f"{type(exc).__name__}: {exc}"})


def _check(run: Mapping[str, Any]) -> Verdict:
    listing = run.get("listing", {})
    if "unanswered" in listing or "error" in listing:
        return Verdict(verdict=Conclusion.ERROR, evidence={"listing": listing})
    if len(run["workers"]) < 2:
        return Verdict(verdict=Conclusion.UNKNOWN, evidence={
            "reason": "one worker: nothing to share between; run with --workers 2 or more"})
    judged, not_computed, unanswered = [], [], []
    for target in run["targets"]:
        head = {k: target[k] for k in ("name", "kind", "call", "named", "self")
                if k in target}
        lost = [s for s in target["steps"] if "unanswered" in s]
        failed = [s for s in target["steps"] if "error" in s]
        if lost:
            unanswered.append({**head, "phase": lost[0]["phase"], "pid": lost[0]["pid"],
                               "error": lost[0]["unanswered"]})
        elif "error" in target or failed:
            reason = target.get("error") or f"{failed[0]['phase']} call: {failed[0]['error']}"
            not_computed.append({**head, "reason": reason})
        else:
            judged.append({**head, **judge(target["steps"])})
    evidence: dict[str, Any] = {"workers": run["workers"], "targets": judged}
    if not_computed:
        evidence["not_computed"] = not_computed
    if unanswered:
        evidence["unanswered"] = unanswered
        return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
    named = [t["name"] for t in not_computed if t.get("named")]
    if named:
        evidence["reason"] = (f"the --memoized target {named[0]} was not computed; give its "
                              "arguments with --sample-args, or name one that can run")
        return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
    if not judged:
        evidence["reason"] = ("no cached view or memoized function of the app could be "
                              "computed; name targets with --memoized and --sample-args")
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    worst = max((Conclusion(t["verdict"]) for t in judged), key=RANK.index)
    evidence["counts"] = {v.value: n for v in RANK
                          if (n := sum(1 for t in judged if t["verdict"] == v))}
    return Verdict(verdict=worst, evidence=evidence)


def _key(step: dict[str, Any]) -> str | None:
    got = [k for k in step.get("keys", {}).get("get", []) if not k.endswith("_memver")]
    return got[0] if got else None


def judge(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """One target's verdict from its steps, with its keys and counts per worker."""
    def ran(phase: str) -> list[dict[str, Any]]:
        return [s for s in steps if s["phase"] == phase]

    origins, reads, after = ran("origin"), ran("read"), ran("after")
    again = ran("again")[0]
    served = [s for s in reads if s["computed"] == 0]
    if len(served) == len(reads):
        verdict = Conclusion.SHARED
    elif served:
        verdict = Conclusion.PARTIAL
    else:
        verdict = Conclusion.PER_WORKER if again["computed"] == 0 else Conclusion.NONE
    # Stale: a worker that served worker 0's entry (so shares it) and still served a
    # copy after worker 0 invalidated it, or worker 0 itself doing so right after its
    # own invalidation.  A worker that computed its own entry keeps it by construction.
    sharing = {s["pid"] for s in served} | {origins[0]["pid"]}
    stale = sorted({s["pid"] for s in [*origins, *after]
                    if s["computed"] == 0 and s["pid"] in sharing})
    if stale and verdict in (Conclusion.SHARED, Conclusion.PARTIAL):
        verdict = Conclusion.STALE
    counts: dict[str, int] = {}
    for s in steps:
        if "computed" in s:
            counts[str(s["pid"])] = counts.get(str(s["pid"]), 0) + int(s["computed"])
    out: dict[str, Any] = {
        "verdict": verdict.value,
        # How many times the undecorated function ran in each worker, over all the calls.
        "computed": counts,
        # Each other worker's call right after worker 0 computed, and the keys both used.
        "read": {str(s["pid"]): {"got": "computed" if s["computed"] else "served",
                                 "key": _key(s), "origin_key": _key(o)}
                 for o, s in zip(origins, reads, strict=True)},
        "after_invalidation": {str(s["pid"]): "computed" if s["computed"] else "served old"
                               for s in after},
        "invalidated_by": next((s["how"] for s in steps if s["phase"] == "forget"
                                and s.get("how")), None),
    }
    if stale and verdict is Conclusion.STALE:
        out["stale_on"] = stale
    return out
