"""Race checkers: one ``add`` winner per fresh key, and no lost ``inc`` updates.

These judge the add-race and inc-race workloads by counting, which is cheap
and says how much went wrong; :mod:`.linearizable` says whether anything
did, and where.  Jepsen's completion types carry over: ``fail`` did not
happen and is dropped, ``info`` may have happened, so an ``info`` add might
be the missing winner and an ``info`` inc widens the counter's bound, but
neither is ever counted as proof of a violation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict

_MAX_SAMPLES = 5


def check_unique_winner(history: History) -> Verdict:
    """Each fresh key's racing ``add``s have exactly one winner.

    Two ``ok`` adds answering True on one key is a double win.  No winner
    at all, where some add answered False, is a violation too: the key was
    fresh, so somebody must have added it, unless an ``info`` add did.
    """
    adds: dict[str, list[Op]] = defaultdict(list)
    failed = 0
    for op in history:
        if op.f != "add" or op.key is None:
            continue
        if op.type == "fail":
            failed += 1
        else:
            adds[op.key].append(op)
    evidence: dict[str, Any] = {"trials": len(adds), "attempts": sum(map(len, adds.values())),
                                "failed_attempts": failed}
    if not adds:
        evidence["reason"] = "no ok or info add in the history: nothing to judge"
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    histogram: Counter[int] = Counter()
    multiple: list[dict[str, Any]] = []
    no_winner: list[str] = []
    unconfirmed = 0
    for key, ops in adds.items():
        winners = [op for op in ops if op.type == "ok" and op.value is True]
        histogram[len(winners)] += 1
        if len(winners) > 1:
            multiple.append({"key": key, "winner_pids": [op.pid for op in winners]})
        elif not winners:
            if any(op.type == "info" for op in ops):
                unconfirmed += 1  # the info add may be the winner
            else:
                no_winner.append(key)
    evidence.update(
        info_attempts=sum(op.type == "info" for ops in adds.values() for op in ops),
        # Keys by number of confirmed winners: {"1": 29, "2": 1} is one double win.
        winners={str(n): histogram[n] for n in sorted(histogram)},
        keys_with_multiple_winners=len(multiple),
        no_winner=len(no_winner),
        winner_unconfirmed=unconfirmed,
    )
    if multiple:
        evidence["multiple_samples"] = multiple[:_MAX_SAMPLES]
    if no_winner:
        evidence["no_winner_samples"] = no_winner[:_MAX_SAMPLES]
    verdict = Conclusion.VIOLATED if multiple or no_winner else Conclusion.HOLDS
    return Verdict(verdict=verdict, evidence=evidence)


def _as_count(op: Op) -> int:
    """A final read as a counter value: absent counts as 0, as ``inc`` counts it."""
    if op.value is None:
        return 0
    if isinstance(op.value, int | str | bytes) and not isinstance(op.value, bool):
        try:
            return int(op.value)
        except ValueError:
            pass
    raise ValueError(f"final read of {op.key!r} on pid {op.pid} returned {op.value!r}, not a "
                     "number; give the counter a key nothing else writes")


def check_counter(history: History, *, initial: int = 0, by_worker: bool = False) -> Verdict:
    """No ``inc`` was lost: Jepsen's counter bound on each counter key.

    With ``ok_sum`` the deltas of ok incs and ``attempted_sum`` those of ok
    and info incs, the final read must lie in ``initial + ok_sum`` ..
    ``initial + attempted_sum``.  The final read is the last ok ``get`` of
    the key, by completion, among those invoked after every ok inc had
    completed.  With ``by_worker`` each worker's incs are held to its own
    final read, which is what a cache with one store per worker can keep.
    """
    incs: dict[tuple[int | None, str], list[Op]] = defaultdict(list)
    reads: dict[tuple[int | None, str], list[Op]] = defaultdict(list)
    for op in history:
        if op.key is None or op.type == "fail":
            continue
        where = (op.pid if by_worker else None, op.key)
        if op.f == "inc":
            incs[where].append(op)
        elif op.f == "get" and op.type == "ok":
            reads[where].append(op)
    evidence: dict[str, Any] = {
        "model": "one counter per worker and key" if by_worker else "one counter per key",
        "counters": len(incs),
    }
    if not incs:
        evidence["reason"] = "no ok or info inc in the history: nothing to judge"
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    totals = Counter[str]()
    bad: list[dict[str, Any]] = []
    unread: list[dict[str, Any]] = []
    for where, ops in incs.items():
        ok = [op for op in ops if op.type == "ok"]
        info = [op for op in ops if op.type == "info"]
        ok_sum = sum(int(op.args.get("delta", 1)) for op in ok)
        attempted_sum = ok_sum + sum(int(op.args.get("delta", 1)) for op in info)
        done = max((op.end for op in ok), default=min(op.start for op in ops))
        finals = [op for op in reads[where] if op.start >= done]
        name = {"key": where[1]} if where[0] is None else {"key": where[1], "pid": where[0]}
        if not finals:
            unread.append(name)
            continue
        final = _as_count(max(finals, key=lambda op: op.end))
        # Two ok incs answering the same value saw the same old value: a
        # lost update caught in the act (with positive deltas).
        returned = Counter(op.value for op in ok)
        totals.update(ok=len(ok), info=len(info), ok_sum=ok_sum, attempted_sum=attempted_sum,
                      final=final, lost_updates=max(0, ok_sum - (final - initial)),
                      overcount=max(0, final - initial - attempted_sum),
                      duplicate_returns=sum(n for n in returned.values() if n > 1))
        if not initial + ok_sum <= final <= initial + attempted_sum:
            bad.append({**name, "final": final,
                        "bound": [initial + ok_sum, initial + attempted_sum]})
    evidence.update(
        ok=totals["ok"], info=totals["info"], attempted=totals["ok"] + totals["info"],
        ok_sum=totals["ok_sum"], attempted_sum=totals["attempted_sum"], initial=initial,
        final=totals["final"], lost_updates=totals["lost_updates"],
        lost_pct=round(100 * totals["lost_updates"] / totals["ok_sum"], 1)
        if totals["ok_sum"] else 0.0,
        overcount=totals["overcount"], duplicate_returns=totals["duplicate_returns"],
        counters_out_of_bound=len(bad),
    )
    if bad:
        evidence["out_of_bound_samples"] = bad[:_MAX_SAMPLES]
    if unread:
        evidence["unread_samples"] = unread[:_MAX_SAMPLES]
        evidence["reason"] = (f"{len(unread)} of {len(incs)} counters have no ok get invoked "
                              "after their last ok inc completed")
    verdict = (Conclusion.VIOLATED if bad else Conclusion.UNKNOWN if unread
               else Conclusion.HOLDS)
    return Verdict(verdict=verdict, evidence=evidence)


def classify_counter(history: History, *, initial: int = 0) -> Verdict:
    """``holds``, ``per-worker``, ``violated`` or ``unknown``: whose incs add up.

    A cache with one store per worker loses every other worker's incs from
    the global count yet keeps each worker's own exactly: ``per-worker``.
    A proven global violation stands when the per-worker check is undecided.
    """
    whole = check_counter(history, initial=initial)
    if whole.verdict != Conclusion.VIOLATED:
        return Verdict(verdict=whole.verdict, evidence={"global": whole.evidence})
    each = check_counter(history, initial=initial, by_worker=True)
    evidence: dict[str, Any] = {"global": whole.evidence, "per_worker": each.evidence}
    if each.verdict == Conclusion.HOLDS:
        evidence["finding"] = "per-worker counters: each worker counts only its own incs"
        return Verdict(verdict=Conclusion.PER_WORKER, evidence=evidence)
    return Verdict(verdict=Conclusion.VIOLATED, evidence=evidence)
