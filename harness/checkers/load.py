"""Verdict of the ``load`` scenario: did the cache save the database the calls it should?

Under wrk's traffic, and the probe after it (every worker asks for every
key once), every worker recorded each execution of the slow "database"
call, from its request's start (before the cache ``get``) to its response
(after the ``set``).  Each slow call is judged against the earlier
ones for the same key within a *domain*: all workers, for a shared cache,
or one worker, for a per-worker cache.  It is

* ``cold``      when nothing was computed for the key in the domain before;
* ``stampede``  when another computation of the key was in flight (begun,
  not yet stored): a concurrent miss, which cache-aside without a lock
  allows on every backend;
* ``expired``   when the last entry had reached its timeout (less
  :data:`EXPIRY_MARGIN`): needed again;
* ``redundant`` when an entry stored before this request began was still
  live: a cache that held it would have answered.

The verdict, in the sharing vocabulary:

* ``none``        no request hit and every request computed (NullCache);
* ``shared``      nothing redundant with all workers as one domain, and some
  worker hit a key it had not computed itself (proof that traffic crossed
  workers);
* ``per-worker``  redundant across workers, nothing redundant within each;
* ``partial``     redundant even within one worker;
* ``unknown``     no cross-worker hit to prove sharing; more than
  :data:`~harness.checkers.MAX_NON_OK_SHARE` of wrk's requests failed; or
  the records account for fewer requests than wrk completed;
* ``error``       wrk failed, or a probe or a worker's record failed.

The evidence carries every figure of the run: wrk's throughput, latency,
hit ratio and errors, the spread of wrk's requests over workers (the
probes taken out), and the slow calls per key and worker.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from ..history.names import FIRST_HIT, PROBE, READ_BACK, SLOW_CALL
from ..history.ops import History
from ..verdict import Conclusion, Verdict
from . import MAX_NON_OK_SHARE, MAX_SAMPLES, Facts, observing
from .evidence import spread as spread_of

#: cachelib's FileSystemCache and MemcachedCache keep expiry in whole
#: seconds (``int(time()) + timeout``), so an entry may go up to a second
#: before its timeout; a miss that late is counted as an expiry.
EXPIRY_MARGIN = 1.0
MISS_KINDS = ("cold", "stampede", "expired", "redundant")


@dataclass(frozen=True, kw_only=True)
class Call:
    pid: int
    key: str
    start: float
    end: float


def classify(calls: Iterable[Call], *, timeout_s: float,
             domain: Callable[[Call], Hashable]) -> Counter[str]:
    """How many slow calls were cold, stampede, expired or redundant, within ``domain``."""
    groups: dict[tuple[Hashable, str], list[Call]] = defaultdict(list)
    for c in calls:
        groups[(domain(c), c.key)].append(c)
    kinds: Counter[str] = Counter(dict.fromkeys(MISS_KINDS, 0))
    live = timeout_s - EXPIRY_MARGIN
    for group in groups.values():
        group.sort(key=lambda c: (c.start, c.end))
        for n, c in enumerate(group):
            earlier = group[:n]
            if any(e.end <= c.start < e.end + live for e in earlier):
                kinds["redundant"] += 1
            elif any(e.start <= c.start < e.end for e in earlier):
                kinds["stampede"] += 1
            elif earlier:
                kinds["expired"] += 1
            else:
                kinds["cold"] += 1
    return kinds


def _notes(history: History) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run: dict[str, Any] = {}
    workers = []
    for note in history.notes:
        if "worker" in note:
            workers.append(note)
        else:
            run.update(note)
    return run, workers


def _label(key: str, prefix: str) -> str:
    """``plain/<prefix>-7`` -> ``7``: the key's number in wrk's cycle."""
    return key.partition("/")[2].removeprefix(f"{prefix}-")


@observing
def check(history: History, facts: Facts) -> Verdict:
    run, workers = _notes(history)
    figures = dict(run.get("wrk") or {})
    context = {k: run.get(k) for k in ("command", "wall_s", "keys", "prefix")}
    if "error" in figures or not figures:
        return Verdict(verdict=Conclusion.ERROR, evidence={
            "wrk_error": figures.get("error", "no wrk figures"), "run": context})
    failed = [op for op in history if op.f in (PROBE, READ_BACK) and op.type != "ok"]
    if failed:
        return Verdict(verdict=Conclusion.ERROR, evidence={
            **figures, "run": context,
            "reason": "a probe or a record read-back failed: " + "; ".join(
                f"{op.f} {op.key} on pid {op.pid}: {op.error}" for op in failed[:MAX_SAMPLES])})
    timeout_s = float(next((w["timeout_s"] for w in workers if w.get("timeout_s")), 0) or 0)
    context.update(timeout_s=timeout_s,
                   slow_call_s=next((w.get("slow_call_s") for w in workers), None))
    prefix = str(run.get("prefix", ""))
    calls = [Call(pid=op.pid, key=op.key or "", start=op.start, end=op.end)
             for op in history if op.f == SLOW_CALL]
    probes = Counter(op.pid for op in history if op.f == PROBE)
    # Everything each worker served, the probes included.
    served_by: dict[str, dict[str, int]] = defaultdict(dict)
    hits = 0
    for w in workers:
        for key, n in w.get("served", {}).items():
            served_by[_label(key, prefix)][str(w["worker"])] = int(n)
        hits += sum(int(n) for n in w.get("hits", {}).values())
    answered = sum(n for per in served_by.values() for n in per.values())
    # wrk's traffic alone, as gunicorn routed it.
    spread = {str(pid): sum(per.get(str(pid), 0) for per in served_by.values()) - probes[pid]
              for pid in facts.pids}
    served = sum(spread.values())
    slow_by: dict[str, dict[str, int]] = defaultdict(dict)
    for c in calls:
        per = slow_by[_label(c.key, prefix)]
        per[str(c.pid)] = per.get(str(c.pid), 0) + 1
    per_key = [sum(per.values()) for per in slow_by.values()]
    everyone = classify(calls, timeout_s=timeout_s, domain=lambda c: 0)
    alone = classify(calls, timeout_s=timeout_s, domain=lambda c: c.pid)
    first_computed: dict[tuple[int, str], float] = {}
    for c in sorted(calls, key=lambda c: c.start):
        first_computed.setdefault((c.pid, c.key), c.start)
    # A first hit before the worker's own first computation of that key
    # (or with none at all) read an entry another worker stored.
    crossed = len([op for op in history if op.f == FIRST_HIT
                   and op.start < first_computed.get((op.pid, op.key or ""), float("inf"))])
    evidence: dict[str, Any] = {
        **figures, "served": served, "probes": sum(probes.values()), "hits_recorded": hits,
        "spread": spread,
        "slow_calls": len(calls),
        "slow_calls_per_key": spread_of(per_key),
        "misses": dict(everyone), "redundant_within_workers": alone["redundant"],
        "cross_worker_hits": crossed,
        "slow_calls_by_key": {k: dict(sorted(v.items())) for k, v in sorted(slow_by.items())},
        "served_by_key": {k: dict(sorted(v.items())) for k, v in sorted(served_by.items())},
        "run": context,
    }
    requests = int(figures.get("requests", 0))
    if requests == 0:
        evidence["reason"] = "wrk completed no request: there is nothing to judge"
        return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
    if hits == 0 and len(calls) == answered:
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    if everyone["redundant"] == 0:
        verdict = Conclusion.SHARED
        if crossed == 0:
            verdict = Conclusion.UNKNOWN
            evidence["reason"] = ("no worker hit a key it had not computed itself: the traffic "
                                  "never showed whether the cache is shared")
    elif alone["redundant"] == 0:
        verdict = Conclusion.PER_WORKER
    else:
        verdict = Conclusion.PARTIAL
    errors = int(figures.get("errors", 0))
    if verdict != Conclusion.UNKNOWN and errors / requests > MAX_NON_OK_SHARE:
        evidence.update(would_be=verdict, reason=(
            f"{errors} of {requests} requests failed ({errors / requests:.1%}, more than "
            f"{MAX_NON_OK_SHARE:.0%}): the run was not exercised enough to judge"))
        verdict = Conclusion.UNKNOWN
    elif verdict != Conclusion.UNKNOWN and served < requests:
        evidence.update(would_be=verdict, reason=(
            f"the workers' records account for {served} requests, fewer than the {requests} "
            "wrk completed: a worker was replaced and its record lost"))
        verdict = Conclusion.UNKNOWN
    return Verdict(verdict=verdict, evidence=evidence)
